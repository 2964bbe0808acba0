//! Human-readable output of `vigilctl`: pure functions from protocol types to
//! text, so that every table and status page is unit-tested without a running
//! vigil. The only impure piece is `TimeCtx::local`, which reads the clock and
//! the timezone once and is passed in by the caller.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::protocol::{JobResult, SystemStatus, UnitState, UnitStatus, UnitSummary};

/// The wall clock and timezone used to print times; injected so rendering
/// stays deterministic in tests.
pub struct TimeCtx<'a> {
    /// "Now", seconds since the epoch: `since` times are computed from it.
    pub now_unix: f64,
    /// Offset from UTC in seconds at a given instant (DST changes it).
    pub utc_offset: &'a dyn Fn(i64) -> i32,
}

impl TimeCtx<'static> {
    /// The machine's clock and local timezone (TZ / /etc/localtime).
    pub fn local() -> Self {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        TimeCtx {
            now_unix,
            utc_offset: &local_utc_offset,
        }
    }
}

impl TimeCtx<'_> {
    /// `unix` as local ISO-8601 with its UTC offset.
    pub fn format(&self, unix: f64) -> String {
        let offset = (self.utc_offset)(clamp_unix(unix));
        iso8601(unix, offset)
    }
}

/// The local timezone's UTC offset at `unix`, via the C library (which
/// honours TZ and /etc/localtime); 0 when the C library cannot tell.
pub fn local_utc_offset(unix: i64) -> i32 {
    let t = unix as libc::time_t;
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are valid, and
    // localtime_r only writes into the buffer we pass; both pointers are live.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        0
    } else {
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    }
}

/// Keeps absurd timestamps from overflowing the calendar arithmetic.
fn clamp_unix(unix: f64) -> i64 {
    const LIMIT: f64 = 1.0e11; // about the year 5138
    if unix.is_finite() {
        unix.clamp(-LIMIT, LIMIT).floor() as i64
    } else {
        0
    }
}

/// `2026-11-26T09:39:32+01:00`: seconds since the epoch shown in a zone
/// `offset_secs` east of UTC.
pub fn iso8601(unix: f64, offset_secs: i32) -> String {
    let local = clamp_unix(unix) + i64::from(offset_secs);
    let days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        off / 3600,
        off % 3600 / 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A span the way people read it: `350ms`, `4.2s`, `5min 3s`, `2h 7min`, `3d 4h`.
pub fn duration(secs: f64) -> String {
    let secs = if secs.is_finite() && secs > 0.0 {
        secs.min(1.0e12)
    } else {
        0.0
    };
    if secs < 1.0 {
        return format!("{}ms", (secs * 1000.0).round() as u64);
    }
    if secs < 60.0 {
        return format!("{:.1}s", (secs * 10.0).floor() / 10.0);
    }
    let s = secs as u64;
    let (d, h, m, s) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}min")
    } else {
        format!("{m}min {s}s")
    }
}

/// Replaces control characters so that a unit's text cannot drive the
/// terminal (descriptions and STATUS= come from files and services).
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Log lines for a terminal (the end of `status`): control characters
/// shown as `?`, one line each.
pub fn sanitize_log(text: &str) -> String {
    text.lines().map(|l| sanitize(l) + "\n").collect()
}

/// Left-aligned columns separated by two spaces; the last column is not
/// padded so lines carry no trailing blanks.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        let last = row.len().min(widths.len()).saturating_sub(1);
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                let pad = w.saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Whether systemctl would call this state "active" (`status` exits 0).
pub fn is_active(state: UnitState) -> bool {
    matches!(state, UnitState::Running | UnitState::Exited)
}

/// `vigilctl list`: one aligned row per unit; failed rows show why instead
/// of the description, then a count line.
pub fn list(units: &[UnitSummary]) -> String {
    let rows: Vec<Vec<String>> = units
        .iter()
        .map(|u| {
            let last = match (&u.state, &u.reason) {
                (UnitState::Failed, Some(reason)) => reason.as_str(),
                _ => u.description.as_str(),
            };
            vec![
                sanitize(&u.name),
                sanitize(&u.kind),
                u.state.as_str().to_string(),
                u.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                sanitize(last),
            ]
        })
        .collect();
    let mut out = table(&["UNIT", "TYPE", "STATE", "PID", "DESCRIPTION"], &rows);
    let failed = units
        .iter()
        .filter(|u| u.state == UnitState::Failed)
        .count();
    let _ = writeln!(out, "\n{} units, {failed} failed.", units.len());
    out
}

/// `vigilctl status NAME`: the systemctl-style page for one unit, ending
/// with its exit history (oldest first, as the server sends it).
pub fn unit_status(st: &UnitStatus, time: &TimeCtx<'_>) -> String {
    let s = &st.summary;
    let mut out = String::new();
    let mut field = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:>11}: {value}");
    };
    let mut state = s.state.as_str().to_string();
    if let Some(reason) = &s.reason {
        if st.status_text.as_deref() != Some(reason.as_str()) {
            let _ = write!(state, " ({})", sanitize(reason));
        }
    }
    let since = time.now_unix - st.since_secs.max(0.0);
    let _ = write!(
        state,
        " since {}; {} ago",
        time.format(since),
        duration(st.since_secs)
    );
    field("State", &state);
    field(
        "PID",
        &s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
    );
    field("Restarts", &st.restarts.to_string());
    if let Some(secs) = st.next_start_in_secs {
        field(
            "Next start",
            &format!(
                "in {}",
                crate::unit::scalar::format_duration(std::time::Duration::from_secs_f64(
                    secs.max(0.0)
                ))
            ),
        );
    }
    if let Some(text) = &st.status_text {
        field("Status", &sanitize(text));
    }
    if let Some(path) = &st.path {
        field("Path", &sanitize(&path.display().to_string()));
    }
    if !st.aliases.is_empty() {
        field("Aliases", &sanitize(&st.aliases.join(", ")));
    }
    let wanted = if st.wanted_by.is_empty() {
        "-".to_string()
    } else {
        sanitize(&st.wanted_by.join(", "))
    };
    field("Wanted by", &wanted);
    let mut page = format!("{} - {}\n", sanitize(&s.name), sanitize(&s.description));
    page.push_str(&out);
    page.push('\n');
    if st.exits.is_empty() {
        page.push_str("No exits recorded.\n");
    } else {
        let rows: Vec<Vec<String>> = st
            .exits
            .iter()
            .map(|e| {
                vec![
                    time.format(e.at_unix),
                    e.pid.to_string(),
                    sanitize(&e.outcome),
                    duration(e.runtime_ms as f64 / 1000.0),
                ]
            })
            .collect();
        page.push_str(&table(&["TIME", "PID", "OUTCOME", "RUNTIME"], &rows));
    }
    page
}

/// `vigilctl status` with no name: the state of the whole system.
pub fn system_status(s: &SystemStatus) -> String {
    let mut out = String::new();
    let mode = if s.pid1 { "init (PID 1)" } else { "supervisor" };
    let _ = writeln!(out, "{:>8}: {}", "State", sanitize(&s.state));
    let _ = writeln!(out, "{:>8}: {mode}", "Mode");
    let _ = writeln!(out, "{:>8}: {}", "Target", sanitize(&s.target));
    let _ = writeln!(out, "{:>8}: {}", "Uptime", duration(s.uptime_secs));
    let _ = writeln!(out, "{:>8}: {}", "Units", s.units);
    let _ = writeln!(out, "{:>8}: {}", "Failed", s.failed.len());
    for name in &s.failed {
        let _ = writeln!(out, "          {}", sanitize(name));
    }
    out
}

/// Outcome of start/stop/restart (and local enable/disable): one line per
/// unit, failures marked so they stand out.
pub fn job_results(results: &[JobResult]) -> String {
    let mut out = String::new();
    for r in results {
        let name = sanitize(&r.name);
        let msg = sanitize(&r.message);
        if r.ok {
            let _ = writeln!(out, "{name}: {msg}");
        } else {
            let _ = writeln!(out, "{name}: failed: {msg}");
        }
    }
    out
}

/// What a reload changed, and the files it refused (kept on their old
/// definition).
pub fn reload(
    diagnostics: &[String],
    added: &[String],
    removed: &[String],
    changed: &[String],
) -> String {
    let mut out = String::new();
    for (label, names) in [("added", added), ("removed", removed), ("changed", changed)] {
        if !names.is_empty() {
            let _ = writeln!(out, "{label}: {}", sanitize(&names.join(", ")));
        }
    }
    for d in diagnostics {
        let _ = writeln!(out, "{}", sanitize(d));
    }
    if added.is_empty() && removed.is_empty() && changed.is_empty() {
        out.push_str("reloaded: no unit changed");
    } else {
        let _ = write!(
            out,
            "reloaded: {} added, {} removed, {} changed",
            added.len(),
            removed.len(),
            changed.len()
        );
    }
    if !diagnostics.is_empty() {
        let _ = write!(
            out,
            "; {} problem(s), affected units keep their previous definition",
            diagnostics.len()
        );
    }
    out.push('\n');
    out
}

/// The last line of `vigilctl check`.
pub fn check_summary(units_ok: usize, errors: usize, warnings: usize) -> String {
    if errors == 0 && warnings == 0 {
        format!("{units_ok} units OK\n")
    } else {
        format!("{errors} error(s), {warnings} warning(s); {units_ok} units OK\n")
    }
}

/// What `vigilctl daemon-reexec` prints.
pub fn reexec(report: &crate::control::protocol::ReexecReport) -> String {
    let mut text = format!(
        "vigil re-executed {} (vigil {} -> {}) in {:.1} ms: {} {}\n",
        report.binary.display(),
        report.from_version,
        report.to_version,
        report.took_secs * 1000.0,
        report.units,
        if report.exact {
            "units kept as they were"
        } else {
            "running services adopted (the state could not be read whole; units loaded again)"
        }
    );
    for note in &report.notes {
        text.push_str(&format!("  note: {note}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::ExitRecord;
    use std::path::PathBuf;

    fn utc(_: i64) -> i32 {
        0
    }
    fn plus_one(_: i64) -> i32 {
        3600
    }
    fn ctx(now: f64) -> TimeCtx<'static> {
        TimeCtx {
            now_unix: now,
            utc_offset: &utc,
        }
    }

    fn summary(name: &str, state: UnitState) -> UnitSummary {
        UnitSummary {
            name: name.into(),
            kind: "simple".into(),
            state,
            reason: None,
            pid: None,
            description: format!("The {name} service"),
        }
    }

    #[test]
    fn iso8601_known_instants() {
        assert_eq!(iso8601(0.0, 0), "1970-01-01T00:00:00+00:00");
        // 2024-02-29 12:34:56 UTC, a leap day.
        assert_eq!(iso8601(1_709_210_096.9, 0), "2024-02-29T12:34:56+00:00");
        assert_eq!(iso8601(1_709_210_096.0, 3600), "2024-02-29T13:34:56+01:00");
        assert_eq!(
            iso8601(0.0, -(5 * 3600 + 1800)),
            "1969-12-31T18:30:00-05:30"
        );
        assert_eq!(iso8601(951_782_400.0, 0), "2000-02-29T00:00:00+00:00");
        // Garbage does not panic.
        assert_eq!(iso8601(f64::NAN, 0), "1970-01-01T00:00:00+00:00");
        let _ = iso8601(f64::MAX, i32::MAX);
        let _ = iso8601(f64::MIN, i32::MIN);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.35), "350ms");
        assert_eq!(duration(4.27), "4.2s");
        assert_eq!(duration(303.0), "5min 3s");
        assert_eq!(duration(7620.0), "2h 7min");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0 + 5.0), "3d 4h");
        assert_eq!(duration(-1.0), "0ms");
        assert_eq!(duration(f64::INFINITY), "0ms");
    }

    #[test]
    fn table_aligns_columns_without_trailing_blanks() {
        let t = table(
            &["A", "BB", "C"],
            &[
                vec!["long-cell".into(), "x".into(), "".into()],
                vec!["y".into(), "z".into(), "last".into()],
            ],
        );
        assert_eq!(t, "A          BB  C\nlong-cell  x\ny          z   last\n");
    }

    #[test]
    fn list_shows_reason_for_failed_rows() {
        let mut web = summary("web", UnitState::Failed);
        web.reason = Some("exited 3".into());
        let mut db = summary("db", UnitState::Running);
        db.pid = Some(4242);
        db.reason = Some("Ready for connections".into());
        let out = list(&[db, web]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "UNIT  TYPE    STATE    PID   DESCRIPTION");
        assert_eq!(lines[1], "db    simple  running  4242  The db service");
        assert_eq!(lines[2], "web   simple  failed   -     exited 3");
        assert_eq!(lines[4], "2 units, 1 failed.");
    }

    #[test]
    fn list_sanitizes_control_characters() {
        let mut u = summary("evil", UnitState::Inactive);
        u.description = "bad\x1b[2Jtext".into();
        assert!(list(&[u]).contains("bad?[2Jtext"));
    }

    #[test]
    fn unit_status_page() {
        let mut s = summary("web", UnitState::Failed);
        s.reason = Some("exited 3".into());
        let st = UnitStatus {
            summary: s,
            path: Some(PathBuf::from("/etc/vigil/units/web.toml")),
            since_secs: 303.0,
            restarts: 2,
            status_text: Some("Serving".into()),
            exits: vec![
                ExitRecord {
                    at_unix: 1_000_000.0,
                    pid: 10,
                    outcome: "killed by SIGKILL".into(),
                    code: None,
                    signal: Some("SIGKILL".into()),
                    runtime_ms: 1500,
                },
                ExitRecord {
                    at_unix: 1_000_100.0,
                    pid: 11,
                    outcome: "exited 3".into(),
                    code: Some(3),
                    signal: None,
                    runtime_ms: 250,
                },
            ],
            wanted_by: vec!["default".into(), "multi".into()],
            next_start_in_secs: None,
            aliases: Vec::new(),
        };
        let out = unit_status(&st, &ctx(1_000_403.0));
        let expected = "\
web - The web service
      State: failed (exited 3) since 1970-01-12T13:48:20+00:00; 5min 3s ago
        PID: -
   Restarts: 2
     Status: Serving
       Path: /etc/vigil/units/web.toml
  Wanted by: default, multi

TIME                       PID  OUTCOME            RUNTIME
1970-01-12T13:46:40+00:00  10   killed by SIGKILL  1.5s
1970-01-12T13:48:20+00:00  11   exited 3           250ms
";
        assert_eq!(out, expected);
    }

    #[test]
    fn unit_status_uses_the_timezone_and_handles_no_exits() {
        let mut s = summary("db", UnitState::Running);
        s.pid = Some(77);
        let st = UnitStatus {
            summary: s,
            path: None,
            since_secs: 10.0,
            restarts: 0,
            status_text: None,
            exits: vec![],
            wanted_by: vec![],
            next_start_in_secs: None,
            aliases: Vec::new(),
        };
        let t = TimeCtx {
            now_unix: 10.0,
            utc_offset: &plus_one,
        };
        let out = unit_status(&st, &t);
        assert!(out.contains("State: running since 1970-01-01T01:00:00+01:00; 10.0s ago"));
        assert!(out.contains("PID: 77"));
        assert!(out.contains("Wanted by: -"));
        assert!(!out.contains("Path:"));
        assert!(out.ends_with("No exits recorded.\n"));
        assert!(!out.contains("Next start"));
    }

    #[test]
    fn a_unit_waiting_to_restart_says_when() {
        let st = UnitStatus {
            summary: summary("db", UnitState::Starting),
            path: None,
            since_secs: 1.0,
            restarts: 1,
            status_text: None,
            exits: vec![],
            wanted_by: vec![],
            next_start_in_secs: Some(2.5),
            aliases: Vec::new(),
        };
        let t = TimeCtx {
            now_unix: 10.0,
            utc_offset: &plus_one,
        };
        assert!(unit_status(&st, &t).contains("Next start: in 2.5s"));
    }

    #[test]
    fn system_status_lists_failed_units() {
        let s = SystemStatus {
            state: "degraded".into(),
            pid1: true,
            target: "default".into(),
            uptime_secs: 3725.0,
            units: 12,
            failed: vec!["web".into(), "db".into()],
        };
        assert_eq!(
            system_status(&s),
            "   State: degraded\n    Mode: init (PID 1)\n  Target: default\n  \
             Uptime: 1h 2min\n   Units: 12\n  Failed: 2\n          web\n          db\n"
        );
    }

    #[test]
    fn job_results_mark_failures() {
        let out = job_results(&[
            JobResult {
                name: "a".into(),
                ok: true,
                message: "started".into(),
            },
            JobResult {
                name: "b".into(),
                ok: false,
                message: "exited 1".into(),
            },
        ]);
        assert_eq!(out, "a: started\nb: failed: exited 1\n");
    }

    #[test]
    fn reload_summary() {
        assert_eq!(reload(&[], &[], &[], &[]), "reloaded: no unit changed\n");
        let out = reload(
            &["x.toml:1:1: error: bad".into()],
            &["new".into()],
            &[],
            &["a".into(), "b".into()],
        );
        assert_eq!(
            out,
            "added: new\nchanged: a, b\nx.toml:1:1: error: bad\nreloaded: 1 added, 0 removed, \
             2 changed; 1 problem(s), affected units keep their previous definition\n"
        );
    }

    #[test]
    fn check_summary_lines() {
        assert_eq!(check_summary(3, 0, 0), "3 units OK\n");
        assert_eq!(
            check_summary(2, 1, 1),
            "1 error(s), 1 warning(s); 2 units OK\n"
        );
    }

    #[test]
    fn active_states() {
        assert!(is_active(UnitState::Running));
        assert!(is_active(UnitState::Exited));
        assert!(!is_active(UnitState::Failed));
        assert!(!is_active(UnitState::Inactive));
        assert!(!is_active(UnitState::Starting));
    }
}
