//! The manager's part of a live re-exec (`vigilctl daemon-reexec`): its
//! whole state as a value the old image writes and the new one reads, and
//! the fallback that adopts what can be proven when that value cannot be
//! read. Pure like the rest of the manager: the clock comes in.
//!
//! Times stay CLOCK_MONOTONIC readings (the kernel keeps that clock across
//! execve); deadlines travel as the time remaining when the state was
//! written, and are re-armed from the new image's clock.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, Name};
use crate::service::{DeadlineKind, Group, Phase, Service};
use crate::unit::UnitDef;

use super::goals::BootState;
use super::ratelimit::RateLimits;
use super::timers::Timers;
use super::{enter_phase, BootRecord, Manager, Now, Settings};

/// Everything the manager knows, for the next image.
#[derive(Debug, Serialize, Deserialize)]
pub struct ManagerState {
    services: Vec<(String, Service)>,
    target: String,
    settings: Settings,
    boot: BootState,
    boot_started: Duration,
    created: Duration,
    deadlines: Vec<SavedDeadline>,
    boot_problem: Option<String>,
    doomed: BTreeSet<String>,
    candidates: BTreeSet<String>,
    pids: Vec<(i32, String)>,
    boot_record: BootRecord,
    boot_done: Option<Duration>,
}

/// One armed deadline, as the time left when the state was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedDeadline {
    unit: String,
    kind: DeadlineKind,
    remaining: Duration,
}

/// Why the manager will not hand over now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoverRefused {
    #[error("a shutdown is in progress")]
    ShuttingDown,
}

/// A unit's processes as the old image last knew them: what the fallback
/// adopts when it can prove they are still the unit's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Survivor {
    pub unit: String,
    pub main_pid: i32,
    /// The process group vigil may signal, when it knew one.
    pub pgid: Option<i32>,
}

impl Manager {
    /// The state to hand to the next image at `now`, or why not now.
    /// Clients waiting for a job are not carried over: the shell closes
    /// their connections (the jobs themselves go on).
    pub fn handover(&self, now: Now) -> Result<ManagerState, HandoverRefused> {
        if self.shutdown.is_some() {
            return Err(HandoverRefused::ShuttingDown);
        }
        let deadlines = self
            .timers
            .all()
            .map(|(unit, kind, at)| SavedDeadline {
                unit: unit.to_string(),
                kind,
                remaining: at.saturating_sub(now.mono),
            })
            .collect();
        Ok(ManagerState {
            services: self
                .services
                .iter()
                .map(|(name, svc)| (name.to_string(), (**svc).clone()))
                .collect(),
            target: self.target.clone(),
            settings: self.settings,
            boot: self.boot,
            boot_started: self.boot_started,
            created: self.created,
            deadlines,
            boot_problem: self.boot_problem.clone(),
            doomed: self.doomed.clone(),
            candidates: self.candidates.clone(),
            pids: self.pids.iter().map(|(p, n)| (*p, n.to_string())).collect(),
            boot_record: self.boot_record.clone(),
            boot_done: self.boot_done,
        })
    }

    /// The manager the previous image handed over, its deadlines re-armed
    /// from `now`. `self_pid` is this process (the same pid after an exec).
    pub fn resume(state: ManagerState, now: Now) -> Manager {
        let services: BTreeMap<Name, Box<Service>> = state
            .services
            .into_iter()
            .map(|(name, svc)| (super::shared_key(name, &svc.def), Box::new(svc)))
            .collect();
        let defs: BTreeMap<Name, std::rc::Rc<UnitDef>> = services
            .iter()
            .map(|(name, svc)| (name.clone(), std::rc::Rc::clone(&svc.def)))
            .collect();
        let graph = Graph::build(&defs);
        drop(defs);
        let pids = state
            .pids
            .into_iter()
            .map(|(pid, name)| (pid, super::name_in(&services, &name)))
            .collect();
        let mut timers = Timers::default();
        for d in state.deadlines {
            timers.set(&d.unit, d.kind, now.mono.saturating_add(d.remaining));
        }
        Manager {
            services,
            graph,
            target: state.target,
            settings: state.settings,
            boot: state.boot,
            boot_started: state.boot_started,
            created: state.created,
            shutdown: None,
            shutdown_started: now.mono,
            shutdown_deadline: None,
            power_off_sent: false,
            timers,
            rate_limits: RateLimits::default(),
            waiters: Vec::new(),
            boot_problem: state.boot_problem,
            doomed: state.doomed,
            actions: Vec::new(),
            now,
            candidates: state.candidates,
            pids,
            busy_hint: None,
            pull_scan_hint: Cell::new(0),
            boot_record: state.boot_record,
            boot_done: state.boot_done,
        }
    }

    /// Every unit's main process and group, for the fallback of an image
    /// that cannot read the whole state.
    pub fn survivors(&self) -> Vec<Survivor> {
        self.services
            .iter()
            .filter_map(|(name, svc)| {
                Some(Survivor {
                    unit: name.to_string(),
                    main_pid: svc.main_pid?,
                    pgid: svc.groups.first().map(|g| g.pgid),
                })
            })
            .collect()
    }

    /// The fallback: `unit`'s main process `pid` is still running and the
    /// shell proved it is vigil's unreaped child (so the pid cannot have
    /// been reused). The unit is marked running with it; its group is
    /// trusted only when `pid` leads it. Returns false (and changes
    /// nothing) for a unit this manager does not know or already runs.
    pub fn adopt_survivor(&mut self, unit: &str, pid: i32, pgid: Option<i32>) -> bool {
        let mono = self.now.mono;
        let key = self.shared_name(unit);
        let Some(svc) = self.services.get_mut(unit) else {
            return false;
        };
        if svc.phase != Phase::Inactive {
            return false;
        }
        svc.main_pid = Some(pid);
        svc.leader = Some(pid);
        svc.started_at = Some(mono);
        svc.groups = match pgid {
            Some(g) if g == pid => vec![Group {
                pgid: g,
                witness: pid,
            }],
            _ => Vec::new(),
        };
        enter_phase(
            svc,
            &mut self.timers,
            &mut self.actions,
            unit,
            Phase::Running,
            mono,
        );
        self.pids.insert(pid, key);
        true
    }

    /// The clock the manager last saw (for a resumed shell).
    pub fn set_now(&mut self, now: Now) {
        self.now = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::{Action, Event};
    use crate::unit::UnitDef;

    fn now(ms: u64) -> Now {
        Now {
            mono: Duration::from_millis(ms),
            unix_secs: 1_700_000_000.0 + ms as f64 / 1000.0,
        }
    }

    fn unit(name: &str) -> UnitDef {
        let mut d = UnitDef::new(name);
        d.exec = thin_vec::thin_vec!["/bin/sleep".into(), "100".into()];
        d.restart = crate::unit::RestartPolicy::Always;
        d.restart_delay = Duration::from_secs(10);
        d.wanted_by = thin_vec::thin_vec!["default".into()];
        d
    }

    fn manager() -> Manager {
        let mut units: BTreeMap<String, UnitDef> = ["a", "b"]
            .iter()
            .map(|n| (n.to_string(), unit(n)))
            .collect();
        let mut target = UnitDef::new("default");
        target.kind = crate::unit::UnitKind::Target;
        units.insert("default".into(), target);
        Manager::new(units, "default", Settings::default(), now(0))
    }

    fn spawned(m: &mut Manager, name: &str, pid: i32, at: u64) {
        m.handle(
            Event::Spawned {
                unit: name.into(),
                result: Ok(pid),
            },
            now(at),
        );
    }

    #[test]
    fn a_backing_off_unit_keeps_its_remaining_delay_across_the_handover() {
        let mut m = manager();
        let actions = m.handle(Event::Boot, now(0));
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, Action::Spawn { .. }))
                .count(),
            2
        );
        spawned(&mut m, "a", 100, 1);
        spawned(&mut m, "b", 200, 1);
        m.handle(
            Event::ChildExited {
                pid: 100,
                status: crate::exit::ExitStatus::Exited(1),
                next_witness: None,
            },
            now(2_000),
        );
        // a restarts 10 s after its exit: at 12 s. Hand over at 5 s...
        let state = m.handover(now(5_000)).expect("not shutting down");
        let text = serde_json::to_string(&state).expect("serializable");
        let back: ManagerState = serde_json::from_str(&text).expect("readable");
        // ...and resume on a clock 100 s later: 7 s are still to go.
        let mut m2 = Manager::resume(back, now(105_000));
        assert_eq!(m2.next_deadline(), Some(Duration::from_millis(112_000)));
        assert_eq!(m2.service("b").and_then(|s| s.main_pid), Some(200));
        let a = m2.service("a").expect("a");
        assert_eq!(a.exits.len(), 1);
        assert_eq!(a.failures_in_row, 1);
        // Before the delay nothing happens; at its end, a starts again.
        assert!(!m2
            .handle(Event::Timer, now(111_000))
            .iter()
            .any(|a| matches!(a, Action::Spawn { .. })));
        assert!(m2
            .handle(Event::Timer, now(112_000))
            .iter()
            .any(|x| matches!(x, Action::Spawn { unit, .. } if &**unit == "a")));
        // An exit of b reaches b: the pid index came along.
        spawned(&mut m2, "a", 101, 112_001);
        m2.handle(
            Event::ChildExited {
                pid: 200,
                status: crate::exit::ExitStatus::Exited(0),
                next_witness: None,
            },
            now(113_000),
        );
        assert_eq!(m2.service("b").map(|s| s.exits.len()), Some(1));
    }

    #[test]
    fn no_handover_during_a_shutdown() {
        let mut m = manager();
        m.handle(Event::Boot, now(0));
        m.handle(
            Event::Shutdown {
                action: crate::power::PowerAction::Poweroff,
                force: false,
            },
            now(1),
        );
        assert_eq!(
            m.handover(now(2)).err(),
            Some(HandoverRefused::ShuttingDown)
        );
    }

    #[test]
    fn the_fallback_adopts_a_proven_survivor_and_starts_the_rest() {
        let mut m = manager();
        m.set_now(now(10));
        assert!(m.adopt_survivor("a", 300, Some(300)));
        assert!(!m.adopt_survivor("nope", 301, None));
        assert!(!m.adopt_survivor("a", 302, None), "a already runs");
        let actions = m.handle(Event::Boot, now(11));
        let spawned: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Spawn { unit, .. } => Some(&**unit),
                _ => None,
            })
            .collect();
        assert_eq!(spawned, vec!["b"]);
        assert_eq!(m.unit_of_pid(300), Some("a"));
        assert_eq!(
            m.survivors(),
            vec![Survivor {
                unit: "a".into(),
                main_pid: 300,
                pgid: Some(300)
            }]
        );
    }
}
