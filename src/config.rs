//! System settings from /etc/vigil/vigil.toml. (Skeleton: the boot helper
//! fills this in; fields here are the contract other modules rely on.)

use std::path::Path;

use serde::Deserialize;

/// What to do on Ctrl-Alt-Del (SIGINT to PID 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CtrlAltDel {
    #[default]
    Reboot,
    Poweroff,
    Ignore,
}

/// The parsed vigil.toml. A missing file is the default configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SystemConfig {
    /// Members of this group may use every control verb (root always may).
    pub admin_group: Option<String>,
    /// Target to bring up when neither `--target` nor `vigil.target=` says.
    pub default_target: Option<String>,
    pub ctrl_alt_del: CtrlAltDel,
}

/// Read and validate vigil.toml; problems are returned as readable messages
/// naming file, line and field, and the rest of the file still applies.
pub fn load_config(path: &Path) -> (SystemConfig, Vec<String>) {
    let _ = path;
    (SystemConfig::default(), Vec::new())
}
