//! "Did you mean" hints for misspelled keys, including the systemd spellings
//! that people bring with them (`ExecStart`, `RestartSec`, `WantedBy`).

/// systemd directive names (after snake-casing) whose vigil name differs.
const ALIASES: &[(&str, &str)] = &[
    ("exec_start", "exec"),
    ("command", "exec"),
    ("cmd", "exec"),
    ("restart_sec", "restart_delay"),
    ("timeout_start_sec", "start_timeout"),
    ("timeout_stop_sec", "stop_timeout"),
    ("kill_signal", "stop_signal"),
    ("standard_output", "stdout"),
    ("standard_error", "stderr"),
    ("start_limit_interval_sec", "start_limit_interval"),
    ("pidfile", "pid_file"),
    ("env", "environment"),
];

/// `WantedBy` -> `wanted_by`, `restart-delay` -> `restart_delay`.
fn normalize(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c == '-' || c == ' ' {
            out.push('_');
            prev_lower = false;
        } else if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// Optimal string alignment distance: edits plus adjacent transpositions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        if let Some(cell) = d.get_mut(at(i, 0)) {
            *cell = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(cell) = d.get_mut(at(0, j)) {
            *cell = j;
        }
    }
    let get = |d: &[usize], i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let ca = a.get(i - 1);
            let cb = b.get(j - 1);
            let cost = usize::from(ca != cb);
            let mut best = (get(&d, i - 1, j) + 1)
                .min(get(&d, i, j - 1) + 1)
                .min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                best = best.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(cell) = d.get_mut(at(i, j)) {
                *cell = best;
            }
        }
    }
    get(&d, a.len(), b.len())
}

/// The known key `unknown` most likely meant, if any is close enough.
pub fn did_you_mean<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let norm = normalize(unknown);
    if let Some(k) = known.iter().find(|k| **k == norm) {
        return Some(k);
    }
    if let Some((_, target)) = ALIASES.iter().find(|(alias, _)| *alias == norm) {
        if let Some(k) = known.iter().find(|k| *k == target) {
            return Some(k);
        }
    }
    let len = norm.chars().count();
    let limit = (len / 3).clamp(1, 3);
    known
        .iter()
        // A length that differs by more than the limit cannot be within it:
        // skip the distance (a reload of thousands of names calls this a lot).
        .filter(|k| k.len().abs_diff(len) <= limit + k.len().saturating_sub(k.chars().count()))
        .map(|k| (edit_distance(&norm, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &[
        "exec",
        "restart",
        "restart_delay",
        "restart_delay_max",
        "wanted_by",
        "pid_file",
        "description",
        "stop_timeout",
    ];

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("restart_dealy", "restart_delay"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("restart_dealy", KEYS), Some("restart_delay"));
        assert_eq!(did_you_mean("restartdelay", KEYS), Some("restart_delay"));
        assert_eq!(did_you_mean("descripton", KEYS), Some("description"));
        assert_eq!(did_you_mean("WantedBy", KEYS), Some("wanted_by"));
        assert_eq!(did_you_mean("restart-delay", KEYS), Some("restart_delay"));
        assert_eq!(did_you_mean("ExecStart", KEYS), Some("exec"));
        assert_eq!(did_you_mean("PIDFile", KEYS), Some("pid_file"));
        assert_eq!(did_you_mean("TimeoutStopSec", KEYS), Some("stop_timeout"));
        assert_eq!(did_you_mean("frobnicate", KEYS), None);
    }
}
