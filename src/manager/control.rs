//! A unit's control processes: the commands of `exec_start_pre`,
//! `exec_start_post`, `exec_stop` and `exec_reload`, each run to completion
//! in order beside (or before) the main process. One home for what each
//! stage's end leads to: the next command, the main process, "up", the
//! stop signal, or a failed start.

use std::rc::Rc;
use std::time::Duration;

use crate::exit::{describe_exit, ExitStatus};
use crate::log::Level;
use crate::service::{Control, ControlStage, DeadlineKind, Phase, RunEnd, StartPhase, StopCause};
use crate::unit::{ExecCommand, UnitDef};

use super::lifecycle::RunOutcome;
use super::{Action, Manager, SignalTarget, SpawnFailure, Then};

/// The commands of `stage` in `def`.
pub(super) fn commands(def: &UnitDef, stage: ControlStage) -> &[ExecCommand] {
    match stage {
        ControlStage::StartPre => &def.extra().exec_start_pre,
        ControlStage::StartPost => &def.extra().exec_start_post,
        ControlStage::Stop => &def.extra().exec_stop,
        ControlStage::StopPost => &def.extra().exec_stop_post,
        ControlStage::Reload => &def.extra().exec_reload,
    }
}

/// The key a stage is written as, for messages.
fn key(stage: ControlStage) -> &'static str {
    match stage {
        ControlStage::StartPre => "exec_start_pre",
        ControlStage::StartPost => "exec_start_post",
        ControlStage::Stop => "exec_stop",
        ControlStage::StopPost => "exec_stop_post",
        ControlStage::Reload => "exec_reload",
    }
}

impl Manager {
    /// Run command `index` of `stage` for `name`; false when there is no
    /// such command (the stage is over).
    pub(super) fn run_control(
        &mut self,
        name: &str,
        stage: ControlStage,
        index: usize,
        finished: bool,
    ) -> bool {
        let Some(svc) = self.services.get_mut(name) else {
            return false;
        };
        let Some(cmd) = commands(&svc.def, stage).get(index) else {
            if let Some(notes) = svc.notes.existing_mut() {
                notes.control = None;
            }
            return false;
        };
        let argv = cmd.argv.clone();
        svc.notes.control = Some(Control {
            stage,
            index,
            pid: None,
            finished,
        });
        let def = Rc::clone(&svc.def);
        let main_pid = svc.main_pid;
        self.log(
            Level::Debug,
            format!(
                "{name}: running {}[{index}]: {}",
                key(stage),
                argv.join(" ")
            ),
        );
        self.actions.push(Action::SpawnControl {
            unit: name.to_string(),
            def,
            argv,
            main_pid,
        });
        true
    }

    /// The shell started (or could not start) the control command.
    pub(super) fn on_control_spawned(&mut self, name: &str, result: Result<i32, SpawnFailure>) {
        match result {
            Ok(pid) => {
                let Some(c) = self
                    .services
                    .get_mut(name)
                    .and_then(|s| s.notes.control.as_mut())
                else {
                    return;
                };
                c.pid = Some(pid);
                self.pids.insert(pid, self.shared_name(name));
            }
            Err(f) => self.control_ended(
                name,
                false,
                format!("could not start: {}: {}", f.stage, f.error),
            ),
        }
    }

    /// The control process `pid` of `name` exited.
    pub(super) fn on_control_exit(&mut self, name: &str, status: &ExitStatus) {
        let ok = *status == ExitStatus::Exited(0);
        self.control_ended(name, ok, describe_exit(status));
    }

    /// Whether `pid` is `name`'s control process.
    pub(super) fn is_control(&self, name: &str, pid: i32) -> bool {
        self.services
            .get(name)
            .and_then(|s| s.notes.control)
            .and_then(|c| c.pid)
            == Some(pid)
    }

    /// SIGKILL the control process, if one runs, and forget it (the unit
    /// went down, a stop overrides a reload, a timeout).
    pub(super) fn kill_control(&mut self, name: &str) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        if let Some(pid) = svc
            .notes
            .existing_mut()
            .and_then(|n| n.control.take())
            .and_then(|c| c.pid)
        {
            self.actions.push(Action::Signal {
                target: SignalTarget::Process(pid),
                signal: libc::SIGKILL,
                then: Then::Nothing,
            });
        }
    }

    /// The current command ended (`ok`, or `outcome` says how it failed):
    /// the next one, or what the end of its stage leads to.
    fn control_ended(&mut self, name: &str, ok: bool, outcome: String) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        let Some(c) = svc.notes.existing_mut().and_then(|n| n.control.take()) else {
            return;
        };
        let cmd = commands(&svc.def, c.stage).get(c.index);
        let optional = cmd.is_some_and(|cmd| cmd.optional);
        let label = format!(
            "{}[{}] ({})",
            key(c.stage),
            c.index,
            cmd.map(|cmd| cmd.argv.join(" ")).unwrap_or_default()
        );
        if !ok {
            let level =
                if optional || matches!(c.stage, ControlStage::Stop | ControlStage::StopPost) {
                    Level::Warning
                } else {
                    Level::Error
                };
            self.log(level, format!("{name}: {label} {outcome}"));
        }
        let go_on = ok || optional;
        let next = c.index + 1;
        match c.stage {
            ControlStage::StartPre if go_on => {
                if !self.run_control(name, c.stage, next, false) {
                    self.spawn_main(name);
                }
            }
            ControlStage::StartPre => {
                let reason = format!("{label} {outcome}");
                self.run_ended(name, Duration::ZERO, RunOutcome::Failed, reason);
            }
            ControlStage::StartPost if go_on => {
                if !self.run_control(name, c.stage, next, c.finished) {
                    self.start_complete(name, c.finished);
                }
            }
            ControlStage::StartPost => {
                let reason = format!("{label} {outcome}");
                if let Some(svc) = self.services.get_mut(name) {
                    svc.notes.reason = Some(reason.clone());
                }
                if c.finished {
                    self.run_ended(name, Duration::ZERO, RunOutcome::Failed, reason);
                } else {
                    self.log(Level::Error, format!("{name}: {reason}; stopping it"));
                    self.begin_stop(name, StopCause::StartFailed);
                }
            }
            // A failing exec_stop does not keep the unit up: the stop
            // signal follows either way, as in systemd.
            ControlStage::Stop => {
                if !self.run_control(name, c.stage, next, false) {
                    self.after_exec_stop(name);
                }
            }
            // The unit is down already: a failing command is only logged.
            ControlStage::StopPost => {
                if !self.run_control(name, c.stage, next, false) {
                    self.stop_post_done(name);
                }
            }
            ControlStage::Reload if go_on => {
                if !self.run_control(name, c.stage, next, false) {
                    self.timers.cancel(name, DeadlineKind::ReloadTimeout);
                    self.log(Level::Info, format!("reloaded {name}"));
                }
            }
            ControlStage::Reload => {
                self.timers.cancel(name, DeadlineKind::ReloadTimeout);
                self.log(
                    Level::Error,
                    format!("reload of {name} failed: {label} {outcome}"),
                );
            }
        }
    }

    /// The unit came up (exec'd, READY=1, pid file read, or a oneshot's
    /// successful exit: `finished`): its exec_start_post commands, then it
    /// counts as up.
    pub(super) fn came_up(&mut self, name: &str, finished: bool) {
        let has_post = self
            .services
            .get(name)
            .is_some_and(|s| !s.def.extra().exec_start_post.is_empty());
        if !has_post {
            self.start_complete(name, finished);
            return;
        }
        self.enter(name, Phase::Starting(StartPhase::Post));
        self.run_control(name, ControlStage::StartPost, 0, finished);
    }

    /// The start is over and good: running (or, for a oneshot, finished).
    fn start_complete(&mut self, name: &str, finished: bool) {
        if finished {
            self.finished_ok(name, Duration::ZERO);
            return;
        }
        self.enter(name, Phase::Running);
        let pid = self
            .services
            .get(name)
            .and_then(|s| s.main_pid)
            .map(|p| p.to_string())
            .unwrap_or_default();
        self.job_done(name);
        self.log(Level::Info, format!("started {name} (pid {pid})"));
    }

    /// exec_stop is over: the stop signal to what is left, or the stop is
    /// done when the main process is gone already.
    fn after_exec_stop(&mut self, name: &str) {
        let Some(svc) = self.services.get(name) else {
            return;
        };
        if svc.main_pid.is_none() {
            self.stopped(name);
            return;
        }
        let signal = svc.def.stop_signal;
        self.kill_unit(name, signal);
    }

    /// The unit's processes are gone (`end` says how): its exec_stop_post
    /// commands run first when it has them and they have not run for this
    /// run. True when they started: `end` is settled once they are over.
    pub(super) fn stop_post_first(&mut self, name: &str, end: RunEnd) -> bool {
        let Some(svc) = self.services.get_mut(name) else {
            return false;
        };
        if !svc.stop_post_due {
            return false;
        }
        svc.stop_post_due = false;
        svc.main_pid = None;
        svc.notes.ending = Some(end);
        self.enter_stopping(name);
        self.run_control(name, ControlStage::StopPost, 0, false)
    }

    /// exec_stop_post is over (or was killed): the run's end is settled as
    /// it would have been without it.
    pub(super) fn stop_post_done(&mut self, name: &str) {
        self.kill_control(name);
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        match svc.notes.existing_mut().and_then(|n| n.ending.take()) {
            Some(RunEnd::Stopped) | None => self.stopped(name),
            Some(RunEnd::Ended {
                runtime,
                failed,
                reason,
            }) => {
                let outcome = if failed {
                    RunOutcome::Failed
                } else {
                    RunOutcome::Succeeded
                };
                self.run_ended(name, runtime, outcome, reason);
            }
        }
    }

    /// `vigilctl reload NAME` for a unit with exec_reload.
    pub(super) fn start_reload(&mut self, name: &str) -> Result<String, String> {
        let now = self.now.mono;
        let Some(svc) = self.services.get(name) else {
            return Err(format!("no such unit: {name}"));
        };
        if !svc.is_up() || svc.main_pid.is_none() {
            return Err(format!("{name} is not running"));
        }
        if let Some(c) = svc.notes.control {
            return Err(format!(
                "{name} is busy running {}[{}]",
                key(c.stage),
                c.index
            ));
        }
        let timeout = svc.def.stop_timeout;
        self.run_control(name, ControlStage::Reload, 0, false);
        self.timers.set(
            name,
            DeadlineKind::ReloadTimeout,
            now.saturating_add(timeout),
        );
        Ok("reloading (exec_reload)".to_string())
    }
}
