//! A unit's process lifecycle: launching it, stopping it, and what the end
//! of a run leads to (restart per policy, failure, requirement propagation).

use std::rc::Rc;
use std::time::Duration;

use crate::exit::{signal_name, ExitStatus};
use crate::log::Level;
use crate::service::{DeadlineKind, Job, Phase, StartPhase};
use crate::unit::scalar::format_duration;
use crate::unit::{RestartPolicy, UnitKind};

use super::{Action, Manager};

/// After SIGKILL, how long to wait for the exit before giving up on a process.
pub(super) const ABANDON_AFTER: Duration = Duration::from_secs(5);

impl Manager {
    /// Start the unit's process now (or mark a target up).
    pub(super) fn launch(&mut self, name: &str) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if !svc.admit_start(now) {
            let reason = format!(
                "start limit hit: more than {} starts within {}",
                svc.def.start_limit_burst,
                format_duration(svc.def.start_limit_interval)
            );
            self.log(
                Level::Error,
                format!("{name}: {reason}; not restarting until a manual start"),
            );
            self.fail_start(name, reason);
            return;
        }
        if svc.def.kind == UnitKind::Target {
            svc.set_phase(Phase::Running, now);
            self.job_done(name);
            self.log(Level::Info, format!("reached target {name}"));
            return;
        }
        svc.set_phase(Phase::Starting(StartPhase::Launched), now);
        svc.reason = None;
        svc.stop_requested = false;
        svc.deadline = match svc.def.kind {
            UnitKind::Notify | UnitKind::Forking | UnitKind::Oneshot => Some((
                now.saturating_add(svc.def.start_timeout),
                DeadlineKind::StartTimeout,
            )),
            UnitKind::Simple | UnitKind::Target => None,
        };
        let def = Rc::clone(&svc.def);
        self.log(Level::Debug, format!("starting {name}"));
        self.actions.push(Action::Spawn {
            unit: name.to_string(),
            def,
        });
    }

    /// Send the stop signal, or finish at once when nothing runs.
    pub(super) fn begin_stop(&mut self, name: &str, then_fail: bool) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.stop_requested = !then_fail;
        if svc.main_pid.is_none() {
            svc.deadline = None;
            self.stopped(name);
            return;
        }
        svc.set_phase(Phase::Stopping, now);
        svc.deadline = Some((
            now.saturating_add(svc.def.stop_timeout),
            DeadlineKind::StopKill,
        ));
        let signal = svc.def.stop_signal;
        // During a shutdown every unit stops: its exit line says enough, and
        // a thousand extra console lines would slow the machine's way down.
        let level = if self.shutdown.is_some() {
            Level::Debug
        } else {
            Level::Info
        };
        self.log(
            level,
            format!("stopping {name} with {}", signal_name(signal)),
        );
        self.kill_unit(name, signal);
    }

    /// Signal the unit's main process and its process group.
    pub(super) fn kill_unit(&mut self, name: &str, signal: i32) {
        let Some(svc) = self.services.get(name) else {
            return;
        };
        if let Some(pgid) = svc.pgid {
            self.actions.push(Action::Kill {
                pid: pgid,
                signal,
                group: true,
            });
        }
        if let Some(pid) = svc.main_pid {
            if Some(pid) != svc.pgid {
                self.actions.push(Action::Kill {
                    pid,
                    signal,
                    group: false,
                });
            }
        }
    }

    /// The unit's processes are gone after a stop: settle its final state.
    pub(super) fn stopped(&mut self, name: &str) {
        let now = self.now.mono;
        // Leaving Stopping with a restart (or stop) job still set lets that
        // job take its next step.
        self.candidates.insert(name.to_string());
        self.reap_group(name);
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.deadline = None;
        svc.main_pid = None;
        let failed = !svc.stop_requested && svc.reason.is_some();
        svc.stop_requested = false;
        if failed {
            // Stopped because the start failed (start timeout, refused pid
            // file): that is a failed run, so the restart policy applies.
            let runtime = svc
                .started_at
                .map(|t| now.saturating_sub(t))
                .unwrap_or_default();
            let reason = svc.reason.clone().unwrap_or_default();
            self.run_ended(name, runtime, true, reason);
            return;
        }
        svc.set_phase(Phase::Inactive, now);
        let restart = svc.job == Some(Job::Restart) && self.shutdown.is_none();
        svc.job = None;
        // In a shutdown every unit stops; its exit line already says so.
        let level = if self.shutdown.is_some() {
            Level::Debug
        } else {
            Level::Info
        };
        self.log(level, format!("stopped {name}"));
        if restart {
            self.queue_start(name, true);
        }
    }

    /// A run ended without a stop request: restart per policy or fail.
    pub(super) fn run_ended(
        &mut self,
        name: &str,
        runtime: Duration,
        failed: bool,
        reason: String,
    ) {
        let now = self.now.mono;
        let shutting_down = self.shutdown.is_some();
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.main_pid = None;
        svc.note_run_ended(runtime, failed);
        let status = if failed {
            ExitStatus::Exited(1)
        } else {
            ExitStatus::Exited(0)
        };
        let wants_restart =
            svc.wants_restart(&status) && !shutting_down && svc.job != Some(Job::Stop);
        // The start job (if any) ends here, failed: dependents ordered after it go on.
        let had_start_job = svc.job == Some(Job::Start);
        if had_start_job {
            svc.job = None;
        }
        if wants_restart {
            let delay = svc.backoff_delay();
            svc.restarts = svc.restarts.saturating_add(1);
            svc.reason = Some(reason.clone());
            svc.set_phase(Phase::Starting(StartPhase::AutoRestart), now);
            svc.deadline = Some((now.saturating_add(delay), DeadlineKind::Restart));
            let count = svc.restarts;
            self.reap_group(name);
            self.log(
                Level::Warning,
                format!(
                    "{name}: {reason}; restarting in {} (restart {count})",
                    format_duration(delay)
                ),
            );
            if delay.is_zero() {
                // No timer round trip for `restart_delay = "0"`; the start
                // limit still bounds a unit that dies at once.
                if let Some(svc) = self.services.get_mut(name) {
                    svc.deadline = None;
                }
                self.launch(name);
            }
        } else {
            svc.reason = Some(reason.clone());
            svc.deadline = None;
            svc.set_phase(Phase::Failed, now);
            self.reap_group(name);
            self.log(Level::Error, format!("{name} failed: {reason}"));
            self.propagate_down(name);
        }
    }

    /// The main process ended successfully (exit 0, no restart wanted).
    pub(super) fn finished_ok(&mut self, name: &str, runtime: Duration) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if svc.def.restart == RestartPolicy::Always && self.shutdown.is_none() {
            self.run_ended(name, runtime, false, "exited 0".to_string());
            return;
        }
        svc.note_run_ended(runtime, false);
        svc.deadline = None;
        svc.reason = None;
        svc.set_phase(Phase::Exited, now);
        let oneshot = svc.def.kind == UnitKind::Oneshot;
        let remain = svc.def.remain_after_exit;
        if svc.job == Some(Job::Start) {
            svc.job = None;
        }
        if !(oneshot && remain) {
            self.reap_group(name);
        }
        self.log(Level::Info, format!("{name} finished"));
    }

    /// Mark a queued or launching start as failed without a run.
    pub(super) fn fail_start(&mut self, name: &str, reason: String) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.job = None;
        svc.deadline = None;
        svc.reason = Some(reason.clone());
        svc.set_phase(Phase::Failed, now);
        self.log(Level::Error, format!("{name} failed: {reason}"));
        self.propagate_down(name);
    }

    /// `name` went down for good: stop the units that require it.
    pub(super) fn propagate_down(&mut self, name: &str) {
        let deps = self
            .graph
            .required_by
            .get(name)
            .cloned()
            .unwrap_or_default();
        for dep in deps {
            let up = self
                .services
                .get(&*dep)
                .is_some_and(|s| s.is_up() || s.main_pid.is_some());
            if up {
                self.log(
                    Level::Info,
                    format!("stopping {dep}: it requires {name}, which went down"),
                );
                self.queue_stop(&dep);
            }
        }
    }

    /// Kill whatever the unit left in its process group once it is down.
    pub(super) fn reap_group(&mut self, name: &str) {
        if let Some(svc) = self.services.get_mut(name) {
            if let Some(pgid) = svc.pgid.take() {
                self.actions.push(Action::Kill {
                    pid: pgid,
                    signal: libc::SIGKILL,
                    group: true,
                });
            }
        }
    }

    /// The current job succeeded.
    pub(super) fn job_done(&mut self, name: &str) {
        if let Some(svc) = self.services.get_mut(name) {
            if svc.job == Some(Job::Start) {
                svc.job = None;
            }
        }
    }
}
