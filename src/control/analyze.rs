//! `vigilctl analyze`: where boot time went, from the timeline vigil
//! recorded (`Request::Analyze`). Pure text from data, like
//! `systemd-analyze`, `blame` and `critical-chain`; the SVG chart is in
//! `control::plot`.

use super::protocol::{Timeline, UnitState, UnitTimes};

/// Seconds as people read them: `12ms`, `1.234s`, `2min 3.4s`.
pub fn secs(s: f64) -> String {
    let s = s.max(0.0);
    if s < 1.0 {
        format!("{}ms", (s * 1000.0).round())
    } else if s < 60.0 {
        format!("{s:.3}s")
    } else {
        format!("{}min {:.1}s", (s / 60.0).floor(), s % 60.0)
    }
}

/// When a unit's own start began: its exec, else when it was asked for.
pub fn start_of(u: &UnitTimes) -> Option<f64> {
    u.exec_secs.or(u.requested_secs)
}

/// How long the unit took from its start to being up (or to failing).
pub fn activation(u: &UnitTimes) -> Option<f64> {
    let start = start_of(u)?;
    let end = u.ready_secs.or(if u.state == UnitState::Failed {
        u.ended_secs
    } else {
        None
    })?;
    Some(end - start)
}

/// The first line of `analyze`.
pub fn summary(t: &Timeline) -> String {
    let mut out = String::new();
    let userspace_start = t.started_secs;
    let units_start = t.target_requested_secs.unwrap_or(userspace_start);
    match t.target_done_secs {
        Some(done) if t.pid1 => {
            let kernel = t.kernel_secs;
            let early = units_start - userspace_start;
            let units = done - units_start;
            out.push_str(&format!(
                "Startup finished in {} (kernel) + {} (early boot) + {} (units) = {}\n",
                secs(kernel),
                secs(early),
                secs(units),
                secs(kernel + (done - userspace_start))
            ));
            out.push_str(&format!(
                "{} reached after {} in userspace\n",
                t.target,
                secs(done - userspace_start)
            ));
        }
        Some(done) => {
            out.push_str(&format!(
                "{} reached {} after vigil started (a supervisor, not PID 1: no kernel or early-boot part)\n",
                t.target,
                secs(done - userspace_start)
            ));
        }
        None => out.push_str(&format!(
            "{} is still starting ({} so far)\n",
            t.target,
            secs(t.now_secs - units_start)
        )),
    }
    let failed: Vec<&str> = t
        .units
        .iter()
        .filter(|u| u.state == UnitState::Failed)
        .map(|u| u.name.as_str())
        .collect();
    if !failed.is_empty() {
        out.push_str(&format!("failed: {}\n", failed.join(", ")));
    }
    out
}

/// Units by activation time, slowest first (targets, which only wait for
/// others, are left out, as are units that never started).
pub fn blame(t: &Timeline) -> String {
    let mut rows: Vec<(f64, &UnitTimes)> = t
        .units
        .iter()
        .filter(|u| u.kind != "target")
        .filter_map(|u| activation(u).map(|d| (d, u)))
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let width = rows.iter().map(|r| secs(r.0).len()).max().unwrap_or(0);
    rows.iter()
        .map(|(d, u)| {
            let failed = if u.state == UnitState::Failed {
                " (failed)"
            } else {
                ""
            };
            format!("{:>width$} {}{failed}\n", secs(*d), u.name)
        })
        .collect()
}

/// The chain of `after` dependencies that decided when `unit` came up:
/// at each step, of the units it is ordered after, the one that came up
/// last (before it started). `@` is after vigil's start, `+` the unit's
/// own activation time.
pub fn critical_chain(t: &Timeline, unit: Option<&str>) -> Result<String, String> {
    let name = unit.unwrap_or(&t.target);
    let find = |n: &str| t.units.iter().find(|u| u.name == n);
    let mut current = find(name).ok_or_else(|| format!("no unit {name}"))?;
    let origin = t.started_secs;
    let mut out = String::from(
        "The time when the unit came up is after @, how long it took to start after +.\n\n",
    );
    let mut depth = 0;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        seen.insert(current.name.clone());
        let at = current.ready_secs.or(current.ended_secs);
        let line = match (at, activation(current)) {
            (Some(at), Some(took)) if took >= 0.0005 && current.kind != "target" => {
                format!("{} @{} +{}", current.name, secs(at - origin), secs(took))
            }
            (Some(at), _) => format!("{} @{}", current.name, secs(at - origin)),
            (None, _) => format!("{} (not up)", current.name),
        };
        if depth == 0 {
            out.push_str(&line);
        } else {
            out.push_str(&format!("{}└─{line}", "  ".repeat(depth - 1)));
        }
        out.push('\n');
        // What it waited for finished before its own start began: its
        // exec, or for a unit with no process (a target) its coming up.
        let Some(started) = current.exec_secs.or(at) else {
            break;
        };
        let gate = current
            .after
            .iter()
            .filter_map(|n| find(n))
            .filter(|u| !seen.contains(&u.name))
            .filter_map(|u| u.ready_secs.or(u.ended_secs).map(|r| (r, u)))
            .filter(|(r, _)| *r <= started + 1e-9)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match gate {
            Some((_, u)) => {
                current = u;
                depth += 1;
            }
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::control::protocol::StepTime;

    fn unit(name: &str, kind: &str, times: [Option<f64>; 3], after: &[&str]) -> UnitTimes {
        UnitTimes {
            name: name.into(),
            kind: kind.into(),
            state: UnitState::Running,
            requested_secs: times[0],
            exec_secs: times[1],
            ready_secs: times[2],
            ended_secs: None,
            after: after.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A boot: kernel 1s, early boot 1.0-1.5, target asked at 1.5:
    /// net (1.5-1.9), db after net (1.9-2.4), web after net and db
    /// (2.4-2.5), slow (1.5-3.0, nobody waits for it), default after web.
    pub(crate) fn sample() -> Timeline {
        Timeline {
            pid1: true,
            kernel_secs: 1.0,
            started_secs: 1.0,
            steps: vec![
                StepTime {
                    name: "essential-mounts".into(),
                    start_secs: 1.0,
                    duration_secs: 0.2,
                    ok: true,
                },
                StepTime {
                    name: "fstab".into(),
                    start_secs: 1.2,
                    duration_secs: 0.3,
                    ok: false,
                },
            ],
            target: "default".into(),
            target_requested_secs: Some(1.5),
            target_done_secs: Some(3.0),
            units: vec![
                unit("net", "oneshot", [Some(1.5), Some(1.5), Some(1.9)], &[]),
                unit("db", "notify", [Some(1.5), Some(1.9), Some(2.4)], &["net"]),
                unit(
                    "web",
                    "simple",
                    [Some(1.5), Some(2.4), Some(2.5)],
                    &["db", "net"],
                ),
                unit("slow", "oneshot", [Some(1.5), Some(1.5), Some(3.0)], &[]),
                unit("default", "target", [Some(1.5), None, Some(3.0)], &["web"]),
            ],
            now_secs: 10.0,
        }
    }

    #[test]
    fn summary_splits_kernel_early_boot_and_units() {
        assert_eq!(
            summary(&sample()),
            "Startup finished in 1.000s (kernel) + 500ms (early boot) + 1.500s (units) = 3.000s\ndefault reached after 2.000s in userspace\n"
        );
    }

    #[test]
    fn blame_lists_slowest_first_and_agrees_with_the_times() {
        let text = blame(&sample());
        let names: Vec<&str> = text
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(names, ["slow", "db", "net", "web"]);
        assert!(text.starts_with("1.500s slow\n"), "{text}");
        assert!(text.contains(" 500ms db\n") && text.contains(" 100ms web\n"));
    }

    #[test]
    fn the_critical_chain_follows_the_latest_dependency() {
        let text = critical_chain(&sample(), None).unwrap();
        let body: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            body,
            [
                "default @2.000s",
                "└─web @1.500s +100ms",
                "  └─db @1.400s +500ms",
                "    └─net @900ms +400ms"
            ]
        );
        assert!(critical_chain(&sample(), Some("nope")).is_err());
        let db = critical_chain(&sample(), Some("db")).unwrap();
        assert_eq!(db.lines().nth(2), Some("db @1.400s +500ms"));
    }
}
