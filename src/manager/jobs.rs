//! Jobs: queueing a start, stop or restart over the dependency graph, and
//! deciding when a queued job may take its next step.

use std::collections::BTreeSet;

use crate::graph::Name;
use crate::service::{Job, Phase, Service, StartPhase};

use super::Manager;

/// Who asked for a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StartOrigin {
    /// `vigilctl start` / `restart` (and a restart job's second half): the
    /// root unit forgets its start limit, and a finished unit runs again.
    Manual,
    /// The boot target, a reload pulling a unit in: units already up or
    /// finished are left alone.
    Dependency,
    /// Another unit's `on_failure`: a finished unit runs again, as for a
    /// manual start, but its start limit keeps counting, so two units that
    /// start each other on failure stop at their limits.
    Triggered,
}

impl Manager {
    /// Queue a start of `root` and everything it pulls in.
    pub(super) fn queue_start(&mut self, root: &str, origin: StartOrigin) {
        let manual = origin == StartOrigin::Manual;
        let again = manual || origin == StartOrigin::Triggered;
        if self.shutdown.is_some() {
            return;
        }
        for name in self.graph.closure(root) {
            let is_root = name == root;
            let Some(svc) = self.services.get_mut(name.as_str()) else {
                continue;
            };
            if self.doomed.contains(&name) || svc.def.masked {
                continue;
            }
            if is_root && manual {
                svc.reset_limits();
            }
            self.candidates.insert(name.clone());
            match (&svc.phase, svc.job) {
                (_, Some(Job::Start)) | (_, Some(Job::Restart)) => {}
                (Phase::Stopping, _) => svc.job = Some(Job::Restart),
                (Phase::Running, _) => {}
                (Phase::Exited, _) if !(is_root && again) => {}
                (Phase::Starting(StartPhase::AutoRestart), _) if is_root && again => {
                    svc.job = Some(Job::Start);
                    self.enter(&name, Phase::Starting(StartPhase::Waiting));
                }
                (Phase::Starting(StartPhase::AutoRestart), _) => {}
                (Phase::Starting(_), _) => svc.job = Some(Job::Start),
                (Phase::Inactive | Phase::Exited | Phase::Failed, _) => {
                    svc.job = Some(Job::Start);
                    if let Some(notes) = svc.notes.existing_mut() {
                        notes.reason = None;
                    }
                    self.enter(&name, Phase::Starting(StartPhase::Waiting));
                }
            }
        }
    }

    /// Queue a stop of `root` and of every unit that requires it.
    pub(super) fn queue_stop(&mut self, root: &str) {
        let mut stack = vec![root.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(name) = stack.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(deps) = self.graph.required_by.get(name.as_str()) {
                stack.extend(deps.iter().map(|d| d.to_string()));
            }
            let Some(svc) = self.services.get_mut(name.as_str()) else {
                continue;
            };
            self.candidates.insert(name.clone());
            match svc.phase {
                Phase::Starting(StartPhase::Waiting) | Phase::Starting(StartPhase::AutoRestart) => {
                    svc.job = None;
                    self.enter(&name, Phase::Inactive);
                }
                Phase::Inactive | Phase::Failed if svc.main_pid.is_none() => {
                    svc.job = None;
                }
                _ => svc.job = Some(Job::Stop),
            }
        }
    }

    /// Queue a restart of `root`, and of every unit that `requires` it
    /// (transitively) and is up or running: as with systemd, a unit that
    /// requires X is restarted when X is restarted explicitly.
    pub(super) fn queue_restart(&mut self, root: &str) {
        let mut stack = vec![root.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(name) = stack.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(svc) = self.services.get_mut(name.as_str()) else {
                continue;
            };
            let is_root = name == root;
            let active = svc.is_up() || svc.main_pid.is_some() || svc.phase == Phase::Stopping;
            if !is_root && !active {
                continue;
            }
            if let Some(deps) = self.graph.required_by.get(name.as_str()) {
                stack.extend(deps.iter().map(|d| d.to_string()));
            }
            svc.reset_limits();
            if svc.main_pid.is_some() || svc.phase == Phase::Stopping {
                svc.job = Some(Job::Restart);
                self.candidates.insert(name);
            } else {
                self.queue_start(&name, StartOrigin::Manual);
            }
        }
    }

    /// Take the next step of `name`'s job if it may; true if anything changed.
    /// Only called for units that pass `may_advance`.
    pub(super) fn try_advance(&mut self, name: &str) -> bool {
        let Some(svc) = self.services.get(name) else {
            return false;
        };
        match (svc.job, &svc.phase) {
            (Some(Job::Start), Phase::Starting(StartPhase::Waiting)) => {
                if let Some(dep) = self.failed_requirement(name) {
                    let reason = format!("dependency failed: {dep}");
                    self.fail_start(name, reason);
                    return true;
                }
                if self.start_blocked(name) {
                    return false;
                }
                self.launch(name);
                true
            }
            (Some(Job::Stop) | Some(Job::Restart), phase) if *phase != Phase::Stopping => {
                if self.stop_blocked(name) {
                    return false;
                }
                self.begin_stop(name, crate::service::StopCause::Requested);
                true
            }
            _ => false,
        }
    }

    /// A required unit that has finished trying and is not up.
    pub(super) fn failed_requirement(&self, name: &str) -> Option<String> {
        let reqs = self.graph.requires.get(name)?;
        reqs.iter()
            .find(|r| match self.services.get(&***r) {
                None => true,
                Some(s) => !s.is_up() && s.job.is_none() && !matches!(s.phase, Phase::Starting(_)),
            })
            .map(|r| r.to_string())
    }

    /// Whether a unit ordered before `name` (or, for a target, any unit it
    /// pulls in) still has a start in progress.
    pub(super) fn start_blocked(&self, name: &str) -> bool {
        let busy = |dep: &Name| {
            self.services.get(&**dep).is_some_and(|s| {
                s.job == Some(Job::Restart)
                    || s.job == Some(Job::Start)
                        && matches!(s.phase, Phase::Starting(_) | Phase::Stopping)
            })
        };
        if self
            .graph
            .start_after
            .get(name)
            .is_some_and(|v| v.iter().any(busy))
        {
            return true;
        }
        let is_target = self
            .services
            .get(name)
            .is_some_and(|s| super::kind::is_target(s.def.kind));
        is_target
            && self
                .graph
                .pulls
                .get(name)
                .is_some_and(|v| self.any_from_hint(v, busy))
    }

    /// `items.iter().any(pred)`, starting (and wrapping around) where the
    /// previous call found a match, which it remembers.
    pub(super) fn any_from_hint(&self, items: &[Name], pred: impl Fn(&Name) -> bool) -> bool {
        let start = self.pull_scan_hint.get().min(items.len());
        let (head, tail) = items.split_at_checked(start).unwrap_or((items, &[]));
        match tail.iter().chain(head).position(pred) {
            Some(i) => {
                let at = (start + i).checked_rem(items.len()).unwrap_or(0);
                self.pull_scan_hint.set(at);
                true
            }
            None => false,
        }
    }

    /// Whether a unit ordered after `name` has a stop still in progress.
    pub(super) fn stop_blocked(&self, name: &str) -> bool {
        self.graph.start_before.get(name).is_some_and(|v| {
            v.iter().any(|dep| {
                self.services.get(&**dep).is_some_and(|s| {
                    matches!(s.job, Some(Job::Stop) | Some(Job::Restart)) && s.has_process()
                        || s.phase == Phase::Stopping
                })
            })
        })
    }
}

/// Whether `Manager::try_advance` could take a step for this unit (mirrors
/// its match; `try_advance` has no effect when this is false).
pub(super) fn may_advance(s: &Service) -> bool {
    match (s.job, &s.phase) {
        (Some(Job::Start), Phase::Starting(StartPhase::Waiting)) => true,
        (Some(Job::Stop) | Some(Job::Restart), phase) => *phase != Phase::Stopping,
        _ => false,
    }
}
