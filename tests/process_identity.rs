//! vigil never signals a process that is not the unit's, although the
//! kernel reuses pids: each case of issue 8 ("Never signal a process that
//! is not the unit's"), reproduced with real processes. The pid-reuse cases
//! run vigil as PID 1 of its own PID namespace, where a test can hand out
//! exactly the pid it wants through /proc/sys/kernel/ns_last_pid.

mod common;

use std::time::Duration;

use common::{wait_until, Vigil, TIMEOUT};
use serde_json::json;

/// uid and gid of nobody/nogroup on Debian.
const NOBODY: &str = "65534";

fn stop(v: &Vigil, name: &str) -> serde_json::Value {
    v.request(json!({"verb": "stop", "names": [name]}))
}

fn read_pid(v: &Vigil, name: &str) -> i32 {
    let path = v.dir().join(format!("{name}.pid"));
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
            .is_some()),
        "{} never written; log:\n{}",
        path.display(),
        v.log()
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Case 1. A oneshot with remain_after_exit ran as pid P and exited; a stranger
/// later got pid P and leads its own group. Stopping the oneshot must not
/// touch the stranger.
#[test]
fn stopping_an_exited_oneshot_spares_a_stranger_that_reused_its_pid() {
    let mut v = Vigil::new();
    let pid_file = v.dir().join("once.pid");
    v.write_unit(
        "once",
        &format!(
            "type = \"oneshot\"\nremain_after_exit = true\nwanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!("echo $$$$ > {}", pid_file.display()))
        ),
    );
    v.start_in_pid_namespace();
    v.wait_state("once", "exited");
    let p = read_pid(&v, "once");
    v.ns_process_with_pid(p, NOBODY, "stranger", "exec sleep 1000");
    assert!(v.ns_alive(p));
    let r = stop(&v, "once");
    assert_eq!(r["ok"], json!(true), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        v.ns_alive(p),
        "the stranger with pid {p} was killed; log:\n{}",
        v.log()
    );
}

/// Case 1b. A forking unit's launcher (pid L) exited after its daemon left for
/// a session of its own; a stranger got pid L as a group leader. Stopping
/// the unit stops the daemon and spares the stranger.
#[test]
fn stopping_a_forking_unit_spares_a_stranger_with_its_launchers_pid() {
    let mut v = Vigil::new();
    let dir = v.dir().to_path_buf();
    v.write_unit(
        "forky",
        &format!(
            "type = \"forking\"\npid_file = \"{d}/forky.daemon\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!(
                "echo $$$$ > {d}/launcher.pid; setsid -f /bin/sh -c 'echo $$$$ > {d}/forky.daemon; exec sleep 1000'; \
                 while [ ! -s {d}/forky.daemon ]; do sleep 0.01; done",
                d = dir.display()
            )),
            d = dir.display()
        ),
    );
    v.start_in_pid_namespace();
    let st = v.wait_state("forky", "running");
    let daemon = st["summary"]["pid"].as_i64().unwrap() as i32;
    let launcher = read_pid(&v, "launcher");
    assert_ne!(daemon, launcher);
    v.ns_process_with_pid(launcher, NOBODY, "stranger", "exec sleep 1000");
    let r = stop(&v, "forky");
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(!v.ns_alive(daemon), "the daemon survived the stop");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        v.ns_alive(launcher),
        "the stranger with the launcher's pid {launcher} was signalled; log:\n{}",
        v.log()
    );
}

/// Case 2. A pid file that names another unit's main process is refused: the
/// forking unit fails, and the other unit keeps running untouched.
#[test]
fn a_pid_file_naming_another_units_process_is_refused() {
    let mut v = Vigil::new();
    let dir = v.dir().to_path_buf();
    v.write_unit(
        "victim",
        &format!(
            "wanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!(
                "echo $$$$ > {}/victim.pid; exec sleep 1000",
                dir.display()
            ))
        ),
    );
    v.write_unit(
        "thief",
        &format!(
            "type = \"forking\"\nafter = [\"victim\"]\nrestart = \"never\"\npid_file = \"{d}/thief.daemon\"\n\
             wanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!(
                "while [ ! -s {d}/victim.pid ]; do sleep 0.01; done; cat {d}/victim.pid > {d}/thief.daemon",
                d = dir.display()
            )),
            d = dir.display()
        ),
    );
    v.start();
    let st = v.wait_state("thief", "failed");
    let reason = st["summary"]["reason"].as_str().unwrap_or("").to_string();
    assert!(reason.contains("main process of victim"), "{reason}");
    let victim = read_pid(&v, "victim");
    let r = stop(&v, "thief");
    assert_eq!(r["ok"], json!(true), "{r}");
    std::thread::sleep(Duration::from_millis(200));
    let st = v.status("victim");
    assert_eq!(st["summary"]["state"], json!("running"));
    assert_eq!(st["summary"]["pid"], json!(victim));
    assert!(common::pid_alive(victim));
}

/// Case 3. A root notify unit that names vigil itself as its main process is
/// refused, and stopping the unit leaves vigil running.
#[test]
fn mainpid_naming_vigil_itself_is_refused() {
    let mut v = Vigil::new();
    v.write_unit(
        "rogue",
        &format!(
            "type = \"notify\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh("systemd-notify MAINPID=$PPID READY=1; exec sleep 1000")
        ),
    );
    v.start();
    v.wait_state("rogue", "running");
    v.wait_log("ignoring MAINPID=");
    let st = v.status("rogue");
    assert_ne!(st["summary"]["pid"], json!(v.pid()));
    let r = stop(&v, "rogue");
    assert_eq!(r["ok"], json!(true), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(v.alive(), "vigil died; log:\n{}", v.log());
    assert_eq!(v.state("rogue"), "inactive");
}

/// Case 4. A non-root notify unit names a child of its own as main process,
/// then reaps that child itself: vigil learns of the exit through the
/// child's pidfd and does not keep a dead pid as the unit's.
#[test]
fn a_main_process_that_is_not_vigils_child_is_watched_to_its_exit() {
    let mut v = Vigil::new();
    let dir = v.dir().to_path_buf();
    v.write_unit(
        "sly",
        &format!(
            "type = \"notify\"\nuser = \"nobody\"\nrestart = \"never\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!(
                "sleep 1000 & C=$!; echo $C > {d}/slychild.pid; systemd-notify MAINPID=$C READY=1; \
                 sleep 0.3; kill $C; wait $C; exec sleep 1000",
                d = dir.display()
            ))
        ),
    );
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    v.start();
    let child = read_pid(&v, "slychild");
    let adopted = wait_until(TIMEOUT, || {
        v.status("sly")["summary"]["pid"] == json!(child)
    });
    assert!(
        adopted,
        "MAINPID not adopted: {}\n{}",
        v.status("sly"),
        v.log()
    );
    let st = v.wait_state("sly", "failed");
    assert_ne!(st["summary"]["pid"], json!(child));
    let outcomes = common::exit_outcomes(&st);
    assert!(
        outcomes.iter().any(|o| o.contains("status unknown")),
        "{outcomes:?}"
    );
}

/// Case 5. After a root forking unit's launcher (pid L) exited, an unprivileged
/// process gets pid L, leads a session of its own and claims to be the
/// unit's main process. The claim matches no unit: the daemon stays the
/// unit's, a stop stops it, and a start runs no second copy.
#[test]
fn an_unprivileged_process_with_a_stale_session_id_cannot_hijack_a_unit() {
    let mut v = Vigil::new();
    let dir = v.dir().to_path_buf();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    v.write_unit(
        "rootd",
        &format!(
            "type = \"forking\"\npid_file = \"{d}/rootd.daemon\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!(
                "echo $$$$ > {d}/launcher.pid; setsid -f /bin/sh -c 'echo $$$$ > {d}/rootd.daemon; exec sleep 1000'; \
                 while [ ! -s {d}/rootd.daemon ]; do sleep 0.01; done",
                d = dir.display()
            )),
            d = dir.display()
        ),
    );
    v.start_in_pid_namespace();
    let st = v.wait_state("rootd", "running");
    let daemon = st["summary"]["pid"].as_i64().unwrap() as i32;
    let launcher = read_pid(&v, "launcher");
    let notify = dir.join("notify");
    v.ns_process_with_pid(
        launcher,
        NOBODY,
        "hijacker",
        &format!(
            "NOTIFY_SOCKET={} systemd-notify MAINPID=$$ STATUS=hijacked; echo sent > {}/hijacker.sent; exec sleep 1000",
            notify.display(),
            dir.display()
        ),
    );
    assert!(wait_until(TIMEOUT, || dir.join("hijacker.sent").exists()));
    std::thread::sleep(Duration::from_millis(300));
    let st = v.status("rootd");
    assert_eq!(st["summary"]["pid"], json!(daemon), "{st}\n{}", v.log());
    assert_ne!(st["status_text"], json!("hijacked"));
    let r = stop(&v, "rootd");
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(
        !v.ns_alive(daemon),
        "the root daemon survived the stop; log:\n{}",
        v.log()
    );
    assert!(v.ns_alive(launcher), "the hijacker was signalled instead");
}
