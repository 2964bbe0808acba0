//! Reading logs back, for vigilctl: a unit's rotated files and its current
//! one in order, several units merged by time, the last N lines, lines
//! since a time, and following the files as they grow and rotate. Runs in
//! vigilctl, never in PID 1: the file permissions (0640, the admin group)
//! decide who may read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::clock::STAMP_LEN;
use super::record::parse_record;

/// The most rotated files looked for beside a log.
const MAX_ROTATED: u32 = 1000;

/// Why a log cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadLogError {
    #[error("cannot read {path}: {source} (logs are readable by root and members of vigil.toml's admin_group)")]
    Denied {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The rotated file `k` of a log (`NAME.log.K`).
pub fn rotated(path: &Path, k: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{k}"));
    PathBuf::from(p)
}

/// No file there (nor a directory to hold it): nothing logged yet.
fn absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

fn read_err(path: &Path, e: std::io::Error) -> ReadLogError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        ReadLogError::Denied {
            path: path.to_path_buf(),
            source: e,
        }
    } else {
        ReadLogError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// A log being read: everything on disk so far, and its current file held
/// open at the end, for following.
#[derive(Debug)]
pub struct OpenLog {
    pub name: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    current: Option<File>,
    /// What follows the last newline read (a record being written).
    partial: Vec<u8>,
}

/// Read `name`'s log at `path`: `NAME.log.K` ... `NAME.log.1`, then
/// `NAME.log`. A log with no file yet is empty.
pub fn open_log(name: &str, path: &Path) -> Result<OpenLog, ReadLogError> {
    let mut bytes = Vec::new();
    let mut newest = 0;
    while newest < MAX_ROTATED && rotated(path, newest + 1).exists() {
        newest += 1;
    }
    for k in (1..=newest).rev() {
        let p = rotated(path, k);
        match std::fs::read(&p) {
            Ok(b) => bytes.extend_from_slice(&b),
            // Rotated away while we read: its lines are in the next one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(read_err(&p, e)),
        }
    }
    let current = match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(|e| read_err(path, e))?;
            Some(f)
        }
        Err(e) if absent(&e) => None,
        Err(e) => return Err(read_err(path, e)),
    };
    let mut log = OpenLog {
        name: name.to_string(),
        path: path.to_path_buf(),
        bytes,
        current,
        partial: Vec::new(),
    };
    log.keep_partial();
    Ok(log)
}

impl OpenLog {
    /// Move an unfinished last line out of `bytes` into `partial`.
    fn keep_partial(&mut self) {
        let end = self
            .bytes
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let tail = self.bytes.split_off(end);
        self.partial.extend_from_slice(&tail);
    }

    /// Whole lines written since the last call, following the log across
    /// rotations (the old file is read to its end first) and its creation.
    pub fn read_new(&mut self) -> Result<Vec<u8>, ReadLogError> {
        let mut fresh = std::mem::take(&mut self.partial);
        if let Some(f) = self.current.as_mut() {
            f.read_to_end(&mut fresh)
                .map_err(|e| read_err(&self.path, e))?;
        }
        let replaced = match (&self.current, std::fs::metadata(&self.path)) {
            (Some(f), Ok(m)) => f
                .metadata()
                .map(|fm| fm.ino() != m.ino() || fm.dev() != m.dev())
                .unwrap_or(true),
            (None, Ok(_)) => true,
            (_, Err(_)) => false,
        };
        if replaced {
            // Rotated, perhaps more than once since the last look: the
            // files between the one we held (now NAME.log.K) and the new
            // NAME.log are NAME.log.K-1 ... NAME.log.1, read in that order.
            let held = self
                .current
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map(|m| (m.dev(), m.ino()));
            if let Some(held) = held {
                let mut k = 1;
                while k <= MAX_ROTATED {
                    match std::fs::metadata(rotated(&self.path, k)) {
                        Ok(m) if (m.dev(), m.ino()) == held => break,
                        Ok(_) => k += 1,
                        Err(_) => {
                            // Ours is gone already: the newer ones are all we can read.
                            break;
                        }
                    }
                }
                for j in (1..k).rev() {
                    let p = rotated(&self.path, j);
                    match std::fs::read(&p) {
                        Ok(b) => fresh.extend_from_slice(&b),
                        Err(e) if absent(&e) => {}
                        Err(e) => return Err(read_err(&p, e)),
                    }
                }
            }
            match File::open(&self.path) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(0))
                        .map_err(|e| read_err(&self.path, e))?;
                    f.read_to_end(&mut fresh)
                        .map_err(|e| read_err(&self.path, e))?;
                    self.current = Some(f);
                }
                Err(e) if absent(&e) => {}
                Err(e) => return Err(read_err(&self.path, e)),
            }
        }
        self.bytes = fresh;
        self.keep_partial();
        Ok(std::mem::take(&mut self.bytes))
    }
}

/// One line of a log, with where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The record's timestamp, or the one before it for a line that is
    /// not a record.
    pub stamp: &'a [u8],
    /// Which log (index into the caller's list).
    pub source: usize,
    /// The line, without its newline.
    pub bytes: &'a [u8],
}

/// The lines of several logs merged in time order (stable: lines with
/// the same time keep their file order, and the first log goes first).
pub fn merge<'a>(logs: &[&'a [u8]]) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    for (source, bytes) in logs.iter().enumerate() {
        let mut stamp: &[u8] = b"";
        for line in bytes.split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            if parse_record(line).is_some() {
                stamp = line.get(..STAMP_LEN).unwrap_or(stamp);
            }
            lines.push(Line {
                stamp,
                source,
                bytes: line,
            });
        }
    }
    lines.sort_by(|a, b| a.stamp.cmp(b.stamp));
    lines
}

/// The lines at or after `since` (a formatted stamp), then the last `n`.
pub fn select<'a>(lines: Vec<Line<'a>>, since: Option<&str>, n: Option<usize>) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = match since {
        Some(t) => lines
            .into_iter()
            .filter(|l| l.stamp >= t.as_bytes())
            .collect(),
        None => lines,
    };
    if let Some(n) = n {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    lines
}

/// A line as a JSON object for `--json` (bytes that are not UTF-8
/// become U+FFFD here; the file and the plain output keep them).
pub fn to_json(line: &[u8], unit: &str) -> serde_json::Value {
    match parse_record(line) {
        Some(r) => serde_json::json!({
            "time": r.stamp,
            "unit": r.name,
            "pid": r.pid,
            "stream": r.tag,
            "continued": r.continued,
            "message": String::from_utf8_lossy(r.text),
        }),
        None => serde_json::json!({
            "unit": unit,
            "message": String::from_utf8_lossy(line),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::store::{LogLimits, LogStore};
    use std::time::Duration;

    fn rec(stamp_sec: u32, name: &str, text: &str) -> String {
        format!("2026-12-01T12:00:{stamp_sec:02}.000000Z {name}[1] out: {text}\n")
    }

    #[test]
    fn merged_by_time_then_by_order() {
        let a = format!("{}{}", rec(1, "a", "one"), rec(3, "a", "three"));
        let b = format!("{}{}", rec(2, "b", "two"), rec(3, "b", "three-b"));
        let lines = merge(&[a.as_bytes(), b.as_bytes()]);
        let texts: Vec<&str> = lines
            .iter()
            .map(|l| std::str::from_utf8(l.bytes).unwrap())
            .collect();
        assert!(texts[0].ends_with("one") && texts[1].ends_with("two"));
        assert!(texts[2].ends_with("a[1] out: three") && texts[3].ends_with("three-b"));
        let last = select(lines.clone(), None, Some(1));
        assert!(std::str::from_utf8(last[0].bytes)
            .unwrap()
            .ends_with("three-b"));
        let since = select(lines, Some("2026-12-01T12:00:02"), None);
        assert_eq!(since.len(), 3);
    }

    #[test]
    fn reads_rotated_files_in_order_and_follows_a_rotation() {
        let tmp = tempfile::tempdir().unwrap();
        let limits = LogLimits {
            max_size: 8192,
            keep: 3,
        };
        let mut store = LogStore::new(tmp.path().to_path_buf(), None);
        let line = |i: u32| {
            format!(
                "2026-12-01T12:00:00.{i:06}Z u[1] out: {}\n",
                "x".repeat(100)
            )
        };
        for i in 0..200 {
            store.append("u", limits, line(i).as_bytes(), Duration::ZERO);
        }
        let path = store.path_of("u");
        let mut log = open_log("u", &path).unwrap();
        let want: String = (0..200).map(line).collect();
        // 200 lines of 136 bytes = 27 KiB: four files of 8 KiB at most, all kept.
        assert!(rotated(&path, 3).exists());
        assert_eq!(String::from_utf8(log.bytes.clone()).unwrap(), want);
        // More lines, across several rotations: following sees each once, in order.
        for i in 200..300 {
            store.append("u", limits, line(i).as_bytes(), Duration::ZERO);
        }
        let new = log.read_new().unwrap();
        let want: String = (200..300).map(line).collect();
        assert!(
            String::from_utf8(new).unwrap() == want,
            "following lost or repeated lines"
        );
        assert!(log.read_new().unwrap().is_empty());
    }

    #[test]
    fn json_lines_name_their_fields() {
        let v = to_json(b"2026-12-01T12:00:01.000000Z a[7] err+ \xffhi", "a");
        assert_eq!(v["pid"], 7);
        assert_eq!(v["stream"], "err");
        assert_eq!(v["continued"], true);
        assert_eq!(v["message"], "\u{fffd}hi");
    }
}
