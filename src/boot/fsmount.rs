//! Applying fstab: remount / with its options, mount the rest in order, and
//! activate swap. Every failure is one message; the next entry still runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::blkid::resolve_source;
use super::fstab::{parse_fstab, FstabEntry, FstabError};
use super::mountinfo::parse_swaps;
use super::mounts::mounted_points;
use super::report::{StepBuilder, StepReport};
use super::sys::Syscall;

/// Where fstab is read from.
pub const FSTAB: &str = "/etc/fstab";

/// Read and parse /etc/fstab; a missing file is an empty one.
pub fn read_fstab(sys: &dyn Syscall) -> (Vec<FstabEntry>, Vec<FstabError>) {
    match sys.read_to_string(Path::new(FSTAB)) {
        Ok(t) => parse_fstab(&t, FSTAB),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// Filesystems the kernel can mount from a block device, for type `auto`.
fn block_filesystems(sys: &dyn Syscall) -> Vec<String> {
    sys.read_to_string(Path::new("/proc/filesystems"))
        .map(|t| {
            t.lines()
                .filter(|l| !l.starts_with("nodev"))
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn mount_one(sys: &dyn Syscall, src: &str, e: &FstabEntry) -> Result<(), Errno> {
    let data = e.options.data_string();
    if e.fstype != "auto" {
        return sys.mount(
            Some(src),
            &e.target,
            Some(&e.fstype),
            e.options.flags,
            data.as_deref(),
        );
    }
    let mut last = Errno::ENODEV;
    for t in block_filesystems(sys) {
        match sys.mount(
            Some(src),
            &e.target,
            Some(&t),
            e.options.flags,
            data.as_deref(),
        ) {
            Ok(()) => return Ok(()),
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// Remount / with its fstab options, then mount every other non-swap entry
/// that is not `noauto`, `_netdev` or already mounted. Parse errors from
/// `read_fstab` are reported here too.
pub fn mount_fstab(
    sys: &dyn Syscall,
    entries: &[FstabEntry],
    parse_errors: &[FstabError],
) -> StepReport {
    let mut step = StepBuilder::start("fstab");
    for e in parse_errors {
        step.error(e.to_string());
    }
    let mut mounted: BTreeSet<PathBuf> = mounted_points(sys).unwrap_or_default();
    let mut done = Vec::new();
    let root = Path::new("/");
    if let Some(e) = entries.iter().find(|e| e.target == root && !e.is_swap()) {
        let data = e.options.data_string();
        let flags = e.options.flags | MsFlags::MS_REMOUNT;
        match sys.mount(None, root, None, flags, data.as_deref()) {
            Ok(()) => done.push("/ (remount)".to_string()),
            Err(err) => step.error(format!(
                "{FSTAB}:{}: remount / ({}): {}",
                e.line,
                e.options.raw,
                err.desc()
            )),
        }
    }
    for e in entries.iter().filter(|e| e.target != root && !e.is_swap()) {
        let what = format!("{FSTAB}:{}: mount {}", e.line, e.target.display());
        if e.options.noauto {
            continue;
        }
        if e.options.netdev {
            step.note(format!("{what}: skipped (_netdev: no network at boot)"));
            continue;
        }
        if mounted.contains(&e.target) {
            step.note(format!("{what}: already mounted"));
            continue;
        }
        let fail = |step: &mut StepBuilder, msg: String| {
            if e.options.nofail {
                step.note(format!("warning: {msg} (nofail)"));
            } else {
                step.error(msg);
            }
        };
        let src = match resolve_source(sys, &e.spec) {
            Ok(s) => s,
            Err(msg) => {
                fail(&mut step, format!("{what}: {msg}"));
                continue;
            }
        };
        if !sys.exists(&e.target) {
            if let Err(err) = sys.create_dir_all(&e.target) {
                fail(&mut step, format!("{what}: creating mount point: {err}"));
                continue;
            }
        }
        match mount_one(sys, &src, e) {
            Ok(()) => {
                mounted.insert(e.target.clone());
                done.push(e.target.display().to_string());
            }
            Err(err) => fail(
                &mut step,
                format!(
                    "{what}: {} (device {src}, type {}, options: {})",
                    err.desc(),
                    e.fstype,
                    e.options.raw
                ),
            ),
        }
    }
    let summary = if done.is_empty() {
        "nothing to mount".to_string()
    } else {
        format!("mounted {}", done.join(" "))
    };
    step.finish(summary)
}

/// swapon every fstab swap entry (not `noauto`) and every `swap` path from
/// vigil.toml; already-active devices are skipped.
pub fn activate_swap(
    sys: &dyn Syscall,
    entries: &[FstabEntry],
    configured: &[String],
) -> StepReport {
    let mut step = StepBuilder::start("swap");
    let active: BTreeSet<PathBuf> = sys
        .read_to_string(Path::new("/proc/swaps"))
        .map(|t| parse_swaps(&t).into_iter().collect())
        .unwrap_or_default();
    let mut todo: Vec<(String, i32, bool, String)> = entries
        .iter()
        .filter(|e| e.is_swap() && !e.options.noauto)
        .map(|e| {
            (
                e.spec.clone(),
                e.options.swap_flags,
                e.options.nofail,
                format!("{FSTAB}:{}: ", e.line),
            )
        })
        .collect();
    todo.extend(
        configured
            .iter()
            .map(|s| (s.clone(), 0, false, "vigil.toml: ".to_string())),
    );
    let mut done = Vec::new();
    for (spec, flags, nofail, origin) in todo {
        let fail = |step: &mut StepBuilder, msg: String| {
            if nofail {
                step.note(format!("warning: {msg} (nofail)"));
            } else {
                step.error(msg);
            }
        };
        let dev = match resolve_source(sys, &spec) {
            Ok(d) => d,
            Err(msg) => {
                fail(&mut step, format!("{origin}swapon {spec}: {msg}"));
                continue;
            }
        };
        if active.contains(Path::new(&dev)) {
            step.note(format!("{dev}: already active"));
            continue;
        }
        match sys.swapon(Path::new(&dev), flags) {
            Ok(()) => done.push(dev),
            Err(Errno::EBUSY) => step.note(format!("{dev}: already active")),
            Err(err) => fail(&mut step, format!("{origin}swapon {dev}: {}", err.desc())),
        }
    }
    let summary = if done.is_empty() {
        "no swap activated".to_string()
    } else {
        format!("activated {}", done.join(" "))
    };
    step.finish(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::blkid::tests::{ext_image, swap_image};
    use crate::boot::fstab::SWAP_FLAG_PREFER;
    use crate::boot::sys::{Call, Recording};
    use crate::boot::Outcome;

    const FSTAB_TEXT: &str = "\
/dev/vda / ext4 rw,noatime,errors=remount-ro 0 1\n\
UUID=00000000-0000-0000-0000-0000000000aa /mnt/data ext4 nosuid,nodev 0 2\n\
/dev/vdz /mnt/missing ext4 defaults 0 2\n\
/dev/vdc /mnt/typo ext4 defaults,noatme 0 2\n\
/dev/vdy /mnt/optional ext4 nofail 0 2\n\
/dev/vdd /mnt/later ext4 noauto 0 2\n\
proc /proc proc defaults 0 0\n\
LABEL=swp none swap sw,pri=3 0 0\n\
bad line\n\
tmpfs /tmp tmpfs mode=1777 0 0\n";

    fn host() -> Recording {
        let sys = Recording::new();
        let mut uuid = [0u8; 16];
        uuid[15] = 0xaa;
        sys.add_dir("/sys/class/block/vdb")
            .add_dir("/sys/class/block/vde");
        sys.add_file("/dev/vdb", ext_image(uuid, ""));
        sys.add_file("/dev/vde", swap_image([1; 16], "swp"));
        sys.add_file(
            "/proc/self/mountinfo",
            "1 0 0:1 / / rw - ext4 /dev/vda rw\n2 1 0:2 / /proc rw - proc proc rw\n",
        );
        sys.add_dir("/mnt/data").add_dir("/mnt/typo");
        sys.fail("mount /mnt/missing", Errno::ENOENT, None);
        sys.fail("mount /mnt/optional", Errno::ENOENT, None);
        sys.fail("mount /mnt/typo", Errno::EINVAL, None);
        sys
    }

    #[test]
    fn fstab_remounts_root_first_and_mounts_in_order() {
        let sys = host();
        let (entries, errors) = parse_fstab(FSTAB_TEXT, FSTAB);
        let r = mount_fstab(&sys, &entries, &errors);
        let mounts: Vec<(Option<String>, String, MsFlags, Option<String>)> = sys
            .calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::Mount {
                    source,
                    target,
                    flags,
                    data,
                    ..
                } => Some((
                    source.clone(),
                    target.display().to_string(),
                    *flags,
                    data.clone(),
                )),
                _ => None,
            })
            .collect();
        let targets: Vec<&str> = mounts.iter().map(|m| m.1.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/",
                "/mnt/data",
                "/mnt/missing",
                "/mnt/typo",
                "/mnt/optional",
                "/tmp"
            ]
        );
        assert_eq!(mounts[0].2, MsFlags::MS_REMOUNT | MsFlags::MS_NOATIME);
        assert_eq!(mounts[0].3.as_deref(), Some("errors=remount-ro"));
        assert_eq!(mounts[1].0.as_deref(), Some("/dev/vdb"));
        assert_eq!(mounts[1].2, MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        assert_eq!(mounts[3].3.as_deref(), Some("noatme"));
        assert!(sys.texts().contains(&"mkdir /mnt/missing".to_string()));
        let Outcome::Failed(msgs) = &r.outcome else {
            panic!("{r}")
        };
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].starts_with("/etc/fstab:9: line:"), "{msgs:?}");
        assert_eq!(
            msgs[1],
            "/etc/fstab:3: mount /mnt/missing: No such file or directory (device /dev/vdz, type ext4, options: defaults)"
        );
        assert_eq!(
            msgs[2],
            "/etc/fstab:4: mount /mnt/typo: Invalid argument (device /dev/vdc, type ext4, options: defaults,noatme)"
        );
        assert!(r
            .notes
            .iter()
            .any(|n| n.starts_with("warning: /etc/fstab:5: mount /mnt/optional")));
        assert!(r.notes.iter().any(|n| n.contains("/proc: already mounted")));
    }

    #[test]
    fn swap_from_fstab_label_and_config() {
        let sys = host();
        sys.add_file(
            "/proc/swaps",
            "Filename Type Size Used Priority\n/dev/vdx partition 1 0 -2\n",
        );
        sys.fail("swapon /dev/nope", Errno::ENOENT, None);
        let (entries, _) = parse_fstab(FSTAB_TEXT, FSTAB);
        let r = activate_swap(&sys, &entries, &["/dev/vdx".into(), "/dev/nope".into()]);
        let swaps: Vec<Call> = sys
            .calls
            .borrow()
            .iter()
            .filter(|c| matches!(c, Call::Swapon(..)))
            .cloned()
            .collect();
        assert_eq!(
            swaps,
            [
                Call::Swapon("/dev/vde".into(), SWAP_FLAG_PREFER | 3),
                Call::Swapon("/dev/nope".into(), 0)
            ]
        );
        assert_eq!(
            r.outcome,
            Outcome::Failed(vec![
                "vigil.toml: swapon /dev/nope: No such file or directory".into()
            ])
        );
    }
}
