//! Process handling of the real vigil: reaping orphans, notify readiness with
//! systemd-notify, forking daemons with pid files, failed execs, stop escalation.

mod common;

use std::time::Duration;

use common::{children_of, pid_alive, wait_until, Vigil, TIMEOUT};
use serde_json::json;

const WANTED: &str = "wanted_by = [\"default\"]\n";

/// No child of vigil is a zombie (checked a few times: one may be in flight).
fn assert_no_zombies(v: &Vigil) {
    let ok = wait_until(TIMEOUT, || {
        children_of(v.pid()).iter().all(|(_, state)| *state != 'Z')
    });
    assert!(
        ok,
        "zombie children of vigil: {:?}\nlog:\n{}",
        children_of(v.pid()),
        v.log()
    );
}

#[test]
fn double_forking_services_leave_no_zombie() {
    let mut v = Vigil::new();
    // A grandchild that escapes into its own session and outlives its parent
    // briefly: vigil (the subreaper) inherits and must reap it.
    let pid_file = v.dir().join("grandchild.pid");
    let script = format!(
        "(setsid sleep 0.5 & echo $! > {}); exec sleep 30",
        pid_file.display()
    );
    v.write_unit("escapee", &format!("{}{WANTED}", Vigil::sh(&script)));
    // A service that exits 0 at once leaving a backgrounded child behind.
    v.write_unit(
        "leaver",
        &format!(
            "type = \"oneshot\"\n{}{WANTED}",
            Vigil::sh("(sleep 30 &) ; exit 0")
        ),
    );
    v.start();

    assert!(wait_until(TIMEOUT, || std::fs::read_to_string(&pid_file)
        .is_ok_and(|s| s.trim().parse::<i32>().is_ok())));
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    v.wait_log(&format!("orphan pid {grandchild} exited 0"));
    assert!(!pid_alive(grandchild));
    v.wait_state("leaver", "exited");
    v.wait_state("escapee", "running");
    // The leaver's backgrounded sleep was adopted and reaped too.
    assert!(
        wait_until(TIMEOUT, || v.log().matches("orphan pid ").count() >= 2),
        "log:\n{}",
        v.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_no_zombies(&v);
}

#[test]
fn notify_unit_with_systemd_notify() {
    let mut v = Vigil::new();
    let script =
        "sleep 0.3; /usr/bin/systemd-notify --ready --status='serving 3 clients'; exec sleep 30";
    v.write_unit(
        "notifier",
        &format!("type = \"notify\"\n{}{WANTED}", Vigil::sh(script)),
    );
    v.start();
    let st = v.wait_state("notifier", "running");
    assert_eq!(st["status_text"], json!("serving 3 clients"), "{st}");
    assert!(st["summary"]["pid"].as_i64().unwrap() > 0, "{st}");
    v.wait_log("started notifier (pid");
}

#[test]
fn notify_unit_that_never_becomes_ready_is_not_running() {
    let mut v = Vigil::new();
    v.write_unit(
        "mute",
        &format!(
            "type = \"notify\"\nstart_timeout = \"1s\"\n{}{WANTED}",
            Vigil::sh("exec sleep 30")
        ),
    );
    v.start();
    assert_eq!(v.state("mute"), "starting");
    let st = v.wait_state("mute", "failed");
    let reason = st["summary"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("timed out"), "{st}");
}

#[test]
fn forking_unit_with_pid_file() {
    let mut v = Vigil::new();
    let pid_file = v.dir().join("daemon.pid");
    let script = format!(
        "sleep 1000 < /dev/null > /dev/null 2>&1 & echo $! > {}; exit 0",
        pid_file.display()
    );
    v.write_unit(
        "daemon",
        &format!(
            "type = \"forking\"\npid_file = \"{}\"\n{}{WANTED}",
            pid_file.display(),
            Vigil::sh(&script)
        ),
    );
    v.start();
    let st = v.wait_state("daemon", "running");
    let written: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(st["summary"]["pid"], json!(written), "{st}");
    assert!(pid_alive(written as i32));

    let r = v.request(json!({"verb": "stop", "names": ["daemon"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert_eq!(r["body"]["results"][0]["ok"], json!(true), "{r}");
    assert!(
        wait_until(TIMEOUT, || !pid_alive(written as i32)),
        "daemon pid {written} survived stop; log:\n{}",
        v.log()
    );
    let st = v.status("daemon");
    assert!(
        ["inactive", "exited", "failed"].contains(&st["summary"]["state"].as_str().unwrap()),
        "{st}"
    );
    assert_ne!(st["summary"]["state"], json!("running"));
    assert_no_zombies(&v);
}

#[test]
fn failed_execs_are_unit_failures_not_vigil_crashes() {
    let mut v = Vigil::new();
    v.write_unit(
        "baduser",
        &format!("user = \"no-such-user\"\nexec = [\"/bin/true\"]\n{WANTED}"),
    );
    v.write_unit(
        "nobinary",
        &format!("exec = [\"/nonexistent/program\", \"x\"]\n{WANTED}"),
    );
    v.write_unit("fine", &format!("exec = [\"sleep\", \"30\"]\n{WANTED}"));
    v.start();

    let st = v.wait_state("baduser", "failed");
    let reason = st["summary"]["reason"].as_str().unwrap_or("").to_string();
    assert!(reason.starts_with("could not start: "), "{st}");
    assert!(reason.contains("no such user"), "{st}");
    assert!(reason.contains("no-such-user"), "{st}");

    let st = v.wait_state("nobinary", "failed");
    let reason = st["summary"]["reason"].as_str().unwrap_or("").to_string();
    assert!(reason.starts_with("could not start: "), "{st}");
    assert!(
        reason.contains("No such file or directory") || reason.contains("not found"),
        "{st}"
    );
    assert!(
        common::exit_outcomes(&st)
            .iter()
            .any(|o| o.starts_with("could not start")),
        "{st}"
    );

    // vigil is alive and serving.
    assert!(v.alive());
    v.wait_state("fine", "running");
    v.wait_log("baduser: could not start");
}

#[test]
fn stop_escalates_to_sigkill_for_a_service_ignoring_sigterm() {
    let mut v = Vigil::new();
    let script = format!(
        "trap '{}' TERM; {}; while :; do sleep 0.1; done",
        v.mark("stubborn", "term"),
        v.mark("stubborn", "up")
    );
    v.write_unit(
        "stubborn",
        &format!("stop_timeout = \"1s\"\n{}{WANTED}", Vigil::sh(&script)),
    );
    v.start();
    let st = v.wait_state("stubborn", "running");
    let pid = st["summary"]["pid"].as_i64().unwrap() as i32;
    v.event_at("stubborn", "up");

    let r = v.request(json!({"verb": "stop", "names": ["stubborn"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert_eq!(r["body"]["results"][0]["ok"], json!(true), "{r}");
    assert!(!pid_alive(pid), "pid {pid} alive after stop replied");
    // It got SIGTERM first (and ignored it), then SIGKILL.
    v.event_at("stubborn", "term");
    let st = v.status("stubborn");
    let last = st["exits"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["signal"], json!("SIGKILL"), "{st}");
    assert_ne!(st["summary"]["state"], json!("running"), "{st}");
    assert_no_zombies(&v);
}

#[test]
fn many_simultaneous_exits_are_all_reaped() {
    const N: usize = 40;
    let mut v = Vigil::new();
    for i in 0..N {
        v.write_unit(
            &format!("burst{i}"),
            &format!(
                "type = \"oneshot\"\n{}{WANTED}",
                Vigil::sh("(sleep 0.2 &) ; sleep 0.2; exit 0")
            ),
        );
    }
    v.start();
    for i in 0..N {
        v.wait_state(&format!("burst{i}"), "exited");
    }
    assert_no_zombies(&v);
    assert!(
        wait_until(TIMEOUT, || children_of(v.pid()).is_empty()),
        "children left: {:?}",
        children_of(v.pid())
    );
}

#[test]
fn a_client_that_leaves_before_its_reply_does_no_harm() {
    let mut v = Vigil::new();
    v.write_unit(
        "slow",
        &format!(
            "type = \"notify\"\n{}",
            Vigil::sh("sleep 0.5; /usr/bin/systemd-notify --ready; exec sleep 60")
        ),
    );
    v.start();
    {
        use std::io::Write;
        let mut s = v.connect();
        s.write_all(b"{\"version\":1,\"verb\":\"start\",\"names\":[\"slow\"]}\n")
            .unwrap();
    }
    v.wait_state("slow", "running");
    assert!(v.alive());
    assert_eq!(v.list_names().len(), 2);
}

/// A root process outside vigil's tree, killed when the test ends.
struct Bystander(std::process::Child);

impl Bystander {
    fn spawn() -> Self {
        Bystander(
            std::process::Command::new("sleep")
                .arg("60")
                .spawn()
                .unwrap(),
        )
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_unprivileged_service_cannot_make_vigil_kill_a_foreign_pid_via_mainpid() {
    let victim = Bystander::spawn();
    let mut v = Vigil::new();
    v.write_unit(
        "liar",
        &format!(
            "type = \"notify\"\nuser = \"nobody\"\nstop_timeout = \"1s\"\n{}{WANTED}",
            Vigil::sh(&format!(
                "/usr/bin/systemd-notify --ready --pid={}; exec sleep 60",
                victim.pid()
            ))
        ),
    );
    v.start();
    v.wait_state("liar", "running");
    std::thread::sleep(Duration::from_millis(200));
    let r = v.request(json!({"verb": "stop", "names": ["liar"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pid_alive(victim.pid()),
        "vigil killed pid {} (not part of the unit) because the unit said MAINPID={}; log:\n{}",
        victim.pid(),
        victim.pid(),
        v.log()
    );
}

#[test]
fn an_unprivileged_daemon_cannot_make_vigil_kill_a_foreign_pid_via_its_pid_file() {
    let victim = Bystander::spawn();
    let mut v = Vigil::new();
    let run = v.dir().join("run");
    std::fs::create_dir(&run).unwrap();
    nix::unistd::chown(&run, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let pid_file = run.join("liar.pid");
    v.write_unit(
        "liar",
        &format!(
            "type = \"forking\"\nuser = \"nobody\"\npid_file = \"{}\"\nstop_timeout = \"1s\"\n{}{WANTED}",
            pid_file.display(),
            Vigil::sh(&format!(
                "sleep 60 < /dev/null > /dev/null 2>&1 & echo {} > {}; exit 0",
                victim.pid(),
                pid_file.display()
            ))
        ),
    );
    v.start();
    assert!(wait_until(TIMEOUT, || v.state("liar") != "starting"));
    let r = v.request(json!({"verb": "stop", "names": ["liar"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pid_alive(victim.pid()),
        "vigil killed pid {} named by a pid file that user nobody wrote; log:\n{}",
        victim.pid(),
        v.log()
    );
}

#[test]
fn a_core_dump_is_reported() {
    let mut v = Vigil::new();
    v.write_unit(
        "crashy",
        &format!(
            "working_directory = \"{}\"\n{}{WANTED}",
            v.dir().display(),
            Vigil::sh("ulimit -c unlimited; kill -SEGV $$$$")
        ),
    );
    v.start();
    let st = v.wait_state("crashy", "failed");
    let exit = &st["exits"][0];
    assert_eq!(exit["signal"], json!("SIGSEGV"), "{st}");
    let outcome = exit["outcome"].as_str().unwrap();
    let core = std::fs::read_dir(v.dir())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("core"));
    if core {
        assert!(outcome.contains("core dumped"), "{st}");
        v.wait_log("killed by SIGSEGV (core dumped)");
    } else {
        v.wait_log("killed by SIGSEGV");
    }
}
