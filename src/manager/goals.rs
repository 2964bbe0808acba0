//! The two system-wide goals: bring up the boot target, and stop every
//! unit before the power action.

use crate::graph::Name;
use crate::log::Level;
use crate::power::PowerAction;
use crate::service::{Phase, Service};
use crate::unit::scalar::format_duration;

use super::jobs::StartOrigin;
use super::{Action, Manager, DEFAULT_TARGET};

/// Where the boot target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum BootState {
    NotStarted,
    Starting,
    Reached,
}

impl Manager {
    pub(super) fn on_boot(&mut self) {
        if !self.services.contains_key(self.target.as_str()) {
            // A typo'd vigil.target= must not leave the machine without its
            // gettys and services: fall back to the default target, degraded.
            let problem = format!("boot target {:?} does not exist", self.target);
            if self.target != DEFAULT_TARGET && self.services.contains_key(DEFAULT_TARGET) {
                self.log(
                    Level::Error,
                    format!("{problem}; starting {DEFAULT_TARGET:?} instead"),
                );
                self.target = DEFAULT_TARGET.to_string();
            } else {
                self.log(Level::Error, format!("{problem}; starting nothing"));
                self.boot_problem = Some(problem);
                self.boot = BootState::Reached;
                return;
            }
            self.boot_problem = Some(problem);
        }
        self.log(Level::Info, format!("starting target {}", self.target));
        self.boot = BootState::Starting;
        self.boot_started = self.now.mono;
        let target = self.target.clone();
        self.queue_start(&target, StartOrigin::Dependency);
    }

    pub(super) fn check_boot(&mut self) {
        if self.boot != BootState::Starting {
            return;
        }
        let done = self
            .services
            .get(self.target.as_str())
            .is_none_or(|s| s.job.is_none());
        if !done {
            return;
        }
        self.boot = BootState::Reached;
        self.boot_done = Some(self.now.mono);
        let took = format_duration(self.now.mono.saturating_sub(self.boot_started));
        let failed: Vec<&str> = self
            .services
            .iter()
            .filter(|(_, s)| s.phase == Phase::Failed)
            .map(|(n, _)| &**n)
            .collect();
        let up = self
            .services
            .get(self.target.as_str())
            .is_some_and(|s| s.is_up());
        if up && failed.is_empty() {
            self.log(
                Level::Info,
                format!("target {} is up after {took}", self.target),
            );
        } else {
            self.log(
                Level::Warning,
                format!(
                    "target {} finished starting after {took}, degraded; failed: {}",
                    self.target,
                    failed.join(", ")
                ),
            );
        }
    }

    /// Stop everything, then take `action`; `force` skips the orderly stop
    /// (everything vigil can prove is a unit's is killed at once).
    pub(super) fn on_shutdown(&mut self, action: PowerAction, force: bool) {
        if self.shutdown.is_some() {
            // Already going down; a forced request may skip the rest of the stop phase.
            if force && !self.power_off_sent {
                self.shutdown = Some(action);
                self.power_now(action);
            }
            return;
        }
        self.shutdown = Some(action);
        self.shutdown_started = self.now.mono;
        self.shutdown_deadline = Some(self.now.mono.saturating_add(self.settings.shutdown_timeout));
        self.log(Level::Info, format!("shutdown requested: {action:?}"));
        if force {
            self.power_now(action);
            return;
        }
        let names: Vec<Name> = self.services.keys().cloned().collect();
        for name in names {
            self.queue_stop(&name);
        }
    }

    /// The stop phase took longer than `shutdown_timeout`: go on with the
    /// power action without the units still stopping.
    pub(super) fn shutdown_timed_out(&mut self) {
        self.shutdown_deadline = None;
        let Some(action) = self.shutdown else {
            return;
        };
        if self.power_off_sent {
            return;
        }
        self.log(
            Level::Error,
            format!(
                "shutdown: units still stopping after {}; going on without them",
                format_duration(self.settings.shutdown_timeout)
            ),
        );
        self.power_now(action);
    }

    /// Kill what is left and hand the power action to the shell.
    fn power_now(&mut self, action: PowerAction) {
        self.kill_everything();
        self.power_off_sent = true;
        self.shutdown_deadline = None;
        self.actions.push(Action::PowerOff(action));
    }

    pub(super) fn check_shutdown(&mut self) {
        let Some(action) = self.shutdown else {
            return;
        };
        if self.power_off_sent {
            return;
        }
        let is_busy =
            |s: &Service| s.job.is_some() || s.main_pid.is_some() || s.phase == Phase::Stopping;
        let hinted = self
            .busy_hint
            .as_ref()
            .and_then(|n| self.services.get(&**n))
            .is_some_and(|s| is_busy(s));
        if hinted {
            return;
        }
        // Resume where the last busy unit was: units mostly stop in the
        // order they were asked to, so this stays linear over a shutdown.
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let from = self.busy_hint.take();
        let from = from.as_deref().unwrap_or_default();
        self.busy_hint = self
            .services
            .range::<str, _>((Included(from), Unbounded))
            .chain(self.services.range::<str, _>((Unbounded, Excluded(from))))
            .find(|(_, s)| is_busy(s))
            .map(|(n, _)| Name::clone(n));
        if self.busy_hint.is_none() {
            self.power_off_sent = true;
            let took = format_duration(self.now.mono.saturating_sub(self.shutdown_started));
            self.log(Level::Info, format!("all units stopped after {took}"));
            self.shutdown_deadline = None;
            self.actions.push(Action::PowerOff(action));
        }
    }
}
