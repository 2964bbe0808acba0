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
