//! How the real vigil ends in supervisor mode: SIGTERM or a power request
//! stops every service in reverse start order, then vigil exits 0.

mod common;

use std::time::Duration;

use common::{children_of, pid_alive, Vigil};
use serde_json::json;

const WANTED: &str = "wanted_by = [\"default\"]\n";

/// A service that records when it got SIGTERM and takes a moment to exit,
/// so a unit stopped too early would record its TERM before this one is gone.
fn graceful(v: &Vigil, name: &str, after: &[&str]) {
    let script = format!(
        "trap '{}; sleep 0.3; {}; exit 0' TERM; {}; while :; do sleep 0.05; done",
        v.mark(name, "term"),
        v.mark(name, "gone"),
        v.mark(name, "up"),
    );
    let after: Vec<String> = after.iter().map(|a| format!("\"{a}\"")).collect();
    v.write_unit(
        name,
        &format!(
            "after = [{}]\nstop_timeout = \"5s\"\n{}{WANTED}",
            after.join(", "),
            Vigil::sh(&script)
        ),
    );
}

fn chain() -> Vigil {
    let mut v = Vigil::new();
    graceful(&v, "base", &[]);
    graceful(&v, "middle", &["base"]);
    graceful(&v, "top", &["middle"]);
    v.start();
    for n in ["base", "middle", "top"] {
        v.wait_state(n, "running");
        v.event_at(n, "up");
    }
    v
}

fn assert_reverse_order(v: &Vigil) {
    let term = |n| v.event_at(n, "term");
    let gone = |n| v.event_at(n, "gone");
    assert!(
        gone("top") <= term("middle"),
        "middle stopped before top was gone: {:?}",
        v.events()
    );
    assert!(
        gone("middle") <= term("base"),
        "base stopped before middle was gone: {:?}",
        v.events()
    );
}

#[test]
fn sigterm_stops_services_in_reverse_order_and_exits_0() {
    let mut v = chain();
    let pids: Vec<i32> = ["base", "middle", "top"]
        .iter()
        .map(|n| v.status(n)["summary"]["pid"].as_i64().unwrap() as i32)
        .collect();
    let vigil_pid = v.pid();
    v.signal(libc::SIGTERM);
    let status = v
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("vigil did not exit; log:\n{}", v.log()));
    assert_eq!(status.code(), Some(0), "log:\n{}", v.log());
    assert_reverse_order(&v);
    for pid in pids {
        assert!(!pid_alive(pid), "service pid {pid} outlived vigil");
    }
    assert!(children_of(vigil_pid).is_empty());
    assert!(v.log().contains("all units stopped"), "{}", v.log());
}

#[test]
fn sockets_are_removed_when_vigil_exits() {
    let mut v = Vigil::new();
    v.write_unit("a", &format!("exec = [\"sleep\", \"60\"]\n{WANTED}"));
    v.start();
    v.wait_state("a", "running");
    let notify = v.socket().with_file_name("notify");
    assert!(
        notify.exists(),
        "no notify socket beside the control socket"
    );
    v.signal(libc::SIGTERM);
    let status = v.wait_exit(Duration::from_secs(15)).unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!v.socket().exists(), "control socket left behind");
    assert!(!notify.exists(), "notify socket left behind");
}

#[test]
fn poweroff_request_stops_services_and_exits_0() {
    let mut v = chain();
    let r = v.request(json!({"verb": "poweroff"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let status = v
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("vigil did not exit; log:\n{}", v.log()));
    assert_eq!(status.code(), Some(0), "log:\n{}", v.log());
    assert_reverse_order(&v);
}

#[test]
fn the_global_shutdown_timeout_ends_a_stuck_stop_phase() {
    let mut v = Vigil::new();
    std::fs::write(v.dir().join("vigil.toml"), "shutdown_timeout = \"1s\"\n").unwrap();
    // Ignores SIGTERM and would be allowed a minute before SIGKILL.
    v.write_unit(
        "stuck",
        &format!(
            "stop_timeout = \"60s\"\n{}{WANTED}",
            Vigil::sh("trap '' TERM; while :; do sleep 0.05; done")
        ),
    );
    v.start();
    let pid = v.wait_state("stuck", "running")["summary"]["pid"]
        .as_i64()
        .unwrap() as i32;
    v.signal(libc::SIGTERM);
    let status = v
        .wait_exit(Duration::from_secs(20))
        .expect("vigil did not exit after its 1 s shutdown timeout");
    assert!(status.success(), "{status:?}");
    assert!(
        v.log()
            .contains("shutdown: units still stopping after 1.0s"),
        "{}",
        v.log()
    );
    assert!(
        common::wait_until(Duration::from_secs(5), || !pid_alive(pid)),
        "the stuck unit (pid {pid}) outlived vigil"
    );
}
