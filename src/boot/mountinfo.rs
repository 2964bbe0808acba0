//! Parsing /proc/self/mountinfo and /proc/swaps: what is mounted, in mount
//! order, so boot can skip it and shutdown can undo it in reverse.

use std::path::PathBuf;

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
    pub options: String,
}

/// Undo the kernel's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
pub fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            if let Some(oct) = bytes.get(i + 1..i + 4) {
                if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                    let v = oct
                        .iter()
                        .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                    if let Ok(v) = u8::try_from(v) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse mountinfo text; malformed lines are skipped (the kernel writes it).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let id = l.next()?.parse().ok()?;
    let parent = l.next()?.parse().ok()?;
    let _devno = l.next()?;
    let _root = l.next()?;
    let mount_point = PathBuf::from(unescape_octal(l.next()?));
    let options = l.next()?.to_string();
    let mut r = right.split(' ');
    let fstype = r.next()?.to_string();
    let source = unescape_octal(r.next().unwrap_or(""));
    Some(MountInfo {
        id,
        parent,
        mount_point,
        fstype,
        source,
        options,
    })
}

/// Device or file paths listed in /proc/swaps (header skipped).
pub fn parse_swaps(text: &str) -> Vec<PathBuf> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(|f| PathBuf::from(unescape_octal(f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_escapes() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                    30 22 8:1 / /mnt/my\\040disk rw shared:1 - ext4 /dev/vda rw,errors=remount-ro\n\
                    garbage\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, PathBuf::from("/proc"));
        assert_eq!(m[1].mount_point, PathBuf::from("/mnt/my disk"));
        assert_eq!(m[1].fstype, "ext4");
        assert_eq!(m[1].source, "/dev/vda");
        assert_eq!(m[1].parent, 22);
    }

    #[test]
    fn parses_swaps() {
        let text = "Filename\tType\tSize\tUsed\tPriority\n/dev/vdb   partition\t65532\t0\t-2\n";
        assert_eq!(parse_swaps(text), vec![PathBuf::from("/dev/vdb")]);
    }
}
