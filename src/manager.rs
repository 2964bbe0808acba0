//! The manager: all units, their state machines and jobs. Pure: events in,
//! actions out; no syscalls, no clock reads.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::control::protocol::{
    ExitRecord, JobResult, Reply, ReplyBody, Request, SystemStatus, UnitStatus, UnitSummary,
};
use crate::graph::{Graph, Name};
use crate::service::{
    describe_exit, format_duration, signal_name, DeadlineKind, Job, Phase, Service, StartPhase,
};
use crate::unit::{RestartPolicy, UnitDef, UnitKind};

/// Identifies a control connection so that a reply can be routed back.
pub type ClientId = u64;

/// The time an event is handled at: monotonic for deadlines, wall clock for records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub mono: Duration,
    pub unix_secs: f64,
}

/// How a process ended, as decoded from waitpid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled { signal: i32, core_dumped: bool },
}

/// Why fork/exec of a unit failed, e.g. stage "changing to user www-data",
/// error "no such user".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnFailure {
    pub stage: String,
    pub error: String,
}

/// Why a forking unit's pid file gave no pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidFileError {
    /// Missing, empty or stale: the daemon may not have written it yet; retried.
    NotReady(String),
    /// Untrustworthy (names another user's process): the start fails at once.
    Refused(String),
}

/// One sd_notify datagram, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyMessage {
    pub ready: bool,
    pub stopping: bool,
    pub reloading: bool,
    pub status: Option<String>,
    pub main_pid: Option<i32>,
}

/// Which final state the machine goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Poweroff,
    Reboot,
    Halt,
    /// Supervisor mode only: stop everything and exit.
    Exit,
}

/// Everything the shell tells the manager.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Bring up the boot target.
    Boot,
    /// Result of an `Action::Spawn`, fed back at once by the shell.
    Spawned {
        unit: String,
        result: Result<i32, SpawnFailure>,
    },
    /// A child (unit or orphan) was reaped.
    ChildExited { pid: i32, status: ExitStatus },
    /// A datagram on the notify socket from `pid`; `session` is the sender's
    /// session id when the shell could read it (a helper such as
    /// systemd-notify run by the service's shell shares its session).
    Notify {
        pid: i32,
        session: Option<i32>,
        message: NotifyMessage,
    },
    /// Result of an `Action::ReadPidFile`.
    PidFile {
        unit: String,
        result: Result<i32, PidFileError>,
    },
    /// The deadline from `next_deadline` has passed.
    Timer,
    /// An authorized control request.
    Request { client: ClientId, request: Request },
    /// The units directory was re-read (for `reload` / SIGHUP).
    /// `broken` names units whose files exist but did not load: they keep
    /// their previous definition.
    Reloaded {
        units: BTreeMap<String, UnitDef>,
        /// vigil.toml's problems (`FILE:L:C: msg`): errors, as at boot.
        config_problems: Vec<String>,
        /// Unit-file diagnostics, each saying its own severity.
        diagnostics: Vec<String>,
        broken: Vec<String>,
        client: Option<ClientId>,
    },
    /// Stop everything, then take the power action.
    Shutdown { action: PowerAction, force: bool },
}

/// Log severity, mapped to kmsg priorities by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

/// Everything the manager asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// fork/exec the unit's main process; answer with `Event::Spawned`.
    Spawn {
        unit: String,
        /// Shared with the unit's record: no copy of the definition per start.
        def: Rc<UnitDef>,
    },
    /// kill(2) the pid, or its process group when `group`.
    Kill {
        pid: i32,
        signal: i32,
        group: bool,
    },
    /// Read the pid file; answer with `Event::PidFile`.
    ReadPidFile {
        unit: String,
        path: PathBuf,
    },
    Reply {
        client: ClientId,
        reply: Reply,
    },
    /// Re-read the units directory; answer with `Event::Reloaded`.
    Reload {
        client: Option<ClientId>,
    },
    Log {
        level: Level,
        message: String,
    },
    /// A message that already says its severity (a unit-file diagnostic,
    /// `FILE:LINE:COL: error: ...`): logged without a second level tag.
    LogUntagged {
        level: Level,
        message: String,
    },
    /// Every unit is stopped; the shell finishes the power action.
    PowerOff(PowerAction),
}

/// What a waiting control client asked for on one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Up,
    Down,
}

/// A client whose start/stop/restart reply waits for the jobs to finish.
#[derive(Debug, Clone)]
struct Waiter {
    client: ClientId,
    pending: Vec<(String, Want)>,
    results: Vec<JobResult>,
}

/// Where the boot target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BootState {
    NotStarted,
    Starting,
    Reached,
}

/// All units, the dependency graph and the jobs in flight.
#[derive(Debug)]
pub struct Manager {
    services: BTreeMap<String, Box<Service>>,
    graph: Graph,
    target: String,
    pid1: bool,
    boot: BootState,
    boot_started: Duration,
    /// When this manager was created, for the uptime in `status`.
    created: Duration,
    shutdown: Option<PowerAction>,
    /// When the shutdown was asked for, to log how long the stop phase took.
    shutdown_started: Duration,
    power_off_sent: bool,
    waiters: Vec<Waiter>,
    /// Why the boot is degraded beyond failed units (a missing target).
    boot_problem: Option<String>,
    /// Removed by a reload: deleted once stopped.
    doomed: BTreeSet<String>,
    actions: Vec<Action>,
    now: Now,
    /// Every unit whose job might take a step (a superset of those for which
    /// `may_advance` holds), so that `settle` after one exit among N units
    /// looks at the units with jobs, not at all N.
    candidates: BTreeSet<String>,
    /// Live main pids to their unit, so an exit finds its unit without a
    /// scan. Entries may be stale (checked against `main_pid` on lookup).
    pids: BTreeMap<i32, String>,
    /// The unit the last shutdown check found still busy: checked first, so
    /// that waiting for N units to stop stays linear.
    busy_hint: Option<String>,
    /// Where the last scan of a target's pulls found a unit still starting.
    /// Units mostly finish starting in launch order, so resuming the scan
    /// there keeps waiting for a target of N units linear instead of O(N^2).
    pull_scan_hint: Cell<usize>,
}

impl Manager {
    /// A manager over `units` that will bring up `target` on `Event::Boot`.
    pub fn new(units: BTreeMap<String, UnitDef>, target: &str, pid1: bool, now: Now) -> Self {
        let graph = Graph::build(&units);
        let services = units
            .into_iter()
            .map(|(name, def)| (name, Box::new(Service::new(def, now.mono))))
            .collect();
        Manager {
            services,
            graph,
            target: target.to_string(),
            pid1,
            boot: BootState::NotStarted,
            boot_started: now.mono,
            created: now.mono,
            shutdown: None,
            shutdown_started: now.mono,
            power_off_sent: false,
            waiters: Vec::new(),
            doomed: BTreeSet::new(),
            boot_problem: None,
            actions: Vec::new(),
            now,
            candidates: BTreeSet::new(),
            pids: BTreeMap::new(),
            busy_hint: None,
            pull_scan_hint: Cell::new(0),
        }
    }

    /// Feed one event; returns what the shell must do, in order.
    pub fn handle(&mut self, event: Event, now: Now) -> Vec<Action> {
        self.now = now;
        match event {
            Event::Boot => self.on_boot(),
            Event::Spawned { unit, result } => self.on_spawned(&unit, result),
            Event::ChildExited { pid, status } => self.on_exit(pid, status),
            Event::Notify {
                pid,
                session,
                message,
            } => self.on_notify(pid, session, message),
            Event::PidFile { unit, result } => self.on_pid_file(&unit, result),
            Event::Timer => self.on_timer(),
            Event::Request { client, request } => self.on_request(client, request),
            Event::Reloaded {
                units,
                config_problems,
                diagnostics,
                broken,
                client,
            } => self.on_reloaded(units, config_problems, diagnostics, broken, client),
            Event::Shutdown { action, force } => self.on_shutdown(action, force),
        }
        self.settle();
        std::mem::take(&mut self.actions)
    }

    /// The earliest pending deadline; None when nothing is due (vigil sleeps).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.services
            .values()
            .filter_map(|s| s.deadline.map(|(t, _)| t))
            .min()
    }

    /// The unit a live pid belongs to, if any.
    pub fn unit_of_pid(&self, pid: i32) -> Option<&str> {
        let name = self.pids.get(&pid)?;
        let svc = self.services.get(name)?;
        (svc.main_pid == Some(pid)).then_some(name.as_str())
    }

    /// Read-only view of one unit, for the shell and tests.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name).map(|s| &**s)
    }

    /// The process groups of every unit that still has processes.
    pub fn process_groups(&self) -> Vec<i32> {
        self.services
            .values()
            .filter_map(|s| s.pgid.or(s.main_pid))
            .collect()
    }

    /// The power action in progress, if any.
    pub fn shutdown_action(&self) -> Option<PowerAction> {
        self.shutdown
    }

    /// Whether a power action is in progress.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// A full state dump for SIGUSR2: one line per unit with its phase, job,
    /// pids and pending deadline, then the waiting clients.
    pub fn dump(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, s) in &self.services {
            let deadline = match s.deadline {
                Some((t, kind)) => format!(
                    " deadline={kind:?} in {}",
                    format_duration(t.saturating_sub(self.now.mono))
                ),
                None => String::new(),
            };
            lines.push(format!(
                "  {name}: {:?} job={:?} pid={:?} pgid={:?} restarts={}{deadline}",
                s.phase, s.job, s.main_pid, s.pgid, s.restarts
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
    pub fn system_state(&self) -> &'static str {
        if self.shutdown.is_some() {
            "stopping"
        } else if self.boot != BootState::Reached {
            "starting"
        } else if self.boot_problem.is_some()
            || self.services.values().any(|s| s.phase == Phase::Failed)
        {
            "degraded"
        } else {
            "running"
        }
    }

    // ----- events -------------------------------------------------------

    fn on_boot(&mut self) {
        if !self.services.contains_key(&self.target) {
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
        self.queue_start(&target, false);
    }

    fn on_spawned(&mut self, name: &str, result: Result<i32, SpawnFailure>) {
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

    fn on_exit(&mut self, pid: i32, status: ExitStatus) {
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
                if Service::is_failure(&status) {
                    self.run_ended(&name, runtime, true, outcome);
                } else {
                    self.finished_ok(&name, runtime);
                }
            }
            Phase::Inactive | Phase::Exited | Phase::Failed => {}
        }
    }

    fn on_notify(&mut self, pid: i32, session: Option<i32>, message: NotifyMessage) {
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

    fn on_pid_file(&mut self, name: &str, result: Result<i32, PidFileError>) {
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

    fn on_timer(&mut self) {
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

    fn on_request(&mut self, client: ClientId, request: Request) {
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
                    match self.services.get(&name) {
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
            Request::Check { .. } => self.reply(
                client,
                Reply::error("check is answered by the control server"),
            ),
            Request::Poweroff { force } => self.power_request(client, PowerAction::Poweroff, force),
            Request::Reboot { force } => self.power_request(client, PowerAction::Reboot, force),
            Request::Halt { force } => self.power_request(client, PowerAction::Halt, force),
        }
    }

    fn power_request(&mut self, client: ClientId, action: PowerAction, force: bool) {
        let action = if self.pid1 { action } else { PowerAction::Exit };
        self.reply(client, Reply::ok(ReplyBody::Done));
        self.on_shutdown(action, force);
    }

    fn job_request(&mut self, client: ClientId, names: Vec<String>, no_block: bool, job: Job) {
        let mut results = Vec::new();
        let mut pending = Vec::new();
        for name in names {
            if !self.services.contains_key(&name) || self.doomed.contains(&name) {
                results.push(JobResult {
                    name: name.clone(),
                    ok: false,
                    message: format!("no such unit: {name}"),
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
                    self.queue_start(&name, true);
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

    fn on_reloaded(
        &mut self,
        units: BTreeMap<String, UnitDef>,
        config_problems: Vec<String>,
        diagnostics: Vec<String>,
        broken: Vec<String>,
        client: Option<ClientId>,
    ) {
        for p in &config_problems {
            self.log(Level::Error, format!("reload: {p}"));
        }
        for d in &diagnostics {
            self.actions.push(Action::LogUntagged {
                level: diagnostic_level(d),
                message: format!("reload: {d}"),
            });
        }
        let old_closure: BTreeSet<String> = self.graph.closure(&self.target).into_iter().collect();
        let mut added = Vec::new();
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        let now = self.now.mono;
        for (name, def) in units.iter() {
            self.doomed.remove(name);
            match self.services.get_mut(name) {
                Some(svc) => {
                    if *svc.def != *def {
                        svc.def = Rc::new(def.clone());
                        changed.push(name.clone());
                    }
                }
                None => {
                    self.services
                        .insert(name.clone(), Box::new(Service::new(def.clone(), now)));
                    added.push(name.clone());
                }
            }
        }
        let gone: Vec<String> = self
            .services
            .keys()
            .filter(|n| !units.contains_key(*n) && !broken.contains(n))
            .cloned()
            .collect();
        for name in gone {
            if self.doomed.insert(name.clone()) {
                removed.push(name.clone());
                self.queue_stop(&name);
            }
        }
        self.rebuild_graph();
        if self.boot != BootState::NotStarted && self.shutdown.is_none() {
            let new_closure = self.graph.closure(&self.target);
            for name in new_closure {
                if old_closure.contains(&name) {
                    continue;
                }
                let idle = self
                    .services
                    .get(&name)
                    .is_some_and(|s| s.phase == Phase::Inactive && s.job.is_none());
                if idle {
                    self.queue_start(&name, false);
                }
            }
        }
        self.log(
            Level::Info,
            format!(
                "reloaded units: {} added, {} removed, {} changed, {} kept after errors",
                added.len(),
                removed.len(),
                changed.len(),
                broken.len()
            ),
        );
        if let Some(client) = client {
            let body = ReplyBody::Reload {
                diagnostics: config_problems.into_iter().chain(diagnostics).collect(),
                added,
                removed,
                changed,
            };
            self.reply(client, Reply::ok(body));
        }
    }

    fn on_shutdown(&mut self, action: PowerAction, force: bool) {
        if self.shutdown.is_some() {
            // Already going down; a forced request may skip the rest of the stop phase.
            if force && !self.power_off_sent {
                self.shutdown = Some(action);
                self.power_off_sent = true;
                self.actions.push(Action::PowerOff(action));
            }
            return;
        }
        self.shutdown = Some(action);
        self.shutdown_started = self.now.mono;
        self.log(Level::Info, format!("shutdown requested: {action:?}"));
        for svc in self.services.values_mut() {
            if svc.phase == Phase::Starting(StartPhase::AutoRestart) {
                svc.deadline = None;
            }
        }
        if force {
            self.power_off_sent = true;
            self.actions.push(Action::PowerOff(action));
            return;
        }
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            self.queue_stop(&name);
        }
    }

    // ----- jobs ---------------------------------------------------------

    /// Queue a start of `root` and everything it pulls in. `manual` starts
    /// forget the start limit and re-run a finished unit.
    fn queue_start(&mut self, root: &str, manual: bool) {
        if self.shutdown.is_some() {
            return;
        }
        for name in self.graph.closure(root) {
            let is_root = name == root;
            let Some(svc) = self.services.get_mut(&name) else {
                continue;
            };
            if self.doomed.contains(&name) {
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
                (Phase::Exited, _) if !(is_root && manual) => {}
                (Phase::Starting(StartPhase::AutoRestart), _) if is_root && manual => {
                    svc.job = Some(Job::Start);
                    svc.deadline = None;
                    svc.set_phase(Phase::Starting(StartPhase::Waiting), self.now.mono);
                }
                (Phase::Starting(StartPhase::AutoRestart), _) => {}
                (Phase::Starting(_), _) => svc.job = Some(Job::Start),
                (Phase::Inactive | Phase::Exited | Phase::Failed, _) => {
                    svc.job = Some(Job::Start);
                    svc.reason = None;
                    svc.set_phase(Phase::Starting(StartPhase::Waiting), self.now.mono);
                }
            }
        }
    }

    /// Queue a stop of `root` and of every unit that requires it.
    fn queue_stop(&mut self, root: &str) {
        let mut stack = vec![root.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(name) = stack.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(deps) = self.graph.required_by.get(name.as_str()) {
                stack.extend(deps.iter().map(|d| d.to_string()));
            }
            let now = self.now.mono;
            let Some(svc) = self.services.get_mut(&name) else {
                continue;
            };
            self.candidates.insert(name.clone());
            match svc.phase {
                Phase::Starting(StartPhase::Waiting) | Phase::Starting(StartPhase::AutoRestart) => {
                    svc.deadline = None;
                    svc.job = None;
                    svc.set_phase(Phase::Inactive, now);
                }
                Phase::Inactive | Phase::Failed if svc.main_pid.is_none() => {
                    svc.job = None;
                }
                _ => svc.job = Some(Job::Stop),
            }
        }
    }

    fn queue_restart(&mut self, name: &str) {
        let Some(svc) = self.services.get_mut(name) else {
            return;
        };
        svc.reset_limits();
        if svc.main_pid.is_some() || svc.phase == Phase::Stopping {
            svc.job = Some(Job::Restart);
            self.candidates.insert(name.to_string());
        } else {
            self.queue_start(name, true);
        }
    }

    /// Advance every job whose preconditions now hold, until nothing moves;
    /// then answer waiting clients and check the boot and shutdown goals.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            // Only the candidates whose job can take a step: scanning every
            // unit on every event made a boot or a shutdown of N units O(N^2).
            let services = &self.services;
            self.candidates
                .retain(|n| services.get(n).is_some_and(|s| may_advance(s)));
            let names: Vec<String> = self.candidates.iter().cloned().collect();
            for name in &names {
                moved |= self.try_advance(name);
            }
            if !moved {
                break;
            }
        }
        #[cfg(debug_assertions)]
        self.check_candidates();
        self.reap_doomed();
        self.answer_waiters();
        self.check_boot();
        self.check_shutdown();
    }

    /// Take the next step of `name`'s job if it may; true if anything changed.
    /// Only called for units that pass `may_advance`.
    fn try_advance(&mut self, name: &str) -> bool {
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
                self.begin_stop(name, false);
                true
            }
            _ => false,
        }
    }

    /// A required unit that has finished trying and is not up.
    fn failed_requirement(&self, name: &str) -> Option<String> {
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
    fn start_blocked(&self, name: &str) -> bool {
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
            .is_some_and(|s| s.def.kind == UnitKind::Target);
        is_target
            && self
                .graph
                .pulls
                .get(name)
                .is_some_and(|v| self.any_from_hint(v, busy))
    }

    /// `items.iter().any(pred)`, starting (and wrapping around) where the
    /// previous call found a match, which it remembers.
    fn any_from_hint(&self, items: &[Name], pred: impl Fn(&Name) -> bool) -> bool {
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
    fn stop_blocked(&self, name: &str) -> bool {
        self.graph.start_before.get(name).is_some_and(|v| {
            v.iter().any(|dep| {
                self.services.get(&**dep).is_some_and(|s| {
                    matches!(s.job, Some(Job::Stop) | Some(Job::Restart)) && s.has_process()
                        || s.phase == Phase::Stopping
                })
            })
        })
    }

    /// Start the unit's process now (or mark a target up).
    fn launch(&mut self, name: &str) {
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
    fn begin_stop(&mut self, name: &str, then_fail: bool) {
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
    fn kill_unit(&mut self, name: &str, signal: i32) {
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
    fn stopped(&mut self, name: &str) {
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
    fn run_ended(&mut self, name: &str, runtime: Duration, failed: bool, reason: String) {
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
    fn finished_ok(&mut self, name: &str, runtime: Duration) {
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
    fn fail_start(&mut self, name: &str, reason: String) {
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
    fn propagate_down(&mut self, name: &str) {
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
    fn reap_group(&mut self, name: &str) {
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
    fn job_done(&mut self, name: &str) {
        if let Some(svc) = self.services.get_mut(name) {
            if svc.job == Some(Job::Start) {
                svc.job = None;
            }
        }
    }

    fn reap_doomed(&mut self) {
        let gone: Vec<String> = self
            .doomed
            .iter()
            .filter(|n| {
                self.services.get(*n).is_none_or(|s| {
                    s.job.is_none() && s.main_pid.is_none() && s.phase != Phase::Stopping
                })
            })
            .cloned()
            .collect();
        if gone.is_empty() {
            return;
        }
        for name in gone {
            self.doomed.remove(&name);
            self.services.remove(&name);
        }
        self.rebuild_graph();
    }

    fn rebuild_graph(&mut self) {
        let defs: BTreeMap<String, UnitDef> = self
            .services
            .iter()
            .map(|(n, s)| (n.clone(), UnitDef::clone(&s.def)))
            .collect();
        self.graph = Graph::build(&defs);
    }

    fn answer_waiters(&mut self) {
        let mut waiters = std::mem::take(&mut self.waiters);
        for waiter in &mut waiters {
            let mut still = Vec::new();
            for (name, want) in std::mem::take(&mut waiter.pending) {
                match self.services.get(&name) {
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
                                Phase::Starting(StartPhase::Launched | StartPhase::ReadingPidFile)
                            ) =>
                    {
                        still.push((name, want))
                    }
                    Some(s) => {
                        let ok = match want {
                            Want::Up => s.is_up(),
                            Want::Down => s.main_pid.is_none(),
                        };
                        let message = if ok {
                            s.state().as_str().to_string()
                        } else {
                            s.reason
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

    fn check_boot(&mut self) {
        if self.boot != BootState::Starting {
            return;
        }
        let done = self
            .services
            .get(&self.target)
            .is_none_or(|s| s.job.is_none());
        if !done {
            return;
        }
        self.boot = BootState::Reached;
        let took = format_duration(self.now.mono.saturating_sub(self.boot_started));
        let failed: Vec<&str> = self
            .services
            .iter()
            .filter(|(_, s)| s.phase == Phase::Failed)
            .map(|(n, _)| n.as_str())
            .collect();
        let up = self.services.get(&self.target).is_some_and(|s| s.is_up());
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

    fn check_shutdown(&mut self) {
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
            .and_then(|n| self.services.get(n))
            .is_some_and(|s| is_busy(s));
        if hinted {
            return;
        }
        // Resume where the last busy unit was: units mostly stop in the
        // order they were asked to, so this stays linear over a shutdown.
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let from = self.busy_hint.take().unwrap_or_default();
        let from = from.as_str();
        self.busy_hint = self
            .services
            .range::<str, _>((Included(from), Unbounded))
            .chain(self.services.range::<str, _>((Unbounded, Excluded(from))))
            .find(|(_, s)| is_busy(s))
            .map(|(n, _)| n.clone());
        if self.busy_hint.is_none() {
            self.power_off_sent = true;
            let took = format_duration(self.now.mono.saturating_sub(self.shutdown_started));
            self.log(Level::Info, format!("all units stopped after {took}"));
            self.actions.push(Action::PowerOff(action));
        }
    }

    /// Debug builds (and so every test) check the invariant `settle`
    /// relies on: no unit able to take a step is missing from the candidates.
    #[cfg(debug_assertions)]
    fn check_candidates(&self) {
        for (name, s) in &self.services {
            debug_assert!(
                !may_advance(s) || self.candidates.contains(name),
                "{name} may advance but is not a candidate"
            );
        }
    }

    // ----- views ----------------------------------------------------------

    fn summary(&self, s: &Service) -> UnitSummary {
        UnitSummary {
            name: s.def.name.clone(),
            kind: kind_name(s.def.kind).to_string(),
            state: s.state(),
            reason: s.reason.clone().or_else(|| s.status_text.clone()),
            pid: s.main_pid,
            description: s.def.description.clone(),
        }
    }

    fn unit_status(&self, s: &Service) -> UnitStatus {
        UnitStatus {
            summary: self.summary(s),
            path: s.def.path.clone(),
            since_secs: self.now.mono.saturating_sub(s.since).as_secs_f64(),
            restarts: s.restarts,
            status_text: s.status_text.clone(),
            exits: s.exits.iter().cloned().collect(),
            wanted_by: s.def.wanted_by.clone(),
        }
    }

    fn system_status(&self) -> SystemStatus {
        SystemStatus {
            state: self.system_state().to_string(),
            pid1: self.pid1,
            target: self.target.clone(),
            uptime_secs: if self.pid1 {
                self.now.mono.as_secs_f64()
            } else {
                self.now.mono.saturating_sub(self.created).as_secs_f64()
            },
            units: self.services.len(),
            failed: self
                .services
                .iter()
                .filter(|(_, s)| s.phase == Phase::Failed)
                .map(|(n, _)| n.clone())
                .collect(),
        }
    }

    fn reply(&mut self, client: ClientId, reply: Reply) {
        self.actions.push(Action::Reply { client, reply });
    }

    fn log(&mut self, level: Level, message: String) {
        self.actions.push(Action::Log { level, message });
    }
}

/// The level of a rendered diagnostic (`FILE:L:C: error: ...`).
pub fn diagnostic_level(rendered: &str) -> Level {
    if rendered.contains(": error: ") {
        Level::Error
    } else {
        Level::Warning
    }
}

/// The target booted when nothing else is asked for; implicit if no file defines it.
pub const DEFAULT_TARGET: &str = "default";

/// Whether `Manager::try_advance` could take a step for this unit (mirrors
/// its match; `try_advance` has no effect when this is false).
fn may_advance(s: &Service) -> bool {
    match (s.job, &s.phase) {
        (Some(Job::Start), Phase::Starting(StartPhase::Waiting)) => true,
        (Some(Job::Stop) | Some(Job::Restart), phase) => *phase != Phase::Stopping,
        _ => false,
    }
}

/// After SIGKILL, how long to wait for the exit before giving up on a process.
const ABANDON_AFTER: Duration = Duration::from_secs(5);

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

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
