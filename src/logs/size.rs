//! Byte sizes as vigil.toml and unit files write them: a byte count, or a
//! string with a K, M or G suffix (powers of 1024), as `log_max_size`.

/// Parse `"512"`, `"64K"`, `"1M"`, `"2G"` (an optional `B` or `iB`
/// after the suffix is accepted: `"1MiB"`); Err says what was expected.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    let expected = || format!("{text:?} is not a size such as 1048576, \"512K\", \"1M\" or \"1G\"");
    if num.is_empty() {
        return Err(expected());
    }
    let n: u64 = num.parse().map_err(|_| expected())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(expected()),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        for bad in ["", "M", "1T", "-1", "1.5M", "ten"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
