//! A unit's process lifecycle: launching it, stopping it, and what the end
//! of a run leads to (restart per policy, failure, requirement propagation).

use std::rc::Rc;
use std::time::Duration;

use crate::exit::signal_name;
use crate::graph::Name;
use crate::log::Level;
use crate::service::{
    ControlStage, DeadlineKind, Group, Job, Phase, RunEnd, StartPhase, StopCause,
};
use crate::unit::scalar::format_duration;
use crate::unit::{KillMode, RestartPolicy};

use super::enter_phase;
use super::jobs::StartOrigin;
use super::kind;
use super::{Action, Manager, ProcessFacts, SignalTarget, Then};

/// After SIGKILL, how long to wait for the exit before giving up on a process.
pub(super) const ABANDON_AFTER: Duration = Duration::from_secs(5);

/// How a run ended, for the restart policy and the back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunOutcome {
    Succeeded,
    Failed,
}

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
                svc.def.extra().start_limit_burst,
                format_duration(svc.def.extra().start_limit_interval)
            );
            self.log(
                Level::Error,
                format!("{name}: {reason}; not restarting until a manual start"),
            );
            self.fail_start(name, reason);
            return;
        }
        if kind::is_target(svc.def.kind) {
            enter_phase(
                svc,
                &mut self.timers,
                &mut self.actions,
                name,
                Phase::Running,
                now,
            );
            self.job_done(name);
            self.log(Level::Info, format!("reached target {name}"));
            return;
        }
        if let Some(notes) = svc.notes.existing_mut() {
            notes.reason = None;
            notes.skipped = None;
        }
        svc.stop_cause = None;
        svc.stop_post_due = !svc.def.extra().exec_stop_post.is_empty();
        if !svc.def.extra().exec_start_pre.is_empty() {
            // The start timeout bounds the whole start, pre commands included.
            enter_phase(
                svc,
                &mut self.timers,
                &mut self.actions,
                name,
                Phase::Starting(StartPhase::Pre),
                now,
            );
            let at = now.saturating_add(svc.def.start_timeout);
            self.timers.set(name, DeadlineKind::StartTimeout, at);
            self.run_control(name, ControlStage::StartPre, 0, false);
            return;
        }
        self.spawn_main(name);
    }

    /// Start the main process (after exec_start_pre, if any).
    pub(super) fn spawn_main(&mut self, name: &str) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        enter_phase(
            svc,
            &mut self.timers,
            &mut self.actions,
            name,
            Phase::Starting(StartPhase::Launched),
            now,
        );
        if kind::start_timeout_applies(svc.def.kind)
            && self.timers.get(name, DeadlineKind::StartTimeout).is_none()
        {
            let at = now.saturating_add(svc.def.start_timeout);
            self.timers.set(name, DeadlineKind::StartTimeout, at);
        }
        let def = Rc::clone(&svc.def);
        self.log(Level::Debug, format!("starting {name}"));
        let unit = self.shared_name(name);
        self.actions.push(Action::Spawn { unit, def });
    }

    /// Send the stop signal, or finish at once when nothing runs.
    pub(super) fn begin_stop(&mut self, name: &str, cause: StopCause) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.stop_cause = Some(cause);
        // A stop overrides a reload (or a start command) in progress.
        self.kill_control(name);
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        // A oneshot that remains up has no process left, but its exec_stop
        // (ifdown for ifup) is what stopping it means.
        let exec_stop = cause == StopCause::Requested && !svc.def.extra().exec_stop.is_empty();
        if svc.main_pid.is_none() && !(exec_stop && svc.phase == Phase::Exited) {
            self.stopped(name);
            return;
        }
        let signal = svc.def.stop_signal;
        self.enter_stopping(name);
        // exec_stop first, when the stop was asked for (a failed start goes
        // straight to the signal); the stop timeout bounds both.
        if exec_stop {
            self.log(Level::Info, format!("stopping {name} (exec_stop)"));
            self.run_control(name, ControlStage::Stop, 0, false);
            return;
        }
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

    /// The unit is stopping, and the stop timeout starts: it bounds what
    /// follows (exec_stop and the stop signal, or exec_stop_post).
    pub(super) fn enter_stopping(&mut self, name: &str) {
        self.enter(name, Phase::Stopping);
        if let Some(svc) = self.services.get(name) {
            let at = self.now.mono.saturating_add(svc.def.stop_timeout);
            self.timers.set(name, DeadlineKind::StopKill, at);
        }
    }

    /// Signal the unit's main process and its process groups. A stop
    /// signal is followed by SIGCONT, so a stopped (SIGSTOP) service can
    /// act on it instead of waiting for SIGKILL.
    pub(super) fn kill_unit(&mut self, name: &str, signal: i32) {
        let Some(svc) = self.services.get(name) else {
            return;
        };
        // kill_mode: the whole group, or the main process only (mixed: the
        // main process first, the group for the final SIGKILL).
        let whole_group = match svc.def.kill_mode {
            KillMode::Group => true,
            KillMode::Process => false,
            KillMode::Mixed => signal == libc::SIGKILL,
        };
        let mut targets: Vec<SignalTarget> = svc
            .groups
            .iter()
            .filter(|_| whole_group)
            .map(|g| SignalTarget::Group {
                pgid: g.pgid,
                witness: g.witness,
            })
            .collect();
        if let Some(main) = svc.main_pid {
            // A witness is a member of its group: the group signal reaches
            // it, and a second SIGTERM can mean "quit now" to a daemon.
            if !whole_group || !svc.groups.iter().any(|g| g.witness == main) {
                targets.insert(0, SignalTarget::Process(main));
            }
        }
        let then = if signal != libc::SIGKILL && signal != libc::SIGCONT {
            Then::Continue
        } else {
            Then::Nothing
        };
        for target in targets {
            self.actions.push(Action::Signal {
                target,
                signal,
                then,
            });
        }
    }

    /// `vigilctl kill`: `signal` to the main process and every group the
    /// unit can prove is its own; its state does not change (an exit that
    /// follows is handled as any exit).
    pub(super) fn signal_unit(&mut self, name: &str, signal: i32) -> Result<String, String> {
        let Some(svc) = self.services.get(name) else {
            return Err(format!("no such unit: {name}"));
        };
        let mut targets: Vec<SignalTarget> = svc
            .groups
            .iter()
            .map(|g| SignalTarget::Group {
                pgid: g.pgid,
                witness: g.witness,
            })
            .collect();
        if let Some(main) = svc
            .main_pid
            .filter(|m| !svc.groups.iter().any(|g| g.witness == *m))
        {
            targets.insert(0, SignalTarget::Process(main));
        }
        if targets.is_empty() {
            return Err(format!("{name} has no process to signal"));
        }
        for target in targets {
            self.actions.push(Action::Signal {
                target,
                signal,
                then: Then::Nothing,
            });
        }
        Ok(format!("sent {}", signal_name(signal)))
    }

    /// `vigilctl reset-failed`: a failed unit is inactive again, its
    /// reason, back-off and start limit forgotten.
    pub(super) fn reset_failed(&mut self, name: &str) -> String {
        let Some(svc) = self.services.get_mut(name) else {
            return String::new();
        };
        svc.reset_limits();
        svc.failures_in_row = 0;
        if svc.phase != Phase::Failed {
            return format!("{} (not failed)", svc.state().as_str());
        }
        if let Some(notes) = svc.notes.existing_mut() {
            notes.reason = None;
        }
        self.enter(name, Phase::Inactive);
        "inactive".to_string()
    }

    /// `vigilctl reload NAME`: the unit's `reload_signal` to its main
    /// process.
    pub(super) fn reload_unit(&mut self, name: &str) -> Result<String, String> {
        let Some(svc) = self.services.get(name) else {
            return Err(format!("no such unit: {name}"));
        };
        if !svc.def.extra().exec_reload.is_empty() {
            return self.start_reload(name);
        }
        let Some(signal) = svc.def.extra().reload_signal else {
            return Err(format!(
                "{name} cannot reload: it has neither exec_reload nor reload_signal"
            ));
        };
        let Some(pid) = svc.main_pid.filter(|_| svc.is_up()) else {
            return Err(format!("{name} is not running"));
        };
        self.actions.push(Action::Signal {
            target: SignalTarget::Process(pid),
            signal,
            then: Then::Nothing,
        });
        self.log(
            Level::Info,
            format!("reloading {name}: {} to pid {pid}", signal_name(signal)),
        );
        Ok(format!("sent {} to pid {pid}", signal_name(signal)))
    }

    /// The unit's processes are gone after a stop: settle its final state.
    pub(super) fn stopped(&mut self, name: &str) {
        let now = self.now.mono;
        // Leaving Stopping with a restart (or stop) job still set lets that
        // job take its next step.
        self.candidates.insert(name.to_string());
        self.reap_group(name);
        if self.stop_post_first(name, RunEnd::Stopped) {
            return;
        }
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        self.timers.cancel_all(name);
        svc.main_pid = None;
        let cause = svc.stop_cause.take();
        if cause == Some(StopCause::StartFailed) {
            // Stopped because the start failed (start timeout, refused pid
            // file): that is a failed run, so the restart policy applies.
            let runtime = svc
                .started_at
                .map(|t| now.saturating_sub(t))
                .unwrap_or_default();
            let reason = svc.notes.reason.clone().unwrap_or_default();
            self.run_ended(name, runtime, RunOutcome::Failed, reason);
            return;
        }
        enter_phase(
            svc,
            &mut self.timers,
            &mut self.actions,
            name,
            Phase::Inactive,
            now,
        );
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
            self.queue_start(name, super::jobs::StartOrigin::Manual);
        }
    }

    /// A run ended without a stop request: restart per policy or fail.
    pub(super) fn run_ended(
        &mut self,
        name: &str,
        runtime: Duration,
        outcome: RunOutcome,
        reason: String,
    ) {
        let now = self.now.mono;
        let shutting_down = self.shutdown.is_some();
        let failed = outcome == RunOutcome::Failed;
        if self.services.get(name).is_some_and(|s| s.stop_post_due) {
            self.reap_group(name);
            let end = RunEnd::Ended {
                runtime,
                failed,
                reason: reason.clone(),
            };
            if self.stop_post_first(name, end) {
                return;
            }
        }
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.main_pid = None;
        svc.note_run_ended(runtime, failed);
        let wants_restart = match svc.def.restart {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Never => false,
        } && !shutting_down
            && svc.job != Some(Job::Stop);
        // The start job (if any) ends here, failed: dependents ordered after it go on.
        if svc.job == Some(Job::Start) {
            svc.job = None;
        }
        svc.notes.reason = Some(reason.clone());
        if wants_restart {
            let delay = svc.backoff_delay();
            svc.restarts = svc.restarts.saturating_add(1);
            enter_phase(
                svc,
                &mut self.timers,
                &mut self.actions,
                name,
                Phase::Starting(StartPhase::AutoRestart),
                now,
            );
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
                self.launch(name);
            } else {
                let at = now.saturating_add(delay);
                self.timers.set(name, DeadlineKind::Restart, at);
            }
        } else {
            self.enter(name, Phase::Failed);
            self.reap_group(name);
            self.log(Level::Error, format!("{name} failed: {reason}"));
            self.propagate_down(name);
            self.start_on_failure(name);
        }
    }

    /// The main process ended successfully (exit 0, no restart wanted).
    pub(super) fn finished_ok(&mut self, name: &str, runtime: Duration) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if svc.def.restart == RestartPolicy::Always && self.shutdown.is_none() {
            self.run_ended(name, runtime, RunOutcome::Succeeded, "exited 0".to_string());
            return;
        }
        svc.note_run_ended(runtime, false);
        if let Some(notes) = svc.notes.existing_mut() {
            notes.reason = None;
        }
        let keep_group = kind::keeps_group_after_success(&svc.def);
        enter_phase(
            svc,
            &mut self.timers,
            &mut self.actions,
            name,
            Phase::Exited,
            now,
        );
        if svc.job == Some(Job::Start) {
            svc.job = None;
        }
        if !keep_group {
            self.reap_group(name);
        }
        self.log(Level::Info, format!("{name} finished"));
    }

    /// Mark a queued or launching start as failed without a run.
    pub(super) fn fail_start(&mut self, name: &str, reason: String) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.job = None;
        svc.notes.reason = Some(reason.clone());
        self.enter(name, Phase::Failed);
        self.log(Level::Error, format!("{name} failed: {reason}"));
        self.propagate_down(name);
        self.start_on_failure(name);
    }

    /// `name` failed for good: start its `on_failure` units (systemd's
    /// `OnFailure=`), so a oneshot alert that ran before runs again; their
    /// start limits still count (`StartOrigin::Triggered`). Not during a
    /// shutdown.
    pub(super) fn start_on_failure(&mut self, name: &str) {
        if self.shutdown.is_some() {
            return;
        }
        let Some(svc) = self.services.get(name) else {
            return;
        };
        let units = svc.def.extra().on_failure.clone();
        let now = self.now.mono;
        for unit in units {
            let Some(target) = self.services.get(unit.as_str()) else {
                continue;
            };
            // A start the limit would refuse fails at once and would start
            // its own on_failure units: two units naming each other would
            // go round without end.
            if target.start_limit_hit(now) {
                self.log(
                    Level::Warning,
                    format!("not starting {unit} (on_failure of {name}): its start limit is hit"),
                );
                continue;
            }
            self.log(
                Level::Info,
                format!("starting {unit}: on_failure of {name}"),
            );
            self.queue_start(&unit, StartOrigin::Triggered);
        }
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

    /// Kill whatever the unit left in its process groups once it is down,
    /// and stop claiming them: a group whose witness is gone is never
    /// signalled again (its id may belong to a stranger by then).
    pub(super) fn reap_group(&mut self, name: &str) {
        // The unit is down: no command of it runs on.
        self.kill_control(name);
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.leader = None;
        let groups = std::mem::take(&mut svc.groups);
        if svc.def.kill_mode == KillMode::Process {
            // What the main process left behind is not the stop's to end.
            return;
        }
        for g in groups {
            self.actions.push(Action::Signal {
                target: SignalTarget::Group {
                    pgid: g.pgid,
                    witness: g.witness,
                },
                signal: libc::SIGKILL,
                then: Then::Nothing,
            });
        }
    }

    /// Make `facts.pid` the unit's main process (its claim already checked
    /// by `trust`): keep its pidfd, watch it when vigil will get no SIGCHLD
    /// for it, and take its process group when vigil can witness it.
    pub(super) fn adopt_main(&mut self, name: &str, facts: &ProcessFacts) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let pid = facts.pid;
        svc.main_pid = Some(pid);
        if facts.child {
            if let Some(pgid) = facts.pgid {
                if !svc.groups.iter().any(|g| g.pgid == pgid) {
                    svc.groups.push(Group { pgid, witness: pid });
                }
            }
        }
        self.pids.insert(pid, self.shared_name(name));
        self.actions.push(Action::Adopt {
            pid,
            watch: !facts.child,
        });
    }

    /// The current job succeeded.
    pub(super) fn job_done(&mut self, name: &str) {
        if let Some(svc) = self.services.get_mut(name) {
            if svc.job == Some(Job::Start) {
                svc.job = None;
            }
        }
    }

    /// SIGKILL every process vigil can prove is a unit's: a forced power
    /// action, or a shutdown past its timeout, leaves nothing running
    /// (in supervisor mode nothing outlives vigil).
    pub(super) fn kill_everything(&mut self) {
        let names: Vec<Name> = self
            .services
            .iter()
            .filter(|(_, s)| s.main_pid.is_some() || !s.groups.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            self.kill_unit(&name, libc::SIGKILL);
        }
    }
}
