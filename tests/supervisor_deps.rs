//! Requirement propagation, process-group stops and the execution context of
//! services in the real vigil.

mod common;

use std::time::Duration;

use common::{children_of, pid_alive, wait_until, Vigil, TIMEOUT};
use serde_json::json;

const WANTED: &str = "wanted_by = [\"default\"]\n";
const SLEEP: &str = "exec = [\"sleep\", \"60\"]\n";

#[test]
fn requires_propagates_failure_and_stop() {
    let mut v = Vigil::new();
    v.write_unit(
        "broken",
        &format!("exec = [\"/bin/false\"]\ntype = \"oneshot\"\n{WANTED}"),
    );
    v.write_unit(
        "needs_broken",
        &format!(
            "{}requires = [\"broken\"]\nafter = [\"broken\"]\n{WANTED}",
            Vigil::sh(&format!("{}; exec sleep 60", v.mark("needs_broken", "ran")))
        ),
    );
    v.write_unit(
        "wants_broken",
        &format!("{SLEEP}wants = [\"broken\"]\nafter = [\"broken\"]\n{WANTED}"),
    );
    v.write_unit("db", &format!("{SLEEP}{WANTED}"));
    v.write_unit(
        "web",
        &format!("{SLEEP}requires = [\"db\"]\nafter = [\"db\"]\n{WANTED}"),
    );
    v.start();

    v.wait_state("broken", "failed");
    let st = v.wait_state("needs_broken", "failed");
    assert!(
        st["summary"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("dependency"),
        "{st}"
    );
    assert!(v.events().is_empty(), "needs_broken ran: {:?}", v.events());
    v.wait_state("wants_broken", "running");

    let web_pid = v.wait_state("web", "running")["summary"]["pid"]
        .as_i64()
        .unwrap() as i32;
    v.wait_state("db", "running");
    let r = v.request(json!({"verb": "stop", "names": ["db"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(
        wait_until(TIMEOUT, || v.state("web") != "running"),
        "web kept running without db; log:\n{}",
        v.log()
    );
    assert!(wait_until(TIMEOUT, || !pid_alive(web_pid)));

    // Starting web again pulls db back in.
    let r = v.request(json!({"verb": "start", "names": ["web"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    v.wait_state("web", "running");
    v.wait_state("db", "running");
}

#[test]
fn stop_kills_the_whole_process_group() {
    let mut v = Vigil::new();
    let pids = v.dir().join("pids");
    let script = format!(
        "sleep 61 & echo $! >> {p}; sleep 62 & echo $! >> {p}; wait",
        p = pids.display()
    );
    v.write_unit("family", &format!("{}{WANTED}", Vigil::sh(&script)));
    v.start();
    v.wait_state("family", "running");
    assert!(wait_until(TIMEOUT, || std::fs::read_to_string(&pids)
        .is_ok_and(|s| s.lines().count() == 2)));
    let kids: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let r = v.request(json!({"verb": "stop", "names": ["family"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    for pid in &kids {
        assert!(
            wait_until(TIMEOUT, || !pid_alive(*pid)),
            "child {pid} of a stopped service survived; log:\n{}",
            v.log()
        );
    }
    assert!(wait_until(TIMEOUT, || children_of(v.pid())
        .iter()
        .all(|(_, s)| *s != 'Z')));
}

#[test]
fn services_get_their_user_environment_directory_umask_and_output() {
    let mut v = Vigil::new();
    let work = v.dir().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = v.dir().join("out.txt");
    let env_file = v.dir().join("env");
    std::fs::write(&env_file, "FROM_FILE=yes\n# comment\n").unwrap();
    let script = "echo uid=$(id -u) gid=$(id -g) pwd=$(pwd) umask=$(umask) greeting=$GREETING file=$FROM_FILE; echo to-stderr >&2";
    v.write_unit(
        "ctx",
        &format!(
            "type = \"oneshot\"\nuser = \"nobody\"\ngroup = \"nogroup\"\nworking_directory = \"{}\"\numask = \"027\"\nenvironment = {{ GREETING = \"hello world\" }}\nenvironment_file = \"{}\"\nstdout = \"{}\"\nstderr = \"{}\"\n{}{WANTED}",
            work.display(),
            env_file.display(),
            out.display(),
            out.display(),
            Vigil::sh(script)
        ),
    );
    v.start();
    let st = v.wait_state("ctx", "exited");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no output; {st}\nlog:\n{}", v.log()));
    assert_eq!(
        line,
        format!(
            "uid=65534 gid=65534 pwd={} umask=0027 greeting=hello world file=yes",
            work.display()
        ),
        "{text}"
    );
    assert!(text.contains("to-stderr"), "{text}");
}

#[test]
fn sigterm_during_a_restart_delay_exits_promptly() {
    let mut v = Vigil::new();
    v.write_unit(
        "crasher",
        &format!(
            "exec = [\"/bin/false\"]\nrestart = \"always\"\nrestart_delay = \"30s\"\nrestart_delay_max = \"30s\"\n{WANTED}"
        ),
    );
    v.start();
    assert!(wait_until(TIMEOUT, || v.status("crasher")["restarts"] == json!(1)));
    v.signal(libc::SIGTERM);
    let st = v.wait_exit(Duration::from_secs(10));
    assert!(
        st.is_some(),
        "vigil waited for a restart delay; log:\n{}",
        v.log()
    );
    assert_eq!(st.unwrap().code(), Some(0));
}

#[test]
fn stop_of_a_notify_unit_that_is_still_starting() {
    let mut v = Vigil::new();
    v.write_unit(
        "never_ready",
        &format!("type = \"notify\"\n{}{WANTED}", Vigil::sh("exec sleep 60")),
    );
    v.start();
    let st = v.wait_state("never_ready", "starting");
    let pid = st["summary"]["pid"].as_i64().unwrap() as i32;
    let r = v.request(json!({"verb": "stop", "names": ["never_ready"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(wait_until(TIMEOUT, || !pid_alive(pid)), "log:\n{}", v.log());
    assert!(wait_until(TIMEOUT, || v.state("never_ready") != "starting"));
    // And vigil can still shut down cleanly.
    v.signal(libc::SIGTERM);
    assert_eq!(v.wait_exit(TIMEOUT).and_then(|s| s.code()), Some(0));
}

#[test]
fn stopping_a_required_unit_stops_its_dependents_first() {
    let mut v = Vigil::new();
    let graceful = |v: &Vigil, name: &str| {
        Vigil::sh(&format!(
            "trap '{}; sleep 0.3; {}; exit 0' TERM; while :; do sleep 0.05; done",
            v.mark(name, "term"),
            v.mark(name, "gone")
        ))
    };
    v.write_unit("db", &format!("{}{WANTED}", graceful(&v, "db")));
    v.write_unit(
        "web",
        &format!(
            "requires = [\"db\"]\nafter = [\"db\"]\n{}{WANTED}",
            graceful(&v, "web")
        ),
    );
    v.start();
    v.wait_state("db", "running");
    v.wait_state("web", "running");
    std::thread::sleep(Duration::from_millis(200));
    let r = v.request(json!({"verb": "stop", "names": ["db"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let web_gone = v.event_at("web", "gone");
    let db_term = v.event_at("db", "term");
    assert!(
        web_gone <= db_term,
        "db was stopped before its dependent web: {:?}",
        v.events()
    );
    v.wait_state("db", "inactive");
    assert_ne!(v.state("web"), "running");
}

#[test]
fn ordering_after_a_failed_unit_still_starts() {
    let mut v = Vigil::new();
    v.write_unit(
        "fails",
        &format!("type = \"oneshot\"\nexec = [\"/bin/false\"]\n{WANTED}"),
    );
    v.write_unit("later", &format!("after = [\"fails\"]\n{SLEEP}{WANTED}"));
    v.start();
    v.wait_state("fails", "failed");
    v.wait_state("later", "running");
}

#[test]
fn forking_unit_whose_pid_file_never_appears_fails() {
    let mut v = Vigil::new();
    v.write_unit(
        "nopid",
        &format!(
            "type = \"forking\"\npid_file = \"{}\"\nstart_timeout = \"1s\"\nexec = [\"/bin/true\"]\n{WANTED}",
            v.dir().join("never.pid").display()
        ),
    );
    v.start();
    let st = v.wait_state("nopid", "failed");
    assert!(
        st["summary"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("pid file"),
        "{st}"
    );
}

#[test]
fn large_replies_are_delivered_whole() {
    const N: usize = 600;
    let mut v = Vigil::new();
    let mut names = Vec::new();
    for i in 0..N {
        let name = format!("group{i:04}");
        v.write_unit(
            &name,
            &format!(
                "type = \"target\"\ndescription = \"{}\"\n{WANTED}",
                "a long description to make the reply large ".repeat(8)
            ),
        );
        names.push(name);
    }
    v.start();
    let r = v.request(json!({"verb": "status", "names": names}));
    assert_eq!(r["ok"], json!(true));
    assert_eq!(r["body"]["units"].as_array().unwrap().len(), N);
    assert!(r.to_string().len() > 300_000, "reply too small to test");
    let r = v.request(json!({"verb": "list"}));
    assert_eq!(r["body"]["units"].as_array().unwrap().len(), N + 1);
}
