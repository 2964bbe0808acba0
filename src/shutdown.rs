//! Final shutdown steps, run by PID 1 after the manager stopped every
//! service (issue 4): kill what is left, swapoff, unmount in reverse order,
//! remount / read-only, sync, reboot(2). Each returns a `StepReport`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::signal::Signal;

use crate::boot::mountinfo::{parse_mountinfo, parse_swaps};
use crate::boot::report::{StepBuilder, StepReport};
use crate::boot::sys::{RebootCmd, Syscall};
use crate::power::PowerAction;

/// How often kill_all checks whether processes are gone.
pub const POLL: Duration = Duration::from_millis(50);
/// How long to wait for SIGKILLed processes to be reaped.
pub const KILL_WAIT: Duration = Duration::from_secs(2);
/// How long processes left after the units stopped get between SIGTERM
/// and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

fn wait_gone(sys: &dyn Syscall, limit: Duration, children_left: &mut dyn FnMut() -> bool) -> bool {
    let mut waited = Duration::ZERO;
    loop {
        if !children_left() {
            return true;
        }
        if waited >= limit {
            return false;
        }
        sys.sleep(POLL);
        waited += POLL;
    }
}

/// SIGTERM to every process but us, wait up to `grace` while reaping, then
/// SIGKILL. `children_left` reaps whatever exited (owned by the
/// caller, which knows how to reap) and returns false
/// once no child is left (ECHILD): as PID 1 every orphan is our child.
pub fn kill_all(
    sys: &dyn Syscall,
    grace: Duration,
    children_left: &mut dyn FnMut() -> bool,
) -> StepReport {
    let mut step = StepBuilder::start("kill-all");
    match sys.kill(-1, Some(Signal::SIGTERM)) {
        Ok(()) => {}
        Err(Errno::ESRCH) => return step.finish("no processes left"),
        Err(e) => step.note(format!("kill(-1, SIGTERM): {}", e.desc())),
    }
    if wait_gone(sys, grace, children_left) {
        return step.finish("all processes exited after SIGTERM");
    }
    match sys.kill(-1, Some(Signal::SIGKILL)) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => step.note(format!("kill(-1, SIGKILL): {}", e.desc())),
    }
    if wait_gone(sys, KILL_WAIT, children_left) {
        step.finish(format!(
            "SIGKILL sent after a {}ms grace period",
            grace.as_millis()
        ))
    } else {
        step.note("processes remain after SIGKILL (uninterruptible sleep?); going on");
        step.finish("SIGKILL sent; some processes did not exit")
    }
}

/// swapoff every entry of /proc/swaps.
pub fn swapoff_all(sys: &dyn Syscall) -> StepReport {
    let mut step = StepBuilder::start("swapoff");
    let swaps = match sys.read_to_string(Path::new("/proc/swaps")) {
        Ok(t) => parse_swaps(&t),
        Err(e) => {
            step.error(format!("reading /proc/swaps: {e}"));
            return step.finish("");
        }
    };
    let mut done = Vec::new();
    for s in swaps {
        match sys.swapoff(&s) {
            Ok(()) => done.push(s.display().to_string()),
            Err(e) => step.error(format!("swapoff {}: {}", s.display(), e.desc())),
        }
    }
    step.finish(if done.is_empty() {
        "no swap active".to_string()
    } else {
        format!("deactivated {}", done.join(" "))
    })
}

/// API filesystems left mounted at shutdown: they hold no data and vigil
/// itself uses them until the end.
fn is_api_mount(p: &Path) -> bool {
    ["/proc", "/sys", "/dev", "/run"]
        .iter()
        .any(|a| p == Path::new(a))
        || ["/proc", "/sys", "/dev"].iter().any(|a| p.starts_with(a))
}

/// Unmount everything but / and the API filesystems, newest first (reverse
/// mountinfo order). A busy filesystem is remounted read-only and then
/// detached lazily (MNT_DETACH). Last, / is remounted read-only.
pub fn unmount_all(sys: &dyn Syscall) -> StepReport {
    let mut step = StepBuilder::start("unmount");
    let mounts = match sys.read_to_string(Path::new("/proc/self/mountinfo")) {
        Ok(t) => parse_mountinfo(&t),
        Err(e) => {
            step.error(format!("reading /proc/self/mountinfo: {e}"));
            Vec::new()
        }
    };
    let root = Path::new("/");
    let root_type = mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == root)
        .map(|m| m.fstype.clone());
    let targets: Vec<PathBuf> = mounts
        .iter()
        .rev()
        .map(|m| m.mount_point.clone())
        .filter(|p| p != root && !is_api_mount(p))
        .collect();
    let mut done = Vec::new();
    for t in targets {
        match sys.umount2(&t, MntFlags::empty()) {
            Ok(()) => done.push(t.display().to_string()),
            Err(Errno::EBUSY) => {
                if let Err(e) = sys.mount(
                    None,
                    &t,
                    None,
                    MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None,
                ) {
                    step.note(format!(
                        "{} busy; remount read-only: {}",
                        t.display(),
                        e.desc()
                    ));
                }
                match sys.umount2(&t, MntFlags::MNT_DETACH) {
                    Ok(()) => {
                        step.note(format!("{} busy: detached lazily", t.display()));
                        done.push(t.display().to_string());
                    }
                    Err(e) => step.error(format!("umount {} (lazy): {}", t.display(), e.desc())),
                }
            }
            // Already gone with a lazily detached parent.
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => step.error(format!("umount {}: {}", t.display(), e.desc())),
        }
    }
    match sys.mount(
        None,
        root,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None,
    ) {
        Ok(()) => done.push("/ (read-only)".to_string()),
        Err(e) => {
            let msg = format!("remount / read-only: {}", e.desc());
            match root_type.as_deref() {
                Some("rootfs" | "ramfs" | "tmpfs") => step.note(format!("{msg} (in-memory root)")),
                _ => step.error(msg),
            }
        }
    }
    step.finish(if done.is_empty() {
        "nothing unmounted".to_string()
    } else {
        format!("unmounted {}", done.join(" "))
    })
}

/// Flush every filesystem before the power goes.
pub fn sync_disks(sys: &dyn Syscall) -> StepReport {
    let step = StepBuilder::start("sync");
    sys.sync();
    step.finish("synced")
}

/// kill_all, swapoff_all, unmount_all and sync_disks, in that order; returns
/// their reports (pid1 logs them and then calls `final_reboot`).
pub fn final_steps(
    sys: &dyn Syscall,
    grace: Duration,
    children_left: &mut dyn FnMut() -> bool,
) -> Vec<StepReport> {
    vec![
        kill_all(sys, grace, children_left),
        swapoff_all(sys),
        unmount_all(sys),
        sync_disks(sys),
    ]
}

/// reboot(2) with RB_POWER_OFF / RB_AUTOBOOT / RB_HALT_SYSTEM. Returns only
/// if the kernel refused (or for `Exit`, which is not a reboot(2) action).
pub fn final_reboot(sys: &dyn Syscall, action: PowerAction) -> StepReport {
    let mut step = StepBuilder::start("reboot");
    let cmd = match action {
        PowerAction::Poweroff => RebootCmd::PowerOff,
        PowerAction::Reboot => RebootCmd::Restart,
        PowerAction::Halt => RebootCmd::Halt,
        PowerAction::Exit => return step.finish("supervisor mode: no reboot(2)"),
    };
    if let Err(e) = sys.reboot(cmd) {
        step.error(format!("reboot({cmd:?}): {}", e.desc()));
    }
    step.finish(format!("{cmd:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::sys::Recording;
    use crate::boot::Outcome;

    #[test]
    fn kill_all_terms_waits_then_kills() {
        let sys = Recording::new();
        let mut polls = 0;
        let r = kill_all(&sys, Duration::from_millis(100), &mut || {
            polls += 1;
            polls < 5 // gone on the 5th poll: after SIGKILL
        });
        assert!(r.is_ok(), "{r}");
        let t = sys.texts();
        assert_eq!(
            t,
            [
                "kill -1 Some(SIGTERM)",
                "sleep 50ms",
                "sleep 50ms",
                "kill -1 Some(SIGKILL)",
                "sleep 50ms",
            ]
        );
    }

    #[test]
    fn kill_all_stops_early_when_everything_exited() {
        let sys = Recording::new();
        let mut polls = 0;
        let r = kill_all(&sys, Duration::from_secs(5), &mut || {
            polls += 1;
            polls < 2
        });
        assert_eq!(
            r.outcome,
            Outcome::Ok("all processes exited after SIGTERM".into())
        );
        assert_eq!(sys.texts(), ["kill -1 Some(SIGTERM)", "sleep 50ms"]);
    }

    #[test]
    fn kill_all_gives_up_on_unkillable() {
        let sys = Recording::new();
        let r = kill_all(&sys, Duration::from_millis(50), &mut || true);
        assert!(r.is_ok());
        assert!(r.notes[0].contains("remain after SIGKILL"));
        let sleeps = sys
            .texts()
            .iter()
            .filter(|t| t.starts_with("sleep"))
            .count();
        assert_eq!(
            sleeps,
            1 + (KILL_WAIT.as_millis() / POLL.as_millis()) as usize
        );
    }

    const MOUNTINFO: &str = "\
1 0 254:0 / / rw - ext4 /dev/vda rw\n\
2 1 0:2 / /proc rw - proc proc rw\n\
3 1 0:3 / /sys rw - sysfs sysfs rw\n\
4 1 0:4 / /dev rw - devtmpfs devtmpfs rw\n\
5 4 0:5 / /dev/pts rw - devpts devpts rw\n\
6 1 0:6 / /run rw - tmpfs tmpfs rw\n\
7 1 254:16 / /mnt/data rw - ext4 /dev/vdb rw\n\
8 7 254:32 / /mnt/data/inner rw - ext4 /dev/vdc rw\n\
9 1 0:7 / /tmp rw - tmpfs tmpfs rw\n\
10 3 0:8 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

    #[test]
    fn unmounts_in_reverse_with_lazy_retry_then_root_ro() {
        let sys = Recording::new();
        sys.add_file("/proc/self/mountinfo", MOUNTINFO);
        sys.fail("umount /mnt/data", Errno::EBUSY, None);
        let r = unmount_all(&sys);
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            sys.texts(),
            [
                "umount /tmp",
                "umount /mnt/data/inner",
                "umount /mnt/data",
                "mount /mnt/data",
                "umount-lazy /mnt/data",
                "mount /",
            ]
        );
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("/mnt/data busy: detached lazily")));
        let last = sys.calls.borrow().last().cloned();
        match last {
            Some(crate::boot::sys::Call::Mount { flags, .. }) => {
                assert_eq!(flags, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn root_ro_failure_is_an_error_on_disk_but_not_on_initramfs() {
        let sys = Recording::new();
        sys.add_file(
            "/proc/self/mountinfo",
            "1 0 254:0 / / rw - ext4 /dev/vda rw\n",
        );
        sys.fail("mount /", Errno::EBUSY, None);
        let r = unmount_all(&sys);
        assert_eq!(
            r.outcome,
            Outcome::Failed(vec!["remount / read-only: Device or resource busy".into()])
        );
        let sys = Recording::new();
        sys.add_file(
            "/proc/self/mountinfo",
            "1 0 0:1 / / rw - rootfs rootfs rw\n",
        );
        sys.fail("mount /", Errno::EBUSY, None);
        assert!(unmount_all(&sys).is_ok());
    }

    #[test]
    fn swapoff_sync_and_reboot() {
        let sys = Recording::new();
        sys.add_file(
            "/proc/swaps",
            "Filename Type Size Used Priority\n/dev/vdd partition 1 0 -2\n/swap\\040file file 1 0 -3\n",
        );
        sys.fail("swapoff /dev/vdd", Errno::ENOMEM, None);
        let r = swapoff_all(&sys);
        assert!(!r.is_ok());
        assert!(sync_disks(&sys).is_ok());
        assert!(final_reboot(&sys, PowerAction::Poweroff).is_ok());
        assert!(final_reboot(&sys, PowerAction::Exit).is_ok());
        sys.fail("reboot Halt", Errno::EPERM, None);
        assert!(!final_reboot(&sys, PowerAction::Halt).is_ok());
        assert_eq!(
            sys.texts(),
            [
                "swapoff /dev/vdd",
                "swapoff /swap file",
                "sync",
                "reboot PowerOff",
                "reboot Halt"
            ]
        );
    }
}
