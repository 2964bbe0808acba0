//! State-machine tests of the manager with a fake clock and fake pids.

use std::path::Path;

use super::*;
use crate::control::protocol::{ReplyBody, Request, UnitState};
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::log::Level;
use crate::power::PowerAction;
use crate::unit::{RestartPolicy, UnitDef, UnitKind};

/// A manager plus a fake clock and a pid allocator that answers spawns.
struct Sim {
    m: Manager,
    t: Duration,
    next_pid: i32,
    /// Every action seen so far.
    log: Vec<Action>,
    /// Units whose spawn should fail.
    fail_spawn: Vec<String>,
}

fn svc(name: &str) -> UnitDef {
    let mut d = UnitDef::new(name);
    d.exec = thin_vec::thin_vec!["/bin/true".into()];
    d.wanted_by = thin_vec::thin_vec!["default".into()];
    d
}

fn target(name: &str) -> UnitDef {
    let mut d = UnitDef::new(name);
    d.kind = UnitKind::Target;
    d
}

impl Sim {
    fn new(units: Vec<UnitDef>) -> Sim {
        let mut map: BTreeMap<String, UnitDef> =
            units.into_iter().map(|u| (u.name.to_string(), u)).collect();
        map.entry("default".into())
            .or_insert_with(|| target("default"));
        let m = Manager::new(map, "default", machine(), now(Duration::ZERO));
        Sim {
            m,
            t: Duration::ZERO,
            next_pid: 100,
            log: Vec::new(),
            fail_spawn: Vec::new(),
        }
    }

    /// Feed an event; answer spawns at once like the real shell. Returns the
    /// actions of this step (including those caused by the spawn answers).
    fn feed(&mut self, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        let mut queue = vec![with_facts(ev)];
        while let Some(ev) = queue.pop() {
            let actions = self.m.handle(ev, now(self.t));
            for a in actions {
                if let Action::Spawn { unit, .. } = &a {
                    let result = if self.fail_spawn.iter().any(|f| **f == **unit) {
                        Err(SpawnFailure {
                            stage: "executing /nope".into(),
                            error: "No such file or directory".into(),
                        })
                    } else {
                        self.next_pid += 1;
                        Ok(self.next_pid)
                    };
                    queue.insert(
                        0,
                        Event::Spawned {
                            unit: unit.to_string(),
                            result,
                        },
                    );
                }
                out.push(a.clone());
                self.log.push(a);
            }
        }
        out
    }

    fn advance(&mut self, d: Duration) -> Vec<Action> {
        self.t += d;
        match self.m.next_deadline() {
            Some(t) if t <= self.t => self.feed(Event::Timer),
            _ => Vec::new(),
        }
    }

    fn pid(&self, name: &str) -> i32 {
        self.m
            .service(name)
            .and_then(|s| s.main_pid)
            .expect("unit has a pid")
    }

    fn state(&self, name: &str) -> UnitState {
        self.m.service(name).expect("unit exists").state()
    }

    fn exit(&mut self, name: &str, status: ExitStatus) -> Vec<Action> {
        let pid = self.pid(name);
        self.feed(Event::ChildExited {
            pid,
            status,
            next_witness: None,
        })
    }
}

/// Like the shell: a MAINPID= gets the facts of the process it names (a
/// live root process, unless the test gave facts of its own).
fn with_facts(ev: Event) -> Event {
    match ev {
        Event::Notify {
            pid,
            uid,
            session,
            message,
            main_pid: None,
        } if message.main_pid.is_some() => {
            let main_pid = message.main_pid.map(|m| live(m, 0));
            Event::Notify {
                pid,
                uid,
                session,
                message,
                main_pid,
            }
        }
        ev => ev,
    }
}

fn now(mono: Duration) -> Now {
    Now {
        mono,
        unix_secs: 1_700_000_000.0 + mono.as_secs_f64(),
    }
}

fn spawned(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Spawn { unit, .. } => Some(unit.to_string()),
            _ => None,
        })
        .collect()
}

/// The signals sent, as (pid or pgid, signal, to a group), without the
/// SIGCONT that follows each stop signal.
fn kills(actions: &[Action]) -> Vec<(i32, i32, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal {
                target: SignalTarget::Process(pid),
                signal,
                ..
            } => Some((*pid, *signal, false)),
            Action::Signal {
                target: SignalTarget::Group { pgid, .. },
                signal,
                ..
            } => Some((*pgid, *signal, true)),
            _ => None,
        })
        .collect()
}

/// Settings of vigil as the machine's init.
fn machine() -> Settings {
    Settings {
        pid1: true,
        ..Settings::default()
    }
}

/// What the shell would find out about a live process of `uid` that is
/// not vigil's child.
fn live(pid: i32, uid: u32) -> ProcessFacts {
    ProcessFacts {
        pid,
        alive: true,
        uid: Some(uid),
        child: false,
        pgid: Some(pid),
    }
}

/// A pid file owned by `owner` naming a live process of `owner`.
fn pid_file(pid: i32, owner: u32) -> PidFileFacts {
    PidFileFacts {
        owner,
        process: live(pid, owner),
    }
}

fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn independent_units_start_in_parallel() {
    let mut sim = Sim::new(vec![svc("a"), svc("b"), svc("c")]);
    let acts = sim.feed(Event::Boot);
    assert_eq!(spawned(&acts), vec!["a", "b", "c"]);
    assert_eq!(sim.state("default"), UnitState::Running);
    assert!(logs(&acts)
        .iter()
        .any(|l| l.starts_with("target default is up")));
}

#[test]
fn after_waits_for_readiness_of_notify_unit() {
    let mut db = svc("db");
    db.kind = UnitKind::Notify;
    let mut web = svc("web");
    web.after = thin_vec::thin_vec!["db".into()];
    let mut sim = Sim::new(vec![db, web]);
    let acts = sim.feed(Event::Boot);
    assert_eq!(spawned(&acts), vec!["db"], "web must wait for db");
    assert_eq!(sim.state("db"), UnitState::Starting);
    assert_eq!(sim.state("default"), UnitState::Starting);
    let pid = sim.pid("db");
    let acts = sim.feed(Event::Notify {
        uid: Some(0),
        main_pid: None,
        pid,
        session: None,
        message: NotifyMessage {
            ready: true,
            ..Default::default()
        },
    });
    assert_eq!(spawned(&acts), vec!["web"]);
    assert_eq!(sim.state("db"), UnitState::Running);
    assert_eq!(sim.state("default"), UnitState::Running);
}

#[test]
fn before_is_the_same_edge_declared_on_the_other_side() {
    let mut a = svc("a");
    a.before = thin_vec::thin_vec!["b".into()];
    a.kind = UnitKind::Oneshot;
    let sim_b = svc("b");
    let mut sim = Sim::new(vec![a, sim_b]);
    let acts = sim.feed(Event::Boot);
    assert_eq!(spawned(&acts), vec!["a"]);
    let acts = sim.exit("a", ExitStatus::Exited(0));
    assert_eq!(spawned(&acts), vec!["b"]);
    assert_eq!(sim.state("a"), UnitState::Exited);
}

#[test]
fn notify_from_helper_in_same_session_counts() {
    let mut n = svc("n");
    n.kind = UnitKind::Notify;
    let mut sim = Sim::new(vec![n]);
    sim.feed(Event::Boot);
    let pid = sim.pid("n");
    sim.feed(Event::Notify {
        uid: Some(0),
        main_pid: None,
        pid: 9999,
        session: Some(pid),
        message: NotifyMessage {
            ready: true,
            status: Some("serving".into()),
            ..Default::default()
        },
    });
    assert_eq!(sim.state("n"), UnitState::Running);
    assert_eq!(
        sim.m.service("n").and_then(|s| s.notes.status_text.clone()),
        Some("serving".into())
    );
}

#[test]
fn ordered_unit_still_starts_when_dependency_fails() {
    let mut a = svc("a");
    a.kind = UnitKind::Oneshot;
    let mut b = svc("b");
    b.after = thin_vec::thin_vec!["a".into()];
    let mut sim = Sim::new(vec![a, b]);
    sim.feed(Event::Boot);
    let acts = sim.exit("a", ExitStatus::Exited(2));
    assert_eq!(sim.state("a"), UnitState::Failed);
    assert_eq!(spawned(&acts), vec!["b"], "after= is ordering only");
}

#[test]
fn requires_failure_fails_dependent_with_reason() {
    let mut a = svc("a");
    a.kind = UnitKind::Oneshot;
    let mut b = svc("b");
    b.after = thin_vec::thin_vec!["a".into()];
    b.requires = thin_vec::thin_vec!["a".into()];
    let mut sim = Sim::new(vec![a, b]);
    sim.feed(Event::Boot);
    let acts = sim.exit("a", ExitStatus::Exited(2));
    assert!(spawned(&acts).is_empty());
    assert_eq!(sim.state("b"), UnitState::Failed);
    let reason = sim.m.service("b").and_then(|s| s.notes.reason.clone());
    assert_eq!(reason.as_deref(), Some("dependency failed: a"));
    assert_eq!(sim.m.system_state(), SystemState::Degraded);
}

#[test]
fn required_unit_stopping_stops_dependent() {
    let a = svc("a");
    let mut b = svc("b");
    b.requires = thin_vec::thin_vec!["a".into()];
    b.after = thin_vec::thin_vec!["a".into()];
    let mut sim = Sim::new(vec![a, b]);
    sim.feed(Event::Boot);
    let pid_b = sim.pid("b");
    let acts = sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Stop {
            names: vec!["a".into()],
            no_block: false,
        },
    });
    // b is ordered after a, so it stops first; a waits.
    assert_eq!(kills(&acts), vec![(pid_b, libc::SIGTERM, true)]);
    let acts = sim.exit(
        "b",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false,
        },
    );
    let pid_a = sim.pid("a");
    assert!(kills(&acts).contains(&(pid_a, libc::SIGTERM, true)));
    let acts = sim.exit("a", ExitStatus::Exited(0));
    assert_eq!(sim.state("a"), UnitState::Inactive);
    assert_eq!(sim.state("b"), UnitState::Inactive);
    let replied = acts
        .iter()
        .any(|a| matches!(a, Action::Reply { client: ClientId(1), reply } if reply.ok));
    assert!(replied, "stop reply sent once both are down: {acts:?}");
}

#[test]
fn spawn_failure_is_a_failed_state_with_stage() {
    let mut sim = Sim::new(vec![svc("bad")]);
    sim.fail_spawn.push("bad".into());
    sim.feed(Event::Boot);
    assert_eq!(sim.state("bad"), UnitState::Failed);
    let s = sim.m.service("bad").expect("bad");
    assert_eq!(
        s.notes.reason.as_deref(),
        Some("could not start: executing /nope: No such file or directory")
    );
    assert_eq!(s.exits.len(), 1);
}

#[test]
fn on_failure_restarts_with_doubling_backoff_then_start_limit() {
    let mut u = svc("crashy");
    u.restart = RestartPolicy::OnFailure;
    u.restart_delay = ms(100);
    u.extra_mut().restart_delay_max = ms(1000);
    u.extra_mut().start_limit_burst = 4;
    u.extra_mut().start_limit_interval = Duration::from_secs(10);
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let mut delays = Vec::new();
    for _ in 0..3 {
        sim.exit("crashy", ExitStatus::Exited(1));
        assert_eq!(sim.state("crashy"), UnitState::Starting);
        let due = sim.m.next_deadline().expect("restart scheduled");
        delays.push((due - sim.t).as_millis());
        // Nothing happens a millisecond early.
        assert!(spawned(&sim.advance(due - sim.t - ms(1))).is_empty());
        assert_eq!(spawned(&sim.advance(ms(1))), vec!["crashy"]);
    }
    assert_eq!(delays, vec![100, 200, 400]);
    assert_eq!(sim.m.service("crashy").map(|s| s.restarts), Some(3));
    // Fourth start was admitted (4 starts); the fifth hits the limit.
    sim.exit("crashy", ExitStatus::Exited(1));
    let acts = sim.advance(ms(800));
    assert!(spawned(&acts).is_empty());
    assert_eq!(sim.state("crashy"), UnitState::Failed);
    let reason = sim
        .m
        .service("crashy")
        .and_then(|s| s.notes.reason.clone())
        .unwrap();
    assert!(reason.starts_with("start limit hit"), "{reason}");
    assert_eq!(sim.m.next_deadline(), None, "no timer left when failed");
    // A manual start clears the limit.
    let acts = sim.feed(Event::Request {
        client: ClientId(7),
        request: Request::Start {
            names: vec!["crashy".into()],
            no_block: false,
        },
    });
    assert_eq!(spawned(&acts), vec!["crashy"]);
    assert_eq!(sim.state("crashy"), UnitState::Running);
}

#[test]
fn on_failure_does_not_restart_clean_exit_but_always_does() {
    let mut a = svc("a");
    a.restart = RestartPolicy::OnFailure;
    let mut b = svc("b");
    b.restart = RestartPolicy::Always;
    let c = svc("c");
    let mut sim = Sim::new(vec![a, b, c]);
    sim.feed(Event::Boot);
    sim.exit("a", ExitStatus::Exited(0));
    sim.exit("b", ExitStatus::Exited(0));
    sim.exit("c", ExitStatus::Exited(1));
    assert_eq!(sim.state("a"), UnitState::Exited);
    assert_eq!(sim.state("b"), UnitState::Starting);
    assert_eq!(sim.state("c"), UnitState::Failed, "restart=never");
    assert_eq!(spawned(&sim.advance(ms(100))), vec!["b"]);
}

#[test]
fn a_unit_holds_its_notes_box_only_while_it_has_something_to_say() {
    let mut u = svc("u");
    u.restart = RestartPolicy::OnFailure;
    u.restart_delay = ms(100);
    let quiet = svc("quiet");
    let mut sim = Sim::new(vec![u, quiet]);
    sim.feed(Event::Boot);
    let boxed = |sim: &Sim, name: &str| sim.m.service(name).expect(name).notes.is_boxed();
    assert!(
        !boxed(&sim, "u") && !boxed(&sim, "quiet"),
        "running units hold no box"
    );
    sim.exit("u", ExitStatus::Exited(1));
    let reason = sim.m.service("u").and_then(|s| s.notes.reason.clone());
    assert_eq!(reason.as_deref(), Some("exited 1"));
    assert!(boxed(&sim, "u"), "a failure's reason is kept");
    assert_eq!(spawned(&sim.advance(ms(100))), vec!["u"]);
    assert_eq!(sim.state("u"), UnitState::Running);
    assert!(!boxed(&sim, "u"), "the box goes once the unit runs again");
}

#[test]
fn healthy_run_resets_backoff() {
    let mut u = svc("u");
    u.restart = RestartPolicy::Always;
    u.restart_delay = ms(100);
    u.extra_mut().start_limit_interval = Duration::from_secs(10);
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    for _ in 0..3 {
        sim.exit("u", ExitStatus::Exited(1));
        let d = sim.m.next_deadline().unwrap() - sim.t;
        sim.advance(d);
    }
    sim.t += Duration::from_secs(30);
    sim.exit("u", ExitStatus::Exited(1));
    assert_eq!(sim.m.next_deadline().unwrap() - sim.t, ms(100));
}

#[test]
fn stop_escalates_to_sigkill_of_the_group_after_timeout() {
    let mut u = svc("stubborn");
    u.stop_timeout = Duration::from_secs(2);
    u.stop_signal = libc::SIGINT;
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let pid = sim.pid("stubborn");
    let acts = sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Stop {
            names: vec!["stubborn".into()],
            no_block: true,
        },
    });
    assert_eq!(kills(&acts), vec![(pid, libc::SIGINT, true)]);
    assert_eq!(sim.state("stubborn"), UnitState::Stopping);
    assert!(kills(&sim.advance(ms(1999))).is_empty());
    let acts = sim.advance(ms(1));
    assert_eq!(kills(&acts), vec![(pid, libc::SIGKILL, true)]);
    sim.exit(
        "stubborn",
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false,
        },
    );
    assert_eq!(sim.state("stubborn"), UnitState::Inactive);
    assert_eq!(sim.m.next_deadline(), None);
}

#[test]
fn shutdown_stops_in_reverse_order_then_powers_off() {
    let a = svc("a");
    let mut b = svc("b");
    b.after = thin_vec::thin_vec!["a".into()];
    let c = svc("c");
    let mut sim = Sim::new(vec![a, b, c]);
    sim.feed(Event::Boot);
    let (pa, pb, pc) = (sim.pid("a"), sim.pid("b"), sim.pid("c"));
    let acts = sim.feed(Event::Shutdown {
        action: PowerAction::Poweroff,
        force: false,
    });
    let k = kills(&acts);
    assert!(k.contains(&(pb, libc::SIGTERM, true)));
    assert!(
        k.contains(&(pc, libc::SIGTERM, true)),
        "independent ones in parallel"
    );
    assert!(!k.iter().any(|(p, _, _)| *p == pa), "a waits for b");
    let acts = sim.exit("b", ExitStatus::Exited(0));
    assert!(kills(&acts).contains(&(pa, libc::SIGTERM, true)));
    sim.exit("c", ExitStatus::Exited(0));
    let acts = sim.exit("a", ExitStatus::Exited(0));
    assert!(acts.contains(&Action::PowerOff(PowerAction::Poweroff)));
    assert!(
        spawned(&sim.log).len() == 3,
        "nothing restarted during shutdown"
    );
}

#[test]
fn forced_shutdown_skips_the_stop_phase_but_leaves_nothing_running() {
    // A forced power action does not wait for the units, but kills them:
    // in supervisor mode vigil exits at once, and nothing may outlive it.
    let mut sim = Sim::new(vec![svc("a")]);
    sim.feed(Event::Boot);
    let pid = sim.pid("a");
    let acts = sim.feed(Event::Shutdown {
        action: PowerAction::Exit,
        force: true,
    });
    assert_eq!(kills(&acts), vec![(pid, libc::SIGKILL, true)]);
    let last = acts.last();
    assert_eq!(last, Some(&Action::PowerOff(PowerAction::Exit)));
}

#[test]
fn forking_unit_reads_pid_file_with_retry() {
    let mut f = svc("forky");
    f.kind = UnitKind::Forking;
    f.extra_mut().pid_file = Some("/run/forky.pid".into());
    let mut sim = Sim::new(vec![f]);
    sim.feed(Event::Boot);
    let acts = sim.exit("forky", ExitStatus::Exited(0));
    assert!(acts.iter().any(|a| matches!(a, Action::ReadPidFile { .. })));
    assert_eq!(sim.state("forky"), UnitState::Starting);
    sim.feed(Event::PidFile {
        unit: "forky".into(),
        result: Err(PidFileError::NotReady("missing".into())),
    });
    let acts = sim.advance(ms(50));
    assert!(acts.iter().any(|a| matches!(a, Action::ReadPidFile { .. })));
    sim.feed(Event::PidFile {
        unit: "forky".into(),
        result: Ok(pid_file(4242, 0)),
    });
    assert_eq!(sim.state("forky"), UnitState::Running);
    assert_eq!(sim.pid("forky"), 4242);
}

#[test]
fn notify_start_timeout_fails_and_kills() {
    let mut n = svc("slow");
    n.kind = UnitKind::Notify;
    n.start_timeout = Duration::from_secs(3);
    let mut sim = Sim::new(vec![n]);
    sim.feed(Event::Boot);
    let pid = sim.pid("slow");
    let acts = sim.advance(Duration::from_secs(3));
    assert_eq!(kills(&acts), vec![(pid, libc::SIGTERM, true)]);
    sim.exit(
        "slow",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false,
        },
    );
    assert_eq!(sim.state("slow"), UnitState::Failed);
    assert_eq!(
        sim.m
            .service("slow")
            .and_then(|s| s.notes.reason.clone())
            .as_deref(),
        Some("start timed out after 3.0s")
    );
}

#[test]
fn orphan_exit_is_logged() {
    let mut sim = Sim::new(vec![]);
    let acts = sim.feed(Event::ChildExited {
        next_witness: None,
        pid: 555,
        status: ExitStatus::Signaled {
            signal: libc::SIGSEGV,
            core_dumped: true,
        },
    });
    assert_eq!(
        logs(&acts),
        vec!["orphan pid 555 killed by SIGSEGV (core dumped)".to_string()]
    );
}

#[test]
fn exit_history_keeps_codes_and_runtimes() {
    let mut u = svc("u");
    u.restart = RestartPolicy::Always;
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    sim.t += ms(1500);
    sim.exit("u", ExitStatus::Exited(3));
    sim.advance(ms(100));
    sim.t += ms(200);
    sim.exit(
        "u",
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false,
        },
    );
    let s = sim.m.service("u").unwrap();
    let got: Vec<(String, Option<i32>, Option<String>, u64)> = s
        .exits
        .iter()
        .map(|e| (e.outcome.clone(), e.code, e.signal.clone(), e.runtime_ms))
        .collect();
    assert_eq!(
        got,
        vec![
            ("exited 3".into(), Some(3), None, 1500),
            (
                "killed by SIGKILL".into(),
                None,
                Some("SIGKILL".into()),
                200
            ),
        ]
    );
    assert_eq!(s.restarts, 2);
}

#[test]
fn start_request_replies_when_job_finishes() {
    let mut o = svc("job");
    o.kind = UnitKind::Oneshot;
    o.wanted_by.clear();
    let mut sim = Sim::new(vec![o]);
    sim.feed(Event::Boot);
    assert_eq!(sim.state("job"), UnitState::Inactive, "not enabled");
    let acts = sim.feed(Event::Request {
        client: ClientId(3),
        request: Request::Start {
            names: vec!["job".into(), "nope".into()],
            no_block: false,
        },
    });
    assert!(!acts.iter().any(|a| matches!(a, Action::Reply { .. })));
    let acts = sim.exit("job", ExitStatus::Exited(0));
    let reply = acts
        .iter()
        .find_map(|a| match a {
            Action::Reply {
                client: ClientId(3),
                reply,
            } => Some(reply.clone()),
            _ => None,
        })
        .expect("reply");
    let Some(ReplyBody::Jobs { results }) = reply.body else {
        panic!("not jobs")
    };
    let got: Vec<(String, bool)> = results.iter().map(|r| (r.name.clone(), r.ok)).collect();
    assert_eq!(got, vec![("nope".into(), false), ("job".into(), true)]);
}

#[test]
fn idle_manager_has_no_deadline() {
    let units: Vec<UnitDef> = (0..50).map(|i| svc(&format!("s{i}"))).collect();
    let mut sim = Sim::new(units);
    sim.feed(Event::Boot);
    assert_eq!(sim.m.next_deadline(), None);
}

#[test]
fn reload_adds_removes_changes_and_keeps_broken() {
    let mut sim = Sim::new(vec![svc("keep"), svc("gone"), svc("broken")]);
    sim.feed(Event::Boot);
    let pid_gone = sim.pid("gone");
    let mut units = BTreeMap::new();
    let mut keep = svc("keep");
    keep.description = "changed".into();
    units.insert("keep".to_string(), keep);
    units.insert("fresh".to_string(), svc("fresh"));
    units.insert("default".to_string(), target("default"));
    let acts = sim.feed(Event::Reloaded {
        settings: None,
        units,
        diagnostics: vec![Diagnostic::error_at(Path::new("broken.toml"), 1, 1, "bad")],
        broken: vec!["broken".into()],
        client: Some(ClientId(9)),
    });
    assert_eq!(spawned(&acts), vec!["fresh"]);
    // The diagnostic keeps its own severity, with no second level tag.
    assert!(
        acts.contains(&Action::LogUntagged {
            level: Level::Error,
            message: "reload: broken.toml:1:1: error: bad".into()
        }),
        "{acts:?}"
    );
    assert!(kills(&acts).contains(&(pid_gone, libc::SIGTERM, true)));
    assert_eq!(
        sim.state("broken"),
        UnitState::Running,
        "broken file keeps old unit"
    );
    let reply = acts.iter().find_map(|a| match a {
        Action::Reply {
            client: ClientId(9),
            reply,
        } => reply.body.clone(),
        _ => None,
    });
    let Some(ReplyBody::Reload {
        added,
        removed,
        changed,
        ..
    }) = reply
    else {
        panic!("no reload reply: {acts:?}")
    };
    assert_eq!(
        (added, removed, changed),
        (
            vec!["fresh".to_string()],
            vec!["gone".to_string()],
            vec!["keep".to_string()]
        )
    );
    sim.exit("gone", ExitStatus::Exited(0));
    assert!(sim.m.service("gone").is_none(), "removed once stopped");
}

#[test]
fn unprivileged_view_list_contains_reason() {
    let mut sim = Sim::new(vec![svc("bad")]);
    sim.fail_spawn.push("bad".into());
    sim.feed(Event::Boot);
    let acts = sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::List,
    });
    let body = acts.iter().find_map(|a| match a {
        Action::Reply { reply, .. } => reply.body.clone(),
        _ => None,
    });
    let Some(ReplyBody::List { units }) = body else {
        panic!()
    };
    let bad = units.iter().find(|u| u.name == "bad").unwrap();
    assert_eq!(bad.state, UnitState::Failed);
    assert!(bad
        .reason
        .as_deref()
        .unwrap()
        .starts_with("could not start"));
}

#[test]
fn missing_boot_target_falls_back_to_default_degraded() {
    let mut map: BTreeMap<String, UnitDef> = BTreeMap::new();
    map.insert("default".into(), target("default"));
    map.insert("getty".into(), svc("getty"));
    let mut m = Manager::new(map, "resuce", machine(), now(Duration::ZERO));
    let acts = m.handle(Event::Boot, now(Duration::ZERO));
    assert_eq!(spawned(&acts), vec!["getty"]);
    assert!(logs(&acts)
        .iter()
        .any(|l| l == "boot target \"resuce\" does not exist; starting \"default\" instead"));
    let acts = m.handle(
        Event::Spawned {
            unit: "getty".into(),
            result: Ok(5),
        },
        now(Duration::ZERO),
    );
    assert!(logs(&acts).iter().any(|l| l.starts_with("started getty")));
    assert_eq!(m.system_state(), SystemState::Degraded);
}

#[test]
fn refused_pid_file_fails_at_once_and_kills_the_launchers_group() {
    let mut f = svc("liar");
    f.kind = UnitKind::Forking;
    f.extra_mut().pid_file = Some("/run/liar.pid".into());
    let mut sim = Sim::new(vec![f]);
    sim.feed(Event::Boot);
    let launcher = sim.pid("liar");
    // The daemon stayed in the launcher's group: the shell names it as the
    // group's witness once the launcher is reaped.
    sim.feed(Event::ChildExited {
        pid: launcher,
        status: ExitStatus::Exited(0),
        next_witness: Some(9999),
    });
    let acts = sim.feed(Event::PidFile {
        unit: "liar".into(),
        result: Err(PidFileError::Refused("names pid 1 of another user".into())),
    });
    assert_eq!(sim.state("liar"), UnitState::Failed);
    assert!(kills(&acts).contains(&(launcher, libc::SIGKILL, true)));
    assert!(!kills(&acts).iter().any(|(p, _, _)| *p == 1));
    assert_eq!(sim.m.next_deadline(), None, "no retry after a refusal");
}

#[test]
fn zero_restart_delay_relaunches_in_the_same_step() {
    let mut u = svc("fast");
    u.restart = RestartPolicy::Always;
    u.restart_delay = Duration::ZERO;
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let old = sim.pid("fast");
    let acts = sim.exit(
        "fast",
        ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false,
        },
    );
    assert_eq!(spawned(&acts), vec!["fast"]);
    assert_ne!(sim.pid("fast"), old);
    assert_eq!(sim.m.next_deadline(), None);
}

#[test]
fn start_timeout_counts_as_a_failure_for_restart_on_failure() {
    let mut n = svc("slow");
    n.kind = UnitKind::Notify;
    n.restart = RestartPolicy::OnFailure;
    n.start_timeout = Duration::from_secs(3);
    let mut sim = Sim::new(vec![n]);
    sim.feed(Event::Boot);
    sim.advance(Duration::from_secs(3));
    sim.exit(
        "slow",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false,
        },
    );
    assert_eq!(sim.state("slow"), UnitState::Starting, "restart pending");
    let acts = sim.advance(ms(100));
    assert_eq!(spawned(&acts), vec!["slow"]);
}

#[test]
fn huge_timeouts_from_unit_files_do_not_overflow_the_clock() {
    let mut u = svc("patient");
    u.kind = UnitKind::Notify;
    u.start_timeout = Duration::MAX;
    u.stop_timeout = Duration::MAX;
    let mut sim = Sim::new(vec![u]);
    sim.t = Duration::from_secs(100);
    sim.feed(Event::Boot);
    assert_eq!(sim.m.next_deadline(), Some(Duration::MAX));
    sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Stop {
            names: vec!["patient".into()],
            no_block: true,
        },
    });
    assert_eq!(sim.state("patient"), UnitState::Stopping);
    assert_eq!(sim.m.next_deadline(), Some(Duration::MAX));
}

#[test]
fn exit_of_a_replaced_main_pid_does_not_end_the_unit_and_the_new_one_does() {
    let mut n = svc("n");
    n.kind = UnitKind::Notify;
    n.restart = RestartPolicy::Never;
    let mut sim = Sim::new(vec![n]);
    sim.feed(Event::Boot);
    let launcher = sim.pid("n");
    sim.feed(Event::Notify {
        uid: Some(0),
        main_pid: None,
        pid: launcher,
        session: Some(launcher),
        message: NotifyMessage {
            ready: true,
            main_pid: Some(4242),
            ..Default::default()
        },
    });
    assert_eq!(sim.pid("n"), 4242);
    // The launcher's exit no longer ends the unit: it is not the main
    // process any more.
    let acts = sim.feed(Event::ChildExited {
        next_witness: None,
        pid: launcher,
        status: ExitStatus::Exited(0),
    });
    assert_eq!(logs(&acts), vec![format!("n: pid {launcher} exited 0")]);
    assert_eq!(sim.state("n"), UnitState::Running);
    // The new main pid's exit ends the unit.
    sim.exit("n", ExitStatus::Exited(3));
    assert_eq!(sim.state("n"), UnitState::Failed);
}

#[test]
fn shutdown_of_many_units_powers_off_once_the_last_exits_in_any_order() {
    let units: Vec<UnitDef> = (0..50).map(|i| svc(&format!("s{i:02}"))).collect();
    let mut sim = Sim::new(units);
    sim.feed(Event::Boot);
    let pids: Vec<i32> = (0..50).map(|i| sim.pid(&format!("s{i:02}"))).collect();
    let acts = sim.feed(Event::Shutdown {
        action: PowerAction::Poweroff,
        force: false,
    });
    assert_eq!(kills(&acts).len(), 50);
    // Exits in an order unrelated to the names: odd ones backwards, then even.
    let order: Vec<usize> = (0..50)
        .rev()
        .filter(|i| i % 2 == 1)
        .chain((0..50).filter(|i| i % 2 == 0))
        .collect();
    for (k, i) in order.iter().enumerate() {
        let acts = sim.feed(Event::ChildExited {
            next_witness: None,
            pid: pids[*i],
            status: ExitStatus::Signaled {
                signal: libc::SIGTERM,
                core_dumped: false,
            },
        });
        let powered = acts.iter().any(|a| matches!(a, Action::PowerOff(_)));
        assert_eq!(powered, k == 49, "power-off only after the last exit");
    }
}

#[test]
fn shutdown_logs_expected_exits_at_debug_and_the_rest_at_info() {
    let mut sim = Sim::new(vec![svc("calm"), svc("crashy"), svc("clean")]);
    sim.feed(Event::Boot);
    sim.feed(Event::Shutdown {
        action: PowerAction::Poweroff,
        force: false,
    });
    let level_of = |acts: &[Action], needle: &str| {
        acts.iter().find_map(|a| match a {
            Action::Log { level, message } if message.contains(needle) => Some(*level),
            _ => None,
        })
    };
    let term = ExitStatus::Signaled {
        signal: libc::SIGTERM,
        core_dumped: false,
    };
    let acts = sim.exit("calm", term);
    assert_eq!(level_of(&acts, "calm: pid"), Some(Level::Debug));
    let acts = sim.exit("clean", ExitStatus::Exited(0));
    assert_eq!(level_of(&acts, "clean: pid"), Some(Level::Debug));
    let acts = sim.exit("crashy", ExitStatus::Exited(3));
    assert_eq!(level_of(&acts, "crashy: pid"), Some(Level::Info));
}

#[test]
fn a_manual_stop_logs_the_exit_at_info() {
    let mut sim = Sim::new(vec![svc("web")]);
    sim.feed(Event::Boot);
    sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Stop {
            names: vec!["web".into()],
            no_block: true,
        },
    });
    let acts = sim.exit(
        "web",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false,
        },
    );
    assert!(acts.iter().any(|a| matches!(a,
        Action::Log { level: Level::Info, message } if message.starts_with("web: pid"))));
}

#[test]
fn a_unit_cannot_claim_another_units_main_pid() {
    let mut n = svc("n");
    n.kind = UnitKind::Notify;
    let mut sim = Sim::new(vec![svc("a"), n]);
    sim.feed(Event::Boot);
    let a = sim.pid("a");
    let launcher = sim.pid("n");
    let acts = sim.feed(Event::Notify {
        uid: Some(0),
        main_pid: None,
        pid: launcher,
        session: Some(launcher),
        message: NotifyMessage {
            ready: true,
            main_pid: Some(a),
            ..Default::default()
        },
    });
    assert!(logs(&acts).iter().any(|l| l.contains("ignoring MAINPID")));
    assert_eq!(sim.pid("n"), launcher);
    sim.exit("a", ExitStatus::Exited(1));
    assert_eq!(sim.state("a"), UnitState::Failed);
    assert_eq!(sim.state("n"), UnitState::Running);
}

#[test]
fn a_warning_that_mentions_error_stays_a_warning() {
    // The severity travels with the diagnostic; it is never re-read from
    // the text (a warning quoting ": error: " once counted as an error).
    let mut sim = Sim::new(vec![svc("a")]);
    sim.feed(Event::Boot);
    let mut warning = Diagnostic::error_at(Path::new("a.toml"), 2, 1, "x: error: y");
    warning.severity = crate::diagnostic::Severity::Warning;
    let mut units = BTreeMap::new();
    units.insert("a".to_string(), svc("a"));
    units.insert("default".to_string(), target("default"));
    let acts = sim.feed(Event::Reloaded {
        settings: None,
        units,
        diagnostics: vec![warning],
        broken: vec![],
        client: None,
    });
    assert!(
        acts.contains(&Action::LogUntagged {
            level: Level::Warning,
            message: "reload: a.toml:2:1: warning: x: error: y".into()
        }),
        "{acts:?}"
    );
}

/// The units of a reload: `units` plus the implicit default target.
fn reload_of(units: Vec<UnitDef>) -> Event {
    let mut map: BTreeMap<String, UnitDef> =
        units.into_iter().map(|u| (u.name.to_string(), u)).collect();
    map.entry("default".into())
        .or_insert_with(|| target("default"));
    Event::Reloaded {
        units: map,
        diagnostics: vec![],
        broken: vec![],
        client: None,
        settings: None,
    }
}

#[test]
fn a_reload_turning_a_forking_unit_simple_mid_start_lets_the_start_finish() {
    // Issue 8, point 8: the unit read its pid file under a definition that
    // no longer had one, and stayed `starting` forever with no deadline.
    let mut f = svc("forky");
    f.kind = UnitKind::Forking;
    f.extra_mut().pid_file = Some("/run/forky.pid".into());
    f.start_timeout = Duration::from_secs(5);
    let mut after = svc("later");
    after.after = thin_vec::thin_vec!["forky".into()];
    let mut sim = Sim::new(vec![f.clone(), after.clone()]);
    sim.feed(Event::Boot);
    sim.exit("forky", ExitStatus::Exited(0));
    let mut simple = svc("forky");
    simple.kind = UnitKind::Simple;
    sim.feed(reload_of(vec![simple, after]));
    sim.feed(Event::PidFile {
        unit: "forky".into(),
        result: Err(PidFileError::NotReady("missing".into())),
    });
    // Still a forking start, still bounded: the retry and the timeout run.
    let acts = sim.advance(ms(50));
    assert!(acts.iter().any(|a| matches!(a, Action::ReadPidFile { .. })));
    let acts = sim.feed(Event::PidFile {
        unit: "forky".into(),
        result: Ok(pid_file(4242, 0)),
    });
    assert_eq!(sim.state("forky"), UnitState::Running);
    assert_eq!(spawned(&acts), vec!["later"], "units after it start");
    // The start is over: the new definition is in force.
    let def = &sim.m.service("forky").unwrap().def;
    assert_eq!(def.kind, UnitKind::Simple);
}

#[test]
fn a_forking_units_start_timeout_runs_from_launch_not_from_the_launchers_exit() {
    // Issue 8, point 17: the bound restarted when the launcher exited.
    let mut f = svc("forky");
    f.kind = UnitKind::Forking;
    f.extra_mut().pid_file = Some("/run/forky.pid".into());
    f.start_timeout = Duration::from_secs(3);
    f.restart = RestartPolicy::Never;
    let mut sim = Sim::new(vec![f]);
    sim.feed(Event::Boot);
    sim.advance(Duration::from_secs(2));
    sim.exit("forky", ExitStatus::Exited(0));
    for _ in 0..19 {
        sim.feed(Event::PidFile {
            unit: "forky".into(),
            result: Err(PidFileError::NotReady("missing".into())),
        });
        sim.advance(ms(50));
    }
    assert_eq!(sim.state("forky"), UnitState::Starting);
    sim.feed(Event::PidFile {
        unit: "forky".into(),
        result: Err(PidFileError::NotReady("missing".into())),
    });
    // No retry fits before 3 s after launch: it fails now, not 3 s after
    // the launcher's exit at 2 s.
    assert_eq!(sim.state("forky"), UnitState::Failed);
    assert!(sim.t < Duration::from_secs(3), "{:?}", sim.t);
}

#[test]
fn restarting_a_unit_restarts_the_units_that_require_it() {
    // Issue 8, point 14 (systemd's Requires= semantics).
    let db = svc("db");
    let mut app = svc("app");
    app.requires = thin_vec::thin_vec!["db".into()];
    app.after = thin_vec::thin_vec!["db".into()];
    let mut sim = Sim::new(vec![db, app]);
    sim.feed(Event::Boot);
    let (db_pid, app_pid) = (sim.pid("db"), sim.pid("app"));
    let acts = sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Restart {
            names: vec!["db".into()],
            no_block: false,
        },
    });
    assert_eq!(
        kills(&acts),
        vec![(app_pid, libc::SIGTERM, true)],
        "app stops first"
    );
    let acts = sim.exit("app", ExitStatus::Exited(0));
    assert_eq!(kills(&acts), vec![(db_pid, libc::SIGTERM, true)]);
    let acts = sim.exit("db", ExitStatus::Exited(0));
    assert_eq!(spawned(&acts), vec!["db", "app"]);
    assert_eq!(sim.state("app"), UnitState::Running);
}

#[test]
fn a_stop_signal_is_followed_by_sigcont() {
    // Issue 8, point 18: a stopped (SIGSTOP) service acts on SIGTERM only
    // once it is continued.
    let mut sim = Sim::new(vec![svc("a")]);
    sim.feed(Event::Boot);
    let pid = sim.pid("a");
    let acts = sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Stop {
            names: vec!["a".into()],
            no_block: true,
        },
    });
    let signals: Vec<(SignalTarget, i32, Then)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Signal {
                target,
                signal,
                then,
            } => Some((*target, *signal, *then)),
            _ => None,
        })
        .collect();
    let group = SignalTarget::Group {
        pgid: pid,
        witness: pid,
    };
    // The stop signal, then SIGCONT under the same proof.
    assert_eq!(signals, vec![(group, libc::SIGTERM, Then::Continue)]);
}

#[test]
fn the_shutdown_timeout_is_a_manager_deadline_that_kills_the_rest() {
    let mut stuck = svc("stuck");
    stuck.stop_timeout = Duration::from_secs(3600);
    let mut sim = Sim::new(vec![stuck]);
    sim.m.settings.shutdown_timeout = Duration::from_secs(10);
    sim.feed(Event::Boot);
    let pid = sim.pid("stuck");
    sim.feed(Event::Signal(libc::SIGTERM));
    assert_eq!(sim.m.next_deadline(), Some(Duration::from_secs(10)));
    let acts = sim.advance(Duration::from_secs(10));
    assert!(
        kills(&acts).contains(&(pid, libc::SIGKILL, true)),
        "{acts:?}"
    );
    assert_eq!(acts.last(), Some(&Action::PowerOff(PowerAction::Poweroff)));
    assert!(logs(&acts)
        .iter()
        .any(|l| l.contains("going on without them")));
}

#[test]
fn a_unit_stopped_during_a_shutdown_is_down_for_good_and_not_before() {
    let mut sim = Sim::new(vec![svc("a"), svc("b")]);
    sim.feed(Event::Boot);
    // Stopped by hand, it may be started again.
    sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Stop {
            names: vec!["a".into()],
            no_block: true,
        },
    });
    sim.exit("a", ExitStatus::Exited(0));
    assert_eq!(sim.state("a"), UnitState::Inactive);
    assert!(!sim.m.down_for_good("a"));
    sim.feed(Event::Signal(libc::SIGTERM));
    // A unit still stopping is not; once its process is gone, it is.
    assert!(!sim.m.down_for_good("b"));
    assert!(sim.m.down_for_good("a"));
    sim.exit("b", ExitStatus::Exited(0));
    assert!(sim.m.down_for_good("b"));
    assert!(!sim.m.down_for_good("nonesuch"));
}

#[test]
fn signals_mean_the_same_in_the_core_for_both_modes() {
    let cases = [
        (true, libc::SIGTERM, Some(PowerAction::Poweroff)),
        (true, libc::SIGINT, Some(PowerAction::Reboot)),
        (true, libc::SIGPWR, Some(PowerAction::Poweroff)),
        (false, libc::SIGTERM, Some(PowerAction::Exit)),
        (false, libc::SIGINT, Some(PowerAction::Exit)),
        (false, libc::SIGPWR, Some(PowerAction::Exit)),
        (true, libc::SIGQUIT, None),
    ];
    for (pid1, signal, expected) in cases {
        let mut sim = Sim::new(vec![]);
        sim.m.settings.pid1 = pid1;
        sim.feed(Event::Boot);
        let acts = sim.feed(Event::Signal(signal));
        let powered = acts.iter().find_map(|a| match a {
            Action::PowerOff(p) => Some(*p),
            _ => None,
        });
        assert_eq!(powered, expected, "pid1={pid1} signal {signal}");
    }
    let mut sim = Sim::new(vec![]);
    sim.feed(Event::Boot);
    let acts = sim.feed(Event::Signal(libc::SIGHUP));
    assert!(acts.contains(&Action::Reload { client: None }));
    let acts = sim.feed(Event::Signal(libc::SIGUSR2));
    assert_eq!(acts.last(), Some(&Action::DumpShell));
}

#[test]
fn lines_anyone_can_trigger_are_rate_limited_per_source() {
    // Issue 8, point 6: a double-forking user wrote one line per orphan,
    // and a MAINPID= flood one warning per datagram, to a slow console.
    let mut n = svc("n");
    n.kind = UnitKind::Notify;
    let mut sim = Sim::new(vec![n]);
    sim.feed(Event::Boot);
    let pid = sim.pid("n");
    let mut lines = Vec::new();
    for i in 0..1000 {
        lines.extend(logs(&sim.feed(Event::ChildExited {
            pid: 50_000 + i,
            status: ExitStatus::Exited(0),
            next_witness: None,
        })));
        lines.extend(logs(&sim.feed(Event::Notify {
            pid,
            uid: Some(1000),
            session: None,
            message: NotifyMessage {
                main_pid: Some(1),
                ..Default::default()
            },
            main_pid: None,
        })));
    }
    let orphans = lines.iter().filter(|l| l.starts_with("orphan")).count();
    let refused = lines
        .iter()
        .filter(|l| l.contains("ignoring MAINPID"))
        .count();
    assert_eq!((orphans, refused), (10, 10), "{lines:?}");
    // The next window says how many were held back.
    sim.t += Duration::from_secs(10);
    let acts = sim.feed(Event::ChildExited {
        pid: 60_000,
        status: ExitStatus::Exited(0),
        next_witness: None,
    });
    assert_eq!(
        logs(&acts),
        vec!["orphan pid 60000 exited 0 (990 similar messages suppressed before this one)"]
    );
}

fn stop(sim: &mut Sim, name: &str) -> Vec<Action> {
    sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Stop {
            names: vec![name.into()],
            no_block: true,
        },
    })
}

/// The main process `pid` exits, leaving `left` (another unreaped child
/// of vigil) in its group: the shell reports it as the next witness.
fn exit_leaving(sim: &mut Sim, pid: i32, left: i32) -> Vec<Action> {
    sim.feed(Event::ChildExited {
        pid,
        status: ExitStatus::Exited(0),
        next_witness: Some(left),
    })
}

#[test]
fn kill_mode_process_signals_the_main_process_only_and_leaves_the_rest() {
    let mut u = svc("sshd");
    u.kill_mode = crate::unit::KillMode::Process;
    u.stop_timeout = Duration::from_secs(2);
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let pid = sim.pid("sshd");
    assert_eq!(
        kills(&stop(&mut sim, "sshd")),
        vec![(pid, libc::SIGTERM, false)]
    );
    // The escalation too goes to the main process alone...
    assert_eq!(
        kills(&sim.advance(ms(2000))),
        vec![(pid, libc::SIGKILL, false)]
    );
    // ...and once it is gone, its group (the users' sessions) is left alone.
    let acts = exit_leaving(&mut sim, pid, 900);
    assert_eq!(kills(&acts), vec![]);
    assert_eq!(sim.state("sshd"), UnitState::Inactive);
}

#[test]
fn kill_mode_mixed_terms_the_main_process_and_kills_the_group_at_the_end() {
    let mut u = svc("mixed");
    u.kill_mode = crate::unit::KillMode::Mixed;
    u.stop_timeout = Duration::from_secs(2);
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let pid = sim.pid("mixed");
    assert_eq!(
        kills(&stop(&mut sim, "mixed")),
        vec![(pid, libc::SIGTERM, false)]
    );
    let acts = exit_leaving(&mut sim, pid, 900);
    assert_eq!(kills(&acts), vec![(pid, libc::SIGKILL, true)]);
}

#[test]
fn kill_mode_group_is_the_default_and_kills_what_is_left() {
    let mut sim = Sim::new(vec![svc("web")]);
    sim.feed(Event::Boot);
    let pid = sim.pid("web");
    assert_eq!(
        kills(&stop(&mut sim, "web")),
        vec![(pid, libc::SIGTERM, true)]
    );
    let acts = exit_leaving(&mut sim, pid, 900);
    assert_eq!(kills(&acts), vec![(pid, libc::SIGKILL, true)]);
}

#[test]
fn a_skipped_start_is_inactive_with_the_condition_and_a_done_job() {
    let mut b = svc("b");
    b.after = thin_vec::thin_vec!["a".into()];
    let mut sim = Sim::new(vec![svc("a"), b]);
    let acts = sim.m.handle(Event::Boot, now(Duration::ZERO));
    assert_eq!(spawned(&acts), vec!["a".to_string()]);
    let acts = sim.feed(Event::Skipped {
        unit: "a".into(),
        condition: "condition_path_exists = \"/x\"".into(),
    });
    // b, ordered after a, goes on.
    assert_eq!(spawned(&acts), vec!["b".to_string()]);
    assert_eq!(sim.state("a"), UnitState::Inactive);
    let a = sim.m.service("a").expect("a");
    assert_eq!(a.job, None);
    assert_eq!(
        a.notes.skipped.as_deref(),
        Some("condition_path_exists = \"/x\"")
    );
    // A start request is answered ok.
    let acts = sim.m.handle(
        Event::Request {
            client: ClientId(7),
            request: Request::Start {
                names: vec!["a".into()],
                no_block: false,
            },
        },
        now(Duration::ZERO),
    );
    assert_eq!(spawned(&acts), vec!["a".to_string()]);
    let acts = sim.m.handle(
        Event::Skipped {
            unit: "a".into(),
            condition: "condition_path_exists = \"/x\"".into(),
        },
        now(Duration::ZERO),
    );
    let reply = acts.iter().find_map(|a| match a {
        Action::Reply { client, reply } if *client == ClientId(7) => Some(reply.clone()),
        _ => None,
    });
    match reply.and_then(|r| r.body) {
        Some(ReplyBody::Jobs { results }) => assert!(results[0].ok, "{results:?}"),
        other => panic!("no jobs reply: {other:?}"),
    }
}

/// The control commands an action list asks for: (argv, $MAINPID).
fn controls(actions: &[Action]) -> Vec<(Vec<String>, Option<i32>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SpawnControl { argv, main_pid, .. } => Some((argv.clone(), *main_pid)),
            _ => None,
        })
        .collect()
}

fn cmd(line: &str, optional: bool) -> crate::unit::ExecCommand {
    crate::unit::ExecCommand {
        argv: line.split(' ').map(str::to_string).collect(),
        optional,
    }
}

/// The shell's answer to a SpawnControl: started as `pid`.
fn control_started(sim: &mut Sim, name: &str, pid: i32) -> Vec<Action> {
    sim.feed(Event::ControlSpawned {
        unit: name.into(),
        result: Ok(pid),
    })
}

fn control_exit(sim: &mut Sim, pid: i32, code: i32) -> Vec<Action> {
    sim.feed(Event::ChildExited {
        pid,
        status: ExitStatus::Exited(code),
        next_witness: None,
    })
}

#[test]
fn exec_start_pre_commands_run_in_order_before_the_main_process() {
    let mut u = svc("sshd");
    u.extra_mut().exec_start_pre = vec![cmd("/usr/sbin/sshd -t", false), cmd("/bin/false", true)];
    let mut sim = Sim::new(vec![u]);
    let acts = sim.feed(Event::Boot);
    assert_eq!(
        controls(&acts),
        vec![(vec!["/usr/sbin/sshd".into(), "-t".into()], None)]
    );
    assert!(
        spawned(&acts).is_empty(),
        "no main process before the pre commands"
    );
    assert_eq!(sim.state("sshd"), UnitState::Starting);
    control_started(&mut sim, "sshd", 500);
    let acts = control_exit(&mut sim, 500, 0);
    assert_eq!(controls(&acts), vec![(vec!["/bin/false".into()], None)]);
    control_started(&mut sim, "sshd", 501);
    // The second one is optional: its failure does not stop the start.
    let acts = control_exit(&mut sim, 501, 1);
    assert_eq!(spawned(&acts), vec!["sshd".to_string()]);
    assert_eq!(sim.state("sshd"), UnitState::Running);
}

#[test]
fn a_failing_exec_start_pre_fails_the_start_with_its_index_and_status() {
    let mut u = svc("sshd");
    u.extra_mut().exec_start_pre = vec![cmd("/usr/sbin/sshd -t", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    control_started(&mut sim, "sshd", 500);
    let acts = control_exit(&mut sim, 500, 255);
    assert!(spawned(&acts).is_empty());
    assert_eq!(sim.state("sshd"), UnitState::Failed);
    assert_eq!(
        sim.m
            .service("sshd")
            .and_then(|s| s.notes.reason.clone())
            .as_deref(),
        Some("exec_start_pre[0] (/usr/sbin/sshd -t) exited 255")
    );
}

#[test]
fn exec_start_post_runs_with_mainpid_before_the_unit_counts_as_running() {
    let mut u = svc("web");
    u.extra_mut().exec_start_post = vec![cmd("/bin/touch /run/web.up", false)];
    let mut sim = Sim::new(vec![u]);
    let acts = sim.feed(Event::Boot);
    let main = sim.pid("web");
    assert_eq!(
        controls(&acts),
        vec![(vec!["/bin/touch".into(), "/run/web.up".into()], Some(main))]
    );
    assert_eq!(sim.state("web"), UnitState::Starting);
    control_started(&mut sim, "web", 600);
    control_exit(&mut sim, 600, 0);
    assert_eq!(sim.state("web"), UnitState::Running);
}

#[test]
fn exec_stop_runs_first_then_the_stop_signal_reaches_what_is_left() {
    let mut u = svc("db");
    u.extra_mut().exec_stop = vec![cmd("/usr/bin/dbctl stop $MAINPID", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let main = sim.pid("db");
    let acts = stop(&mut sim, "db");
    assert_eq!(controls(&acts).len(), 1);
    assert_eq!(controls(&acts)[0].1, Some(main));
    assert!(kills(&acts).is_empty(), "no signal while exec_stop runs");
    control_started(&mut sim, "db", 700);
    let acts = control_exit(&mut sim, 700, 0);
    assert_eq!(kills(&acts), vec![(main, libc::SIGTERM, true)]);
    sim.exit("db", ExitStatus::Exited(0));
    assert_eq!(sim.state("db"), UnitState::Inactive);
}

#[test]
fn a_main_process_that_exec_stop_ended_finishes_the_stop_with_it() {
    let mut u = svc("db");
    u.extra_mut().exec_stop = vec![cmd("/usr/bin/dbctl stop", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    stop(&mut sim, "db");
    control_started(&mut sim, "db", 700);
    sim.exit("db", ExitStatus::Exited(0));
    assert_eq!(sim.state("db"), UnitState::Stopping, "exec_stop still runs");
    let acts = control_exit(&mut sim, 700, 0);
    assert!(
        kills(&acts).iter().all(|k| k.1 == libc::SIGKILL),
        "{acts:?}"
    );
    assert_eq!(sim.state("db"), UnitState::Inactive);
}

#[test]
fn exec_reload_runs_with_mainpid_and_a_stop_overrides_it() {
    let mut u = svc("sshd");
    u.extra_mut().exec_reload = vec![cmd("/bin/kill -HUP $MAINPID", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let main = sim.pid("sshd");
    let acts = sim.feed(Event::Request {
        client: ClientId(3),
        request: Request::ReloadUnits {
            names: vec!["sshd".into()],
        },
    });
    assert_eq!(controls(&acts)[0].1, Some(main));
    control_started(&mut sim, "sshd", 800);
    // A second reload while the first runs is refused.
    let acts = sim.feed(Event::Request {
        client: ClientId(4),
        request: Request::ReloadUnits {
            names: vec!["sshd".into()],
        },
    });
    assert!(controls(&acts).is_empty());
    let acts = control_exit(&mut sim, 800, 0);
    assert!(
        logs(&acts).iter().any(|l| l.contains("reloaded sshd")),
        "{acts:?}"
    );
    assert_eq!(sim.pid("sshd"), main);
    assert_eq!(sim.state("sshd"), UnitState::Running);
}

#[test]
fn exec_stop_of_a_oneshot_that_remains_runs_although_no_process_is_left() {
    let mut u = svc("networking");
    u.kind = UnitKind::Oneshot;
    u.remain_after_exit = true;
    u.extra_mut().exec_stop = vec![cmd("/sbin/ifdown -a", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    sim.exit("networking", ExitStatus::Exited(0));
    assert_eq!(sim.state("networking"), UnitState::Exited);
    let acts = stop(&mut sim, "networking");
    assert_eq!(
        controls(&acts),
        vec![(vec!["/sbin/ifdown".into(), "-a".into()], None)]
    );
    assert_eq!(sim.state("networking"), UnitState::Stopping);
    control_started(&mut sim, "networking", 900);
    control_exit(&mut sim, 900, 0);
    assert_eq!(sim.state("networking"), UnitState::Inactive);
}

#[test]
fn exec_stop_post_runs_after_the_main_process_is_gone_then_the_stop_ends() {
    let mut u = svc("web");
    u.extra_mut().exec_stop_post = vec![cmd("/bin/rm -f /run/web.flag", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let acts = stop(&mut sim, "web");
    assert!(controls(&acts).is_empty(), "not before the process is gone");
    let acts = sim.exit(
        "web",
        ExitStatus::Signaled {
            signal: libc::SIGTERM,
            core_dumped: false,
        },
    );
    assert_eq!(
        controls(&acts),
        vec![(
            vec!["/bin/rm".into(), "-f".into(), "/run/web.flag".into()],
            None
        )]
    );
    assert_eq!(sim.state("web"), UnitState::Stopping);
    control_started(&mut sim, "web", 710);
    // A failing command is logged; the stop still ends.
    let acts = control_exit(&mut sim, 710, 1);
    assert!(
        logs(&acts).iter().any(|l| l.contains("exec_stop_post[0]")),
        "{acts:?}"
    );
    assert_eq!(sim.state("web"), UnitState::Inactive);
}

#[test]
fn exec_stop_post_runs_once_when_a_run_fails_and_then_the_restart_policy_applies() {
    let mut u = svc("crashy");
    u.restart = RestartPolicy::OnFailure;
    u.restart_delay = ms(100);
    u.extra_mut().exec_stop_post = vec![cmd("/usr/bin/cleanup", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let acts = sim.exit("crashy", ExitStatus::Exited(3));
    assert_eq!(controls(&acts).len(), 1);
    assert!(spawned(&acts).is_empty(), "no restart before it ran");
    assert_eq!(sim.state("crashy"), UnitState::Stopping);
    control_started(&mut sim, "crashy", 720);
    let acts = control_exit(&mut sim, 720, 0);
    assert!(controls(&acts).is_empty(), "only once per run");
    assert_eq!(
        sim.state("crashy"),
        UnitState::Starting,
        "waiting to restart"
    );
    assert_eq!(spawned(&sim.advance(ms(100))), vec!["crashy"]);
    // The new run ends too: the commands run again.
    let acts = sim.exit("crashy", ExitStatus::Exited(3));
    assert_eq!(controls(&acts).len(), 1);
}

#[test]
fn exec_stop_post_that_hangs_is_killed_after_the_stop_timeout() {
    let mut u = svc("web");
    u.stop_timeout = ms(500);
    u.extra_mut().exec_stop_post = vec![cmd("/usr/bin/hang", false)];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    stop(&mut sim, "web");
    sim.exit("web", ExitStatus::Exited(0));
    control_started(&mut sim, "web", 730);
    let acts = sim.advance(ms(500));
    assert!(
        kills(&acts).contains(&(730, libc::SIGKILL, false)),
        "{acts:?}"
    );
    assert_eq!(sim.state("web"), UnitState::Inactive);
}

#[test]
fn an_alias_names_the_unit_in_requests() {
    let mut u = svc("ssh");
    u.extra_mut().reload_signal = Some(libc::SIGHUP);
    u.extra_mut().aliases = thin_vec::thin_vec!["sshd".into()];
    let mut sim = Sim::new(vec![u]);
    sim.feed(Event::Boot);
    let main = sim.pid("ssh");
    let acts = sim.feed(Event::Request {
        client: ClientId(3),
        request: Request::ReloadUnits {
            names: vec!["sshd".into()],
        },
    });
    assert_eq!(kills(&acts), vec![(main, libc::SIGHUP, false)]);
    let acts = stop(&mut sim, "sshd");
    assert_eq!(kills(&acts), vec![(main, libc::SIGTERM, true)]);
    let acts = sim.feed(Event::Request {
        client: ClientId(3),
        request: Request::ReloadUnits {
            names: vec!["sshdd".into()],
        },
    });
    assert!(
        format!("{acts:?}").contains("no such unit: sshdd"),
        "{acts:?}"
    );
}

/// systemd's `SuccessExitStatus=`: a listed exit code or signal ends a run
/// as a success (no restart under on-failure, not failed), and a oneshot
/// that exits with a listed code is up; anything else still fails.
#[test]
fn success_exit_status_makes_a_listed_exit_a_success() {
    use crate::unit::model::SuccessStatus;
    let mut d = svc("daemon");
    d.restart = RestartPolicy::OnFailure;
    d.extra_mut().success_exit_status = vec![
        SuccessStatus::Code(75),
        SuccessStatus::Signal(libc::SIGUSR2),
    ];
    let mut o = svc("setup");
    o.kind = UnitKind::Oneshot;
    o.remain_after_exit = true;
    o.extra_mut().success_exit_status = vec![SuccessStatus::Code(77)];
    let mut sim = Sim::new(vec![d, o]);
    sim.feed(Event::Boot);
    let acts = sim.exit("setup", ExitStatus::Exited(77));
    assert_eq!(sim.state("setup"), UnitState::Exited, "{acts:?}");
    // (A clean end of a simple unit shows `exited`, as exit 0 does.)
    let acts = sim.exit("daemon", ExitStatus::Exited(75));
    assert_eq!(sim.state("daemon"), UnitState::Exited, "{acts:?}");
    assert_eq!(sim.m.next_deadline(), None, "no restart is scheduled");
    // Started again: death by the listed signal is a success too, and an
    // exit code that is not listed is still a failure.
    sim.feed(Event::Request {
        client: ClientId(1),
        request: Request::Start {
            names: vec!["daemon".into()],
            no_block: false,
        },
    });
    sim.exit(
        "daemon",
        ExitStatus::Signaled {
            signal: libc::SIGUSR2,
            core_dumped: false,
        },
    );
    assert_eq!(sim.state("daemon"), UnitState::Exited);
    sim.feed(Event::Request {
        client: ClientId(2),
        request: Request::Start {
            names: vec!["daemon".into()],
            no_block: false,
        },
    });
    sim.exit("daemon", ExitStatus::Exited(76));
    assert_eq!(
        sim.state("daemon"),
        UnitState::Starting,
        "on-failure restarts it"
    );
}

#[test]
fn on_failure_units_start_when_a_unit_fails_for_good_not_while_it_restarts() {
    let mut crashy = svc("crashy");
    crashy.restart = RestartPolicy::OnFailure;
    crashy.restart_delay = ms(100);
    crashy.extra_mut().start_limit_burst = 2;
    crashy.extra_mut().start_limit_interval = Duration::from_secs(10);
    crashy.extra_mut().on_failure = thin_vec::thin_vec!["alert".into()];
    let mut alert = svc("alert");
    alert.kind = UnitKind::Oneshot;
    alert.wanted_by.clear();
    let mut sim = Sim::new(vec![crashy, alert]);
    assert_eq!(spawned(&sim.feed(Event::Boot)), vec!["crashy"]);
    // A failure the restart policy answers is not "for good".
    let acts = sim.exit("crashy", ExitStatus::Exited(1));
    assert!(spawned(&acts).is_empty(), "{acts:?}");
    assert_eq!(spawned(&sim.advance(ms(100))), vec!["crashy"]);
    // The start limit ends it: now the alert runs.
    sim.exit("crashy", ExitStatus::Exited(1));
    let acts = sim.advance(ms(200));
    assert_eq!(sim.state("crashy"), UnitState::Failed);
    assert_eq!(spawned(&acts), vec!["alert"], "{acts:?}");
    assert!(
        logs(&acts)
            .iter()
            .any(|l| l.contains("starting alert: on_failure of crashy")),
        "{acts:?}"
    );
    sim.exit("alert", ExitStatus::Exited(0));
    assert_eq!(sim.state("alert"), UnitState::Exited);
    // The next failure runs the (finished) oneshot again.
    sim.feed(Event::Request {
        client: ClientId(7),
        request: Request::Start {
            names: vec!["crashy".into()],
            no_block: true,
        },
    });
    let acts = sim.exit("crashy", ExitStatus::Exited(2));
    assert!(spawned(&acts).is_empty(), "restarts first: {acts:?}");
    let acts = sim.advance(ms(100));
    assert_eq!(spawned(&acts), vec!["crashy"]);
    sim.exit("crashy", ExitStatus::Exited(2));
    let acts = sim.advance(ms(200));
    assert_eq!(spawned(&acts), vec!["alert"], "{acts:?}");
}

#[test]
fn on_failure_units_do_not_start_during_a_shutdown() {
    let mut web = svc("web");
    web.extra_mut().on_failure = thin_vec::thin_vec!["alert".into()];
    let mut alert = svc("alert");
    alert.wanted_by.clear();
    let mut sim = Sim::new(vec![web, alert]);
    sim.feed(Event::Boot);
    sim.feed(Event::Shutdown {
        action: PowerAction::Poweroff,
        force: false,
    });
    let acts = sim.exit("web", ExitStatus::Exited(1));
    assert!(spawned(&acts).is_empty(), "{acts:?}");
}

#[test]
fn two_units_that_start_each_other_on_failure_stop_at_their_start_limits() {
    let mut a = svc("a");
    a.extra_mut().on_failure = thin_vec::thin_vec!["b".into()];
    let mut b = svc("b");
    b.wanted_by.clear();
    b.extra_mut().on_failure = thin_vec::thin_vec!["a".into()];
    let mut sim = Sim::new(vec![a, b]);
    let mut started = spawned(&sim.feed(Event::Boot));
    let mut rounds = 0;
    let mut lines = Vec::new();
    while let Some(name) = started.pop() {
        rounds += 1;
        assert!(rounds < 50, "a and b start each other without end");
        let acts = sim.exit(&name, ExitStatus::Exited(1));
        lines.extend(logs(&acts));
        started.extend(spawned(&acts));
    }
    // Five runs each (the default burst), then the limit ends it.
    assert_eq!(rounds, 10);
    assert_eq!(sim.state("a"), UnitState::Failed);
    assert_eq!(sim.state("b"), UnitState::Failed);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not starting a (on_failure of b): its start limit is hit")),
        "{lines:?}"
    );
}
