//! What `list`, `status` and the SIGUSR2 dump show: read-only projections
//! of the manager's state.

use std::time::Duration;

use crate::control::protocol::{
    StepTime, SystemStatus, Timeline, UnitStatus, UnitSummary, UnitTimes,
};
use crate::graph::Graph;
use crate::log::Level;
use crate::service::{DeadlineKind, Phase, Service};
use crate::unit::scalar::format_duration;
use crate::unit::UnitKind;

use super::goals::BootState;
use super::{Action, Manager};

impl Manager {
    /// The state dump for SIGUSR2, as log lines, then the shell's part.
    pub(super) fn dump_state(&mut self) {
        let mut lines = vec![format!(
            "state dump: system {}",
            self.system_state().as_str()
        )];
        lines.extend(self.dump());
        for message in lines {
            self.actions.push(Action::Log {
                level: Level::Info,
                message,
            });
        }
        self.actions.push(Action::DumpShell);
    }

    /// One line per unit with its phase, job, processes and pending
    /// deadlines, then the waiting clients.
    pub fn dump(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, s) in &self.services {
            let deadlines: String = self
                .timers
                .of(name)
                .into_iter()
                .map(|(kind, t)| {
                    format!(
                        " deadline={kind:?} in {}",
                        format_duration(t.saturating_sub(self.now.mono))
                    )
                })
                .collect();
            let groups: Vec<String> = s
                .groups
                .iter()
                .map(|g| format!("{}(witness {})", g.pgid, g.witness))
                .collect();
            lines.push(format!(
                "  {name}: {:?} job={:?} pid={:?} leader={:?} groups=[{}] restarts={}{deadlines}",
                s.phase,
                s.job,
                s.main_pid,
                s.leader,
                groups.join(" "),
                s.restarts
            ));
        }
        for w in &self.waiters {
            let names: Vec<&str> = w.pending.iter().map(|(n, _)| n.as_str()).collect();
            lines.push(format!(
                "  client {} waits for {}",
                w.client,
                names.join(", ")
            ));
        }
        lines
    }

    /// "starting", "running", "degraded" or "stopping".
    /// The machine's state as `status` shows it. O(N): for views only.
    pub fn system_state(&self) -> SystemState {
        if self.shutdown.is_some() {
            SystemState::Stopping
        } else if self.boot != BootState::Reached {
            SystemState::Starting
        } else if self.boot_problem.is_some()
            || self.services.values().any(|s| s.phase == Phase::Failed)
        {
            SystemState::Degraded
        } else {
            SystemState::Running
        }
    }

    /// Whether the boot target has finished starting (O(1)).
    pub fn boot_finished(&self) -> bool {
        self.boot == BootState::Reached
    }

    pub(super) fn summary(&self, s: &Service) -> UnitSummary {
        UnitSummary {
            name: s.def.name.to_string(),
            kind: kind_name(s.def.kind).to_string(),
            state: s.state(),
            reason: s
                .notes
                .reason
                .clone()
                .or_else(|| s.notes.status_text.clone()),
            pid: s.main_pid,
            description: s.def.description.clone(),
        }
    }

    pub(super) fn unit_status(&self, s: &Service) -> UnitStatus {
        UnitStatus {
            summary: self.summary(s),
            path: s.def.path.clone(),
            since_secs: self.now.mono.saturating_sub(s.since).as_secs_f64(),
            restarts: s.restarts,
            status_text: s.notes.status_text.clone(),
            exits: s.exits.iter().cloned().collect(),
            wanted_by: s.def.wanted_by.to_vec(),
            next_start_in_secs: self
                .timers
                .get(&s.def.name, DeadlineKind::Restart)
                .map(|at| at.saturating_sub(self.now.mono).as_secs_f64()),
            aliases: s.def.extra().aliases.to_vec(),
        }
    }

    /// The boot timeline: vigil's start, the early-boot steps and every
    /// unit's last run, with its ordering edges for the critical chain.
    pub(super) fn timeline(&self) -> Timeline {
        let secs = |d: Duration| d.as_secs_f64();
        let rec = &self.boot_record;
        let units = self
            .services
            .iter()
            .map(|(name, s)| UnitTimes {
                name: name.to_string(),
                kind: kind_name(s.def.kind).to_string(),
                state: s.state(),
                requested_secs: s.times.requested().map(secs),
                exec_secs: s.times.exec().map(secs),
                ready_secs: s.times.ready().map(secs),
                ended_secs: s.times.ended().map(secs),
                after: Graph::edges(&self.graph.start_after, name)
                    .iter()
                    .map(|n| n.to_string())
                    .collect(),
            })
            .collect();
        Timeline {
            pid1: self.settings.pid1,
            kernel_secs: secs(rec.kernel),
            started_secs: secs(rec.started),
            steps: rec
                .steps
                .iter()
                .map(|st| StepTime {
                    name: st.name.clone(),
                    start_secs: secs(st.start),
                    duration_secs: secs(st.duration),
                    ok: st.ok,
                })
                .collect(),
            target: self.target.clone(),
            target_requested_secs: (self.boot != BootState::NotStarted)
                .then(|| secs(self.boot_started)),
            target_done_secs: self.boot_done.map(secs),
            units,
            now_secs: secs(self.now.mono),
        }
    }

    pub(super) fn system_status(&self) -> SystemStatus {
        SystemStatus {
            state: self.system_state().as_str().to_string(),
            pid1: self.settings.pid1,
            target: self.target.clone(),
            uptime_secs: if self.settings.pid1 {
                self.now.mono.as_secs_f64()
            } else {
                self.now.mono.saturating_sub(self.created).as_secs_f64()
            },
            units: self.services.len(),
            failed: self
                .services
                .iter()
                .filter(|(_, s)| s.phase == Phase::Failed)
                .map(|(n, _)| n.to_string())
                .collect(),
        }
    }
}

/// The `type` key's spelling.
pub fn kind_name(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Simple => "simple",
        UnitKind::Notify => "notify",
        UnitKind::Forking => "forking",
        UnitKind::Oneshot => "oneshot",
        UnitKind::Target => "target",
    }
}

/// The machine's state as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemState {
    Starting,
    Running,
    /// Up, but a unit failed or the boot target was missing.
    Degraded,
    Stopping,
}

impl SystemState {
    /// The word `status` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemState::Starting => "starting",
            SystemState::Running => "running",
            SystemState::Degraded => "degraded",
            SystemState::Stopping => "stopping",
        }
    }
}
