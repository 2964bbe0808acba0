//! Early-boot steps run when vigil is PID 1, before the event loop. Each
//! step returns a `StepReport`; none panics and none stops the boot.
//! `run_early_boot` runs them all in order and hands back what the event
//! loop needs: the base environment and the generated units.

pub mod blkid;
pub mod cmdline;
pub mod fsmount;
pub mod fstab;
pub mod host;
pub mod modules;
pub mod mountinfo;
pub mod mounts;
pub mod report;
pub mod sys;
pub mod units;

use std::path::Path;

pub use cmdline::CmdlineOptions;
pub use report::{Outcome, StepBuilder, StepReport};
pub use sys::{RealSyscall, Recording, Syscall};

use crate::config::SystemConfig;
use crate::unit::UnitDef;

/// What boot produced for the rest of vigil.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BootOutput {
    /// Environment every service starts from (PATH, TZ, LANG/LC_*), in order.
    pub base_env: Vec<(String, String)>,
    /// Getty and udev units, to add to the loaded unit set.
    pub generated_units: Vec<UnitDef>,
    /// `vigil.target=` / `vigil.log=` from /proc/cmdline.
    pub cmdline: CmdlineOptions,
}

/// Parse /proc/cmdline (empty options if unreadable).
pub fn kernel_cmdline(sys: &dyn Syscall) -> CmdlineOptions {
    sys.read_to_string(Path::new("/proc/cmdline"))
        .map(|t| cmdline::parse_cmdline(&t))
        .unwrap_or_default()
}

/// Every early-boot step in order: essential mounts, Ctrl-Alt-Del off,
/// kernel command line, hostname, modules, fstab, swap, timezone/locale,
/// udev units, getty units. Blocking (modprobe has a timeout per module).
/// `on_step` sees each report as soon as its step ends, so a step that hangs
/// is visible in the log (the first one mounts /dev, after which the caller
/// can attach /dev/kmsg).
pub fn run_early_boot_with(
    sys: &dyn Syscall,
    cfg: &SystemConfig,
    on_step: &mut dyn FnMut(&StepReport),
) -> (Vec<StepReport>, BootOutput) {
    let mut reports = Vec::new();
    let mut push = |r: StepReport, reports: &mut Vec<StepReport>| {
        on_step(&r);
        reports.push(r);
    };
    push(mounts::mount_essential(sys), &mut reports);
    push(host::disable_ctrl_alt_del(sys), &mut reports);
    let mut step = StepBuilder::start("cmdline");
    let cmd = kernel_cmdline(sys);
    for p in &cmd.problems {
        step.note(p.clone());
    }
    let summary = format!(
        "target={} log={}",
        cmd.target.as_deref().unwrap_or("-"),
        cmd.log_level
            .map_or("-".to_string(), |l| format!("{l:?}").to_lowercase())
    );
    push(step.finish(summary), &mut reports);
    push(host::set_hostname(sys, cfg), &mut reports);
    let names = modules::module_list(sys, &cfg.modules);
    push(modules::load_modules(sys, &names), &mut reports);
    let (entries, errors) = fsmount::read_fstab(sys);
    push(fsmount::mount_fstab(sys, &entries, &errors), &mut reports);
    push(
        fsmount::activate_swap(sys, &entries, &cfg.swap),
        &mut reports,
    );
    let (r, base_env) = host::host_environment(sys, cfg);
    push(r, &mut reports);
    let (r, mut generated_units) = units::udev_units(sys, &cfg.udev);
    push(r, &mut reports);
    let (r, gettys) = units::getty_units(sys, &cfg.tty);
    push(r, &mut reports);
    generated_units.extend(gettys);
    (
        reports,
        BootOutput {
            base_env,
            generated_units,
            cmdline: cmd,
        },
    )
}

/// What the loop needs when the machine is already up (a re-exec whose
/// state could not be read): the same environment and generated units as
/// the boot made, from reads only; no step that mounts, loads or sets
/// anything runs again.
pub fn boot_output_of_running_system(sys: &dyn Syscall, cfg: &SystemConfig) -> BootOutput {
    let base_env = host::base_environment(sys, cfg, &mut |_| {});
    let (_, mut generated_units) = units::udev_units(sys, &cfg.udev);
    let (_, gettys) = units::getty_units(sys, &cfg.tty);
    generated_units.extend(gettys);
    BootOutput {
        base_env,
        generated_units,
        cmdline: kernel_cmdline(sys),
    }
}

/// `run_early_boot_with` without a per-step callback.
pub fn run_early_boot(sys: &dyn Syscall, cfg: &SystemConfig) -> (Vec<StepReport>, BootOutput) {
    run_early_boot_with(sys, cfg, &mut |_| {})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TtyConfig, UdevSetting};
    use nix::errno::Errno;

    #[test]
    fn full_boot_on_a_fake_host_goes_on_past_failures() {
        let sys = Recording::new();
        sys.add_dir("/proc").add_dir("/sys").add_dir("/dev");
        sys.add_file(
            "/proc/cmdline",
            "console=ttyS0 vigil.target=rescue vigil.log=bogus\n",
        );
        sys.add_file("/etc/fstab", "/dev/vdb /mnt/data ext4 defaults 0 2\n");
        sys.add_file(
            "/lib/modules/6.1.0-test/modules.dep",
            "kernel/drivers/block/loop.ko:\n",
        );
        sys.fail("mount /proc", Errno::EPERM, None);
        let cfg = SystemConfig {
            hostname: Some("h".into()),
            modules: vec!["loop".into(), "missing".into()],
            udev: UdevSetting::None,
            tty: vec![TtyConfig {
                device: "ttyS1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let (reports, out) = run_early_boot(&sys, &cfg);
        let names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "essential-mounts",
                "ctrl-alt-del",
                "cmdline",
                "hostname",
                "modules",
                "fstab",
                "swap",
                "timezone-locale",
                "udev",
                "gettys"
            ]
        );
        assert!(!reports[0].is_ok());
        assert!(!reports[4].is_ok());
        assert!(reports[5].is_ok(), "{}", reports[5]);
        assert_eq!(out.cmdline.target.as_deref(), Some("rescue"));
        assert_eq!(out.cmdline.problems.len(), 1);
        assert_eq!(out.generated_units.len(), 1);
        assert_eq!(out.base_env.first().map(|e| e.0.as_str()), Some("PATH"));
        let texts = sys.texts();
        assert!(texts.contains(&"mount /mnt/data".to_string()));
        assert!(texts.contains(&"cad false".to_string()));
    }
}
