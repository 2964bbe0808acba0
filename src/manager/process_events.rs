//! What processes tell the manager: spawn results, exits, sd_notify
//! messages, pid files, and deadlines passing.

use std::time::Duration;

use crate::control::protocol::ExitRecord;
use crate::exit::{describe_exit, signal_name, ExitStatus};
use crate::log::Level;
use crate::service::{DeadlineKind, Job, Phase, StartPhase};
use crate::unit::scalar::format_duration;
use crate::unit::UnitKind;

use super::lifecycle::ABANDON_AFTER;
use super::{Action, Manager, NotifyMessage, PidFileError, SpawnFailure};

impl Manager {
    pub(super) fn on_spawned(&mut self, name: &str, result: Result<i32, SpawnFailure>) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        match result {
            Ok(pid) => {
                svc.main_pid = Some(pid);
                self.pids.insert(pid, name.to_string());
                svc.pgid = Some(pid);
                svc.started_at = Some(now);
                if svc.def.kind == UnitKind::Simple {
                    svc.set_phase(Phase::Running, now);
                    svc.deadline = None;
                    self.job_done(name);
                    self.log(Level::Info, format!("started {name} (pid {pid})"));
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
                self.run_ended(name, Duration::ZERO, true, outcome);
            }
        }
    }

    pub(super) fn on_exit(&mut self, pid: i32, status: ExitStatus) {
        let now = self.now.mono;
        let name = self.unit_of_pid(pid).map(str::to_string);
        self.pids.remove(&pid);
        let Some(name) = name else {
            self.log(
                Level::Info,
                format!("orphan pid {pid} {}", describe_exit(&status)),
            );
            return;
        };
        let Some(svc) = self.services.get_mut(&name) else {
            return;
        };
        let runtime = svc
            .started_at
            .map(|t| now.saturating_sub(t))
            .unwrap_or_default();
        svc.main_pid = None;
        let outcome = describe_exit(&status);
        let (code, signal) = match status {
            ExitStatus::Exited(c) => (Some(c), None),
            ExitStatus::Signaled { signal, .. } => (None, Some(signal_name(signal))),
            ExitStatus::Unknown => (None, None),
        };
        // A forking unit's launcher exiting 0 is the expected hand-off, not a run's end.
        if svc.def.kind == UnitKind::Forking
            && svc.phase == Phase::Starting(StartPhase::Launched)
            && status == ExitStatus::Exited(0)
        {
            svc.set_phase(Phase::Starting(StartPhase::ReadingPidFile), now);
            let path = svc.def.pid_file.clone();
            self.log(
                Level::Debug,
                format!("{name}: launcher pid {pid} exited 0; reading pid file"),
            );
            match path {
                Some(path) => self.actions.push(Action::ReadPidFile { unit: name, path }),
                None => {
                    let reason = "forking unit has no pid_file".to_string();
                    self.run_ended(&name, runtime, true, reason);
                }
            }
            return;
        }
        svc.record_exit(ExitRecord {
            at_unix: self.now.unix_secs,
            pid,
            outcome: outcome.clone(),
            code,
            signal,
            runtime_ms: u64::try_from(runtime.as_millis()).unwrap_or(u64::MAX),
        });
        let phase = svc.phase.clone();
        let kind = svc.def.kind;
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
        match phase {
            Phase::Stopping => self.stopped(&name),
            Phase::Starting(StartPhase::Launched) if kind == UnitKind::Oneshot => {
                if status == ExitStatus::Exited(0) {
                    self.finished_ok(&name, runtime);
                } else {
                    self.run_ended(&name, runtime, true, outcome);
                }
            }
            Phase::Starting(_) => {
                let reason = if kind == UnitKind::Notify {
                    format!("{outcome} before READY=1")
                } else {
                    outcome
                };
                self.run_ended(&name, runtime, true, reason);
            }
            Phase::Running => {
                if status.is_failure() {
                    self.run_ended(&name, runtime, true, outcome);
                } else {
                    self.finished_ok(&name, runtime);
                }
            }
            Phase::Inactive | Phase::Exited | Phase::Failed => {}
        }
    }

    pub(super) fn on_notify(&mut self, pid: i32, session: Option<i32>, message: NotifyMessage) {
        let now = self.now.mono;
        let found = self.unit_of_pid(pid).map(str::to_string).or_else(|| {
            session.and_then(|sid| {
                self.services
                    .iter()
                    .find(|(_, s)| s.pgid == Some(sid) && s.main_pid.is_some())
                    .map(|(n, _)| n.clone())
            })
        });
        let Some(name) = found else {
            self.log(
                Level::Debug,
                format!("notify message from pid {pid}, which belongs to no unit: ignored"),
            );
            return;
        };
        // A MAINPID= that is already another unit's main process is refused:
        // that unit's exit would be charged to this one.
        let claimed = message
            .main_pid
            .filter(|main| *main > 0)
            .and_then(|main| self.unit_of_pid(main).filter(|u| *u != name))
            .map(str::to_string);
        if let Some(owner) = &claimed {
            self.log(
                Level::Warning,
                format!(
                    "{name}: ignoring MAINPID={}: it is the main process of {owner}",
                    message.main_pid.unwrap_or(0)
                ),
            );
        }
        let Some(svc) = self.services.get_mut(&name) else {
            return;
        };
        if let Some(text) = message.status {
            svc.status_text = Some(text);
        }
        if let Some(main) = message.main_pid {
            if main > 0 && claimed.is_none() {
                svc.main_pid = Some(main);
                self.pids.insert(main, name.clone());
            }
        }
        if message.ready
            && svc.def.kind == UnitKind::Notify
            && svc.phase == Phase::Starting(StartPhase::Launched)
        {
            svc.set_phase(Phase::Running, now);
            svc.deadline = None;
            let pid = svc.main_pid.unwrap_or(pid);
            self.job_done(&name);
            self.log(Level::Info, format!("started {name} (pid {pid}, ready)"));
        }
        if message.stopping {
            self.log(Level::Debug, format!("{name} reports it is stopping"));
        }
    }

    pub(super) fn on_pid_file(&mut self, name: &str, result: Result<i32, PidFileError>) {
        let now = self.now.mono;
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if svc.phase != Phase::Starting(StartPhase::ReadingPidFile) {
            return;
        }
        match result {
            Ok(pid) => {
                svc.main_pid = Some(pid);
                self.pids.insert(pid, name.to_string());
                svc.set_phase(Phase::Running, now);
                svc.deadline = None;
                self.job_done(name);
                self.log(
                    Level::Info,
                    format!("started {name} (pid {pid} from pid file)"),
                );
            }
            Err(PidFileError::Refused(why)) => {
                svc.reason = Some(why.clone());
                if svc.job == Some(Job::Start) {
                    svc.job = None;
                }
                self.log(Level::Error, format!("{name}: {why}"));
                // Whatever the launcher left in its process group goes with it.
                self.begin_stop(name, true);
            }
            Err(PidFileError::NotReady(why)) => {
                // Daemons often write the file just after the launcher exits: retry
                // until the start timeout.
                let retry = now.saturating_add(Duration::from_millis(50));
                let give_up = svc.since.saturating_add(svc.def.start_timeout);
                if retry < give_up {
                    svc.deadline = Some((retry, DeadlineKind::PidFileRetry));
                } else {
                    let reason = format!("pid file: {why}");
                    self.run_ended(name, Duration::ZERO, true, reason);
                }
            }
        }
    }

    pub(super) fn on_timer(&mut self) {
        let now = self.now.mono;
        let due: Vec<(String, DeadlineKind)> = self
            .services
            .iter()
            .filter_map(|(n, s)| match s.deadline {
                Some((t, kind)) if t <= now => Some((n.clone(), kind)),
                _ => None,
            })
            .collect();
        for (name, kind) in due {
            let Some(svc) = self.services.get_mut(&name) else {
                continue;
            };
            svc.deadline = None;
            match kind {
                DeadlineKind::Restart => {
                    if svc.phase == Phase::Starting(StartPhase::AutoRestart) {
                        self.launch(&name);
                    }
                }
                DeadlineKind::PidFileRetry => {
                    if let Some(path) = svc.def.pid_file.clone() {
                        self.actions.push(Action::ReadPidFile {
                            unit: name.clone(),
                            path,
                        });
                    }
                }
                DeadlineKind::StartTimeout => {
                    let secs = format_duration(svc.def.start_timeout);
                    let reason = format!("start timed out after {secs}");
                    svc.reason = Some(reason.clone());
                    if svc.job == Some(Job::Start) {
                        svc.job = None;
                    }
                    self.log(Level::Error, format!("{name}: {reason}"));
                    self.begin_stop(&name, true);
                }
                DeadlineKind::StopKill => {
                    let timeout = format_duration(svc.def.stop_timeout);
                    self.log(
                        Level::Warning,
                        format!(
                            "{name}: still running {timeout} after stop signal; sending SIGKILL"
                        ),
                    );
                    self.kill_unit(&name, libc::SIGKILL);
                    if let Some(svc) = self.services.get_mut(&name) {
                        svc.deadline =
                            Some((now.saturating_add(ABANDON_AFTER), DeadlineKind::StopAbandon));
                    }
                }
                DeadlineKind::StopAbandon => {
                    let pid = svc.main_pid.take().unwrap_or(0);
                    self.log(
                        Level::Error,
                        format!("{name}: pid {pid} survived SIGKILL; abandoning it"),
                    );
                    if let Some(svc) = self.services.get_mut(&name) {
                        svc.reason = Some(format!("pid {pid} could not be killed"));
                    }
                    self.stopped(&name);
                }
            }
        }
    }
}
