//! Issue 8's "no state lost, no surprise" points, each against the real
//! binary: what an unreadable units directory, a second vigil, a plain PID
//! namespace, the invoking shell's environment and a forced power-off must
//! (not) do.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{pid_alive, wait_until, Vigil, TIMEOUT};
use serde_json::json;

fn sleeper(v: &Vigil, name: &str) {
    v.write_unit(
        name,
        "exec = [\"/bin/sleep\", \"1000\"]\nwanted_by = [\"default\"]\n",
    );
}

fn main_pid(v: &Vigil, name: &str) -> i64 {
    v.status(name)["summary"]["pid"].as_i64().unwrap_or(0)
}

/// Point 10: a reload that cannot read the units directory changes nothing
/// and says so; it used to remove and stop every unit.
#[test]
fn a_reload_of_an_unreadable_units_directory_changes_nothing() {
    let mut v = Vigil::new();
    sleeper(&v, "keep");
    v.start();
    v.wait_state("keep", "running");
    let pid = main_pid(&v, "keep");
    std::fs::rename(v.units_dir(), v.dir().join("units.moved")).unwrap();
    let r = v.request(json!({"verb": "reload"}));
    assert_eq!(r["ok"], json!(false), "{r}");
    let error = r["error"].as_str().unwrap_or("");
    assert!(error.contains("nothing changed"), "{error}");
    assert!(error.contains("cannot read the units directory"), "{error}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(v.state("keep"), "running");
    assert_eq!(main_pid(&v, "keep"), pid);
    assert!(pid_alive(pid as i32));
    // SIGHUP takes the same path.
    v.signal(libc::SIGHUP);
    v.wait_log("reload refused, nothing changed");
    assert_eq!(v.state("keep"), "running");
}

/// Point 19: the reload's count of files kept after errors skips the files
/// the loader skips (an editor's `.#web.toml`).
#[test]
fn editor_files_are_not_counted_as_broken_units() {
    let mut v = Vigil::new();
    sleeper(&v, "web");
    v.start();
    v.wait_state("web", "running");
    std::fs::write(v.units_dir().join(".#web.toml"), "not = [toml").unwrap();
    let r = v.request(json!({"verb": "reload"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    v.wait_log("reloaded units: 0 added, 0 removed, 0 changed, 0 kept after errors");
}

/// Point 12: a second vigil on the same control socket refuses before it
/// touches anything, exits non-zero and names the running one.
#[test]
fn a_second_vigil_on_the_same_socket_refuses_and_names_the_first() {
    let mut v = Vigil::new();
    let marker = v.dir().join("started");
    v.write_unit(
        "once",
        &format!(
            "type = \"oneshot\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!("echo x >> {}", marker.display()))
        ),
    );
    v.write_unit(
        "notified",
        &format!(
            "type = \"notify\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh("exec sleep 1000")
        ),
    );
    v.start();
    v.wait_state("once", "exited");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--units")
        .arg(v.units_dir())
        .arg("--socket")
        .arg(v.socket())
        .arg("--config")
        .arg(v.dir().join("vigil.toml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("another vigil (pid {})", v.pid())),
        "{stderr}"
    );
    // Nothing was started twice, and the first one's notify socket is there.
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "x\n");
    assert!(v.dir().join("notify").exists());
    assert_eq!(v.request(json!({"verb": "list"}))["ok"], json!(true));
}

/// Point 13: PID 1 of a plain PID namespace (no --container, no
/// $container) is not the machine's init and runs no early boot.
#[test]
fn pid1_of_a_plain_pid_namespace_behaves_as_a_containers_init() {
    let mut v = Vigil::new();
    sleeper(&v, "svc");
    let hostname_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    v.start_in_pid_namespace_with(&[]);
    v.wait_state("svc", "running");
    let log = v.log();
    assert!(log.contains("running as a container's init"), "{log}");
    assert!(!log.contains("starting as PID 1"), "{log}");
    assert!(!log.contains("essential-mounts"), "early boot ran:\n{log}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        hostname_before
    );
    let r = v.request(json!({"verb": "status"}));
    assert_eq!(r["body"]["pid1"], json!(false), "{r}");
}

/// Point 15: in supervisor mode services get the documented base
/// environment only, nothing of the invoking shell's.
#[test]
fn supervisor_services_get_only_the_base_environment() {
    let mut v = Vigil::new();
    let out = v.dir().join("env");
    v.write_unit(
        "envdump",
        &format!(
            "type = \"oneshot\"\nwanted_by = [\"default\"]\n{}",
            Vigil::sh(&format!("env > {}", out.display()))
        ),
    );
    v.start_with(
        &[],
        &[
            ("PATH", "/invoking/shell/bin:/usr/bin:/bin"),
            ("HOME", "/home/invoker"),
            ("LANG", "xx_YY.UTF-8"),
            ("VIGIL_TEST_SECRET", "leak"),
        ],
    );
    v.wait_state("envdump", "exited");
    let env = std::fs::read_to_string(&out).unwrap();
    assert!(
        env.lines()
            .any(|l| l == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{env}"
    );
    for leaked in [
        "/invoking/shell",
        "/home/invoker",
        "xx_YY",
        "VIGIL_TEST_SECRET",
    ] {
        assert!(
            !env.contains(leaked),
            "{leaked} reached the service:\n{env}"
        );
    }
}

/// Point 16: `poweroff --force` in supervisor mode exits at once and
/// leaves no service running.
#[test]
fn a_forced_poweroff_in_supervisor_mode_leaves_no_service_running() {
    let mut v = Vigil::new();
    v.write_unit(
        "stubborn",
        &format!(
            "wanted_by = [\"default\"]\nstop_timeout = \"1h\"\n{}",
            Vigil::sh("trap '' TERM; while :; do sleep 1; done")
        ),
    );
    v.start();
    v.wait_state("stubborn", "running");
    let pid = main_pid(&v, "stubborn") as i32;
    let r = v.request(json!({"verb": "poweroff", "force": true}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(v.wait_exit(TIMEOUT).is_some(), "vigil did not exit");
    assert!(
        wait_until(TIMEOUT, || !pid_alive(pid)),
        "the service outlived vigil; log:\n{}",
        v.log()
    );
}

/// Point 6: vigil's own output never blocks it. Its stderr here is a pipe
/// of one page that nobody reads; the boot of 300 units logs far more than
/// that, and vigil still answers.
#[test]
fn vigil_keeps_serving_while_nobody_reads_its_stderr() {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let v = Vigil::new();
    for i in 0..300 {
        sleeper(&v, &format!("s{i:03}"));
    }
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    unsafe { libc::fcntl(write_end.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--units")
        .arg(v.units_dir())
        .arg("--socket")
        .arg(v.socket())
        .arg("--config")
        .arg(v.dir().join("vigil.toml"))
        .args(["--log-level", "debug"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write_end))
        .spawn()
        .unwrap();
    let sock = v.socket();
    let up = wait_until(TIMEOUT, || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    assert!(up);
    let answered = wait_until(TIMEOUT, || {
        let r = v.request(json!({"verb": "status", "names": ["s299"]}));
        r["body"]["units"][0]["summary"]["state"] == json!("running")
    });
    let listed = v.request(json!({"verb": "list"}))["ok"] == json!(true);
    // Stop it the ordinary way (its services go with it); with the pipe's
    // reader gone, its last writes fail instead of waiting.
    drop(read_end);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let exited = wait_until(TIMEOUT, || child.try_wait().unwrap().is_some());
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        answered && listed,
        "vigil stopped answering while its stderr was full"
    );
    assert!(exited, "vigil did not exit on SIGTERM");
}

/// Point 11: a reply larger than the 1 MiB backlog limit still goes out
/// whole (here a reload whose diagnostics take megabytes).
#[test]
fn a_reply_of_several_megabytes_is_sent_whole() {
    let mut v = Vigil::new();
    sleeper(&v, "a");
    v.start();
    v.wait_state("a", "running");
    let wants: Vec<String> = (0..60_000).map(|i| format!("\"missing-{i}\"")).collect();
    v.write_unit(
        "a",
        &format!(
            "exec = [\"/bin/sleep\", \"1000\"]\nwanted_by = [\"default\"]\nwants = [{}]\n",
            wants.join(",")
        ),
    );
    let mut s = v.connect();
    common::send_line(&mut s, r#"{"version":1,"verb":"reload"}"#);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(s), &mut line).unwrap();
    assert!(line.len() > 2 * 1024 * 1024, "{} bytes", line.len());
    let reply: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(reply["ok"], json!(true));
    assert_eq!(
        reply["body"]["diagnostics"].as_array().unwrap().len(),
        60_000
    );
}

/// Point 9: one user's idle connections cannot lock the other users out:
/// at most 16 per uid, and the 17th is told why.
#[test]
fn one_users_idle_connections_do_not_lock_out_the_others() {
    use std::os::unix::process::CommandExt;
    let mut v = Vigil::new();
    sleeper(&v, "a");
    v.start();
    v.wait_state("a", "running");
    // As nobody: open 40 connections, report what the refused ones were
    // told, and keep the rest open until stdin closes.
    let script = format!(
        r#"
import socket, sys
held, told = [], []
for i in range(40):
    s = socket.socket(socket.AF_UNIX)
    s.connect({sock:?})
    s.settimeout(0.3)
    try:
        told.append(s.recv(4096).decode())
    except socket.timeout:
        held.append(s)
print(len(held), told[0] if told else "", flush=True)
sys.stdin.read()
"#,
        sock = v.socket().display().to_string()
    );
    let mut holder = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.starts_with("16 "), "{first}");
    assert!(
        first.contains("too many connections from uid 65534"),
        "{first}"
    );
    // Another unprivileged user still gets `list`.
    let out = Command::new(env!("CARGO_BIN_EXE_vigilctl"))
        .arg("--socket")
        .arg(v.socket())
        .arg("list")
        .uid(1)
        .gid(1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(holder.stdin.take());
    let _ = holder.wait();
}
