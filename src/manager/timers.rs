//! The manager's pending deadlines, in an ordered index: finding the next
//! one and the ones that are due costs O(log N) whatever the number of
//! units, and a unit may have several at once (a forking unit reading its
//! pid file has both its retry and its start timeout armed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::service::{DeadlineKind, Phase, StartPhase};

/// Every armed deadline, by time and by (unit, kind).
#[derive(Debug, Default)]
pub(super) struct Timers {
    by_time: BTreeSet<(Duration, String, DeadlineKind)>,
    by_unit: BTreeMap<String, Vec<(DeadlineKind, Duration)>>,
}

impl Timers {
    /// Arm (or re-arm) `unit`'s deadline of `kind` at `at`.
    pub(super) fn set(&mut self, unit: &str, kind: DeadlineKind, at: Duration) {
        self.cancel(unit, kind);
        self.by_time.insert((at, unit.to_string(), kind));
        self.by_unit
            .entry(unit.to_string())
            .or_default()
            .push((kind, at));
    }

    /// Disarm `unit`'s deadline of `kind`, if armed.
    pub(super) fn cancel(&mut self, unit: &str, kind: DeadlineKind) {
        self.retain(unit, |k| k != kind);
    }

    /// Disarm every deadline of `unit`.
    pub(super) fn cancel_all(&mut self, unit: &str) {
        self.retain(unit, |_| false);
    }

    /// Disarm the deadlines that mean nothing in `phase` (see
    /// `valid_in`): one rule, applied wherever a unit changes phase.
    pub(super) fn keep_valid_for(&mut self, unit: &str, phase: &Phase) {
        self.retain(unit, |kind| valid_in(kind, phase));
    }

    fn retain(&mut self, unit: &str, keep: impl Fn(DeadlineKind) -> bool) {
        let Some(list) = self.by_unit.get_mut(unit) else {
            return;
        };
        let by_time = &mut self.by_time;
        list.retain(|(kind, at)| {
            let kept = keep(*kind);
            if !kept {
                by_time.remove(&(*at, unit.to_string(), *kind));
            }
            kept
        });
        if list.is_empty() {
            self.by_unit.remove(unit);
        }
    }

    /// When `unit`'s deadline of `kind` is due, if armed.
    pub(super) fn get(&self, unit: &str, kind: DeadlineKind) -> Option<Duration> {
        self.by_unit
            .get(unit)?
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, at)| *at)
    }

    /// `unit`'s armed deadlines, soonest first (for the state dump).
    pub(super) fn of(&self, unit: &str) -> Vec<(DeadlineKind, Duration)> {
        let mut list = self.by_unit.get(unit).cloned().unwrap_or_default();
        list.sort_by_key(|(_, at)| *at);
        list
    }

    /// Every armed deadline: unit, kind, when (the handover).
    pub(super) fn all(&self) -> impl Iterator<Item = (&str, DeadlineKind, Duration)> {
        self.by_time
            .iter()
            .map(|(at, unit, kind)| (unit.as_str(), *kind, *at))
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Duration> {
        self.by_time.first().map(|(at, _, _)| *at)
    }

    /// Disarms and returns every deadline due at `now`, soonest first.
    pub(super) fn take_due(&mut self, now: Duration) -> Vec<(String, DeadlineKind)> {
        let mut due = Vec::new();
        while let Some((at, _, _)) = self.by_time.first() {
            if *at > now {
                break;
            }
            if let Some((_, unit, kind)) = self.by_time.pop_first() {
                if let Some(list) = self.by_unit.get_mut(&unit) {
                    list.retain(|(k, _)| *k != kind);
                    if list.is_empty() {
                        self.by_unit.remove(&unit);
                    }
                }
                due.push((unit, kind));
            }
        }
        due
    }

    /// How many deadlines are armed.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_time.len()
    }
}

/// Which deadlines a unit may have in `phase`. A restart delay belongs to
/// the wait before an automatic restart; the start timeout covers the whole
/// start, launcher and pid file included (its bound is the documented one);
/// the pid-file retry belongs to reading it; the stop escalations to
/// stopping.
pub(super) fn valid_in(kind: DeadlineKind, phase: &Phase) -> bool {
    match kind {
        DeadlineKind::Restart => *phase == Phase::Starting(StartPhase::AutoRestart),
        DeadlineKind::StartTimeout => matches!(
            phase,
            Phase::Starting(
                StartPhase::Pre
                    | StartPhase::Launched
                    | StartPhase::ReadingPidFile
                    | StartPhase::Post
            )
        ),
        DeadlineKind::ReloadTimeout => *phase == Phase::Running,
        DeadlineKind::PidFileRetry => *phase == Phase::Starting(StartPhase::ReadingPidFile),
        DeadlineKind::StopKill | DeadlineKind::StopAbandon => *phase == Phase::Stopping,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn due_deadlines_come_out_in_time_order_and_only_once() {
        let mut t = Timers::default();
        t.set("b", DeadlineKind::StartTimeout, ms(30));
        t.set("a", DeadlineKind::Restart, ms(10));
        t.set("b", DeadlineKind::PidFileRetry, ms(20));
        assert_eq!(t.next(), Some(ms(10)));
        assert_eq!(
            t.take_due(ms(20)),
            vec![
                ("a".to_string(), DeadlineKind::Restart),
                ("b".to_string(), DeadlineKind::PidFileRetry)
            ]
        );
        assert_eq!(t.take_due(ms(20)), vec![]);
        assert_eq!(t.get("b", DeadlineKind::StartTimeout), Some(ms(30)));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn rearming_replaces_and_phase_change_drops_what_no_longer_applies() {
        let mut t = Timers::default();
        t.set("a", DeadlineKind::StartTimeout, ms(50));
        t.set("a", DeadlineKind::PidFileRetry, ms(5));
        t.set("a", DeadlineKind::PidFileRetry, ms(7));
        assert_eq!(t.len(), 2);
        t.keep_valid_for("a", &Phase::Starting(StartPhase::Launched));
        assert_eq!(t.of("a"), vec![(DeadlineKind::StartTimeout, ms(50))]);
        t.keep_valid_for("a", &Phase::Running);
        assert_eq!(t.next(), None);
        assert_eq!(t.len(), 0);
    }
}
