//! Runs the real vigilctl binary against a fake vigil: a thread listening on
//! a temporary control socket that answers canned reply lines and records the
//! requests it received.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vigil::control::protocol::Reply;

const VIGILCTL: &str = env!("CARGO_BIN_EXE_vigilctl");

/// A fake vigil that serves one connection per canned reply (`None`: close
/// without answering, as vigil may while powering off).
struct FakeVigil {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    handle: JoinHandle<Vec<Value>>,
}

impl FakeVigil {
    fn start(replies: Vec<Option<Value>>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let handle = thread::spawn(move || {
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            for reply in replies {
                let stream = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(_) if Instant::now() < deadline => {
                            thread::sleep(Duration::from_millis(10))
                        }
                        Err(_) => return got,
                    }
                };
                stream.set_nonblocking(false).unwrap();
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).unwrap();
                got.push(serde_json::from_str(&line).unwrap());
                if let Some(reply) = reply {
                    let mut text = reply.to_string();
                    text.push('\n');
                    (&stream).write_all(text.as_bytes()).unwrap();
                }
            }
            got
        });
        FakeVigil {
            _dir: dir,
            socket,
            handle,
        }
    }

    fn requests(self) -> Vec<Value> {
        self.handle.join().unwrap()
    }
}

fn run_as(program: &Path, socket: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("VIGIL_SOCKET", socket)
        .env("TZ", "UTC")
        .output()
        .unwrap()
}

fn vigilctl(socket: &Path, args: &[&str]) -> Output {
    run_as(Path::new(VIGILCTL), socket, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(body: Value) -> Option<Value> {
    Some(json!({"version": 1, "ok": true, "body": body}))
}

fn unit(name: &str, state: &str, reason: Option<&str>, pid: Option<i32>) -> Value {
    let mut u = json!({
        "name": name, "kind": "simple", "state": state,
        "description": format!("The {name} service"),
    });
    if let Some(r) = reason {
        u["reason"] = json!(r);
    }
    if let Some(p) = pid {
        u["pid"] = json!(p);
    }
    u
}

fn unit_status(summary: Value) -> Value {
    json!({
        "summary": summary,
        "path": "/etc/vigil/units/x.toml",
        "since_secs": 12.0,
        "restarts": 3,
        "exits": [{"at_unix": 0.0, "pid": 41, "outcome": "exited 3", "code": 3, "runtime_ms": 1500}],
        "wanted_by": ["default"],
    })
}

/// A units directory holding one valid unit, `web`, for enable/disable.
fn units_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.toml"),
        "description = \"Web\"\nexec = [\"/bin/true\"]\nwanted_by = [\"default\"]\n",
    )
    .unwrap();
    dir
}

/// A symlink to vigilctl named `name`, as installed for power commands.
fn link(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(VIGILCTL, &path).unwrap();
    path
}

#[test]
fn list_prints_an_aligned_table() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "list", "units": [
        unit("db", "running", None, Some(4242)),
        unit("web", "failed", Some("exited 3"), None),
    ]}))]);
    let out = vigilctl(&fake.socket, &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "UNIT  TYPE    STATE    PID   DESCRIPTION");
    assert_eq!(lines[1], "db    simple  running  4242  The db service");
    assert_eq!(lines[2], "web   simple  failed   -     exited 3");
    assert_eq!(fake.requests(), vec![json!({"version": 1, "verb": "list"})]);
}

#[test]
fn json_output_is_the_reply_object() {
    let reply = ok(json!({"kind": "list", "units": [unit("db", "running", None, Some(7))]}));
    let fake = FakeVigil::start(vec![reply.clone()]);
    let out = vigilctl(&fake.socket, &["--json", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let parsed: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(Some(parsed.clone()), reply);
    // And it is a well-formed protocol Reply.
    let _: Reply = serde_json::from_value(parsed).unwrap();
}

#[test]
fn status_of_a_failed_unit_exits_3() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "status", "unknown": [],
        "units": [unit_status(unit("web", "failed", Some("exited 3"), None))]}))]);
    let out = vigilctl(&fake.socket, &["status", "web"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("web - The web service\n"), "{text}");
    assert!(text.contains("State: failed (exited 3) since "), "{text}");
    assert!(text.contains("Restarts: 3"), "{text}");
    assert!(text.contains("Path: /etc/vigil/units/x.toml"), "{text}");
    assert!(
        text.contains("1970-01-01T00:00:00+00:00  41   exited 3  1.5s"),
        "{text}"
    );
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "status", "names": ["web"]})]
    );
}

#[test]
fn status_of_running_units_exits_0() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "status", "unknown": [],
        "units": [unit_status(unit("db", "running", None, Some(9))),
                  unit_status(unit("setup", "exited", None, None))]}))]);
    let out = vigilctl(&fake.socket, &["status", "db", "setup"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("setup - The setup service"));
}

#[test]
fn status_of_an_unknown_unit_exits_4() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "status", "unknown": ["nope"],
        "units": [unit_status(unit("web", "failed", None, None))]}))]);
    let out = vigilctl(&fake.socket, &["status", "web", "nope"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("Unit nope could not be found."));
}

#[test]
fn system_status_without_names() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "system", "state": "degraded",
        "pid1": false, "target": "default", "uptime_secs": 65.0, "units": 4,
        "failed": ["web"]}))]);
    let out = vigilctl(&fake.socket, &["status"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("State: degraded"), "{text}");
    assert!(text.contains("Uptime: 1min 5s"), "{text}");
    assert!(text.contains("Failed: 1\n          web\n"), "{text}");
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "status", "names": []})]
    );
}

#[test]
fn not_running_says_so_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control");
    let out = vigilctl(&socket, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "vigilctl: vigil is not running (no control socket at {})\n",
            socket.display()
        )
    );
}

#[test]
fn socket_flag_wins_over_environment() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "list", "units": []}))]);
    let out = Command::new(VIGILCTL)
        .args(["--socket", fake.socket.to_str().unwrap(), "list"])
        .env("VIGIL_SOCKET", "/nonexistent/control")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn failed_start_exits_1() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "jobs", "results": [
        {"name": "a", "ok": true, "message": "started"},
        {"name": "b", "ok": false, "message": "could not start: no such file"},
    ]}))]);
    let out = vigilctl(&fake.socket, &["start", "a", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "a: started\nb: failed: could not start: no such file\n"
    );
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "start", "names": ["a", "b"], "no_block": false})]
    );
}

#[test]
fn stop_no_block_is_sent() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "jobs", "results": [
        {"name": "a", "ok": true, "message": "stop queued"}]}))]);
    let out = vigilctl(&fake.socket, &["stop", "--no-block", "a"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "stop", "names": ["a"], "no_block": true})]
    );
}

#[test]
fn permission_denied_exits_4() {
    let fake = FakeVigil::start(vec![Some(json!({"version": 1, "ok": false,
        "error": "permission denied: uid 1000 may only list and status"}))]);
    let out = vigilctl(&fake.socket, &["restart", "a"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("permission denied: uid 1000 may only list and status"));
}

#[test]
fn other_error_replies_exit_1() {
    let fake = FakeVigil::start(vec![Some(
        json!({"version": 1, "ok": false, "error": "busy shutting down"}),
    )]);
    let out = vigilctl(&fake.socket, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("busy shutting down"));
}

#[test]
fn reload_with_problems_exits_1() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "reload",
        "diagnostics": ["/u/bad.toml:3:1: error: unknown key `exce`"],
        "added": ["new"], "removed": [], "changed": []}))]);
    let out = vigilctl(&fake.socket, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("added: new\n"), "{text}");
    assert!(
        text.contains("/u/bad.toml:3:1: error: unknown key `exce`\n"),
        "{text}"
    );
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "reload"})]
    );
}

#[test]
fn poweroff_symlink_sends_poweroff_with_force() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "done"}))]);
    let dir = tempfile::tempdir().unwrap();
    let out = run_as(&link(dir.path(), "poweroff"), &fake.socket, &["-f"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "poweroff", "force": true})]
    );
}

#[test]
fn halt_symlink_accepts_a_dropped_connection() {
    // vigil may close the socket while going down instead of replying.
    let fake = FakeVigil::start(vec![None]);
    let dir = tempfile::tempdir().unwrap();
    let out = run_as(&link(dir.path(), "halt"), &fake.socket, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "halt", "force": false})]
    );
}

#[test]
fn shutdown_r_now_sends_reboot() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "done"}))]);
    let dir = tempfile::tempdir().unwrap();
    let out = run_as(&link(dir.path(), "shutdown"), &fake.socket, &["-r", "now"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fake.requests(),
        vec![json!({"version": 1, "verb": "reboot", "force": false})]
    );
}

#[test]
fn shutdown_flags_map_to_power_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = link(dir.path(), "shutdown");
    for (args, verb) in [
        (&["-h", "now"][..], "poweroff"),
        (&["-P", "now"][..], "poweroff"),
        (&["-H", "-f", "now"][..], "halt"),
    ] {
        let fake = FakeVigil::start(vec![ok(json!({"kind": "done"}))]);
        let out = run_as(&shutdown, &fake.socket, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let got = fake.requests();
        assert_eq!(got[0]["verb"], json!(verb), "{args:?}");
        assert_eq!(got[0]["force"], json!(args.contains(&"-f")), "{args:?}");
    }
}

#[test]
fn shutdown_rejects_scheduled_times() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = link(dir.path(), "shutdown");
    // No vigil behind this socket: the error must come before any request.
    let socket = dir.path().join("control");
    let out = run_as(&shutdown, &socket, &["-h", "+5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not supported; use `now`"),
        "{}",
        stderr(&out)
    );
    let out = run_as(&shutdown, &socket, &["-r"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("only `now` is supported"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn enable_without_vigil_still_succeeds() {
    let units = units_dir();
    let socket = units.path().join("no-such-socket");
    let out = vigilctl(
        &socket,
        &["--units", units.path().to_str().unwrap(), "enable", "web"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("vigil is not running"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn enable_now_reloads_then_starts() {
    let units = units_dir();
    let fake = FakeVigil::start(vec![
        ok(json!({"kind": "reload", "diagnostics": [], "added": [], "removed": [], "changed": []})),
        ok(json!({"kind": "jobs", "results": [{"name": "web", "ok": true, "message": "started"}]})),
    ]);
    let out = vigilctl(
        &fake.socket,
        &[
            "--units",
            units.path().to_str().unwrap(),
            "enable",
            "--now",
            "web",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("web: started"));
    assert_eq!(
        fake.requests(),
        vec![
            json!({"version": 1, "verb": "reload"}),
            json!({"version": 1, "verb": "start", "names": ["web"], "no_block": false}),
        ]
    );
}

#[test]
fn disable_now_reloads_then_stops() {
    let units = units_dir();
    let fake = FakeVigil::start(vec![
        ok(json!({"kind": "reload", "diagnostics": [], "added": [], "removed": [], "changed": []})),
        ok(json!({"kind": "jobs", "results": [{"name": "web", "ok": true, "message": "stopped"}]})),
    ]);
    let out = vigilctl(
        &fake.socket,
        &[
            "--units",
            units.path().to_str().unwrap(),
            "disable",
            "--now",
            "web",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fake.requests()[1]["verb"], json!("stop"));
}

#[test]
fn check_of_a_clean_directory_exits_0() {
    let units = tempfile::tempdir().unwrap();
    let dir = units.path().to_str().unwrap();
    let out = vigilctl(Path::new("/nonexistent"), &["--units", dir, "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The implicit default target is not a file's unit.
    assert_eq!(stdout(&out), "0 units OK\n");
    let out = vigilctl(
        Path::new("/nonexistent"),
        &["--json", "--units", dir, "check"],
    );
    let reply: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(reply["body"], json!({"kind": "check", "diagnostics": []}));
}

#[test]
fn check_of_a_bad_unit_exits_1() {
    let units = tempfile::tempdir().unwrap();
    let bad = units.path().join("bad.toml");
    std::fs::write(&bad, "description = \"x\"\nexce = [\"/bin/true\"]\n").unwrap();
    let out = vigilctl(Path::new("/nonexistent"), &["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{}:2:1: error:", bad.display())),
        "{text}"
    );
    assert!(
        text.contains(" error(s), 0 warning(s); 0 units OK\n"),
        "{text}"
    );
}

#[test]
fn help_documents_every_verb_and_exit_status() {
    let out = Command::new(VIGILCTL).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for verb in [
        "list", "status", "start", "stop", "restart", "reload", "enable", "disable", "check",
        "poweroff", "reboot", "halt",
    ] {
        assert!(
            text.contains(&format!("\n  {verb} ")),
            "{verb} missing:\n{text}"
        );
    }
    assert!(text.contains("Exit status:"));
    assert!(text.contains("VIGIL_SOCKET"));
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(VIGILCTL).args(["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(VIGILCTL)
        .args(["frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn exit_times_are_shown_in_the_local_timezone() {
    let fake = FakeVigil::start(vec![ok(json!({"kind": "status", "unknown": [],
        "units": [unit_status(unit("db", "running", None, Some(9)))]}))]);
    // POSIX TZ string: two hours east of UTC, no tzdata needed.
    let out = Command::new(VIGILCTL)
        .args(["status", "db"])
        .env("VIGIL_SOCKET", &fake.socket)
        .env("TZ", "ABC-2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1970-01-01T02:00:00+02:00  41"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn unreadable_socket_is_permission_denied_for_a_real_user() {
    use std::os::unix::fs::PermissionsExt;
    // Needs root to drop to `nobody`; skipped (and says so) otherwise.
    let setpriv = Path::new("/usr/bin/setpriv");
    if !nix::unistd::geteuid().is_root() || !setpriv.exists() {
        eprintln!("skipped: needs root and /usr/bin/setpriv");
        return;
    }
    let drop_to_nobody = || {
        let mut cmd = Command::new(setpriv);
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", VIGILCTL]);
        cmd
    };
    let can_run = drop_to_nobody().arg("--version").output().unwrap();
    if !can_run.status.success() {
        eprintln!("skipped: nobody cannot run {VIGILCTL}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.path().join("control");
    let _listener = UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = drop_to_nobody()
        .args(["--socket", socket.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied connecting to"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_readme_example_units_pass_check() {
    // Issue 8, point 19: the README's example required a unit it did not
    // show, so it failed `check`.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let units = tempfile::tempdir().unwrap();
    for name in ["db", "web"] {
        let marker = format!("/etc/vigil/units/{name}.toml`");
        let after = &readme[readme.find(&marker).expect("README shows the unit")..];
        let block = after.split("```toml\n").nth(1).unwrap();
        let toml = block.split("```").next().unwrap();
        std::fs::write(units.path().join(format!("{name}.toml")), toml).unwrap();
    }
    let dir = units.path().to_str().unwrap();
    let out = vigilctl(Path::new("/nonexistent"), &["--units", dir, "check"]);
    // The files are clean; what check may add is about this machine (the
    // README's redis and nginx need not be installed here).
    let text = stdout(&out);
    let mut lines: Vec<&str> = text.lines().collect();
    let summary = lines.pop().unwrap_or_default();
    assert!(
        summary.starts_with("0 error(s)") || summary == "2 units OK",
        "{text}"
    );
    for line in lines {
        assert!(line.contains("does not exist on this system"), "{text}");
    }
}
