//! `vigilctl daemon-reexec` against the real binary in supervisor mode:
//! vigil runs from a copy of itself (as from /usr/sbin/vigil), the copy is
//! replaced or broken, and every unit's state, pid, history, timer and log
//! must come through the exec, or vigil must go on unchanged.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{wait_until, Vigil, TIMEOUT};
use serde_json::{json, Value};

const WANTED: &str = "wanted_by = [\"default\"]\n";

/// Copies an executable with cp(1), not in this process: a descriptor open
/// for writing here would leak into a child another test thread forks at
/// that moment, and executing the file would then fail with ETXTBSY.
fn install(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    let st = Command::new("cp").arg(from).arg(&tmp).status().unwrap();
    assert!(st.success(), "cp {} {}", from.display(), tmp.display());
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    // As a package upgrade does: a new file renamed over the old one.
    std::fs::rename(&tmp, to).unwrap();
}

/// vigil's binary copied into the test directory (replaceable by the test).
fn own_copy(v: &Vigil) -> PathBuf {
    let bin = v.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let copy = bin.join("vigil");
    install(Path::new(env!("CARGO_BIN_EXE_vigil")), &copy);
    copy
}

/// A second copy of vigil, for a wrapper script to exec.
fn real_copy(v: &Vigil) -> PathBuf {
    let real = v.dir().join("bin/vigil.real");
    install(Path::new(env!("CARGO_BIN_EXE_vigil")), &real);
    real
}

/// Replaces `path` with an executable script.
fn replace_with_script(path: &Path, script: &str) {
    let text = path.with_extension("txt");
    std::fs::write(&text, script).unwrap();
    install(&text, path);
}

fn vigilctl(v: &Vigil, args: &[&str]) -> std::process::Output {
    v.vigilctl(args)
}

/// `vigilctl --json daemon-reexec`: the reply, which must be a success.
fn reexec(v: &Vigil) -> Value {
    let out = vigilctl(v, &["--json", "daemon-reexec"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "daemon-reexec failed: {text}{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        v.log()
    );
    let reply: Value = serde_json::from_str(&text).unwrap();
    reply["body"].clone()
}

/// `status` of every unit: name -> status object.
fn statuses(v: &Vigil, names: &[String]) -> BTreeMap<String, Value> {
    let r = v.request(json!({"verb": "status", "names": names}));
    assert_eq!(r["ok"], json!(true), "{r}");
    r["body"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["summary"]["name"].as_str().unwrap().to_string(),
                u.clone(),
            )
        })
        .collect()
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The descriptor count once it has settled (`common::settled_fds`).
fn settled_fds(pid: i32) -> usize {
    common::settled_fds(pid).len()
}

fn exe_of(pid: i32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

/// The inode of the image a process runs (even once its file is deleted).
fn image_of(pid: i32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/exe")).unwrap().ino()
}

#[test]
fn every_unit_keeps_its_state_pid_history_and_timer_across_a_reexec() {
    let mut v = Vigil::new();
    let mut names = Vec::new();
    let mut add = |v: &Vigil, name: String, toml: String| {
        v.write_unit(&name, &toml);
        names.push(name);
    };
    for i in 0..60 {
        add(
            &v,
            format!("run{i:02}"),
            format!("exec = [\"/bin/sleep\", \"1000\"]\n{WANTED}"),
        );
    }
    for i in 0..10 {
        // Never sends READY=1: starting, with its start timeout armed.
        add(
            &v,
            format!("notify{i}"),
            format!("type = \"notify\"\nstart_timeout = \"60s\"\nexec = [\"/bin/sleep\", \"1000\"]\n{WANTED}"),
        );
    }
    for i in 0..10 {
        // Exits at once, restarts in 4 s: backing off when the exec comes.
        add(
            &v,
            format!("flaky{i}"),
            format!(
                "{}restart = \"always\"\nrestart_delay = \"4s\"\n{WANTED}",
                Vigil::sh("exit 1")
            ),
        );
    }
    for i in 0..10 {
        add(
            &v,
            format!("broken{i}"),
            format!("{}restart = \"never\"\n{WANTED}", Vigil::sh("exit 3")),
        );
    }
    for i in 0..10 {
        add(
            &v,
            format!("once{i}"),
            format!(
                "type = \"oneshot\"\nremain_after_exit = true\nexec = [\"/bin/true\"]\n{WANTED}"
            ),
        );
    }
    let binary = own_copy(&v);
    v.start_from(&binary, &[]);
    let settled = |s: &BTreeMap<String, Value>| {
        s.iter().all(|(name, u)| {
            let state = u["summary"]["state"].as_str().unwrap_or("");
            match name.trim_end_matches(char::is_numeric) {
                "run" => state == "running",
                "notify" => state == "starting" && u["summary"]["pid"].is_number(),
                "flaky" => state == "starting" && u["next_start_in_secs"].is_number(),
                "broken" => state == "failed",
                "once" => state == "exited",
                _ => false,
            }
        })
    };
    assert!(
        wait_until(TIMEOUT, || settled(&statuses(&v, &names))),
        "units never settled: {:?}\nlog:\n{}",
        statuses(&v, &names),
        v.log()
    );
    let pid = v.pid();
    let fds_before = settled_fds(pid);
    let before = statuses(&v, &names);
    let asked = Instant::now();
    let report = reexec(&v);
    let elapsed = asked.elapsed().as_secs_f64();
    let after = statuses(&v, &names);

    assert_eq!(report["kind"], json!("reexec"), "{report}");
    assert_eq!(report["exact"], json!(true), "{report}");
    assert_eq!(report["units"], json!(101), "{report}");
    assert!(v.alive(), "vigil died:\n{}", v.log());
    assert_eq!(exe_of(pid), binary, "the same binary, re-executed");
    for name in &names {
        let (b, a) = (&before[name], &after[name]);
        assert_eq!(
            a["summary"], b["summary"],
            "{name}: state, pid or reason changed"
        );
        assert_eq!(a["exits"], b["exits"], "{name}: exit history changed");
        assert_eq!(a["restarts"], b["restarts"], "{name}");
        // Time in the state goes on from where it was, not from the exec.
        let since = a["since_secs"].as_f64().unwrap() - b["since_secs"].as_f64().unwrap();
        assert!(
            since >= 0.0 && since <= elapsed + 0.5,
            "{name}: since moved by {since}"
        );
        if let Some(next) = b["next_start_in_secs"].as_f64() {
            let left = a["next_start_in_secs"].as_f64().unwrap_or(-1.0);
            assert!(
                left <= next + 0.05 && left >= next - elapsed - 0.5,
                "{name}: restart due in {left} s after the exec, {next} s before"
            );
        }
    }
    // The descriptors crossed over exactly: none lost, none leaked.
    assert_eq!(settled_fds(pid), fds_before, "descriptors before and after");
    // The timers run: every backing-off unit restarts (and fails again).
    assert!(
        wait_until(Duration::from_secs(15), || {
            statuses(&v, &names)
                .iter()
                .filter(|(n, _)| n.starts_with("flaky"))
                .all(|(_, u)| u["exits"].as_array().map(Vec::len) == Some(2))
        }),
        "flaky units did not restart after the exec:\n{}",
        v.log()
    );
    // The re-exec'd vigil still supervises: a stop and a start work.
    let r = v.request(json!({"verb": "stop", "names": ["run00"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert_eq!(v.state("run00"), "inactive");
    let r = v.request(json!({"verb": "start", "names": ["run00"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert_eq!(v.state("run00"), "running");
}

#[test]
fn an_exit_during_the_reexec_is_reaped_and_its_restart_policy_applies() {
    let mut v = Vigil::new();
    v.write_unit(
        "victim",
        &format!("exec = [\"/bin/sleep\", \"1000\"]\nrestart = \"always\"\nrestart_delay = \"0\"\n{WANTED}"),
    );
    let binary = own_copy(&v);
    v.start_from(&binary, &[]);
    let first = v.wait_state("victim", "running")["summary"]["pid"]
        .as_i64()
        .unwrap();
    // The upgraded binary kills the victim before the new vigil is even
    // running (between the two images), then becomes vigil.
    let real = real_copy(&v);
    replace_with_script(
        &binary,
        &format!(
            "#!/bin/sh\n[ \"$1\" = --check-reexec ] || kill -9 {first}\nexec {} \"$@\"\n",
            real.display()
        ),
    );
    let report = reexec(&v);
    assert_eq!(report["exact"], json!(true), "{report}");
    let unit = v.status("victim");
    let exits = unit["exits"].as_array().unwrap();
    assert!(
        wait_until(TIMEOUT, || {
            let u = v.status("victim");
            u["summary"]["state"] == json!("running")
                && u["summary"]["pid"].as_i64().is_some_and(|p| p != first)
                && u["exits"].as_array().map(Vec::len) == Some(1)
        }),
        "victim was not restarted after its exit during the exec: {unit} {exits:?}\nlog:\n{}",
        v.log()
    );
    let unit = v.status("victim");
    assert_eq!(unit["exits"][0]["pid"].as_i64(), Some(first));
    assert_eq!(
        unit["exits"][0]["outcome"],
        json!("killed by SIGKILL"),
        "{unit}"
    );
    assert_eq!(exe_of(v.pid()), real, "the new image runs");
}

#[test]
fn log_lines_written_during_reexecs_are_neither_lost_nor_cut() {
    let mut v = Vigil::new();
    // Each line is written in two pieces, so an exec may fall between them.
    v.write_unit(
        "counter",
        &format!(
            "{}{WANTED}",
            Vigil::sh("i=0; while [ $i -lt 3000 ]; do printf 'line-%d-' $i; printf 'end\\n'; i=$((i+1)); done; exec sleep 1000")
        ),
    );
    let binary = own_copy(&v);
    v.start_from(&binary, &[]);
    for _ in 0..5 {
        reexec(&v);
    }
    let file = v.dir().join("log/counter.log");
    let numbers = || -> Vec<String> {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("out: ").map(|(_, t)| t.to_string()))
            .collect()
    };
    assert!(
        wait_until(TIMEOUT, || numbers().len() >= 3000),
        "only {} lines:\n{}",
        numbers().len(),
        v.log()
    );
    let lines = numbers();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("line-{i}-end"), "line {i} of counter.log");
    }
    assert_eq!(lines.len(), 3000);
    assert!(v.log().matches("re-executed").count() == 5, "{}", v.log());
}

#[test]
fn a_reexec_into_a_missing_or_broken_binary_leaves_vigil_running_unchanged() {
    let mut v = Vigil::new();
    v.write_unit(
        "web",
        &format!("exec = [\"/bin/sleep\", \"1000\"]\n{WANTED}"),
    );
    let binary = own_copy(&v);
    v.start_from(&binary, &[]);
    let pid = v.wait_state("web", "running")["summary"]["pid"].clone();
    let image = image_of(v.pid());
    let fds = settled_fds(v.pid());
    let cases: [(&str, Option<&str>, &str); 4] = [
        ("missing", None, "No such file or directory"),
        (
            "exits at once",
            Some("#!/bin/sh\nexit 1\n"),
            "--check-reexec exited 1",
        ),
        (
            "not a vigil",
            Some("#!/bin/sh\necho hello\n"),
            "did not answer --check-reexec",
        ),
        (
            "wrong architecture",
            Some("\u{7f}ELF garbage"),
            "Exec format error",
        ),
    ];
    for (what, script, expected) in cases {
        match script {
            None => std::fs::remove_file(&binary).unwrap(),
            Some(s) => replace_with_script(&binary, s),
        }
        let out = vigilctl(&v, &["daemon-reexec"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains("daemon-reexec failed, vigil goes on unchanged"),
            "{what}: {err}"
        );
        assert!(err.contains(expected), "{what}: {err}");
        assert!(v.alive(), "{what}: vigil died:\n{}", v.log());
        assert_eq!(v.status("web")["summary"]["pid"], pid, "{what}");
        assert_eq!(image_of(v.pid()), image, "{what}: the old image runs");
        // (Once the connections of the requests above are closed.)
        assert!(
            wait_until(TIMEOUT, || open_fds(v.pid()) == fds),
            "{what}: {} descriptors open, {fds} before",
            open_fds(v.pid())
        );
    }
    // Put a good binary back: the re-exec works, and the unit is the same.
    install(Path::new(env!("CARGO_BIN_EXE_vigil")), &binary);
    reexec(&v);
    assert_eq!(v.status("web")["summary"]["pid"], pid);
}

/// A state whose second line cannot be read (another format version):
/// rewritten by a wrapper between the two images, in a new sealed memfd.
const BREAK_STATE: &str = r#"
import fcntl, os, sys
args = sys.argv[1:]
if args and args[0] == "--check-reexec":
    os.execv(REAL, [REAL] + args)
at = args.index("--resume")
fd = int(args[at + 1])
data = os.pread(fd, 1 << 26, 0)
header, _full = data.split(b"\n", 1)
new = os.memfd_create("vigil-handover", os.MFD_ALLOW_SEALING)
os.write(new, header + b"\n\xff\xff\xff from a future vigil")
fcntl.fcntl(new, fcntl.F_ADD_SEALS,
            fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
os.set_inheritable(new, True)
os.close(fd)
args[at + 1] = str(new)
os.execv(REAL, [REAL] + args)
"#;

#[test]
fn a_state_that_cannot_be_read_whole_falls_back_to_adopting_the_running_services() {
    let mut v = Vigil::new();
    for name in ["a", "b"] {
        v.write_unit(
            name,
            &format!("exec = [\"/bin/sleep\", \"1000\"]\n{WANTED}"),
        );
    }
    v.write_unit("notyet", "exec = [\"/bin/sleep\", \"1000\"]\n");
    let binary = own_copy(&v);
    v.start_from(&binary, &[]);
    let a = v.wait_state("a", "running")["summary"]["pid"].clone();
    let b = v.wait_state("b", "running")["summary"]["pid"].clone();
    let real = real_copy(&v);
    replace_with_script(
        &binary,
        &format!(
            "#!/usr/bin/python3\nREAL = {:?}\n{BREAK_STATE}",
            real.display().to_string()
        ),
    );
    let report = reexec(&v);
    assert_eq!(report["exact"], json!(false), "{report}");
    assert_eq!(report["units"], json!(2), "{report}");
    let notes = report["notes"].to_string();
    assert!(notes.contains("does not parse"), "{notes}");
    assert!(
        v.log().contains("adopting the running services"),
        "{}",
        v.log()
    );
    // Adopted, not restarted: the same processes, and they can be stopped.
    assert_eq!(v.status("a")["summary"]["pid"], a);
    assert_eq!(v.status("b")["summary"]["pid"], b);
    assert_eq!(v.state("notyet"), "inactive");
    let r = v.request(json!({"verb": "stop", "names": ["a"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let a_pid = a.as_i64().unwrap();
    assert!(
        wait_until(TIMEOUT, || !Path::new(&format!("/proc/{a_pid}")).exists()),
        "a's process survived its stop"
    );
    // Its log pipe came along too: a new start logs into it.
    v.write_unit(
        "b",
        &format!(
            "{}{WANTED}",
            Vigil::sh("echo after the fallback; exec sleep 1000")
        ),
    );
    let r = v.request(json!({"verb": "reload"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let r = v.request(json!({"verb": "restart", "names": ["b"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let log = v.dir().join("log/b.log");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("after the fallback")),
        "b's log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn the_configuration_in_force_is_the_one_after_the_exec() {
    let mut v = Vigil::new();
    // Prints 40 KB once the flag exists (no reload needed to change it).
    let flag = v.dir().join("talk");
    v.write_unit(
        "chatty",
        &format!(
            "{}{WANTED}",
            Vigil::sh(&format!("if [ -e {} ]; then i=0; while [ $i -lt 400 ]; do echo \"line $i ...........................................................................\"; i=$((i+1)); done; fi; exec sleep 1000", flag.display()))
        ),
    );
    let binary = own_copy(&v);
    v.start_from(&binary, &[]);
    v.wait_state("chatty", "running");
    // vigil.toml changed and reloaded: small logs, one rotated file kept.
    std::fs::write(
        v.dir().join("vigil.toml"),
        "log_max_size = \"8K\"\nlog_keep = 1\n",
    )
    .unwrap();
    let r = v.request(json!({"verb": "reload"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    reexec(&v);
    // 40 KB of output after the exec (no reload since) rotates at 8 KiB.
    std::fs::write(&flag, "").unwrap();
    let r = v.request(json!({"verb": "restart", "names": ["chatty"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let dir = v.dir().join("log");
    let rotated = dir.join("chatty.log.1");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(dir.join("chatty.log"))
            .unwrap_or_default()
            .contains("line 399")),
        "chatty never logged its last line"
    );
    let size = std::fs::metadata(dir.join("chatty.log")).unwrap().len();
    assert!(
        rotated.exists() && size <= 8 * 1024 && !dir.join("chatty.log.2").exists(),
        "log_max_size = 8K, log_keep = 1 not in force after the exec: chatty.log {size} bytes, .1 {}",
        rotated.exists()
    );
}
