//! One entry point per parser that reads outside input, for the cargo-fuzz
//! targets in `fuzz/` and for `tests/fuzz_corpus.rs`, which replays the
//! seed corpus on stable as ordinary tests. Each takes raw bytes, as a
//! fuzzer gives them, and must neither panic nor run unbounded; where a
//! parser promises a property (a diagnostic names a line of the input),
//! the entry point checks it too.

use std::path::Path;

/// A parser's entry point: raw bytes in, nothing out (it must not panic).
pub type EntryPoint = fn(&[u8]);

/// The parsers, by the name of their fuzz target and corpus directory.
pub const TARGETS: &[(&str, EntryPoint)] = &[
    ("unit_file", unit_file),
    ("vigil_toml", vigil_toml),
    ("control_request", control_request),
    ("notify_datagram", notify_datagram),
    ("fstab", fstab),
    ("kernel_cmdline", kernel_cmdline),
    ("mountinfo", mountinfo),
    ("pid_file", pid_file),
    ("passwd_group", passwd_group),
    ("env_file", env_file),
    ("log_line", log_line),
    ("systemd_unit", systemd_unit),
];

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Lines of `data`, for checking that positions point into it.
fn line_count(data: &str) -> usize {
    data.split('\n').count()
}

/// A unit file (`units/NAME.toml`).
pub fn unit_file(data: &[u8]) {
    let text = text(data);
    if let Err(diags) = crate::unit::parse_unit("fuzz", Path::new("fuzz.toml"), &text) {
        let lines = line_count(&text);
        for d in diags {
            assert!(d.line.is_none_or(|l| l >= 1 && l <= lines), "{d}");
            let _ = d.to_string();
        }
    }
}

/// /etc/vigil/vigil.toml.
pub fn vigil_toml(data: &[u8]) {
    let text = text(data);
    let (_, problems) = crate::config::parse_config(&text, "vigil.toml");
    let lines = line_count(&text);
    for p in problems {
        assert!(p.line.is_none_or(|l| l >= 1 && l <= lines), "{p}");
    }
}

/// One control request line.
pub fn control_request(data: &[u8]) {
    let _ = crate::control::server::parse_request(data);
}

/// One sd_notify datagram.
pub fn notify_datagram(data: &[u8]) {
    let _ = crate::runtime::notify::parse_notify(data);
}

/// /etc/fstab.
pub fn fstab(data: &[u8]) {
    let text = text(data);
    let (entries, errors) = crate::boot::fstab::parse_fstab(&text, "fstab");
    let lines = line_count(&text);
    for e in &entries {
        assert!(e.line >= 1 && e.line <= lines);
    }
    let _ = crate::boot::fstab::parse_options(&text);
    let _ = errors.len();
}

/// The kernel command line (/proc/cmdline).
pub fn kernel_cmdline(data: &[u8]) {
    let _ = crate::boot::cmdline::parse_cmdline(&text(data));
}

/// /proc/self/mountinfo and /proc/swaps.
pub fn mountinfo(data: &[u8]) {
    let text = text(data);
    let _ = crate::boot::mountinfo::parse_mountinfo(&text);
    let _ = crate::boot::mountinfo::parse_swaps(&text);
}

/// A forking daemon's pid file.
pub fn pid_file(data: &[u8]) {
    if let Ok(pid) = crate::runtime::pidfile::parse_pid_text(data) {
        assert!(pid > 0);
    }
}

/// /etc/passwd and /etc/group lines.
pub fn passwd_group(data: &[u8]) {
    let text = text(data);
    for line in text.lines() {
        let _ = crate::accounts::parse_user(line);
        let _ = crate::accounts::parse_group(line);
    }
    let _ = crate::accounts::groups_of(&text, "root", 0);
}

/// An environment file (`environment_file`).
pub fn env_file(data: &[u8]) {
    let _ = crate::runtime::spawn::parse_env_file(&text(data));
}

/// What vigilctl reads back from a log file, and the sizes and times users
/// write (`log_max_size`, `--since`): a record read back must lie inside
/// the line, and any byte stream cut into records must keep every byte.
pub fn log_line(data: &[u8]) {
    use crate::logs::{clock, read, record, size, split, view};
    for line in data.split(|b| *b == b'\n') {
        if let Some(r) = record::parse_record(line) {
            assert!(r.text.len() <= line.len());
            let _ = read::to_json(line, "fuzz");
        }
    }
    let text = text(data);
    let _ = size::parse_size(&text);
    let _ = clock::parse_utc(&text);
    let _ = view::parse_since(&text, 1_796_126_664_000_000);
    let _ = read::merge(&[data]);
    let mut splitter = split::LineSplitter::default();
    let mut kept = 0usize;
    let mut count = |t: &[u8], continued: bool| {
        assert!(t.len() <= split::MAX_LINE);
        kept += t.len() + usize::from(!continued);
    };
    for chunk in data.chunks(7) {
        splitter.feed(chunk, &mut count);
    }
    splitter.flush(&mut count);
    // Every byte is in a record and each newline ended one; a final
    // unfinished line is a record of its own.
    let unfinished = usize::from(!data.is_empty() && !data.ends_with(b"\n"));
    assert_eq!(kept, data.len() + unfinished);
}

/// A systemd service file given to `vigilctl import` (and, after a line
/// `--dropin--`, each further part a drop-in): what import writes must be
/// a unit file vigil loads without an error, as a unit and as a template
/// instance, and every note must name a line of the file it is about.
pub fn systemd_unit(data: &[u8]) {
    use std::path::PathBuf;
    let text = text(data);
    let mut parts = text.split("\n--dropin--\n");
    let main = parts.next().unwrap_or_default();
    let dropins: Vec<(PathBuf, String)> = parts
        .enumerate()
        .map(|(i, t)| (PathBuf::from(format!("d/{i}.conf")), t.to_string()))
        .collect();
    let lines_of = |file: &Path| {
        let body = match file.to_str().and_then(|f| f.strip_prefix("d/")) {
            Some(n) => n
                .strip_suffix(".conf")
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| dropins.get(i))
                .map_or("", |(_, t)| t.as_str()),
            None => main,
        };
        line_count(body)
    };
    for (file, instance) in [("fuzz.service", None), ("fuzz@.service", Some("fuzz@x"))] {
        let Ok(imported) = crate::import::import(Path::new(file), main, &dropins) else {
            continue;
        };
        for n in &imported.notes {
            assert!(n.line >= 1 && n.line <= lines_of(&n.file), "{n}");
        }
        let (name, toml) = match instance {
            Some(full) => (
                full,
                crate::unit::template::substitute(&imported.toml, full),
            ),
            None => (imported.name.as_str(), imported.toml.clone()),
        };
        if let Err(diags) = crate::unit::parse_unit(name, Path::new("fuzz.toml"), &toml) {
            let errors: Vec<String> = diags
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "import wrote a unit vigil rejects:\n{toml}\n{errors:#?}"
            );
        }
    }
}
