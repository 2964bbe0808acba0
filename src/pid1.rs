//! vigil as the machine's init: early boot, the event loop, final shutdown.
//! Nothing here may end the process: every failure is logged and the boot
//! (or the shutdown) goes on.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::boot::{run_early_boot_with, RealSyscall, StepReport};
use crate::config::load_config;
use crate::log::Level;
use crate::log::Logger;
use crate::power::PowerAction;
use crate::runtime::event_loop::{run, settings_from_config, LoopOptions, HANDLED_SIGNALS};
use crate::runtime::reap::reap_all;
use crate::shutdown::{final_reboot, final_steps, DEFAULT_GRACE};

/// Block the signals vigil handles, so that any that arrive during early
/// boot stay pending (the kernel drops unhandled signals to PID 1 unless they
/// are blocked) and are read from the signalfd once the loop runs.
fn block_signals(log: &mut Logger) {
    let mut set = nix::sys::signal::SigSet::empty();
    for sig in HANDLED_SIGNALS {
        if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
            set.add(s);
        }
    }
    if let Err(e) = set.thread_block() {
        log.error(&format!("blocking signals: {e}"));
    }
}

fn log_step(log: &mut Logger, report: &StepReport) {
    let level = if report.is_ok() {
        Level::Info
    } else {
        Level::Warning
    };
    for line in report.to_string().lines() {
        log.log(level, line.trim_start());
    }
}

/// Reap what exited; false once no child is left at all. The check only
/// peeks (WNOWAIT): a child that exits in between is reaped by the next
/// `reap_all`, not silently here.
fn children_left() -> bool {
    reap_all();
    // SAFETY: waitid with a valid out-pointer; WNOWAIT reaps nothing.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    !(rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Boot the machine (unless `early_boot` is false: the machine is up, as
/// after a re-exec whose state was unreadable), supervise until a power
/// action, shut down. On a real
/// machine it ends in reboot(2); if the kernel refuses, vigil stays alive
/// reaping children rather than exit (which would panic the kernel).
pub fn main(
    units: &Path,
    config_path: &Path,
    socket: &Path,
    target: Option<String>,
    log: &mut Logger,
    mut boot_record: crate::manager::BootRecord,
    early_boot: bool,
) -> ExitCode {
    block_signals(log);
    log.info(&format!(
        "vigil {} starting as PID 1",
        env!("CARGO_PKG_VERSION")
    ));
    let sys = RealSyscall;
    let (config, problems) = load_config(config_path);
    log.set_level(config.log_level);
    for p in &problems {
        log.log_untagged(p.level(), &p.to_string());
    }
    let boot_started = crate::runtime::timer::monotonic_now();
    let steps = &mut boot_record.steps;
    let out = if !early_boot {
        log.attach_kmsg(Path::new("/dev/kmsg"));
        log.warn("the machine is up already (a re-exec): no early-boot step runs again");
        crate::boot::boot_output_of_running_system(&sys, &config)
    } else {
        run_early_boot_with(&sys, &config, &mut |report| {
            let end = crate::runtime::timer::monotonic_now();
            steps.push(crate::manager::BootStep {
                name: report.name.clone(),
                start: end.saturating_sub(report.duration),
                duration: report.duration,
                ok: report.is_ok(),
            });
            log_step(log, report);
            // /dev/kmsg exists once the first step has mounted /dev; a no-op after that.
            log.attach_kmsg(Path::new("/dev/kmsg"));
        })
        .1
    };
    if let Some(level) = out.cmdline.log_level {
        log.set_level(level);
    }
    log.info(&format!(
        "early boot done in {}ms",
        crate::runtime::timer::monotonic_now()
            .saturating_sub(boot_started)
            .as_millis()
    ));
    let target = target
        .or_else(|| out.cmdline.target.clone())
        .or_else(|| config.default_target.clone())
        .unwrap_or_else(|| "default".to_string());
    let opts = LoopOptions {
        units_dir: units.to_path_buf(),
        config_path: config_path.to_path_buf(),
        socket_path: socket.to_path_buf(),
        notify_path: socket.with_file_name("notify"),
        target,
        admin_gid: config.admin_gid().unwrap_or_else(|why| {
            log.error(&why);
            None
        }),
        base_env: out.base_env,
        generated: out.generated_units,
        settings: settings_from_config(&config, true),
        log_dir: crate::runtime::event_loop::log_dir_for(config.log_dir.as_deref(), true, socket),
        log_limits: config.log_limits,
        boot_record,
        instances: Default::default(),
    };
    let action = match run(opts, log) {
        Ok(action) => action,
        Err(e) => {
            log.error(&format!("{e}; cannot supervise, powering off"));
            PowerAction::Poweroff
        }
    };
    shut_down(action, log)
}

/// vigil re-executed as the machine's init (`daemon-reexec`): no early
/// boot (the machine is up), the loop from the handed-over state, then the
/// shutdown as after a boot.
pub fn resume(
    header: crate::runtime::reexec::Header,
    full: Option<crate::runtime::reexec::Full>,
    why_partial: Option<String>,
    log: &mut Logger,
) -> ExitCode {
    log.attach_kmsg(Path::new("/dev/kmsg"));
    let action = match crate::runtime::event_loop::resume(header, full, why_partial, log) {
        Ok(action) => action,
        Err(e) => {
            log.error(&format!("{e}; cannot supervise, powering off"));
            PowerAction::Poweroff
        }
    };
    shut_down(action, log)
}

/// The final steps and reboot(2); never returns while PID 1.
fn shut_down(action: PowerAction, log: &mut Logger) -> ExitCode {
    let sys = RealSyscall;
    log.info(&format!("shutting down: {action:?}"));
    for report in final_steps(&sys, DEFAULT_GRACE, &mut children_left) {
        log_step(log, &report);
    }
    let report = final_reboot(&sys, action);
    log_step(log, &report);
    // Still here: reboot(2) failed. Never exit as PID 1.
    loop {
        reap_all();
        std::thread::sleep(Duration::from_secs(60));
    }
}
