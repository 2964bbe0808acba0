//! What processes tell the manager: spawn results, exits, sd_notify
//! messages, pid files, signals to vigil, and deadlines passing.

use std::time::Duration;

use crate::control::protocol::ExitRecord;
use crate::exit::{describe_exit, signal_name, ExitStatus};
use crate::log::Level;
use crate::power::PowerAction;
use crate::service::{ControlStage, DeadlineKind, Group, Job, Phase, StartPhase, StopCause};
use crate::unit::scalar::format_duration;

use super::enter_phase;
use super::kind::{self, StartExit};
use super::lifecycle::{RunOutcome, ABANDON_AFTER};
use super::trust::{check_claim, Claimant};
use super::{
    Action, Manager, NotifyMessage, PidFileError, PidFileFacts, ProcessFacts, SpawnFailure,
};

/// How soon a forking unit's pid file is read again after it was not ready.
const PID_FILE_RETRY: Duration = Duration::from_millis(50);

impl Manager {
    pub(super) fn on_spawned(&mut self, name: &str, result: Result<i32, SpawnFailure>) {
        let now = self.now.mono;
        let key = self.shared_name(name);
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        match result {
            Ok(pid) => {
                // spawn makes the child a session and group leader; while it
                // is unreaped it witnesses that group.
                svc.main_pid = Some(pid);
                svc.leader = Some(pid);
                svc.groups = vec![Group {
                    pgid: pid,
                    witness: pid,
                }];
                self.pids.insert(pid, key);
                svc.started_at = Some(now);
                if kind::up_on_exec(svc.def.kind) {
                    self.came_up(name, false);
                } else {
                    self.log(Level::Debug, format!("launched {name} (pid {pid})"));
                }
            }
            Err(failure) => {
                let outcome = format!("could not start: {}: {}", failure.stage, failure.error);
                svc.record_exit(ExitRecord {
                    at_unix: self.now.unix_secs,
                    pid: 0,
                    outcome: outcome.clone(),
                    code: None,
                    signal: None,
                    runtime_ms: 0,
                });
                self.log(Level::Error, format!("{name}: {outcome}"));
                self.run_ended(name, Duration::ZERO, RunOutcome::Failed, outcome);
            }
        }
    }

    /// A condition did not hold: the unit is skipped, not failed; its start
    /// job is done (what is ordered after it goes on), as in systemd.
    pub(super) fn on_skipped(&mut self, name: &str, condition: String) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let reason = format!("skipped: {condition} does not hold");
        svc.notes.reason = Some(reason.clone());
        svc.notes.skipped = Some(condition);
        self.enter(name, Phase::Inactive);
        self.job_done(name);
        self.log(Level::Info, format!("{name} {reason}"));
    }

    pub(super) fn on_exit(&mut self, pid: i32, status: ExitStatus, next_witness: Option<i32>) {
        let now = self.now.mono;
        let name = self.claimant_of(pid).map(str::to_string);
        self.pids.remove(&pid);
        let Some(name) = name else {
            let message = format!("orphan pid {pid} {}", describe_exit(&status));
            self.log_limited("orphans", Level::Info, message);
            return;
        };
        if self.is_control(&name, pid) {
            self.on_control_exit(&name, &status);
            return;
        }
        let key = self.shared_name(&name);
        let Some(svc) = self.services.get_mut(name.as_str()) else {
            return;
        };
        if svc.leader == Some(pid) {
            svc.leader = None;
        }
        // A group whose witness is gone is kept only if another unreaped
        // child of vigil in it takes over; else it is never signalled again.
        let mut successor = None;
        svc.groups.retain_mut(|g| {
            if g.witness != pid {
                return true;
            }
            match next_witness {
                Some(next) => {
                    g.witness = next;
                    successor = Some(next);
                    true
                }
                None => false,
            }
        });
        if let Some(next) = successor {
            self.pids.insert(next, key);
        }
        if svc.main_pid != Some(pid) {
            self.log(
                Level::Debug,
                format!("{name}: pid {pid} {}", describe_exit(&status)),
            );
            return;
        }
        let runtime = svc
            .started_at
            .map(|t| now.saturating_sub(t))
            .unwrap_or_default();
        svc.main_pid = None;
        let outcome = describe_exit(&status);
        let phase = svc.phase.clone();
        let meaning = match phase {
            Phase::Starting(StartPhase::Launched) => {
                Some(kind::exit_during_start(&svc.def, &status, outcome.clone()))
            }
            _ => None,
        };
        let clean = kind::clean_exit(&svc.def, &status);
        if meaning == Some(StartExit::HandOff) {
            // The launcher's exit 0 is the expected hand-off, not a run's end.
            enter_phase(
                svc,
                &mut self.timers,
                &mut self.actions,
                &name,
                Phase::Starting(StartPhase::ReadingPidFile),
                now,
            );
            let path = svc.def.extra().pid_file.clone();
            self.log(
                Level::Debug,
                format!("{name}: launcher pid {pid} exited 0; reading pid file"),
            );
            match path {
                Some(path) => self.actions.push(Action::ReadPidFile { unit: name, path }),
                None => {
                    let reason = "forking unit has no pid_file".to_string();
                    self.run_ended(&name, runtime, RunOutcome::Failed, reason);
                }
            }
            return;
        }
        let (code, signal) = match status {
            ExitStatus::Exited(c) => (Some(c), None),
            ExitStatus::Signaled { signal, .. } => (None, Some(signal_name(signal))),
            ExitStatus::Unknown => (None, None),
        };
        svc.record_exit(ExitRecord {
            at_unix: self.now.unix_secs,
            pid,
            outcome: outcome.clone(),
            code,
            signal,
            runtime_ms: u64::try_from(runtime.as_millis()).unwrap_or(u64::MAX),
        });
        // In a shutdown, a unit that ends the way its stop asked it to is
        // the expected outcome, logged at debug level: a line per unit would
        // flood a serial console (1000 units take seconds at 115200 baud).
        // Anything else (an error code, a core dump, SIGKILL) stays visible.
        let expected_stop = self.shutdown.is_some()
            && phase == Phase::Stopping
            && match status {
                ExitStatus::Exited(code) => code == 0,
                ExitStatus::Signaled {
                    signal,
                    core_dumped,
                } => signal == svc.def.stop_signal && !core_dumped,
                ExitStatus::Unknown => true,
            };
        let level = if expected_stop {
            Level::Debug
        } else {
            Level::Info
        };
        self.log(
            level,
            format!(
                "{name}: pid {pid} {outcome} after {}",
                format_duration(runtime)
            ),
        );
        let exec_stop_runs = self
            .services
            .get(name.as_str())
            .and_then(|s| s.notes.control)
            .is_some_and(|c| c.stage == ControlStage::Stop);
        match (phase, meaning) {
            // exec_stop made it exit: the stop ends with exec_stop.
            (Phase::Stopping, _) if exec_stop_runs => {}
            (Phase::Stopping, _) => self.stopped(&name),
            (_, Some(StartExit::Finished)) => self.came_up(&name, true),
            (_, Some(StartExit::Failed(reason))) => {
                self.run_ended(&name, runtime, RunOutcome::Failed, reason)
            }
            (Phase::Starting(_), _) => self.run_ended(&name, runtime, RunOutcome::Failed, outcome),
            (Phase::Running, _) => {
                if !clean {
                    self.run_ended(&name, runtime, RunOutcome::Failed, outcome);
                } else {
                    self.finished_ok(&name, runtime);
                }
            }
            (Phase::Inactive | Phase::Exited | Phase::Failed, _) => {}
        }
    }

    pub(super) fn on_notify(
        &mut self,
        pid: i32,
        uid: Option<u32>,
        session: Option<i32>,
        message: NotifyMessage,
        main_facts: Option<ProcessFacts>,
    ) {
        // The sender is one of the unit's processes, or in the session of
        // its leader, which holds the session id while it is unreaped (a
        // stale session id could belong to anyone).
        let found = self.claimant_of(pid).map(str::to_string).or_else(|| {
            let sid = session?;
            let name = self.claimant_of(sid)?;
            let svc = self.services.get(name)?;
            (svc.leader == Some(sid)).then(|| name.to_string())
        });
        let Some(name) = found else {
            self.log_limited(
                "notify-strangers",
                Level::Debug,
                format!("notify message from pid {pid}, which belongs to no unit: ignored"),
            );
            return;
        };
        if let Some(main) = message.main_pid.filter(|m| *m > 0) {
            self.claim_main_pid(&name, main, uid, main_facts);
        }
        let Some(svc) = self.services.get_mut(name.as_str()) else {
            return;
        };
        if let Some(text) = message.status {
            svc.notes.status_text = Some(text);
        }
        if message.ready
            && kind::up_on_ready(svc.def.kind)
            && svc.phase == Phase::Starting(StartPhase::Launched)
        {
            self.log(Level::Debug, format!("{name} is ready"));
            self.came_up(&name, false);
        }
        if message.stopping {
            self.log(Level::Debug, format!("{name} reports it is stopping"));
        }
    }

    /// A MAINPID= from `name`'s processes: adopt it if `trust` allows.
    fn claim_main_pid(
        &mut self,
        name: &str,
        main: i32,
        uid: Option<u32>,
        facts: Option<ProcessFacts>,
    ) {
        if self.services.get(name).and_then(|s| s.main_pid) == Some(main) {
            return;
        }
        let facts = facts.unwrap_or(ProcessFacts {
            pid: main,
            alive: false,
            uid: None,
            child: false,
            pgid: None,
        });
        let owner = self.unit_of_pid(main);
        let verdict = check_claim(
            Claimant::Notify { uid },
            &facts,
            self.settings.self_pid,
            owner,
            name,
        );
        match verdict {
            Ok(()) => self.adopt_main(name, &facts),
            Err(why) => self.log_limited(
                &format!("mainpid:{name}"),
                Level::Warning,
                format!("{name}: ignoring MAINPID={main}: {why}"),
            ),
        }
    }

    pub(super) fn on_pid_file(&mut self, name: &str, result: Result<PidFileFacts, PidFileError>) {
        let now = self.now.mono;
        let Some(svc) = self.services.get(name) else {
            return;
        };
        if svc.phase != Phase::Starting(StartPhase::ReadingPidFile) {
            return;
        }
        let result = result.and_then(|file| {
            let pid = file.process.pid;
            let owner = self.unit_of_pid(pid);
            check_claim(
                Claimant::PidFile { owner: file.owner },
                &file.process,
                self.settings.self_pid,
                owner,
                name,
            )
            .map(|()| file.process)
            .map_err(|why| {
                PidFileError::Refused(format!("pid file names a process it may not: {why}"))
            })
        });
        match result {
            Ok(process) => {
                self.adopt_main(name, &process);
                self.log(
                    Level::Debug,
                    format!("{name}: pid {} from pid file", process.pid),
                );
                self.came_up(name, false);
            }
            Err(PidFileError::Refused(why)) => {
                let Some(svc) = self.services.get_mut(name) else {
                    return;
                };
                svc.notes.reason = Some(why.clone());
                if svc.job == Some(Job::Start) {
                    svc.job = None;
                }
                self.log(Level::Error, format!("{name}: {why}"));
                // Whatever the launcher left in its process group goes with it.
                self.begin_stop(name, StopCause::StartFailed);
            }
            Err(PidFileError::NotReady(why)) => {
                // Daemons often write the file just after the launcher exits:
                // retry until the start timeout, which has run since launch.
                let retry = now.saturating_add(PID_FILE_RETRY);
                let give_up = self.timers.get(name, DeadlineKind::StartTimeout);
                if give_up.is_some_and(|t| retry < t) {
                    self.timers.set(name, DeadlineKind::PidFileRetry, retry);
                } else {
                    let reason = format!("pid file: {why}");
                    self.run_ended(name, Duration::ZERO, RunOutcome::Failed, reason);
                }
            }
        }
    }

    pub(super) fn on_timer(&mut self) {
        let now = self.now.mono;
        if self.shutdown_deadline.is_some_and(|t| t <= now) {
            self.shutdown_timed_out();
        }
        for (name, deadline) in self.timers.take_due(now) {
            let Some(svc) = self.services.get_mut(name.as_str()) else {
                continue;
            };
            match deadline {
                DeadlineKind::Restart => {
                    if svc.phase == Phase::Starting(StartPhase::AutoRestart) {
                        self.launch(&name);
                    }
                }
                DeadlineKind::PidFileRetry => {
                    if let Some(path) = svc.def.extra().pid_file.clone() {
                        self.actions.push(Action::ReadPidFile {
                            unit: name.clone(),
                            path,
                        });
                    }
                }
                DeadlineKind::StartTimeout => {
                    let secs = format_duration(svc.def.start_timeout);
                    let reason = format!("start timed out after {secs}");
                    svc.notes.reason = Some(reason.clone());
                    if svc.job == Some(Job::Start) {
                        svc.job = None;
                    }
                    self.log(Level::Error, format!("{name}: {reason}"));
                    self.begin_stop(&name, StopCause::StartFailed);
                }
                DeadlineKind::StopKill
                    if svc
                        .notes
                        .control
                        .is_some_and(|c| c.stage == ControlStage::StopPost) =>
                {
                    let timeout = format_duration(svc.def.stop_timeout);
                    self.log(
                        Level::Warning,
                        format!("{name}: exec_stop_post still running after {timeout}; killed"),
                    );
                    self.stop_post_done(&name);
                }
                DeadlineKind::StopKill => {
                    let timeout = format_duration(svc.def.stop_timeout);
                    self.log(
                        Level::Warning,
                        format!(
                            "{name}: still running {timeout} after stop signal; sending SIGKILL"
                        ),
                    );
                    self.kill_control(&name);
                    self.kill_unit(&name, libc::SIGKILL);
                    let at = now.saturating_add(ABANDON_AFTER);
                    self.timers.set(&name, DeadlineKind::StopAbandon, at);
                }
                DeadlineKind::ReloadTimeout => {
                    let timeout = format_duration(svc.def.stop_timeout);
                    self.log(
                        Level::Error,
                        format!("reload of {name} failed: exec_reload still running after {timeout}; killed"),
                    );
                    self.kill_control(&name);
                }
                DeadlineKind::StopAbandon => {
                    let pid = svc.main_pid.take().unwrap_or(0);
                    self.log(
                        Level::Error,
                        format!("{name}: pid {pid} survived SIGKILL; abandoning it"),
                    );
                    if let Some(svc) = self.services.get_mut(name.as_str()) {
                        svc.notes.reason = Some(format!("pid {pid} could not be killed"));
                    }
                    self.stopped(&name);
                }
            }
        }
    }

    /// What a signal to vigil means: the same rule in both modes, with the
    /// machine's power actions only when vigil is the machine's init.
    pub(super) fn on_signal(&mut self, signal: i32) {
        let machine = self.settings.pid1;
        let name = signal_name(signal);
        let action = match signal {
            libc::SIGTERM if machine => Some(self.settings.sigterm),
            libc::SIGINT if machine => match self.settings.ctrl_alt_del {
                Some(action) => {
                    self.log(Level::Info, "Ctrl-Alt-Del pressed".to_string());
                    Some(action)
                }
                None => {
                    self.log(
                        Level::Info,
                        "Ctrl-Alt-Del ignored (ctrl_alt_del = \"ignore\")".to_string(),
                    );
                    None
                }
            },
            libc::SIGPWR if machine => Some(PowerAction::Poweroff),
            libc::SIGTERM | libc::SIGINT | libc::SIGPWR => Some(PowerAction::Exit),
            libc::SIGHUP | libc::SIGUSR1 => {
                self.log(
                    Level::Info,
                    format!("{name} received: reloading configuration"),
                );
                self.actions.push(Action::Reload { client: None });
                None
            }
            libc::SIGUSR2 => {
                self.dump_state();
                None
            }
            _ => {
                self.log(Level::Debug, format!("ignoring {name}"));
                None
            }
        };
        if let Some(action) = action {
            if signal != libc::SIGINT || !machine {
                self.log(Level::Info, format!("{name} received"));
            }
            self.on_shutdown(action, false);
        }
    }
}
