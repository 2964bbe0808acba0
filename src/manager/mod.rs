//! The manager: all units, their state machines and jobs. Pure: events in,
//! actions out; no syscalls, no clock reads.
//!
//! Where each rule lives (docs/architecture.md has the whole map):
//! - `events`: the vocabulary, `Event` in and `Action` out;
//! - `kind`: what differs per unit type (what completes a start, which
//!   deadline applies, what a launcher's exit means);
//! - `jobs`: queueing start/stop/restart and when a job may take its step;
//! - `lifecycle`: launching, stopping, and what a run's end leads to;
//! - `process_events`: spawn results, exits, notify messages, pid files, timers;
//! - `trust`: whether a MAINPID= or a pid file may name a process;
//! - `timers`: the deadlines, in time order;
//! - `requests`: control requests and the clients waiting for their jobs;
//! - `reload`: applying a re-read units directory;
//! - `goals`: the boot target and the shutdown;
//! - `views`: what `list`, `status` and the state dump show.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::control::protocol::Reply;
use crate::graph::{Graph, Name};
use crate::log::Level;
use crate::power::PowerAction;
use crate::service::{Phase, Service};
use crate::unit::UnitDef;

mod control;
mod events;
mod goals;
mod handover;
mod jobs;
mod kind;
mod lifecycle;
mod process_events;
mod ratelimit;
mod reload;
mod requests;
mod timers;
mod trust;
mod views;

pub use events::{
    Action, ClientId, Event, NotifyMessage, Now, PidFileError, PidFileFacts, ProcessFacts,
    Settings, SignalTarget, SpawnFailure, Then,
};
pub use handover::{HandoverRefused, ManagerState, Survivor};
pub use views::{kind_name, SystemState};
// (BootRecord and BootStep are defined below.)

use goals::BootState;
use jobs::may_advance;
use ratelimit::RateLimits;
use requests::Waiter;
use timers::Timers;

/// All units, the dependency graph and the jobs in flight.
#[derive(Debug)]
pub struct Manager {
    /// Keyed by the graph's own names (one allocation per name).
    services: BTreeMap<Name, Box<Service>>,
    graph: Graph,
    target: String,
    settings: Settings,
    boot: BootState,
    boot_started: Duration,
    /// When this manager was created, for the uptime in `status`.
    created: Duration,
    shutdown: Option<PowerAction>,
    /// When the shutdown was asked for, to log how long the stop phase took.
    shutdown_started: Duration,
    /// When the stop phase of the shutdown in progress must end.
    shutdown_deadline: Option<Duration>,
    power_off_sent: bool,
    /// Every armed deadline of every unit, in time order.
    timers: Timers,
    /// Log lines anyone can trigger, limited per source.
    rate_limits: RateLimits,
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
    /// Pids a unit claims (main, leader, group witness) to that unit, so an
    /// exit finds its unit without a scan. Entries may be stale (checked
    /// with `Service::claims` on lookup).
    pids: BTreeMap<i32, Name>,
    /// The unit the last shutdown check found still busy: checked first, so
    /// that waiting for N units to stop stays linear.
    busy_hint: Option<Name>,
    /// Where the last scan of a target's pulls found a unit still starting.
    /// Units mostly finish starting in launch order, so resuming the scan
    /// there keeps waiting for a target of N units linear instead of O(N^2).
    pull_scan_hint: Cell<usize>,
    /// How vigil itself started (kernel hand-off, early-boot steps).
    boot_record: BootRecord,
    /// When the boot target's job ended.
    boot_done: Option<Duration>,
}

/// What happened before the manager existed, for the timeline.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BootRecord {
    /// CLOCK_BOOTTIME at vigil's start.
    pub kernel: Duration,
    /// CLOCK_MONOTONIC at vigil's start.
    pub started: Duration,
    /// Early-boot steps: name, start, duration, success.
    pub steps: Vec<BootStep>,
}

/// One early-boot step in the timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BootStep {
    pub name: String,
    pub start: Duration,
    pub duration: Duration,
    pub ok: bool,
}

/// The name a map of units keys `def` by: its own, when that is `key`
/// (always, for units from a load), so that no copy is made.
fn shared_key(key: String, def: &UnitDef) -> Name {
    if *def.name == *key {
        Name::clone(&def.name)
    } else {
        Name::from(key)
    }
}

/// `name` as `services` keys it, or a new copy for a unit it lacks.
fn name_in(services: &BTreeMap<Name, Box<Service>>, name: &str) -> Name {
    services
        .get_key_value(name)
        .map(|(key, _)| Name::clone(key))
        .unwrap_or_else(|| Name::from(name))
}

impl Manager {
    /// A manager over `units` that will bring up `target` on `Event::Boot`.
    pub fn new(
        units: BTreeMap<String, UnitDef>,
        target: &str,
        settings: Settings,
        now: Now,
    ) -> Self {
        // Keyed by each definition's own name, which the graph then shares.
        let units: BTreeMap<Name, UnitDef> = units
            .into_iter()
            .map(|(key, def)| (shared_key(key, &def), def))
            .collect();
        let graph = Graph::build(&units);
        let services = units
            .into_iter()
            .map(|(name, def)| (name, Box::new(Service::new(def, now.mono))))
            .collect();
        Manager {
            services,
            graph,
            target: target.to_string(),
            settings,
            boot: BootState::NotStarted,
            boot_started: now.mono,
            created: now.mono,
            shutdown: None,
            shutdown_started: now.mono,
            shutdown_deadline: None,
            power_off_sent: false,
            timers: Timers::default(),
            rate_limits: RateLimits::default(),
            waiters: Vec::new(),
            doomed: BTreeSet::new(),
            boot_problem: None,
            actions: Vec::new(),
            now,
            candidates: BTreeSet::new(),
            pids: BTreeMap::new(),
            busy_hint: None,
            pull_scan_hint: Cell::new(0),
            boot_record: BootRecord::default(),
            boot_done: None,
        }
    }

    /// The unit's name as the manager keeps it (shared with its graph),
    /// for a table that refers to the unit: no copy of the name per entry.
    fn shared_name(&self, name: &str) -> Name {
        name_in(&self.services, name)
    }

    /// Feed one event; returns what the shell must do, in order.
    pub fn handle(&mut self, event: Event, now: Now) -> Vec<Action> {
        self.now = now;
        match event {
            Event::Boot => self.on_boot(),
            Event::Spawned { unit, result } => self.on_spawned(&unit, result),
            Event::Skipped { unit, condition } => self.on_skipped(&unit, condition),
            Event::ControlSpawned { unit, result } => self.on_control_spawned(&unit, result),
            Event::ChildExited {
                pid,
                status,
                next_witness,
            } => self.on_exit(pid, status, next_witness),
            Event::Notify {
                pid,
                uid,
                session,
                message,
                main_pid,
            } => self.on_notify(pid, uid, session, message, main_pid),
            Event::PidFile { unit, result } => self.on_pid_file(&unit, result),
            Event::Signal(signal) => self.on_signal(signal),
            Event::Timer => self.on_timer(),
            Event::Request { client, request } => self.on_request(client, request),
            Event::Reloaded {
                units,
                diagnostics,
                broken,
                client,
                settings,
            } => {
                if let Some(settings) = settings {
                    self.settings = Settings {
                        pid1: self.settings.pid1,
                        self_pid: self.settings.self_pid,
                        ..settings
                    };
                }
                self.on_reloaded(units, diagnostics, broken, client)
            }
            Event::Shutdown { action, force } => self.on_shutdown(action, force),
        }
        self.settle();
        std::mem::take(&mut self.actions)
    }

    /// How vigil started, for `vigilctl analyze` (set before `Event::Boot`).
    pub fn set_boot_record(&mut self, record: BootRecord) {
        self.boot_record = record;
    }

    /// The earliest pending deadline; None when nothing is due (vigil
    /// sleeps). O(log N): the deadlines are kept in time order.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.timers.next(), self.shutdown_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The unit whose main process `pid` is, if any.
    pub fn unit_of_pid(&self, pid: i32) -> Option<&str> {
        let name = self.pids.get(&pid)?;
        let svc = self.services.get(name)?;
        (svc.main_pid == Some(pid)).then_some(&**name)
    }

    /// The unit that claims `pid` in any role (main, leader, witness).
    fn claimant_of(&self, pid: i32) -> Option<&str> {
        let name = self.pids.get(&pid)?;
        let svc = self.services.get(name)?;
        svc.claims(pid).then_some(&**name)
    }

    /// The process group `pid` is the witness of, if any: when that pid is
    /// reaped, the shell looks for another unreaped child of vigil in the
    /// group to take over (`Event::ChildExited::next_witness`).
    pub fn witnessed_group(&self, pid: i32) -> Option<i32> {
        let svc = self.services.get(self.claimant_of(pid)?)?;
        svc.groups.iter().find(|g| g.witness == pid).map(|g| g.pgid)
    }

    /// Read-only view of one unit, for the shell and tests.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name).map(|s| &**s)
    }

    /// How many units there are.
    pub fn unit_count(&self) -> usize {
        self.services.len()
    }

    /// The power action in progress, if any.
    pub fn shutdown_action(&self) -> Option<PowerAction> {
        self.shutdown
    }

    /// Whether a power action is in progress.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// Whether `name` will not run again: a power action is in progress
    /// (it refuses every start) and the unit is down with no job left.
    /// What it held for its runs (its log pipes) can go now, while other
    /// units are still stopping.
    pub fn down_for_good(&self, name: &str) -> bool {
        self.shutdown.is_some()
            && self.services.get(name).is_some_and(|s| {
                s.job.is_none()
                    && s.main_pid.is_none()
                    && s.notes.control.is_none()
                    && matches!(s.phase, Phase::Inactive | Phase::Failed)
            })
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
                .retain(|n| services.get(n.as_str()).is_some_and(|s| may_advance(s)));
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

    /// Debug builds (and so every test) check the invariant `settle`
    /// relies on: no unit able to take a step is missing from the candidates.
    #[cfg(debug_assertions)]
    fn check_candidates(&self) {
        for (name, s) in &self.services {
            debug_assert!(
                !may_advance(s) || self.candidates.contains(&**name),
                "{name} may advance but is not a candidate"
            );
        }
    }

    fn reply(&mut self, client: ClientId, reply: Reply) {
        self.actions.push(Action::Reply { client, reply });
    }

    fn log(&mut self, level: Level, message: String) {
        self.actions.push(Action::Log { level, message });
    }

    /// A line anyone can make vigil write (an orphan's exit, a refused
    /// MAINPID=): at most `ratelimit::BURST` per source and window, the
    /// rest counted in the next one. A flood cannot fill the console.
    fn log_limited(&mut self, source: &str, level: Level, message: String) {
        if let Some(suppressed) = self.rate_limits.admit(source, self.now.mono) {
            self.log(level, ratelimit::with_suppressed(message, suppressed));
        }
    }
}

impl Manager {
    /// `enter_phase` for the unit `name`, looked up.
    fn enter(&mut self, name: &str, phase: Phase) {
        let now = self.now.mono;
        if let Some(svc) = self.services.get_mut(name) {
            enter_phase(svc, &mut self.timers, &mut self.actions, name, phase, now);
        }
    }
}

/// Moves `svc` (the unit `name`) to `phase`, disarms the deadlines that
/// mean nothing there (`timers::valid_in`), and removes the unit's runtime
/// directories once it is down: every phase change goes through here, so no
/// deadline outlives the phase it belongs to.
fn enter_phase(
    svc: &mut Service,
    timers: &mut Timers,
    actions: &mut Vec<Action>,
    name: &str,
    phase: Phase,
    now: Duration,
) {
    let was_down = matches!(svc.phase, Phase::Inactive | Phase::Failed);
    svc.set_phase(phase, now);
    timers.keep_valid_for(name, &svc.phase);
    // The unit stopped (not a wait before a restart): its runtime
    // directories go, as systemd's RuntimeDirectory= do.
    let down = matches!(svc.phase, Phase::Inactive | Phase::Failed);
    if down && !was_down && !svc.def.extra().runtime_directory.is_empty() {
        actions.push(Action::RemoveRuntimeDirectories {
            unit: name.to_string(),
            paths: svc.def.extra().runtime_directory.clone(),
        });
    }
}

/// The target booted when nothing else is asked for; implicit if no file defines it.
pub const DEFAULT_TARGET: &str = "default";

#[cfg(test)]
mod tests;
