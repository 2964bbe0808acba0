//! Rate limits for the log lines that anyone can make vigil write: a
//! refused MAINPID= datagram, an orphan's exit (a double fork). Each source
//! may write `BURST` lines per `WINDOW`; the rest are counted and the count
//! is said in the next line that source writes. Pure: the clock comes in.

use std::collections::BTreeMap;
use std::time::Duration;

/// Lines a source may write per window.
pub(super) const BURST: u32 = 10;
/// The window.
pub(super) const WINDOW: Duration = Duration::from_secs(10);
/// Sources remembered at most (a flood of distinct keys must not grow it).
const MAX_SOURCES: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    since: Duration,
    written: u32,
    suppressed: u64,
}

/// Per-source counters.
#[derive(Debug, Default)]
pub(super) struct RateLimits {
    buckets: BTreeMap<String, Bucket>,
}

impl RateLimits {
    /// Whether `source` may write a line at `now`: Some(suppressed since
    /// its last line) if so (say the count in that line), None if not.
    pub(super) fn admit(&mut self, source: &str, now: Duration) -> Option<u64> {
        if !self.buckets.contains_key(source) && self.buckets.len() >= MAX_SOURCES {
            // Forget windows that are over; if none is, the new source
            // shares the fate of a flood: not written.
            self.buckets
                .retain(|_, b| now.saturating_sub(b.since) < WINDOW);
            if self.buckets.len() >= MAX_SOURCES {
                return None;
            }
        }
        let bucket = self.buckets.entry(source.to_string()).or_insert(Bucket {
            since: now,
            written: 0,
            suppressed: 0,
        });
        if now.saturating_sub(bucket.since) >= WINDOW {
            bucket.since = now;
            bucket.written = 0;
        }
        if bucket.written >= BURST {
            bucket.suppressed = bucket.suppressed.saturating_add(1);
            return None;
        }
        bucket.written += 1;
        Some(std::mem::take(&mut bucket.suppressed))
    }
}

/// `message`, with the count of lines suppressed before it.
pub(super) fn with_suppressed(message: String, suppressed: u64) -> String {
    if suppressed == 0 {
        message
    } else {
        format!("{message} ({suppressed} similar messages suppressed before this one)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_writes_a_burst_per_window_and_the_rest_is_counted() {
        let mut r = RateLimits::default();
        let t = Duration::from_secs;
        for _ in 0..BURST {
            assert_eq!(r.admit("x", t(1)), Some(0));
        }
        assert_eq!(r.admit("x", t(2)), None);
        assert_eq!(r.admit("x", t(3)), None);
        // Another source is not held back by this one.
        assert_eq!(r.admit("y", t(3)), Some(0));
        // A new window: the next line says how many were dropped.
        assert_eq!(r.admit("x", t(11)), Some(2));
        assert_eq!(r.admit("x", t(11)), Some(0));
    }

    #[test]
    fn distinct_sources_cannot_grow_the_table_without_bound() {
        let mut r = RateLimits::default();
        let now = Duration::from_secs(1);
        for i in 0..MAX_SOURCES {
            assert!(r.admit(&format!("s{i}"), now).is_some());
        }
        assert_eq!(r.admit("one-too-many", now), None);
        assert!(r.buckets.len() <= MAX_SOURCES);
        assert!(r.admit("later", now + WINDOW).is_some());
    }
}
