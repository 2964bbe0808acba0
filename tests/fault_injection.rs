//! Faults from outside, against the real binary: vigil keeps serving,
//! reaps everything, and reports each failure clearly (issue 8, "Fuzzing
//! and fault injection").

mod common;

use std::process::Command;
use std::time::Duration;

use common::{children_of, wait_until, Vigil, TIMEOUT};
use serde_json::json;

/// A service that comes back 200 ms after every death, whatever happens.
const PHOENIX: &str = "exec = [\"/bin/sleep\", \"1000\"]\nrestart = \"always\"\n\
restart_delay = \"200ms\"\nstart_limit_burst = 1000\nwanted_by = [\"default\"]\n";

/// Sets the soft RLIMIT_NOFILE of `pid` (the hard one stays).
fn set_nofile(pid: i32, n: u32) {
    let st = Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--nofile={n}:"))
        .status()
        .unwrap();
    assert!(st.success());
}

/// Out of descriptors: a client is told so instead of being dropped in
/// silence, a restart that cannot get a pidfd fails with the reason and is
/// retried by its policy, and all is well once descriptors are back.
#[test]
fn running_out_of_descriptors_is_reported_and_recovered_from() {
    let mut v = Vigil::new();
    // stdout to /dev/null: a start opens it, so a restart needs a
    // descriptor besides the pidfd its dead predecessor gave back (a log
    // pipe, and stdin, are vigil's already).
    v.write_unit("phoenix", &format!("{PHOENIX}stdout = \"null\"\n"));
    v.start();
    let st = v.wait_state("phoenix", "running");
    let pid = st["summary"]["pid"].as_i64().unwrap() as i32;
    // A limit at vigil's lowest free descriptor number: the next one it
    // opens fails with EMFILE.
    // (Once the connections of the requests above are closed.)
    let open = common::settled_fds(v.pid());
    let lowest_free = (0..).find(|n| !open.contains(n)).unwrap();
    set_nofile(v.pid(), lowest_free);
    // A new client: the reply says why (it comes before any request).
    let stream = v.connect();
    let r = common::read_reply(&mut std::io::BufReader::new(stream));
    assert_eq!(r["ok"], json!(false), "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or("")
            .contains("out of file descriptors"),
        "{r}"
    );
    // The service dies; its restart cannot get descriptors.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    v.wait_log("Too many open files");
    set_nofile(v.pid(), 4096);
    let back = wait_until(TIMEOUT, || {
        let r = v.request(json!({"verb": "status", "names": ["phoenix"]}));
        r["ok"] == json!(true) && r["body"]["units"][0]["summary"]["state"] == json!("running")
    });
    assert!(back, "no recovery; log:\n{}", v.log());
    assert!(v.alive());
}

/// A storm of signals during start-up and during shutdown: vigil handles
/// them (reloads, dumps), finishes starting, and shuts down once.
#[test]
fn a_signal_storm_during_start_up_and_shutdown_is_survived() {
    let mut v = Vigil::new();
    for i in 0..20 {
        v.write_unit(
            &format!("s{i:02}"),
            "exec = [\"/bin/sleep\", \"1000\"]\nwanted_by = [\"default\"]\n",
        );
    }
    v.start();
    for _ in 0..300 {
        for sig in [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGQUIT] {
            unsafe { libc::kill(v.pid(), sig) };
        }
    }
    for i in 0..20 {
        v.wait_state(&format!("s{i:02}"), "running");
    }
    assert_eq!(v.request(json!({"verb": "list"}))["ok"], json!(true));
    for _ in 0..100 {
        unsafe { libc::kill(v.pid(), libc::SIGTERM) };
        unsafe { libc::kill(v.pid(), libc::SIGHUP) };
    }
    let status = v.wait_exit(TIMEOUT).expect("vigil exits on SIGTERM");
    assert!(status.success(), "{status:?}\n{}", v.log());
    let log = v.log();
    assert_eq!(log.matches("shutdown requested").count(), 1, "{log}");
}

/// 10,000 orphans at once (a service that double-forks them): every one is
/// reaped, the log gets a bounded number of lines about them, and vigil
/// goes on answering.
#[test]
fn ten_thousand_orphans_are_all_reaped() {
    let mut v = Vigil::new();
    let done = v.dir().join("forked");
    v.write_unit(
        "breeder",
        &format!(
            "type = \"oneshot\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!(
                "i=0; while [ $i -lt 10000 ]; do ( /bin/true & ) ; i=$((i+1)); done; touch {}",
                done.display()
            ))
        ),
    );
    v.start();
    assert!(
        wait_until(Duration::from_secs(120), || done.exists()),
        "the breeder did not finish"
    );
    v.wait_state("breeder", "exited");
    let reaped = wait_until(TIMEOUT, || {
        children_of(v.pid()).iter().all(|(_, state)| *state != 'Z')
    });
    assert!(reaped, "zombies left: {:?}", children_of(v.pid()));
    assert_eq!(v.request(json!({"verb": "list"}))["ok"], json!(true));
    let orphan_lines = v.log().lines().filter(|l| l.contains("orphan pid")).count();
    assert!(orphan_lines <= 50, "{orphan_lines} orphan lines");
}

/// A pids controller to hold vigil in: cgroup v1's, or v2's where the
/// pids controller is enabled. The test needs one (these machines have the
/// v1 one); without it the test fails rather than pretend.
fn pids_cgroup_root() -> std::path::PathBuf {
    let v1 = std::path::Path::new("/sys/fs/cgroup/pids");
    if v1.join("cgroup.procs").exists() {
        return v1.to_path_buf();
    }
    for v2 in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let controllers = std::fs::read_to_string(format!("{v2}/cgroup.subtree_control"));
        if controllers.is_ok_and(|c| c.split_whitespace().any(|w| w == "pids")) {
            return v2.into();
        }
    }
    panic!("no writable pids cgroup controller on this machine");
}

/// clone failing with EAGAIN (the pids limit of vigil's cgroup reached):
/// the restart fails with that reason, is retried by its policy, and the
/// unit comes back once processes may be made again.
#[test]
fn clone_failing_with_eagain_is_reported_and_recovered_from() {
    let mut v = Vigil::new();
    v.write_unit("phoenix", PHOENIX);
    v.start();
    let st = v.wait_state("phoenix", "running");
    let pid = st["summary"]["pid"].as_i64().unwrap() as i32;
    let root = pids_cgroup_root();
    let group = root.join(format!("vigil-test-{}", v.pid()));
    std::fs::create_dir(&group).unwrap();
    std::fs::write(group.join("pids.max"), "1").unwrap();
    std::fs::write(group.join("cgroup.procs"), v.pid().to_string()).unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    v.wait_log("Resource temporarily unavailable");
    assert!(v.alive());
    std::fs::write(group.join("pids.max"), "max").unwrap();
    let back = wait_until(TIMEOUT, || v.state("phoenix") == "running");
    std::fs::write(root.join("cgroup.procs"), v.pid().to_string()).unwrap();
    // Its new service may still be in the test group: move it out too.
    for p in std::fs::read_to_string(group.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
    {
        let _ = std::fs::write(root.join("cgroup.procs"), p);
    }
    let _ = std::fs::remove_dir(&group);
    assert!(back, "no recovery; log:\n{}", v.log());
    let log = v.log();
    assert!(
        log.lines()
            .any(|l| l
                .contains("phoenix: could not start: forking: Resource temporarily unavailable")),
        "{log}"
    );
}
