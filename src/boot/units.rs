//! Units generated from vigil.toml: one getty per `[[tty]]`, and the device
//! manager (udevd + coldplug, or mdev). They are ordinary supervised units.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::report::{StepBuilder, StepReport};
use super::sys::Syscall;
use crate::config::{TtyConfig, UdevSetting};
use crate::unit::{RestartPolicy, UnitDef, UnitKind};

/// Used when a `[[tty]]` names no getty.
pub const DEFAULT_GETTY: &str = "/sbin/agetty";
/// The target generated units are wanted by.
pub const DEFAULT_TARGET: &str = "default";
/// Name of the unit that is up once devices present at boot are processed;
/// order after it to wait for coldplug, whatever device manager runs.
pub const COLDPLUG_UNIT: &str = "udev-coldplug";
/// The device manager's daemon, as a unit.
pub const UDEVD_UNIT: &str = "udevd";
/// Its coldplug trigger (`udevadm trigger`), as a unit ordered after it.
pub const TRIGGER_UNIT: &str = "udev-trigger";
/// udevd and its workers run at this niceness: coldplug replays every
/// device at once, and on a small machine its workers would take the CPU
/// from the services on the way to a login (docs/config.md, "udev").
pub const UDEVD_NICE: i32 = 10;
/// How long `udevadm settle` waits for the event queue.
pub const SETTLE_TIMEOUT_SECS: u32 = 10;

const UDEVD_CANDIDATES: [&str; 5] = [
    "/lib/systemd/systemd-udevd",
    "/usr/lib/systemd/systemd-udevd",
    "/sbin/udevd",
    "/usr/sbin/udevd",
    "/lib/udev/udevd",
];
const MDEV_CANDIDATES: [&str; 4] = ["/sbin/mdev", "/bin/mdev", "/usr/sbin/mdev", "/usr/bin/mdev"];
const UDEVADM_CANDIDATES: [&str; 4] = [
    "/bin/udevadm",
    "/usr/bin/udevadm",
    "/sbin/udevadm",
    "/usr/sbin/udevadm",
];

fn is_serial(dev: &str) -> bool {
    !(dev.starts_with("tty")
        && dev
            .get(3..)
            .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit()) && !r.is_empty()))
}

/// The getty unit for one `[[tty]]`: `getty@ttyS1`, exec
/// `[getty, -L, BAUD, ttyS1, TERM]` unless `args` replaces the tail,
/// restart always with a 1 s first delay (the back-off doubles).
pub fn getty_unit(tty: &TtyConfig) -> UnitDef {
    let dev = tty.device.trim_start_matches("/dev/").to_string();
    let serial = is_serial(&dev);
    let getty = tty
        .getty
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_GETTY));
    let mut exec = vec![getty.display().to_string()];
    match &tty.args {
        Some(args) => exec.extend(args.iter().cloned()),
        None => {
            let baud = tty.baud.unwrap_or(if serial { 115_200 } else { 38_400 });
            let term = tty
                .term
                .clone()
                .unwrap_or_else(|| if serial { "vt100" } else { "linux" }.to_string());
            exec.extend(["-L".to_string(), baud.to_string(), dev.clone(), term]);
        }
    }
    let mut u = UnitDef::new(format!("getty@{dev}"));
    u.description = format!("Login prompt on /dev/{dev}");
    u.exec = exec.into();
    u.restart = RestartPolicy::Always;
    u.restart_delay = Duration::from_secs(1);
    u.wanted_by = thin_vec::thin_vec![DEFAULT_TARGET.to_string()];
    u.extra_mut().needs_device = Some(PathBuf::from("/dev").join(&dev));
    u
}

/// Getty units for every `[[tty]]`. A device missing now is only a note:
/// it may appear later (hvc0 after virtio_console); until then the getty
/// fails at start ("opening /dev/hvc0: No such file or directory") and
/// restarts with back-off.
pub fn getty_units(sys: &dyn Syscall, ttys: &[TtyConfig]) -> (StepReport, Vec<UnitDef>) {
    let mut step = StepBuilder::start("gettys");
    let units: Vec<UnitDef> = ttys.iter().map(getty_unit).collect();
    for (t, u) in ttys.iter().zip(&units) {
        let dev = PathBuf::from("/dev").join(t.device.trim_start_matches("/dev/"));
        if !sys.exists(&dev) {
            step.note(format!(
                "{}: {} does not exist (yet); the getty will fail and retry until it appears",
                u.name,
                dev.display()
            ));
        }
        if let Some(prog) = u.exec.first() {
            if !sys.exists(Path::new(prog)) {
                step.note(format!(
                    "{}: {prog} not found; the getty cannot start",
                    u.name
                ));
            }
        }
    }
    let names: Vec<&str> = units.iter().map(|u| &*u.name).collect();
    let summary = if names.is_empty() {
        "no [[tty]] configured".to_string()
    } else {
        format!("generated {}", names.join(" "))
    };
    (step.finish(summary), units)
}

fn find(sys: &dyn Syscall, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| sys.exists(Path::new(p)))
        .map(|p| p.to_string())
}

fn oneshot(name: &str, description: &str, exec: Vec<String>) -> UnitDef {
    let mut u = UnitDef::new(name);
    u.description = description.to_string();
    u.kind = UnitKind::Oneshot;
    u.exec = exec.into();
    u.remain_after_exit = true;
    u.start_timeout = Duration::from_secs(60);
    u.wanted_by = thin_vec::thin_vec![DEFAULT_TARGET.to_string()];
    u
}

/// The device manager as units. udev mode: `udevd` (notify for
/// systemd-udevd, which sends READY=1 once it listens, so no uevent from the
/// trigger is lost; simple for others), `udev-trigger` (`udevadm trigger
/// --action=add`) and `udev-coldplug` (`udevadm settle --timeout=10`), each
/// requiring and ordered after the previous. mdev mode: /proc/sys/kernel/hotplug
/// is set to mdev and `udev-coldplug` runs `mdev -s`.
pub fn udev_units(sys: &dyn Syscall, setting: &UdevSetting) -> (StepReport, Vec<UnitDef>) {
    let mut step = StepBuilder::start("udev");
    let argv: Vec<String> = match setting {
        UdevSetting::None => return (step.finish("disabled (udev = \"none\")"), Vec::new()),
        UdevSetting::Command(argv) => argv.clone(),
        UdevSetting::Auto => {
            match find(sys, &UDEVD_CANDIDATES).or_else(|| find(sys, &MDEV_CANDIDATES)) {
                Some(p) => vec![p],
                None => {
                    step.note("no device manager found (systemd-udevd, udevd, mdev); /dev is devtmpfs only");
                    return (step.finish("none found"), Vec::new());
                }
            }
        }
    };
    let Some(prog) = argv.first().cloned() else {
        return (step.finish("none"), Vec::new());
    };
    let base = Path::new(&prog)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base.contains("mdev") {
        if let Err(e) = sys.write_file(Path::new("/proc/sys/kernel/hotplug"), &prog) {
            step.error(format!("setting /proc/sys/kernel/hotplug to {prog}: {e}"));
        }
        let mut exec = argv;
        exec.push("-s".to_string());
        let u = oneshot(COLDPLUG_UNIT, "Populate /dev with mdev -s", exec);
        return (step.finish(format!("mdev: {COLDPLUG_UNIT}")), vec![u]);
    }
    let mut udevd = UnitDef::new(UDEVD_UNIT);
    udevd.description = "Device manager".to_string();
    udevd.kind = if base == "systemd-udevd" {
        UnitKind::Notify
    } else {
        UnitKind::Simple
    };
    udevd.start_timeout = Duration::from_secs(30);
    udevd.exec = argv.into();
    udevd.restart = RestartPolicy::Always;
    udevd.restart_delay = Duration::from_secs(1);
    udevd.extra_mut().nice = Some(UDEVD_NICE);
    udevd.wanted_by = thin_vec::thin_vec![DEFAULT_TARGET.to_string()];
    let mut units = vec![udevd];
    match find(sys, &UDEVADM_CANDIDATES) {
        Some(udevadm) => {
            let mut trigger = oneshot(
                TRIGGER_UNIT,
                "Replay kernel device events (coldplug)",
                vec![udevadm.clone(), "trigger".into(), "--action=add".into()],
            );
            trigger.requires = thin_vec::thin_vec![UDEVD_UNIT.into()];
            trigger.after = thin_vec::thin_vec![UDEVD_UNIT.into()];
            let mut settle = oneshot(
                COLDPLUG_UNIT,
                "Wait for coldplug events to be processed",
                vec![
                    udevadm,
                    "settle".into(),
                    format!("--timeout={SETTLE_TIMEOUT_SECS}"),
                ],
            );
            settle.requires = thin_vec::thin_vec![TRIGGER_UNIT.into()];
            settle.after = thin_vec::thin_vec![TRIGGER_UNIT.into()];
            units.push(trigger);
            units.push(settle);
        }
        None => {
            step.note("udevadm not found: no coldplug; devices present at boot get no udev rules")
        }
    }
    let names: Vec<&str> = units.iter().map(|u| &*u.name).collect();
    let summary = format!("{prog}: {}", names.join(" "));
    (step.finish(summary), units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::sys::Recording;

    #[test]
    fn getty_defaults_and_custom_args() {
        let u = getty_unit(&TtyConfig {
            device: "/dev/ttyS1".into(),
            ..Default::default()
        });
        assert_eq!(&*u.name, "getty@ttyS1");
        assert_eq!(u.exec, ["/sbin/agetty", "-L", "115200", "ttyS1", "vt100"]);
        assert_eq!(u.restart, RestartPolicy::Always);
        assert_eq!(u.restart_delay, Duration::from_secs(1));
        assert_eq!(u.wanted_by, ["default"]);
        let u = getty_unit(&TtyConfig {
            device: "tty1".into(),
            ..Default::default()
        });
        assert_eq!(u.exec, ["/sbin/agetty", "-L", "38400", "tty1", "linux"]);
        let u = getty_unit(&TtyConfig {
            device: "hvc0".into(),
            getty: Some("/sbin/getty".into()),
            args: Some(vec!["-n".into(), "hvc0".into()]),
            baud: Some(9600),
            term: None,
        });
        assert_eq!(u.exec, ["/sbin/getty", "-n", "hvc0"]);
    }

    #[test]
    fn missing_tty_is_noted_but_generated() {
        let sys = Recording::new();
        sys.add_file("/sbin/agetty", "").add_file("/dev/ttyS0", "");
        let ttys = [
            TtyConfig {
                device: "ttyS0".into(),
                ..Default::default()
            },
            TtyConfig {
                device: "ttyS9".into(),
                ..Default::default()
            },
        ];
        let (r, units) = getty_units(&sys, &ttys);
        assert!(r.is_ok());
        assert_eq!(units.len(), 2);
        assert_eq!(r.notes.len(), 1);
        assert!(r.notes[0].contains("/dev/ttyS9 does not exist"), "{r}");
    }

    #[test]
    fn detects_systemd_udevd_with_coldplug_chain() {
        let sys = Recording::new();
        sys.add_file("/lib/systemd/systemd-udevd", "")
            .add_file("/bin/udevadm", "");
        let (r, units) = udev_units(&sys, &UdevSetting::Auto);
        assert!(r.is_ok(), "{r}");
        let names: Vec<&str> = units.iter().map(|u| &*u.name).collect();
        assert_eq!(names, ["udevd", "udev-trigger", "udev-coldplug"]);
        assert_eq!(units[0].kind, UnitKind::Notify);
        assert_eq!(units[0].exec, ["/lib/systemd/systemd-udevd"]);
        assert_eq!(units[0].extra().nice, Some(UDEVD_NICE));
        assert_eq!(units[1].exec, ["/bin/udevadm", "trigger", "--action=add"]);
        assert_eq!(units[1].after, ["udevd"]);
        assert_eq!(units[2].exec, ["/bin/udevadm", "settle", "--timeout=10"]);
        assert_eq!(units[2].requires, ["udev-trigger"]);
        assert!(units[2].remain_after_exit && units[2].kind == UnitKind::Oneshot);
    }

    #[test]
    fn mdev_sets_hotplug_and_none_is_noted() {
        let sys = Recording::new();
        sys.add_file("/sbin/mdev", "");
        let (r, units) = udev_units(&sys, &UdevSetting::Auto);
        assert!(r.is_ok(), "{r}");
        assert_eq!(units.len(), 1);
        assert_eq!(units[0].exec, ["/sbin/mdev", "-s"]);
        assert_eq!(
            sys.file("/proc/sys/kernel/hotplug").as_deref(),
            Some("/sbin/mdev")
        );

        let empty = Recording::new();
        let (r, units) = udev_units(&empty, &UdevSetting::Auto);
        assert!(units.is_empty() && r.notes[0].contains("no device manager"));
        let (_, units) = udev_units(&sys, &UdevSetting::None);
        assert!(units.is_empty());
        let (_, units) = udev_units(
            &empty,
            &UdevSetting::Command(vec!["/sbin/udevd".into(), "--debug".into()]),
        );
        assert_eq!(units[0].kind, UnitKind::Simple);
        assert_eq!(units[0].exec, ["/sbin/udevd", "--debug"]);
    }
}
