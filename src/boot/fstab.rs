//! /etc/fstab parsing (pure): entries with their mount flags split from the
//! fs-specific data string, and errors that name the line and field.

use std::path::PathBuf;

use nix::mount::MsFlags;
use thiserror::Error;

use super::mountinfo::unescape_octal;

/// swapon(2) flag bits (linux/swap.h), which the nix crate does not
/// have: fstab's `pri=` and `discard` options become these.
/// The priority in the low bits is used.
pub const SWAP_FLAG_PREFER: i32 = 0x8000;
/// Where the priority goes.
pub const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;
/// `discard`: discard freed swap pages (both kinds below).
pub const SWAP_FLAG_DISCARD: i32 = 0x10000;
/// `discard=once`: discard the whole area once, at swapon.
pub const SWAP_FLAG_DISCARD_ONCE: i32 = 0x20000;
/// `discard=pages`: discard pages as they are freed.
pub const SWAP_FLAG_DISCARD_PAGES: i32 = 0x40000;

/// A line of fstab we could not use; the other lines still apply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct FstabError {
    pub file: String,
    pub line: usize,
    pub field: &'static str,
    pub message: String,
}

/// The options field, split the way mount(2) wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Options mount(2) does not know as flags, passed to the filesystem
    /// (including typos: the kernel rejects those with EINVAL).
    pub data: Vec<String>,
    pub noauto: bool,
    pub nofail: bool,
    pub netdev: bool,
    /// swapon(2) flags from `pri=` and `discard` (swap entries only).
    pub swap_flags: i32,
    /// The field as written, for messages.
    pub raw: String,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            data: Vec::new(),
            noauto: false,
            nofail: false,
            netdev: false,
            swap_flags: 0,
            raw: String::new(),
        }
    }
}

impl MountOptions {
    /// The data argument for mount(2), None when empty.
    pub fn data_string(&self) -> Option<String> {
        if self.data.is_empty() {
            None
        } else {
            Some(self.data.join(","))
        }
    }
}

/// One usable fstab line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    pub line: usize,
    /// Device as written: a path, `UUID=`, `LABEL=`, `PARTUUID=`, or a
    /// pseudo source such as `tmpfs`.
    pub spec: String,
    pub target: PathBuf,
    pub fstype: String,
    pub options: MountOptions,
    pub freq: u32,
    pub passno: u32,
}

impl FstabEntry {
    /// Swap entries go to swapon, not mount.
    pub fn is_swap(&self) -> bool {
        self.fstype == "swap"
    }
}

/// Split an options field; unknown options land in `data`.
pub fn parse_options(raw: &str) -> MountOptions {
    let mut o = MountOptions {
        raw: raw.to_string(),
        ..Default::default()
    };
    for opt in raw.split(',').filter(|s| !s.is_empty()) {
        let set = |o: &mut MountOptions, f: MsFlags, on: bool| o.flags.set(f, on);
        match opt {
            "defaults" | "auto" | "user" | "users" | "nouser" | "owner" | "group" | "sw" => {}
            "noauto" => o.noauto = true,
            "nofail" => o.nofail = true,
            "_netdev" => o.netdev = true,
            "ro" => set(&mut o, MsFlags::MS_RDONLY, true),
            "rw" => set(&mut o, MsFlags::MS_RDONLY, false),
            "nosuid" => set(&mut o, MsFlags::MS_NOSUID, true),
            "suid" => set(&mut o, MsFlags::MS_NOSUID, false),
            "nodev" => set(&mut o, MsFlags::MS_NODEV, true),
            "dev" => set(&mut o, MsFlags::MS_NODEV, false),
            "noexec" => set(&mut o, MsFlags::MS_NOEXEC, true),
            "exec" => set(&mut o, MsFlags::MS_NOEXEC, false),
            "sync" => set(&mut o, MsFlags::MS_SYNCHRONOUS, true),
            "async" => set(&mut o, MsFlags::MS_SYNCHRONOUS, false),
            "dirsync" => set(&mut o, MsFlags::MS_DIRSYNC, true),
            "remount" => set(&mut o, MsFlags::MS_REMOUNT, true),
            "bind" => set(&mut o, MsFlags::MS_BIND, true),
            "rbind" => set(&mut o, MsFlags::MS_BIND | MsFlags::MS_REC, true),
            "mand" => set(&mut o, MsFlags::MS_MANDLOCK, true),
            "nomand" => set(&mut o, MsFlags::MS_MANDLOCK, false),
            "silent" => set(&mut o, MsFlags::MS_SILENT, true),
            "loud" => set(&mut o, MsFlags::MS_SILENT, false),
            "noatime" => set(&mut o, MsFlags::MS_NOATIME, true),
            "atime" => set(&mut o, MsFlags::MS_NOATIME, false),
            "nodiratime" => set(&mut o, MsFlags::MS_NODIRATIME, true),
            "diratime" => set(&mut o, MsFlags::MS_NODIRATIME, false),
            "relatime" => set(&mut o, MsFlags::MS_RELATIME, true),
            "norelatime" => set(&mut o, MsFlags::MS_RELATIME, false),
            "strictatime" => set(&mut o, MsFlags::MS_STRICTATIME, true),
            "nostrictatime" => set(&mut o, MsFlags::MS_STRICTATIME, false),
            "lazytime" => set(&mut o, MsFlags::MS_LAZYTIME, true),
            "nolazytime" => set(&mut o, MsFlags::MS_LAZYTIME, false),
            "iversion" => set(&mut o, MsFlags::MS_I_VERSION, true),
            "noiversion" => set(&mut o, MsFlags::MS_I_VERSION, false),
            "discard" => o.swap_flags |= SWAP_FLAG_DISCARD,
            "discard=once" => o.swap_flags |= SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_ONCE,
            "discard=pages" => o.swap_flags |= SWAP_FLAG_DISCARD | SWAP_FLAG_DISCARD_PAGES,
            _ if opt.starts_with("x-") || opt.starts_with("comment=") => {}
            _ => {
                if let Some(p) = opt.strip_prefix("pri=").and_then(|p| p.parse::<i32>().ok()) {
                    o.swap_flags |= SWAP_FLAG_PREFER | (p & SWAP_FLAG_PRIO_MASK);
                } else {
                    o.data.push(opt.to_string());
                }
            }
        }
    }
    o
}

/// Parse fstab text; `file` names it in errors. Bad lines become errors,
/// good lines entries, in file order.
pub fn parse_fstab(text: &str, file: &str) -> (Vec<FstabEntry>, Vec<FstabError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let lineno = idx + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |field: &'static str, message: String| FstabError {
            file: file.to_string(),
            line: lineno,
            field,
            message,
        };
        let fields: Vec<String> = trimmed.split_whitespace().map(unescape_octal).collect();
        let [spec, target, fstype, opts, rest @ ..] = fields.as_slice() else {
            errors.push(err(
                "line",
                format!(
                    "expected at least 4 fields (device, mount point, type, options), found {}",
                    fields.len()
                ),
            ));
            continue;
        };
        if rest.len() > 2 {
            errors.push(err(
                "line",
                format!("expected at most 6 fields, found {}", fields.len()),
            ));
            continue;
        }
        let num = |i: usize, name: &'static str| -> Result<u32, FstabError> {
            match rest.get(i) {
                None => Ok(0),
                Some(v) => v
                    .parse()
                    .map_err(|_| err(name, format!("expected a number, found {v:?}"))),
            }
        };
        let (freq, passno) = match (num(0, "dump"), num(1, "pass")) {
            (Ok(f), Ok(p)) => (f, p),
            (Err(e), _) | (_, Err(e)) => {
                errors.push(e);
                continue;
            }
        };
        let is_swap = fstype == "swap";
        if !target.starts_with('/') && !(is_swap && (target == "none" || target == "swap")) {
            errors.push(err(
                "mount point",
                format!("{target:?} is not an absolute path"),
            ));
            continue;
        }
        for (field, v) in [("device", spec), ("type", fstype)] {
            if v.is_empty() {
                errors.push(err(field, "empty".to_string()));
            }
        }
        entries.push(FstabEntry {
            line: lineno,
            spec: spec.clone(),
            target: PathBuf::from(target),
            fstype: fstype.clone(),
            options: parse_options(opts),
            freq,
            passno,
        });
    }
    (entries, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_flags_from_data_and_passes_typos_through() {
        let o =
            parse_options("defaults,noatime,nosuid,errors=remount-ro,x-systemd.foo,nofail,noatme");
        assert_eq!(o.flags, MsFlags::MS_NOATIME | MsFlags::MS_NOSUID);
        assert_eq!(o.data_string().as_deref(), Some("errors=remount-ro,noatme"));
        assert!(o.nofail && !o.noauto);
        let o = parse_options("ro,rw,noexec,nodev,sync,relatime,_netdev,noauto,user");
        assert_eq!(
            o.flags,
            MsFlags::MS_NOEXEC | MsFlags::MS_NODEV | MsFlags::MS_SYNCHRONOUS | MsFlags::MS_RELATIME
        );
        assert!(o.noauto && o.netdev);
        assert_eq!(o.data_string(), None);
    }

    #[test]
    fn swap_options() {
        let o = parse_options("sw,pri=5,discard");
        assert_eq!(o.swap_flags, SWAP_FLAG_PREFER | 5 | SWAP_FLAG_DISCARD);
        assert!(o.data.is_empty());
    }

    #[test]
    fn parses_lines_with_escapes_and_reports_bad_ones() {
        let text = "# root\n\
UUID=1234-abcd / ext4 errors=remount-ro 0 1\n\
\n\
/dev/vdb /mnt/my\\040data ext4 defaults\n\
/dev/vdc /mnt/x ext4\n\
/dev/vdd none swap sw 0 0\n\
/dev/vde /mnt/y ext4 defaults zero 2\n\
/dev/vdf relative ext4 defaults\n\
a b c d 0 0 extra\n\
tmpfs /tmp tmpfs mode=1777,nosuid 0\n";
        let (entries, errors) = parse_fstab(text, "/etc/fstab");
        let targets: Vec<_> = entries
            .iter()
            .map(|e| e.target.display().to_string())
            .collect();
        assert_eq!(targets, ["/", "/mnt/my data", "none", "/tmp"]);
        assert_eq!(entries[0].spec, "UUID=1234-abcd");
        assert_eq!(entries[0].passno, 1);
        assert!(entries[2].is_swap());
        assert_eq!(entries[3].line, 10);
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs[0].starts_with("/etc/fstab:5: line: expected at least 4 fields"),
            "{msgs:?}"
        );
        assert_eq!(
            msgs[1],
            "/etc/fstab:7: dump: expected a number, found \"zero\""
        );
        assert!(msgs[2].starts_with("/etc/fstab:8: mount point:"));
        assert!(msgs[3].starts_with("/etc/fstab:9: line: expected at most 6"));
    }
}
