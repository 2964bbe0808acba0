//! reap_all uses waitpid(-1), so this binary holds a single test that owns
//! every child of the process.

use std::time::{Duration, Instant};

use vigil::exit::ExitStatus;
use vigil::runtime::reap::{reap_all, set_child_subreaper};
use vigil::runtime::spawn::{spawn, LogFds, SpawnContext};
use vigil::unit::model::UnitDef;

fn sh(script: &str) -> i32 {
    let mut def = UnitDef::new("t");
    def.exec = thin_vec::thin_vec!["/bin/sh".into(), "-c".into(), script.into()];
    spawn(&def, &SpawnContext::default(), LogFds::default())
        .unwrap()
        .pid
}

#[test]
fn reaps_exits_signals_and_adopted_orphans() {
    assert!(reap_all().is_empty(), "no children yet");
    set_child_subreaper().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let orphan_file = dir.path().join("orphan");
    let exits = sh("exit 3");
    let killed = sh("kill -KILL $$$$");
    let parent = sh(&format!(
        "sleep 0.3 & echo $! > {}; exit 0",
        orphan_file.display()
    ));

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut orphan = None;
    while Instant::now() < deadline {
        seen.extend(reap_all());
        if orphan.is_none() {
            orphan = std::fs::read_to_string(&orphan_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
        }
        let done = [Some(exits), Some(killed), Some(parent), orphan]
            .iter()
            .all(|p| p.is_some_and(|p| seen.iter().any(|(q, _)| *q == p)));
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status_of = |pid: i32| seen.iter().find(|(p, _)| *p == pid).map(|(_, s)| *s);
    assert_eq!(status_of(exits), Some(ExitStatus::Exited(3)));
    assert_eq!(
        status_of(killed),
        Some(ExitStatus::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        })
    );
    assert_eq!(status_of(parent), Some(ExitStatus::Exited(0)));
    let orphan = orphan.expect("orphan pid written");
    assert_eq!(status_of(orphan), Some(ExitStatus::Exited(0)), "{seen:?}");
    assert!(reap_all().is_empty());
}
