//! UTC timestamps with microseconds, written and read without a calendar
//! crate: the one fixed-width format of every log record
//! (`2026-12-01T12:04:24.123456Z`), which sorts as text in time order.

/// Length of a formatted timestamp.
pub const STAMP_LEN: usize = 27;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `unix_micros` (microseconds since the epoch) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_utc(unix_micros: i64) -> String {
    let secs = unix_micros.div_euclid(1_000_000);
    let micros = unix_micros.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// The wall clock now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn number(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A UTC time as people write it: `2026-12-01`, `2026-12-01 12:04`,
/// `2026-12-01T12:04:24`, with optional `.ffffff` and `Z`. Microseconds
/// since the epoch, or None.
pub fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = number(parts.next()?)?;
    let month = u32::try_from(number(parts.next()?)?).ok()?;
    let day = u32::try_from(number(parts.next()?)?).ok()?;
    // Four-digit years, as the records write them (and the arithmetic
    // below cannot overflow).
    if parts.next().is_some()
        || !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
    {
        return None;
    }
    let mut micros = days_from_civil(year, month, day).checked_mul(86_400_000_000)?;
    if let Some(time) = time {
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (time, None),
        };
        let mut fields = hms.split(':');
        let h = number(fields.next()?)?;
        let m = number(fields.next()?)?;
        let s = match fields.next() {
            Some(s) => number(s)?,
            None => 0,
        };
        if fields.next().is_some() || h > 23 || m > 59 || s > 60 {
            return None;
        }
        micros += ((h * 60 + m) * 60 + s) * 1_000_000;
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 6 {
                return None;
            }
            let scale = 10_i64.pow(6 - frac.len() as u32);
            micros += number(frac)? * scale;
        }
    }
    Some(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fixed_width_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000000Z");
        // 2026-12-01T12:04:24.123456Z
        let t = 1_796_126_664_123_456;
        assert_eq!(format_utc(t), "2026-12-01T12:04:24.123456Z");
        assert_eq!(format_utc(t).len(), STAMP_LEN);
        assert_eq!(
            format_utc(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn parses_what_it_formats_and_shorter_forms() {
        for t in [
            0,
            1_796_126_664_123_456,
            951_782_400_000_000,
            4_102_444_799_999_999,
        ] {
            assert_eq!(parse_utc(&format_utc(t)), Some(t));
        }
        assert_eq!(parse_utc("2026-12-01"), Some(1_796_083_200_000_000));
        assert_eq!(parse_utc("2026-12-01 12:04"), Some(1_796_126_640_000_000));
        assert_eq!(
            parse_utc("2026-12-01T12:04:24.5"),
            Some(1_796_126_664_500_000)
        );
        // A year the calendar arithmetic cannot hold (a fuzzer's find).
        assert_eq!(parse_utc("99999999999999-01-01"), None);
        assert_eq!(parse_utc("10000-01-01"), None);
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-12-01T25:00",
            "2026-12-01T1:2:3.1234567",
            "2026-12-01-02",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
