//! Parsers for the small value languages inside unit files: durations,
//! signal names and umasks. Each returns a message fit to follow "invalid X:".

use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Nanoseconds per unit suffix; systemd's spellings are accepted too.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "us" | "usec" | "µs" => 1_000,
        "ms" | "msec" => 1_000_000,
        "" | "s" | "sec" | "second" | "seconds" => NANOS_PER_SEC,
        "m" | "min" | "minute" | "minutes" => 60 * NANOS_PER_SEC,
        "h" | "hr" | "hour" | "hours" => 3600 * NANOS_PER_SEC,
        "d" | "day" | "days" => 86400 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Parses "0", "500ms", "1.5s", "2min", "1h", "1min 30s"; a number without a
/// unit is seconds. Integer arithmetic, so "100ms" is exactly 100ms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    let mut rest = s;
    let mut total: u128 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(n)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(if rest.starts_with('-') {
                "durations cannot be negative".to_string()
            } else {
                format!("expected a number at {rest:?}")
            });
        }
        let after_num = after_num.trim_start();
        let unit_len = after_num
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after_num.len());
        let (unit, after_unit) = after_num.split_at(unit_len);
        let per_unit = unit_nanos(unit)
            .ok_or_else(|| format!("unknown unit `{unit}` (use ms, s, min, h or d)"))?;
        if unit.is_empty() && (parts > 0 || !after_unit.trim().is_empty()) {
            return Err("every part of a compound duration needs a unit".to_string());
        }
        total = total
            .checked_add(component_nanos(int_part, frac_part, per_unit)?)
            .ok_or_else(too_long)?;
        parts += 1;
        rest = after_unit.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_long())?;
    let nanos = u32::try_from(total % NANOS_PER_SEC).map_err(|_| too_long())?;
    Ok(Duration::new(secs, nanos))
}

fn too_long() -> String {
    "duration too long".to_string()
}

/// `int.frac` units, in nanoseconds, truncating below one nanosecond.
fn component_nanos(int_part: &str, frac_part: &str, per_unit: u128) -> Result<u128, String> {
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| too_long())?
    };
    let mut nanos = int.checked_mul(per_unit).ok_or_else(too_long)?;
    // Only the first 18 fractional digits can matter at nanosecond precision.
    let frac: String = frac_part.chars().take(18).collect();
    if !frac.is_empty() {
        let digits = u32::try_from(frac.len()).map_err(|_| too_long())?;
        let value: u128 = frac.parse().map_err(|_| too_long())?;
        let scale = 10u128.pow(digits);
        nanos = nanos
            .checked_add(value.saturating_mul(per_unit) / scale)
            .ok_or_else(too_long)?;
    }
    Ok(nanos)
}

/// A TOML number of seconds as a duration.
pub fn seconds(value: f64) -> Result<Duration, String> {
    if value < 0.0 {
        return Err("durations cannot be negative".to_string());
    }
    Duration::try_from_secs_f64(value).map_err(|_| "not a valid number of seconds".to_string())
}

/// Whether `n` is a signal this kernel knows (classic or real-time).
fn valid_signal_number(n: i64) -> bool {
    let Ok(n) = i32::try_from(n) else {
        return false;
    };
    Signal::try_from(n).is_ok() || (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n)
}

/// Parses "SIGTERM", "TERM" (any case) or a number given as text.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return signal_number(n);
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .map(|s| s as i32)
        .map_err(|_| format!("unknown signal {t:?} (use a name like \"SIGTERM\" or a number)"))
}

/// Checks a numeric signal.
pub fn signal_number(n: i64) -> Result<i32, String> {
    if valid_signal_number(n) {
        i32::try_from(n).map_err(|_| format!("no signal number {n}"))
    } else {
        Err(format!("no signal number {n}"))
    }
}

/// Parses an octal umask written as text, such as "022" or "0027".
pub fn parse_umask(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_prefix("0o").unwrap_or(t);
    if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(format!("{t:?} is not an octal umask like \"022\""));
    }
    let value = u32::from_str_radix(digits, 8).map_err(|e| e.to_string())?;
    umask_number(i64::from(value))
}

/// Checks a umask given as a TOML integer (write it as 0o022).
pub fn umask_number(n: i64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(v) if v <= 0o777 => Ok(v),
        _ => Err(format!("{n} is out of range 0..0o777")),
    }
}

/// Human duration for logs: "850ms", "12.3s", "5m02s".
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("5"), Duration::from_secs(5));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("100ms"), Duration::from_millis(100));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("2min"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1min 30s"), Duration::from_secs(90));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok(" 2 s "), Duration::from_secs(2));
        assert_eq!(ok("0.25"), Duration::from_millis(250));
        assert_eq!(ok("10us"), Duration::from_micros(10));
    }

    #[test]
    fn bad_durations() {
        let err = |s: &str| parse_duration(s).unwrap_err();
        assert!(err("").contains("empty"));
        assert!(err("5 parsecs").contains("unknown unit `parsecs`"));
        assert!(err("-1s").contains("negative"));
        assert!(err("s").contains("expected a number"));
        assert!(err("1 2s").contains("needs a unit"));
        assert!(err("99999999999999999999999999999999999999d").contains("too long"));
        assert!(seconds(-1.0).is_err());
        assert_eq!(seconds(1.5).unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("hup").unwrap(), libc::SIGHUP);
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert_eq!(signal_number(2).unwrap(), libc::SIGINT);
        assert_eq!(
            signal_number(i64::from(libc::SIGRTMIN())).unwrap(),
            libc::SIGRTMIN()
        );
        assert!(parse_signal("SIGFOO")
            .unwrap_err()
            .contains("unknown signal"));
        assert!(signal_number(0).is_err());
        assert!(signal_number(65).is_err());
    }

    #[test]
    fn umasks() {
        assert_eq!(parse_umask("022").unwrap(), 0o022);
        assert_eq!(parse_umask("0027").unwrap(), 0o027);
        assert_eq!(umask_number(0o077).unwrap(), 0o077);
        assert!(parse_umask("089").is_err());
        assert!(parse_umask("").is_err());
        assert!(umask_number(0o1000).is_err());
        assert!(umask_number(-1).is_err());
    }
}
