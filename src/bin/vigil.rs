//! vigil: init system (PID 1) and service supervisor.
//!
//! As PID 1 it runs the early-boot steps, then the event loop, then the final
//! shutdown steps and reboot(2). As an ordinary process (or as PID 1 of a
//! container) it makes itself a child subreaper and runs only the event loop;
//! power commands stop every unit and exit 0.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vigil::boot::host::base_environment;
use vigil::boot::RealSyscall;
use vigil::config::load_config;
use vigil::control::protocol::DEFAULT_SOCKET;
use vigil::log::Level;
use vigil::log::{parse_level, Logger};
use vigil::runtime::event_loop::{run, settings_from_config, LoopOptions};
use vigil::runtime::reap::set_child_subreaper;
use vigil::runtime::reexec;

/// Command line of vigil.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about = "Init system and service supervisor")]
struct Args {
    /// Directory of unit files (*.toml).
    #[arg(long, default_value = vigil::config::UNITS_DIR)]
    units: PathBuf,
    /// System configuration file.
    #[arg(long, default_value = vigil::config::CONFIG_PATH)]
    config: PathBuf,
    /// Control socket path (the notify socket is created beside it).
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Target to bring up instead of "default".
    #[arg(long)]
    target: Option<String>,
    /// Log level: error, warning, info, debug.
    #[arg(long)]
    log_level: Option<String>,
    /// Directory of the service logs and vigil.log (else vigil.toml's
    /// `log_dir`, else /var/log/vigil as PID 1 or on the default socket,
    /// else `log/` beside the control socket).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Run as a container's init even when PID 1: no early boot, no reboot(2);
    /// power commands make vigil exit. Also implied by $container.
    #[arg(long)]
    container: bool,
    /// Internal (daemon-reexec): go on from the state in this descriptor.
    #[arg(long, hide = true)]
    resume: Option<i32>,
}

/// The arguments that do parse, the bad ones skipped: PID 1 goes on with a
/// bad command line, and must not lose a good `--container` (which would
/// make it boot the machine) over a typo elsewhere.
fn parse_lenient<I, T>(argv: I) -> Args
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    use clap::error::{ContextKind, ContextValue};
    let mut argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    // Drop the argument clap names as the culprit and try again, once per
    // argument at most.
    for _ in 0..argv.len() {
        let err = match Args::try_parse_from(&argv) {
            Ok(args) => return args,
            Err(e) => e,
        };
        let Some(ContextValue::String(bad)) = err.get(ContextKind::InvalidArg) else {
            break;
        };
        let bad = bad.split_whitespace().next().unwrap_or(bad);
        let Some(at) = argv.iter().skip(1).position(|a| a.to_str() == Some(bad)) else {
            break;
        };
        argv.remove(at + 1);
    }
    Args::parse_from(["vigil"])
}

fn main() -> ExitCode {
    // The probe of a re-exec: answer and touch nothing (the running vigil
    // execs this binary only if it does).
    if std::env::args_os().nth(1).as_deref() == Some(OsStr::new(reexec::CHECK_FLAG)) {
        println!("{}", reexec::probe_answer());
        return ExitCode::SUCCESS;
    }
    vigil::runtime::heap::tune_allocator();
    // First of all: how long the kernel took to get here.
    let boot_record = vigil::manager::BootRecord {
        kernel: vigil::runtime::timer::boottime_now(),
        started: vigil::runtime::timer::monotonic_now(),
        steps: Vec::new(),
    };
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            // As PID 1 we must not exit over a bad command line.
            if std::process::id() != 1 {
                return ExitCode::from(2);
            }
            parse_lenient(std::env::args_os())
        }
    };
    if let Some(fd) = args.resume {
        if let Some(code) = resume(fd) {
            return code;
        }
    }
    let resumed = args.resume.is_some();
    let is_pid1 = std::process::id() == 1;
    let container = args.container || std::env::var_os("container").is_some();
    // PID 1 of a plain PID namespace (`unshare --pid --fork vigil`) is not
    // the machine's init: the kernel says so (see `owns_the_machine`).
    let machine_init = is_pid1 && !container && owns_the_machine();

    let mut log = Logger::stderr(Level::Info);
    if let Some(level) = args.log_level.as_deref() {
        match parse_level(level) {
            Some(l) => log.set_level(l),
            None => log.warn(&format!(
                "--log-level {level:?} is not one of error, warning, info, debug"
            )),
        }
    }

    if is_pid1 && !container && !machine_init {
        log.info(
            "PID 1 of a PID namespace, not of the machine: running as a container's init (no early boot, no reboot)",
        );
    }
    if machine_init {
        return vigil::pid1::main(
            &args.units,
            &args.config,
            &args.socket,
            args.target.clone(),
            &mut log,
            boot_record,
            !resumed,
        );
    }

    if !is_pid1 {
        if let Err(e) = set_child_subreaper() {
            log.error(&format!(
                "cannot become a child subreaper: {e}; orphans will not be reaped by vigil"
            ));
        }
    }
    let (config, problems) = load_config(&args.config);
    for p in &problems {
        log.log_untagged(p.level(), &p.to_string());
    }
    let target = args
        .target
        .clone()
        .or_else(|| config.default_target.clone())
        .unwrap_or_else(|| "default".to_string());
    let opts = LoopOptions {
        units_dir: args.units.clone(),
        config_path: args.config.clone(),
        notify_path: args.socket.with_file_name("notify"),
        socket_path: args.socket.clone(),
        target,
        admin_gid: config.admin_gid().unwrap_or_else(|why| {
            log.error(&why);
            None
        }),
        base_env: base_environment(&RealSyscall, &config, &mut |why| log.warn(&why)),
        generated: Vec::new(),
        settings: settings_from_config(&config, false),
        log_dir: vigil::runtime::event_loop::log_dir_for(
            args.log_dir.as_deref().or(config.log_dir.as_deref()),
            is_pid1,
            &args.socket,
        ),
        log_limits: config.log_limits,
        boot_record,
        instances: Default::default(),
    };
    log.info(&format!(
        "vigil {} supervising {} (pid {})",
        env!("CARGO_PKG_VERSION"),
        args.units.display(),
        std::process::id()
    ));
    supervisor_exit(run(opts, &mut log), &mut log)
}

/// How a supervisor's loop ended, as its exit status.
fn supervisor_exit(
    result: Result<vigil::power::PowerAction, vigil::runtime::event_loop::LoopError>,
    log: &mut Logger,
) -> ExitCode {
    match result {
        Ok(_) => {
            log.info("exiting");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log.error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

/// vigil was re-executed (`vigilctl daemon-reexec`): read the state the
/// previous image left in `fd` first of all, and go on from it. None when
/// nothing of it can be read: then vigil starts from its command line, as
/// the machine's init without the early boot (the machine is up).
fn resume(fd: i32) -> Option<ExitCode> {
    let mut log = Logger::stderr(Level::Info);
    let decoded = match reexec::read_sealed(fd) {
        Ok(bytes) => reexec::decode(&bytes),
        Err(e) => reexec::Resumed::Unreadable(format!("reading the state (descriptor {fd}): {e}")),
    };
    let (header, full, why) = match decoded {
        reexec::Resumed::Exact(h, f) => (h, Some(*f), None),
        reexec::Resumed::Partial(h, why) => {
            log.error(&format!(
                "re-exec: {why}; loading the units again and adopting the running services"
            ));
            (h, None, Some(why))
        }
        reexec::Resumed::Unreadable(why) => {
            log.error(&format!(
                "re-exec: {why}; starting from the command line (running services are left alone)"
            ));
            return None;
        }
    };
    log.set_level(header.log_level);
    let machine_init = header.opts.settings.pid1;
    if machine_init {
        return Some(vigil::pid1::resume(*header, full, why, &mut log));
    }
    let result = vigil::runtime::event_loop::resume(*header, full, why, &mut log);
    Some(supervisor_exit(result, &mut log))
}

/// Whether this process is the init of the machine rather than of a PID
/// namespace: reboot(2) with LINUX_REBOOT_CMD_CAD_OFF succeeds only in the
/// initial PID namespace with CAP_SYS_BOOT (EINVAL in any other namespace,
/// EPERM without the capability). Disabling Ctrl-Alt-Del is what early
/// boot does first anyway.
fn owns_the_machine() -> bool {
    // SAFETY: reboot(2) with the CAD_OFF command only changes how the
    // kernel treats Ctrl-Alt-Del.
    unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_CAD_OFF) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_argument_does_not_lose_the_good_ones() {
        let args = parse_lenient(["vigil", "--container", "--bogus", "--units", "/u"]);
        assert!(args.container);
        assert_eq!(args.units, PathBuf::from("/u"));
    }
}
