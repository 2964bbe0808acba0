//! Control requests, and the clients whose start/stop/restart replies wait
//! for their jobs to finish.

use crate::control::protocol::{JobResult, Reply, ReplyBody, Request};
use crate::power::PowerAction;
use crate::service::{Job, Phase, StartPhase};

use super::jobs::StartOrigin;
use super::{Action, ClientId, Manager};

/// What a waiting control client asked for on one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Up,
    Down,
}

/// A client whose start/stop/restart reply waits for the jobs to finish.
#[derive(Debug, Clone)]
pub(super) struct Waiter {
    pub(super) client: ClientId,
    pub(super) pending: Vec<(String, Want)>,
    pub(super) results: Vec<JobResult>,
}

impl Manager {
    pub(super) fn on_request(&mut self, client: ClientId, request: Request) {
        let request = self.with_canonical_names(request);
        match request {
            Request::List => {
                let units = self.services.values().map(|s| self.summary(s)).collect();
                self.reply(client, Reply::ok(ReplyBody::List { units }));
            }
            Request::Status { names } if names.is_empty() => {
                let body = ReplyBody::System(self.system_status());
                self.reply(client, Reply::ok(body));
            }
            Request::Status { names } => {
                let mut units = Vec::new();
                let mut unknown = Vec::new();
                for name in names {
                    match self.services.get(name.as_str()) {
                        Some(s) => units.push(self.unit_status(s)),
                        None => unknown.push(name),
                    }
                }
                self.reply(client, Reply::ok(ReplyBody::Status { units, unknown }));
            }
            Request::Start { names, no_block } => {
                self.job_request(client, names, no_block, Job::Start)
            }
            Request::Stop { names, no_block } => {
                self.job_request(client, names, no_block, Job::Stop)
            }
            Request::Restart { names, no_block } => {
                self.job_request(client, names, no_block, Job::Restart)
            }
            Request::Reload => self.actions.push(Action::Reload {
                client: Some(client),
            }),
            Request::Poweroff { force } => self.power_request(client, PowerAction::Poweroff, force),
            Request::Reboot { force } => self.power_request(client, PowerAction::Reboot, force),
            Request::Halt { force } => self.power_request(client, PowerAction::Halt, force),
            Request::Analyze => {
                let body = ReplyBody::Timeline(self.timeline());
                self.reply(client, Reply::ok(body));
            }
            Request::Kill { names, signal } => {
                let results = self.per_unit(names, |m, name| m.signal_unit(name, signal));
                self.reply(client, Reply::ok(ReplyBody::Jobs { results }));
            }
            Request::ResetFailed { names } => {
                let names = if names.is_empty() {
                    self.services
                        .iter()
                        .filter(|(_, s)| s.phase == Phase::Failed)
                        .map(|(n, _)| n.to_string())
                        .collect()
                } else {
                    names
                };
                let results = self.per_unit(names, |m, name| Ok(m.reset_failed(name)));
                self.reply(client, Reply::ok(ReplyBody::Jobs { results }));
            }
            Request::ReloadUnits { names } => {
                let results = self.per_unit(names, |m, name| m.reload_unit(name));
                self.reply(client, Reply::ok(ReplyBody::Jobs { results }));
            }
            Request::DaemonReexec => match self.shutdown {
                Some(_) => self.reply(
                    client,
                    Reply::error("daemon-reexec refused: a shutdown is in progress"),
                ),
                None => self.actions.push(Action::Reexec { client }),
            },
            // Answered by the shell, which owns the log files.
            Request::Logs { .. } => self.reply(
                client,
                Reply::error("logs are answered by vigil's shell, not the manager"),
            ),
        }
    }

    /// A unit's alias (`aliases`) stands for the unit: `reload sshd` is
    /// `reload ssh`. A name no unit has or aliases is left for the request's
    /// own "no such unit".
    pub fn canonical(&self, name: String) -> String {
        if self.services.contains_key(name.as_str()) {
            return name;
        }
        self.services
            .values()
            .find(|s| s.def.extra().aliases.contains(&name))
            .map(|s| s.def.name.to_string())
            .unwrap_or(name)
    }

    /// Every alias the request names becomes its unit's name.
    fn with_canonical_names(&self, mut request: Request) -> Request {
        if let Some(names) = request.unit_names_mut() {
            for name in names.iter_mut() {
                *name = self.canonical(std::mem::take(name));
            }
        }
        request
    }

    /// `act` on each named unit; an unknown name is a failed result.
    fn per_unit(
        &mut self,
        names: Vec<String>,
        act: impl Fn(&mut Manager, &str) -> Result<String, String>,
    ) -> Vec<JobResult> {
        names
            .into_iter()
            .map(|name| {
                let outcome = if self.services.contains_key(name.as_str()) {
                    act(self, &name)
                } else {
                    Err(format!("no such unit: {name}"))
                };
                let (ok, message) = match outcome {
                    Ok(m) => (true, m),
                    Err(m) => (false, m),
                };
                JobResult { name, ok, message }
            })
            .collect()
    }

    pub(super) fn power_request(&mut self, client: ClientId, action: PowerAction, force: bool) {
        let action = if self.settings.pid1 {
            action
        } else {
            PowerAction::Exit
        };
        self.reply(client, Reply::ok(ReplyBody::Done));
        self.on_shutdown(action, force);
    }

    pub(super) fn job_request(
        &mut self,
        client: ClientId,
        names: Vec<String>,
        no_block: bool,
        job: Job,
    ) {
        let mut results = Vec::new();
        let mut pending = Vec::new();
        for name in names {
            if !self.services.contains_key(name.as_str()) || self.doomed.contains(&name) {
                results.push(JobResult {
                    name: name.clone(),
                    ok: false,
                    message: format!("no such unit: {name}"),
                });
                continue;
            }
            if job != Job::Stop
                && self
                    .services
                    .get(name.as_str())
                    .is_some_and(|s| s.def.masked)
            {
                results.push(JobResult {
                    message: format!("{name} is masked (vigilctl unmask {name})"),
                    name,
                    ok: false,
                });
                continue;
            }
            if self.shutdown.is_some() && job != Job::Stop {
                results.push(JobResult {
                    name,
                    ok: false,
                    message: "the system is shutting down".to_string(),
                });
                continue;
            }
            match job {
                Job::Start => {
                    self.queue_start(&name, StartOrigin::Manual);
                    pending.push((name, Want::Up));
                }
                Job::Stop => {
                    self.queue_stop(&name);
                    pending.push((name, Want::Down));
                }
                Job::Restart => {
                    self.queue_restart(&name);
                    pending.push((name, Want::Up));
                }
            }
        }
        if no_block {
            for (name, _) in pending {
                results.push(JobResult {
                    name,
                    ok: true,
                    message: "queued".to_string(),
                });
            }
            self.reply(client, Reply::ok(ReplyBody::Jobs { results }));
        } else {
            self.waiters.push(Waiter {
                client,
                pending,
                results,
            });
        }
    }

    pub(super) fn answer_waiters(&mut self) {
        let mut waiters = std::mem::take(&mut self.waiters);
        for waiter in &mut waiters {
            let mut still = Vec::new();
            for (name, want) in std::mem::take(&mut waiter.pending) {
                match self.services.get(name.as_str()) {
                    None => waiter.results.push(JobResult {
                        ok: want == Want::Down,
                        message: "removed".to_string(),
                        name,
                    }),
                    Some(s) if s.job.is_some() || s.phase == Phase::Stopping => {
                        still.push((name, want))
                    }
                    Some(s)
                        if want == Want::Up
                            && matches!(
                                s.phase,
                                Phase::Starting(
                                    StartPhase::Pre
                                        | StartPhase::Launched
                                        | StartPhase::ReadingPidFile
                                        | StartPhase::Post
                                )
                            ) =>
                    {
                        still.push((name, want))
                    }
                    Some(s) => {
                        let ok = match want {
                            // A skipped start is a done one (systemctl: 0).
                            Want::Up => s.is_up() || s.notes.skipped.is_some(),
                            Want::Down => s.main_pid.is_none(),
                        };
                        let message = if ok {
                            s.state().as_str().to_string()
                        } else {
                            s.notes
                                .reason
                                .clone()
                                .unwrap_or_else(|| s.state().as_str().to_string())
                        };
                        waiter.results.push(JobResult { name, ok, message });
                    }
                }
            }
            waiter.pending = still;
        }
        for waiter in waiters {
            if waiter.pending.is_empty() {
                self.reply(
                    waiter.client,
                    Reply::ok(ReplyBody::Jobs {
                        results: waiter.results,
                    }),
                );
            } else {
                self.waiters.push(waiter);
            }
        }
    }
}
