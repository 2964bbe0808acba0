//! Resolving `UUID=`/`LABEL=`/`PARTUUID=`/`PARTLABEL=` fstab sources: the
//! /dev/disk links when udev made them, else reading superblocks ourselves
//! (ext2/3/4 and swap), since fstab runs before udev has settled.

use std::path::{Path, PathBuf};

use super::sys::Syscall;

/// What a superblock says about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// "ext" or "swap".
    pub kind: &'static str,
    /// Lowercase 8-4-4-4-12 form.
    pub uuid: Option<String>,
    pub label: Option<String>,
}

const EXT_SB: usize = 1024;
/// Bytes read from each device: enough for the ext superblock and a 4 KiB swap header.
pub const PROBE_LEN: usize = 4096;

fn format_uuid(b: &[u8]) -> Option<String> {
    if b.len() != 16 || b.iter().all(|&x| x == 0) {
        return None;
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let (a, r) = hex.split_at(8);
    let (bb, r) = r.split_at(4);
    let (c, r) = r.split_at(4);
    let (d, e) = r.split_at(4);
    Some(format!("{a}-{bb}-{c}-{d}-{e}"))
}

fn label(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(b.get(..end)?).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Recognise an ext2/3/4 or swap (4 KiB page) header in the first bytes of a device.
pub fn probe_superblock(buf: &[u8]) -> Option<Probe> {
    if buf.get(EXT_SB + 0x38..EXT_SB + 0x3a) == Some(&[0x53, 0xef]) {
        return Some(Probe {
            kind: "ext",
            uuid: buf.get(EXT_SB + 0x68..EXT_SB + 0x78).and_then(format_uuid),
            label: buf.get(EXT_SB + 0x78..EXT_SB + 0x88).and_then(label),
        });
    }
    if buf.get(PROBE_LEN - 10..PROBE_LEN) == Some(b"SWAPSPACE2") {
        return Some(Probe {
            kind: "swap",
            uuid: buf.get(0x40c..0x41c).and_then(format_uuid),
            label: buf.get(0x41c..0x42c).and_then(label),
        });
    }
    None
}

/// Every block device the kernel knows, with what its superblock says.
pub fn probe_all(sys: &dyn Syscall) -> Vec<(PathBuf, Probe)> {
    let names = sys
        .read_dir(Path::new("/sys/class/block"))
        .unwrap_or_default();
    names
        .into_iter()
        .filter_map(|n| {
            let dev = PathBuf::from("/dev").join(&n);
            let buf = sys.read_at(&dev, 0, PROBE_LEN).ok()?;
            probe_superblock(&buf).map(|p| (dev, p))
        })
        .collect()
}

/// Turn an fstab device spec into a path mount(2)/swapon(2) accept. Plain
/// paths and pseudo sources (`tmpfs`, `proc`) come back unchanged.
pub fn resolve_source(sys: &dyn Syscall, spec: &str) -> Result<String, String> {
    let Some((tag, value)) = spec.split_once('=') else {
        return Ok(spec.to_string());
    };
    let value = value.trim_matches('"');
    let link_dir = match tag {
        "UUID" => "/dev/disk/by-uuid",
        "LABEL" => "/dev/disk/by-label",
        "PARTUUID" => "/dev/disk/by-partuuid",
        "PARTLABEL" => "/dev/disk/by-partlabel",
        _ => return Ok(spec.to_string()),
    };
    let link = Path::new(link_dir).join(value);
    if sys.exists(&link) {
        return Ok(link.display().to_string());
    }
    let found = match tag {
        "UUID" => probe_all(sys)
            .into_iter()
            .find(|(_, p)| {
                p.uuid
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(value))
            })
            .map(|(d, _)| d),
        "LABEL" => probe_all(sys)
            .into_iter()
            .find(|(_, p)| p.label.as_deref() == Some(value))
            .map(|(d, _)| d),
        "PARTLABEL" => find_partlabel(sys, value),
        _ => None,
    };
    found.map(|d| d.display().to_string()).ok_or_else(|| {
        if tag == "PARTUUID" {
            format!("no device with {spec} ({link_dir} is missing; PARTUUID needs udev)")
        } else {
            format!("no device with {spec}")
        }
    })
}

fn find_partlabel(sys: &dyn Syscall, value: &str) -> Option<PathBuf> {
    let names = sys.read_dir(Path::new("/sys/class/block")).ok()?;
    names.into_iter().find_map(|n| {
        let ue = sys
            .read_to_string(&Path::new("/sys/class/block").join(&n).join("uevent"))
            .ok()?;
        ue.lines()
            .any(|l| l.strip_prefix("PARTNAME=") == Some(value))
            .then(|| PathBuf::from("/dev").join(n))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::boot::sys::Recording;

    pub(crate) fn ext_image(uuid: [u8; 16], label: &str) -> Vec<u8> {
        let mut b = vec![0u8; 8192];
        b[EXT_SB + 0x38] = 0x53;
        b[EXT_SB + 0x39] = 0xef;
        b[EXT_SB + 0x68..EXT_SB + 0x78].copy_from_slice(&uuid);
        b[EXT_SB + 0x78..EXT_SB + 0x78 + label.len()].copy_from_slice(label.as_bytes());
        b
    }

    pub(crate) fn swap_image(uuid: [u8; 16], label: &str) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[4086..].copy_from_slice(b"SWAPSPACE2");
        b[0x40c..0x41c].copy_from_slice(&uuid);
        b[0x41c..0x41c + label.len()].copy_from_slice(label.as_bytes());
        b
    }

    const U1: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
        0xef,
    ];

    #[test]
    fn probes_ext_and_swap() {
        let p = probe_superblock(&ext_image(U1, "data")).unwrap();
        assert_eq!(p.kind, "ext");
        assert_eq!(
            p.uuid.as_deref(),
            Some("12345678-9abc-def0-0123-456789abcdef")
        );
        assert_eq!(p.label.as_deref(), Some("data"));
        let p = probe_superblock(&swap_image(U1, "sw")).unwrap();
        assert_eq!(p.kind, "swap");
        assert_eq!(p.label.as_deref(), Some("sw"));
        assert_eq!(probe_superblock(&[0u8; 4096]), None);
    }

    #[test]
    fn resolves_from_fake_devices_and_links() {
        let sys = Recording::new();
        sys.add_dir("/sys/class/block/vda")
            .add_dir("/sys/class/block/vdb");
        sys.add_file("/dev/vda", vec![0u8; 4096]);
        sys.add_file("/dev/vdb", ext_image(U1, "data"));
        assert_eq!(
            resolve_source(&sys, "UUID=12345678-9ABC-def0-0123-456789abcdef").unwrap(),
            "/dev/vdb"
        );
        assert_eq!(resolve_source(&sys, "LABEL=data").unwrap(), "/dev/vdb");
        assert!(resolve_source(&sys, "LABEL=nope")
            .unwrap_err()
            .contains("no device with LABEL=nope"));
        assert_eq!(resolve_source(&sys, "/dev/vdc").unwrap(), "/dev/vdc");
        assert_eq!(resolve_source(&sys, "tmpfs").unwrap(), "tmpfs");
        sys.add_link("/dev/disk/by-uuid/abcd", "../../vdc");
        assert_eq!(
            resolve_source(&sys, "UUID=abcd").unwrap(),
            "/dev/disk/by-uuid/abcd"
        );
    }

    /// The offsets above checked against images made by the real tools.
    #[test]
    fn probes_images_made_by_mkfs_and_mkswap() {
        let tool = |t: &str| {
            ["/sbin", "/usr/sbin"]
                .iter()
                .map(|d| format!("{d}/{t}"))
                .find(|p| Path::new(p).exists())
        };
        let (Some(mkfs), Some(mkswap)) = (tool("mkfs.ext4"), tool("mkswap")) else {
            eprintln!("mkfs.ext4/mkswap not installed; skipped");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let real = crate::boot::sys::RealSyscall;
        let ext = dir.path().join("ext.img");
        std::fs::File::create(&ext)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let st = std::process::Command::new(&mkfs)
            .args(["-q", "-F", "-U", uuid, "-L", "vigil-data"])
            .arg(&ext)
            .status()
            .unwrap();
        assert!(st.success());
        let buf = real.read_at(&ext, 0, PROBE_LEN).unwrap();
        let p = probe_superblock(&buf).unwrap();
        assert_eq!(
            (p.kind, p.uuid.as_deref(), p.label.as_deref()),
            ("ext", Some(uuid), Some("vigil-data"))
        );

        let sw = dir.path().join("swap.img");
        std::fs::File::create(&sw)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let st = std::process::Command::new(&mkswap)
            .args(["-U", uuid, "-L", "vigil-swap"])
            .arg(&sw)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let p = probe_superblock(&real.read_at(&sw, 0, PROBE_LEN).unwrap()).unwrap();
        assert_eq!(
            (p.kind, p.uuid.as_deref(), p.label.as_deref()),
            ("swap", Some(uuid), Some("vigil-swap"))
        );
    }
}
