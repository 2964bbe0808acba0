//! One log record per line, plain text that `less`, `grep` and `tail -f`
//! read well, and that sorts by time as text:
//!
//! ```text
//! 2026-12-01T12:04:24.123456Z sshd[812] out: Server listening on 0.0.0.0 port 22.
//! 2026-12-01T12:04:25.000012Z sshd[812] err+ first 4096 bytes of a longer line...
//! 2026-12-01T12:04:25.000012Z sshd[812] err: ...and the rest of it
//! 2026-12-01T12:05:00.250000Z sshd[-] vigil: 120 lines dropped (log directory not writable)
//! ```
//!
//! The stream is `out` or `err` for a service (`error`, `warning`, `info`,
//! `debug` in vigil's own log, `vigil` for a note vigil adds to a unit's
//! log); `+` instead of `:` says the line goes on in the next record. The
//! text is the bytes the service wrote, not necessarily UTF-8.

use super::clock::STAMP_LEN;

/// Which stream of a service a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    /// The tag written in the record.
    pub fn tag(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
        }
    }
}

/// The tag of a note vigil writes into a unit's log (dropped lines).
pub const NOTE_TAG: &str = "vigil";

/// Append one record to `buf`: `stamp` is a formatted timestamp
/// (`clock::format_utc`), `pid` the unit's main process when the line was
/// read, `continued` whether the next record carries the rest of the line.
pub fn write_record(
    buf: &mut Vec<u8>,
    stamp: &str,
    name: &str,
    pid: Option<i32>,
    tag: &str,
    continued: bool,
    text: &[u8],
) {
    buf.extend_from_slice(stamp.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'[');
    match pid {
        // Formatted in place: no allocation per line.
        Some(pid) => {
            let _ = std::io::Write::write_fmt(buf, format_args!("{pid}"));
        }
        None => buf.push(b'-'),
    }
    buf.extend_from_slice(b"] ");
    buf.extend_from_slice(tag.as_bytes());
    buf.push(if continued { b'+' } else { b':' });
    buf.push(b' ');
    buf.extend_from_slice(text);
    buf.push(b'\n');
}

/// A record read back from a file (without its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub stamp: &'a str,
    pub name: &'a str,
    pub pid: Option<i32>,
    pub tag: &'a str,
    pub continued: bool,
    pub text: &'a [u8],
}

/// Parse one line of a log file; None if it is not a record (a file
/// someone else wrote into, or a line cut by a crash).
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let stamp = std::str::from_utf8(line.get(..STAMP_LEN)?).ok()?;
    if !stamp.ends_with('Z') {
        return None;
    }
    let rest = line.get(STAMP_LEN..)?.strip_prefix(b" ")?;
    let close = rest.iter().position(|b| *b == b']')?;
    let head = std::str::from_utf8(rest.get(..close)?).ok()?;
    let (name, pid) = head.rsplit_once('[')?;
    let pid = if pid == "-" {
        None
    } else {
        Some(pid.parse().ok()?)
    };
    let rest = rest.get(close + 1..)?.strip_prefix(b" ")?;
    let sep = rest.iter().position(|b| *b == b':' || *b == b'+')?;
    let tag = std::str::from_utf8(rest.get(..sep)?).ok()?;
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let continued = rest.get(sep) == Some(&b'+');
    let text = rest.get(sep + 1..)?;
    let text = text.strip_prefix(b" ").unwrap_or(text);
    Some(Record {
        stamp,
        name,
        pid,
        tag,
        continued,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: &str = "2026-12-01T12:04:24.123456Z";

    #[test]
    fn a_record_reads_back_as_written() {
        let mut buf = Vec::new();
        write_record(
            &mut buf,
            STAMP,
            "getty@tty1",
            Some(812),
            "err",
            true,
            b"a: b\xff",
        );
        assert_eq!(
            buf,
            b"2026-12-01T12:04:24.123456Z getty@tty1[812] err+ a: b\xff\n".to_vec()
        );
        let r = parse_record(&buf).unwrap();
        assert_eq!(r.stamp, STAMP);
        assert_eq!(r.name, "getty@tty1");
        assert_eq!(r.pid, Some(812));
        assert_eq!(r.tag, "err");
        assert!(r.continued);
        assert_eq!(r.text, b"a: b\xff");
    }

    #[test]
    fn unknown_pid_and_empty_text() {
        let mut buf = Vec::new();
        write_record(&mut buf, STAMP, "x", None, NOTE_TAG, false, b"");
        let r = parse_record(&buf).unwrap();
        assert_eq!(
            (r.pid, r.tag, r.continued, r.text),
            (None, "vigil", false, &b""[..])
        );
    }

    #[test]
    fn foreign_lines_are_not_records() {
        for line in [
            &b""[..],
            b"hello world",
            b"2026-12-01T12:04:24.123456Z",
            b"2026-12-01T12:04:24.123456Z x[1] : y",
            b"2026-12-01T12:04:24.123456Z x[one] out: y",
            b"2026-12-01T12:04:24.123456Z x out: y",
        ] {
            assert_eq!(
                parse_record(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
