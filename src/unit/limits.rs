//! Per-process resource limits of a unit (`limits = { nofile = 16384 }`),
//! set with setrlimit in the service before it execs: systemd's
//! `LimitNOFILE=` and friends. Limits of one process, not cgroups.

use serde::{Deserialize, Serialize};

/// RLIM_INFINITY.
pub const INFINITY: u64 = u64::MAX;

/// The limits a unit may set: key, resource, whether the value is a size
/// in bytes (then K/M/G suffixes are accepted), and systemd's directive.
pub const RESOURCES: &[(&str, u32, bool, &str)] = &[
    ("as", libc::RLIMIT_AS, true, "LimitAS"),
    ("core", libc::RLIMIT_CORE, true, "LimitCORE"),
    ("cpu", libc::RLIMIT_CPU, false, "LimitCPU"),
    ("data", libc::RLIMIT_DATA, true, "LimitDATA"),
    ("fsize", libc::RLIMIT_FSIZE, true, "LimitFSIZE"),
    ("locks", libc::RLIMIT_LOCKS, false, "LimitLOCKS"),
    ("memlock", libc::RLIMIT_MEMLOCK, true, "LimitMEMLOCK"),
    ("msgqueue", libc::RLIMIT_MSGQUEUE, true, "LimitMSGQUEUE"),
    ("nice", libc::RLIMIT_NICE, false, "LimitNICE"),
    ("nofile", libc::RLIMIT_NOFILE, false, "LimitNOFILE"),
    ("nproc", libc::RLIMIT_NPROC, false, "LimitNPROC"),
    ("rss", libc::RLIMIT_RSS, true, "LimitRSS"),
    ("rtprio", libc::RLIMIT_RTPRIO, false, "LimitRTPRIO"),
    ("rttime", libc::RLIMIT_RTTIME, false, "LimitRTTIME"),
    (
        "sigpending",
        libc::RLIMIT_SIGPENDING,
        false,
        "LimitSIGPENDING",
    ),
    ("stack", libc::RLIMIT_STACK, true, "LimitSTACK"),
];

/// One limit: soft and hard (INFINITY for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimit {
    /// The RLIMIT_* number.
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// The key of a RLIMIT_* number, for messages.
pub fn name_of(resource: u32) -> &'static str {
    RESOURCES
        .iter()
        .find(|r| r.1 == resource)
        .map(|r| r.0)
        .unwrap_or("?")
}

fn one(text: &str, bytes: bool) -> Result<u64, String> {
    let t = text.trim();
    if t == "infinity" {
        return Ok(INFINITY);
    }
    if bytes {
        crate::logs::size::parse_size(t)
    } else {
        t.parse::<u64>()
            .map_err(|_| format!("{t:?} is not a number or \"infinity\""))
    }
}

/// A value as written: `"16384"`, `"infinity"`, `"1024:4096"` (soft:hard),
/// `"64M"` for a size. One value sets both soft and hard, as systemd does.
pub fn parse_value(text: &str, bytes: bool) -> Result<(u64, u64), String> {
    let (soft, hard) = match text.split_once(':') {
        Some((s, h)) => (one(s, bytes)?, one(h, bytes)?),
        None => {
            let v = one(text, bytes)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(format!(
            "the soft limit {soft} is above the hard limit {hard}"
        ));
    }
    Ok((soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_systemd_writes_them() {
        assert_eq!(parse_value("16384", false), Ok((16384, 16384)));
        assert_eq!(parse_value("infinity", false), Ok((INFINITY, INFINITY)));
        assert_eq!(parse_value("1024:524288", false), Ok((1024, 524288)));
        assert_eq!(parse_value("0:infinity", true), Ok((0, INFINITY)));
        assert_eq!(parse_value("64M", true), Ok((64 << 20, 64 << 20)));
        assert!(parse_value("64M", false).is_err());
        assert!(parse_value("10:5", false)
            .unwrap_err()
            .contains("above the hard limit"));
        assert!(parse_value("many", false).is_err());
        assert!(parse_value("infinity:5", false).is_err());
    }
}
