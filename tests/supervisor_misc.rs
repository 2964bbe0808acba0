//! Less common paths of the real vigil: killed daemons, remain_after_exit,
//! SIGHUP reloads, the system status and blocking start jobs.

mod common;

use std::time::Duration;

use common::{pid_alive, wait_until, Vigil, TIMEOUT};
use serde_json::json;

const WANTED: &str = "wanted_by = [\"default\"]\n";

fn pid(st: &serde_json::Value) -> i32 {
    st["summary"]["pid"].as_i64().unwrap_or(0) as i32
}

#[test]
fn a_killed_service_is_recorded_and_restarted() {
    let mut v = Vigil::new();
    v.write_unit(
        "victim",
        &format!(
            "exec = [\"sleep\", \"60\"]\nrestart = \"on-failure\"\nrestart_delay = \"0\"\n{WANTED}"
        ),
    );
    v.start();
    let first = pid(&v.wait_state("victim", "running"));
    // SAFETY: kill(2) on a service pid.
    unsafe { libc::kill(first, libc::SIGKILL) };
    assert!(
        wait_until(TIMEOUT, || {
            let st = v.status("victim");
            st["summary"]["state"] == json!("running") && pid(&st) != first
        }),
        "not restarted: {}\nlog:\n{}",
        v.status("victim"),
        v.log()
    );
    let st = v.status("victim");
    assert_eq!(st["restarts"], json!(1), "{st}");
    let exit = &st["exits"][0];
    assert_eq!(exit["pid"], json!(first), "{st}");
    assert_eq!(exit["signal"], json!("SIGKILL"), "{st}");
    assert!(
        exit["outcome"].as_str().unwrap().contains("SIGKILL"),
        "{st}"
    );
    v.wait_log(&format!("victim: pid {first} killed by SIGKILL"));
}

#[test]
fn a_forking_daemon_that_dies_is_restarted() {
    let mut v = Vigil::new();
    let pid_file = v.dir().join("d.pid");
    let script = format!(
        "sleep 1000 < /dev/null > /dev/null 2>&1 & echo $! > {}; exit 0",
        pid_file.display()
    );
    v.write_unit(
        "daemon",
        &format!(
            "type = \"forking\"\npid_file = \"{}\"\nrestart = \"on-failure\"\nrestart_delay = \"0\"\n{}{WANTED}",
            pid_file.display(),
            Vigil::sh(&script)
        ),
    );
    v.start();
    let first = pid(&v.wait_state("daemon", "running"));
    // SAFETY: kill(2) on the daemon.
    unsafe { libc::kill(first, libc::SIGKILL) };
    assert!(
        wait_until(TIMEOUT, || {
            let st = v.status("daemon");
            st["summary"]["state"] == json!("running") && pid(&st) != first && pid(&st) > 0
        }),
        "forking daemon not restarted: {}\nlog:\n{}",
        v.status("daemon"),
        v.log()
    );
    let st = v.status("daemon");
    let now: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid(&st), now, "{st}");
    assert!(pid_alive(now));
    assert_eq!(st["exits"][0]["pid"], json!(first), "{st}");
}

#[test]
fn oneshot_with_remain_after_exit_stays_up() {
    let mut v = Vigil::new();
    v.write_unit(
        "setup",
        &format!("type = \"oneshot\"\nremain_after_exit = true\nexec = [\"/bin/true\"]\n{WANTED}"),
    );
    v.write_unit(
        "after_setup",
        &format!(
            "exec = [\"sleep\", \"60\"]\nrequires = [\"setup\"]\nafter = [\"setup\"]\n{WANTED}"
        ),
    );
    v.start();
    v.wait_state("after_setup", "running");
    let st = v.status("setup");
    // Up, as far as dependents go: not failed, not inactive.
    assert!(
        ["exited", "running"].contains(&st["summary"]["state"].as_str().unwrap()),
        "{st}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(v.state("after_setup"), "running");
}

#[test]
fn sighup_reloads_the_units_directory() {
    let mut v = Vigil::new();
    v.write_unit("a", &format!("exec = [\"sleep\", \"60\"]\n{WANTED}"));
    v.start();
    v.wait_state("a", "running");
    v.write_unit("b", &format!("exec = [\"sleep\", \"60\"]\n{WANTED}"));
    v.signal(libc::SIGHUP);
    v.wait_state("b", "running");
    v.wait_log("reloaded units: 1 added");
}

#[test]
fn system_status_names_failed_units() {
    let mut v = Vigil::new();
    v.write_unit("ok", &format!("exec = [\"sleep\", \"60\"]\n{WANTED}"));
    v.write_unit("bad", &format!("exec = [\"/bin/false\"]\n{WANTED}"));
    v.start();
    v.wait_state("bad", "failed");
    v.wait_state("ok", "running");
    let r = v.request(json!({"verb": "status"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let body = &r["body"];
    assert_eq!(body["kind"], json!("system"), "{r}");
    assert_eq!(body["failed"], json!(["bad"]), "{r}");
    assert_eq!(body["state"], json!("degraded"), "{r}");
    assert_eq!(body["target"], json!("default"), "{r}");
    assert_eq!(body["pid1"], json!(false), "{r}");
}

#[test]
fn start_replies_when_the_job_is_done() {
    let mut v = Vigil::new();
    v.write_unit(
        "slow",
        &format!(
            "type = \"notify\"\n{}",
            Vigil::sh(&format!(
                "sleep 1; {}; /usr/bin/systemd-notify --ready; exec sleep 60",
                v.mark("slow", "ready")
            ))
        ),
    );
    v.write_unit("idle", "exec = [\"sleep\", \"60\"]\n");
    v.start();
    assert_eq!(v.state("slow"), "inactive");
    let r = v.request(json!({"verb": "start", "names": ["slow", "idle"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    // The reply came after READY=1, not when the job was queued.
    assert!(
        v.events()
            .iter()
            .any(|e| e.name == "slow" && e.what == "ready"),
        "start replied before the unit was ready: {r}"
    );
    assert_eq!(v.state("slow"), "running");
    assert_eq!(v.state("idle"), "running");
    // no_block replies at once.
    let r = v.request(json!({"verb": "stop", "names": ["slow"], "no_block": true}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(wait_until(TIMEOUT, || v.state("slow") != "running"));
}

#[test]
fn notify_from_an_unprivileged_service() {
    let mut v = Vigil::new();
    v.write_unit(
        "unpriv",
        &format!(
            "type = \"notify\"\nuser = \"nobody\"\n{}{WANTED}",
            Vigil::sh("/usr/bin/systemd-notify --ready --status=fine; exec sleep 60")
        ),
    );
    v.start();
    let st = v.wait_state("unpriv", "running");
    assert_eq!(st["status_text"], json!("fine"), "{st}");
}

#[test]
fn notify_mainpid_hands_over_the_main_process() {
    let mut v = Vigil::new();
    let launcher_file = v.dir().join("launcher.pid");
    v.write_unit(
        "handover",
        &format!(
            "type = \"notify\"\nrestart = \"never\"\n{}{WANTED}",
            Vigil::sh(&format!(
                "echo $$$$ > {}; sleep 60 < /dev/null > /dev/null 2>&1 & /usr/bin/systemd-notify --ready --pid=$!; sleep 0.5; exit 0",
                launcher_file.display()
            ))
        ),
    );
    v.start();
    let st = v.wait_state("handover", "running");
    let launcher: i32 = std::fs::read_to_string(&launcher_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let main = pid(&st);
    assert_ne!(main, launcher, "MAINPID= ignored: {st}");
    // After the launcher exits, the unit is still running with the new main pid.
    assert!(
        wait_until(TIMEOUT, || !pid_alive(launcher)),
        "launcher {launcher} never exited"
    );
    std::thread::sleep(Duration::from_millis(300));
    let st = v.status("handover");
    assert_eq!(st["summary"]["state"], json!("running"), "{st}");
    assert_eq!(pid(&st), main, "{st}");
    assert!(pid_alive(main));
    let r = v.request(json!({"verb": "stop", "names": ["handover"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(wait_until(TIMEOUT, || !pid_alive(main)));
}

#[test]
fn custom_stop_signal_is_sent() {
    let mut v = Vigil::new();
    let script = format!(
        "trap '{}; exit 0' INT; trap '{}; exit 0' TERM; while :; do sleep 0.05; done",
        v.mark("sig", "int"),
        v.mark("sig", "term")
    );
    v.write_unit(
        "sig",
        &format!("stop_signal = \"SIGINT\"\n{}{WANTED}", Vigil::sh(&script)),
    );
    v.start();
    v.wait_state("sig", "running");
    std::thread::sleep(Duration::from_millis(200));
    let r = v.request(json!({"verb": "stop", "names": ["sig"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    v.event_at("sig", "int");
    assert!(
        !v.events().iter().any(|e| e.what == "term"),
        "{:?}",
        v.events()
    );
}

#[test]
fn sigterm_while_a_unit_is_starting() {
    let mut v = Vigil::new();
    v.write_unit(
        "never_ready",
        &format!("type = \"notify\"\n{}{WANTED}", Vigil::sh("exec sleep 60")),
    );
    v.start();
    let p = pid(&v.wait_state("never_ready", "starting"));
    v.signal(libc::SIGTERM);
    let st = v.wait_exit(TIMEOUT);
    assert_eq!(st.and_then(|s| s.code()), Some(0), "log:\n{}", v.log());
    assert!(!pid_alive(p));
}

#[test]
fn missing_environment_file_fails_the_start_unless_optional() {
    let mut v = Vigil::new();
    v.write_unit(
        "strict",
        &format!("environment_file = \"/nonexistent/env\"\nexec = [\"sleep\", \"60\"]\n{WANTED}"),
    );
    v.write_unit(
        "lenient",
        &format!("environment_file = \"-/nonexistent/env\"\nexec = [\"sleep\", \"60\"]\n{WANTED}"),
    );
    v.start();
    let st = v.wait_state("strict", "failed");
    let reason = st["summary"]["reason"].as_str().unwrap_or("");
    assert!(reason.starts_with("could not start"), "{st}");
    assert!(reason.contains("/nonexistent/env"), "{st}");
    v.wait_state("lenient", "running");
}

#[test]
fn restart_verb_starts_an_inactive_unit_and_replaces_a_running_one() {
    let mut v = Vigil::new();
    v.write_unit("manual", "exec = [\"sleep\", \"60\"]\n");
    v.start();
    assert_eq!(v.state("manual"), "inactive");
    let r = v.request(json!({"verb": "restart", "names": ["manual"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let first = pid(&v.wait_state("manual", "running"));
    let r = v.request(json!({"verb": "restart", "names": ["manual"]}));
    assert_eq!(r["body"]["results"][0]["ok"], json!(true), "{r}");
    let second = pid(&v.wait_state("manual", "running"));
    assert_ne!(first, second);
    assert!(wait_until(TIMEOUT, || !pid_alive(first)));
}

#[test]
fn socket_directory_is_created_for_both_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    std::fs::write(
        units.join("n.toml"),
        "type = \"notify\"\nexec = [\"/bin/sh\", \"-c\", \"systemd-notify --ready; exec sleep 30\"]\nwanted_by = [\"default\"]\n",
    )
    .unwrap();
    let socket = dir.path().join("not/yet/there/ctl");
    let log_path = dir.path().join("vigil.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--units")
        .arg(&units)
        .arg("--socket")
        .arg(&socket)
        .arg("--config")
        .arg(dir.path().join("none.toml"))
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // The notify unit can only become ready if the notify socket was bound.
    let ready = wait_until(Duration::from_secs(10), || log().contains("started n (pid"));
    let sockets = socket.exists() && socket.with_file_name("notify").exists();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    assert!(ready, "notify unit never became ready:\n{}", log());
    assert!(sockets, "sockets missing; log:\n{}", log());
}
