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
//! - `requests`: control requests and the clients waiting for their jobs;
//! - `reload`: applying a re-read units directory;
//! - `goals`: the boot target and the shutdown;
//! - `views`: what `list`, `status` and the state dump show.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::control::protocol::Reply;
use crate::graph::Graph;
use crate::log::Level;
use crate::power::PowerAction;
use crate::service::Service;
use crate::unit::UnitDef;

mod events;
mod goals;
mod jobs;
mod kind;
mod lifecycle;
mod process_events;
mod reload;
mod requests;
mod views;

pub use events::{Action, ClientId, Event, NotifyMessage, Now, PidFileError, SpawnFailure};
pub use views::kind_name;

use goals::BootState;
use jobs::may_advance;
use requests::Waiter;

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
                diagnostics,
                broken,
                client,
            } => self.on_reloaded(units, diagnostics, broken, client),
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

    fn reply(&mut self, client: ClientId, reply: Reply) {
        self.actions.push(Action::Reply { client, reply });
    }

    fn log(&mut self, level: Level, message: String) {
        self.actions.push(Action::Log { level, message });
    }
}

/// The target booted when nothing else is asked for; implicit if no file defines it.
pub const DEFAULT_TARGET: &str = "default";

#[cfg(test)]
mod tests;
