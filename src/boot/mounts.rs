//! The API filesystems every Linux userland expects, mounted once, skipping
//! whatever an initramfs already mounted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::mountinfo::parse_mountinfo;
use super::report::{StepBuilder, StepReport};
use super::sys::Syscall;

/// Where vigil keeps its runtime state (control socket, notify socket).
pub const RUN_DIR: &str = "/run/vigil";

/// One essential mount: (fstype/source, target, flags, data).
struct Essential {
    fstype: &'static str,
    target: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

fn essentials() -> [Essential; 6] {
    let nsne = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    [
        Essential {
            fstype: "proc",
            target: "/proc",
            flags: nsne,
            data: None,
        },
        Essential {
            fstype: "sysfs",
            target: "/sys",
            flags: nsne,
            data: None,
        },
        Essential {
            fstype: "devtmpfs",
            target: "/dev",
            flags: MsFlags::MS_NOSUID,
            data: Some("mode=755"),
        },
        Essential {
            fstype: "devpts",
            target: "/dev/pts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some("gid=5,mode=620,ptmxmode=000"),
        },
        Essential {
            fstype: "tmpfs",
            target: "/dev/shm",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=1777"),
        },
        Essential {
            fstype: "tmpfs",
            target: "/run",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=755"),
        },
    ]
}

/// Mount points currently mounted, or None while /proc is not up.
pub fn mounted_points(sys: &dyn Syscall) -> Option<BTreeSet<PathBuf>> {
    sys.read_to_string(Path::new("/proc/self/mountinfo"))
        .ok()
        .map(|t| {
            parse_mountinfo(&t)
                .into_iter()
                .map(|m| m.mount_point)
                .collect()
        })
}

/// Mount /proc, /sys, /dev, /dev/pts, /dev/shm, /run and create /run/vigil.
/// Already-mounted targets are skipped: known from mountinfo once /proc is
/// readable, and from EBUSY before that.
pub fn mount_essential(sys: &dyn Syscall) -> StepReport {
    let mut step = StepBuilder::start("essential-mounts");
    let mut mounted = mounted_points(sys);
    let mut done = Vec::new();
    let mut skipped = Vec::new();
    for e in essentials() {
        let target = Path::new(e.target);
        if mounted.as_ref().is_some_and(|m| m.contains(target)) {
            skipped.push(e.target);
            continue;
        }
        if !sys.exists(target) {
            if let Err(err) = sys.create_dir_all(target) {
                step.error(format!("creating mount point {}: {err}", e.target));
                continue;
            }
        }
        match sys.mount(Some(e.fstype), target, Some(e.fstype), e.flags, e.data) {
            Ok(()) => {
                done.push(e.target);
                if let Some(m) = mounted.as_mut() {
                    m.insert(target.to_path_buf());
                } else {
                    mounted = mounted_points(sys);
                }
            }
            Err(Errno::EBUSY) => skipped.push(e.target),
            Err(err) => step.error(format!("mount {} ({}): {}", e.target, e.fstype, err.desc())),
        }
    }
    let run_dir = Path::new(RUN_DIR);
    if !sys.exists(run_dir) {
        if let Err(err) = sys.create_dir_all(run_dir) {
            step.error(format!("creating {RUN_DIR}: {err}"));
        }
    }
    if !skipped.is_empty() {
        step.note(format!("already mounted: {}", skipped.join(" ")));
    }
    let summary = if done.is_empty() {
        "nothing to mount".to_string()
    } else {
        format!("mounted {}", done.join(" "))
    };
    step.finish(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::sys::{Call, Recording};

    fn mount_targets(sys: &Recording) -> Vec<String> {
        sys.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::Mount { target, .. } => Some(target.display().to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn mounts_everything_on_a_bare_root_and_creates_points() {
        let sys = Recording::new();
        sys.add_dir("/proc").add_dir("/sys").add_dir("/dev");
        let r = mount_essential(&sys);
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            mount_targets(&sys),
            ["/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run"]
        );
        let texts = sys.texts();
        assert!(texts.contains(&"mkdir /dev/pts".to_string()));
        assert!(texts.contains(&"mkdir /run/vigil".to_string()));
        let pts = sys.calls.borrow().iter().find_map(|c| match c {
            Call::Mount { target, data, .. } if target == Path::new("/dev/pts") => data.clone(),
            _ => None,
        });
        assert_eq!(pts.as_deref(), Some("gid=5,mode=620,ptmxmode=000"));
    }

    #[test]
    fn skips_what_mountinfo_lists() {
        let sys = Recording::new();
        sys.add_file(
            "/proc/self/mountinfo",
            "1 0 0:1 / / rw - rootfs rootfs rw\n\
             2 1 0:2 / /proc rw - proc proc rw\n\
             3 1 0:3 / /dev rw - devtmpfs devtmpfs rw\n",
        );
        sys.add_dir("/sys")
            .add_dir("/dev/pts")
            .add_dir("/dev/shm")
            .add_dir("/run/vigil");
        let r = mount_essential(&sys);
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            mount_targets(&sys),
            ["/sys", "/dev/pts", "/dev/shm", "/run"]
        );
        assert!(r.notes.iter().any(|n| n.contains("/proc /dev")), "{r}");
    }

    #[test]
    fn ebusy_before_proc_means_already_mounted_and_errors_do_not_stop() {
        let sys = Recording::new();
        sys.add_dir("/proc")
            .add_dir("/sys")
            .add_dir("/dev/pts")
            .add_dir("/dev/shm")
            .add_dir("/run");
        sys.fail("mount /proc", Errno::EBUSY, None);
        sys.fail("mount /dev/shm", Errno::ENODEV, None);
        let r = mount_essential(&sys);
        assert_eq!(
            r.outcome,
            crate::boot::Outcome::Failed(vec!["mount /dev/shm (tmpfs): No such device".into()])
        );
        // Everything after the failure was still attempted.
        assert!(mount_targets(&sys).contains(&"/run".to_string()));
        assert!(r.notes.iter().any(|n| n.contains("/proc")));
    }
}
