//! vigil as the machine's init: early boot, the event loop, final shutdown.

use std::path::Path;
use std::process::ExitCode;

use crate::config::SystemConfig;
use crate::log::Logger;

/// The gid of vigil.toml's `admin_group`, if set and known.
pub fn admin_gid(config: &SystemConfig, log: &mut Logger) -> Option<u32> {
    let name = config.admin_group.as_deref()?;
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Some(group.gid.as_raw()),
        Ok(None) => {
            log.error(&format!(
                "admin_group {name:?}: no such group; only root may control vigil"
            ));
            None
        }
        Err(e) => {
            log.error(&format!(
                "admin_group {name:?}: {e}; only root may control vigil"
            ));
            None
        }
    }
}

/// Boot the machine, supervise until a power action, shut down. Never
/// returns normally on a real machine: it ends in reboot(2).
pub fn main(
    units: &Path,
    config: &Path,
    socket: &Path,
    target: Option<String>,
    log: &mut Logger,
) -> ExitCode {
    let _ = (units, config, socket, target, log);
    ExitCode::FAILURE
}
