//! What `vigilctl logs` and `vigilctl log` print: the named logs merged
//! by time, filtered by `--since` and `-n`, as plain lines or JSON lines,
//! then (`-f`) new lines as the files grow, across rotations and
//! restarts, woken by inotify on the log directory (no polling).

use std::io::Write;
use std::path::Path;

use super::clock::{format_utc, parse_utc};
use super::read::{merge, open_log, select, to_json, OpenLog, ReadLogError};

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    /// The last N lines (after `since`).
    pub lines: Option<usize>,
    /// A formatted stamp: lines at or after it.
    pub since: Option<String>,
    pub json: bool,
    pub follow: bool,
}

/// One log to show: its name, its current file, and the records vigil
/// still holds in memory.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub name: &'a str,
    pub file: &'a Path,
    pub waiting: &'a [u8],
}

/// `--since` as users write it: a UTC time (`2026-12-01 12:00`,
/// `2026-12-01T12:00:00Z`), or a time ago (`10m`, `-10m`, `10m ago`,
/// `1h30m ago`). A formatted stamp to compare records with.
pub fn parse_since(text: &str, now: i64) -> Result<String, String> {
    if let Some(t) = parse_utc(text) {
        return Ok(format_utc(t));
    }
    let rel = text.trim();
    let rel = rel.strip_suffix("ago").unwrap_or(rel).trim();
    let rel = rel.strip_prefix('-').unwrap_or(rel);
    match crate::unit::scalar::parse_duration(rel) {
        Ok(d) => Ok(format_utc(now - i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2))),
        Err(_) => Err(format!(
            "--since {text:?}: expected a UTC time such as \"2026-12-01 12:00\" or a time ago such as \"10m\" or \"2h ago\""
        )),
    }
}

fn emit(out: &mut dyn Write, line: &[u8], unit: &str, json: bool) -> std::io::Result<()> {
    if json {
        let v = to_json(line, unit);
        writeln!(out, "{v}")
    } else {
        out.write_all(line)?;
        out.write_all(b"\n")
    }
}

/// Print what `sources` hold now; returns the open logs for `follow`.
pub fn show(
    sources: &[Source<'_>],
    opts: &ViewOptions,
    out: &mut dyn Write,
) -> Result<Vec<OpenLog>, ReadLogError> {
    let mut logs = Vec::new();
    let mut texts: Vec<Vec<u8>> = Vec::new();
    for s in sources {
        let mut log = open_log(s.name, s.file)?;
        // What is on disk now; `follow` needs only the open file after it.
        let mut bytes = std::mem::take(&mut log.bytes);
        bytes.extend_from_slice(s.waiting);
        texts.push(bytes);
        logs.push(log);
    }
    let slices: Vec<&[u8]> = texts.iter().map(Vec::as_slice).collect();
    let lines = select(merge(&slices), opts.since.as_deref(), opts.lines);
    for line in lines {
        let unit = sources.get(line.source).map_or("", |s| s.name);
        if emit(out, line.bytes, unit, opts.json).is_err() {
            // A closed pipe (`| head`): nothing more to do.
            return Ok(Vec::new());
        }
    }
    let _ = out.flush();
    Ok(logs)
}

/// Print new lines of `logs` as they are written, until the output is
/// closed or an error ends it.
pub fn follow(
    mut logs: Vec<OpenLog>,
    dir: &Path,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).map_err(|e| format!("inotify: {e}"))?;
    // The directory may not exist yet (nothing logged so far): wait for it
    // by watching its parent.
    let watch_dir = |i: &Inotify| {
        i.add_watch(
            dir,
            AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_MOVED_FROM,
        )
    };
    let mut watching = watch_dir(&inotify).is_ok();
    if !watching {
        let parent = dir.parent().unwrap_or(Path::new("/"));
        inotify
            .add_watch(
                parent,
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
            )
            .map_err(|e| format!("watching {}: {e}", parent.display()))?;
    }
    loop {
        for log in &mut logs {
            let new = log.read_new().map_err(|e| e.to_string())?;
            for line in new.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                if emit(out, line, &log.name, json).is_err() {
                    return Ok(());
                }
            }
        }
        if out.flush().is_err() {
            return Ok(());
        }
        inotify.read_events().map_err(|e| format!("inotify: {e}"))?;
        if !watching {
            watching = watch_dir(&inotify).is_ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_times_ago() {
        let now = 1_796_126_664_000_000; // 2026-12-01T12:04:24Z
        assert_eq!(
            parse_since("2026-12-01 12:00", now).unwrap(),
            "2026-12-01T12:00:00.000000Z"
        );
        assert_eq!(
            parse_since("10m", now).unwrap(),
            "2026-12-01T11:54:24.000000Z"
        );
        assert_eq!(
            parse_since("-10m", now).unwrap(),
            "2026-12-01T11:54:24.000000Z"
        );
        assert_eq!(
            parse_since("1h ago", now).unwrap(),
            "2026-12-01T11:04:24.000000Z"
        );
        assert!(parse_since("yesterday", now)
            .unwrap_err()
            .contains("--since"));
    }

    #[test]
    fn shows_merged_lines_with_memory_records_last() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.log");
        std::fs::write(&a, "2026-12-01T12:00:01.000000Z a[1] out: one\n2026-12-01T12:00:03.000000Z a[1] out: three\n").unwrap();
        let b = tmp.path().join("b.log");
        let waiting = b"2026-12-01T12:00:02.000000Z b[2] err: two\n";
        let sources = [
            Source {
                name: "a",
                file: &a,
                waiting: b"",
            },
            Source {
                name: "b",
                file: &b,
                waiting,
            },
        ];
        let mut out = Vec::new();
        show(&sources, &ViewOptions::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let ends: Vec<&str> = text
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        assert_eq!(ends, ["one", "two", "three"]);
        let mut out = Vec::new();
        let opts = ViewOptions {
            lines: Some(1),
            json: true,
            ..Default::default()
        };
        show(&sources, &opts, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["message"], "three");
    }
}
