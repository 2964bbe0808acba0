//! Harness for integration tests that run the real `vigil` binary as a
//! supervisor in a temporary directory and talk to its control socket.
//!
//! Every test gets its own directory holding `units/`, the control socket
//! `ctl`, the notify socket, `vigil.toml`, vigil's stderr in `vigil.log`, and
//! an `events` file that test services append timestamped lines to.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long any wait in these tests may take before it counts as a failure.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns
/// whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One event line written by a test service: `NAME WHAT NANOS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ev {
    pub name: String,
    pub what: String,
    pub at_ns: u128,
}

/// A vigil under test. Write units, then `start()`; dropped: SIGTERM, then
/// SIGKILL if it does not exit, and the directory is removed.
pub struct Vigil {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// vigil runs as PID 1 of its own namespace, a child of unshare (which
    /// ignores SIGTERM: vigil itself is signalled on drop).
    in_namespace: bool,
}

impl Default for Vigil {
    fn default() -> Self {
        Self::new()
    }
}

impl Vigil {
    /// A fresh directory (mode 0755, so unprivileged clients can reach the
    /// socket) with an empty `units/`. vigil is not running yet.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("vigil-it.")
            .tempdir()
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.path().join("units")).unwrap();
        fs::write(dir.path().join("events"), "").unwrap();
        fs::set_permissions(dir.path().join("events"), fs::Permissions::from_mode(0o666)).unwrap();
        Vigil {
            dir,
            child: None,
            in_namespace: false,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn units_dir(&self) -> PathBuf {
        self.dir().join("units")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir().join("ctl")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir().join("vigil.log")
    }

    pub fn events_path(&self) -> PathBuf {
        self.dir().join("events")
    }

    /// Writes `units/NAME.toml` verbatim.
    pub fn write_unit(&self, name: &str, toml: &str) {
        fs::write(self.units_dir().join(format!("{name}.toml")), toml).unwrap();
    }

    pub fn remove_unit(&self, name: &str) {
        fs::remove_file(self.units_dir().join(format!("{name}.toml"))).unwrap();
    }

    /// A shell snippet that appends `NAME WHAT NANOS` to the events file.
    pub fn mark(&self, name: &str, what: &str) -> String {
        format!(
            "echo \"{name} {what} $(date +%s%N)\" >> {}",
            self.events_path().display()
        )
    }

    /// A TOML `exec` line running `script` under /bin/sh -c.
    pub fn sh(script: &str) -> String {
        format!("exec = [\"/bin/sh\", \"-c\", {}]\n", toml_str(script))
    }

    /// Starts vigil and waits until the control socket answers.
    pub fn start(&mut self) {
        self.start_with_args(&[]);
    }

    pub fn start_with_args(&mut self, extra: &[&str]) {
        self.start_with(extra, &[]);
    }

    /// Starts vigil with extra arguments and environment variables.
    pub fn start_with(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.envs(env.iter().copied());
        self.launch(cmd, extra);
    }

    /// Starts vigil from `binary` (a copy the test may later replace, as an
    /// upgrade replaces /usr/sbin/vigil).
    pub fn start_from(&mut self, binary: &Path, extra: &[&str]) {
        self.launch(Command::new(binary), extra);
    }

    /// Starts vigil under a wrapper that execs it (`setpriv ...`): the
    /// wrapper's words, then vigil and its arguments.
    #[allow(dead_code)]
    pub fn start_wrapped(&mut self, wrapper: &[&str], extra: &[&str]) {
        let (program, words) = wrapper.split_first().expect("a wrapper command");
        let mut cmd = Command::new(program);
        cmd.args(words).arg(env!("CARGO_BIN_EXE_vigil"));
        self.launch(cmd, extra);
    }

    /// Runs `cmd` (vigil, or a wrapper whose last arguments are vigil's)
    /// with the directory's units, socket and config, then `extra`, its
    /// output into the log; waits until the control socket answers.
    fn launch(&mut self, mut cmd: Command, extra: &[&str]) {
        assert!(self.child.is_none(), "vigil already started");
        let log = fs::File::create(self.log_path()).unwrap();
        let child = cmd
            .arg("--units")
            .arg(self.units_dir())
            .arg("--socket")
            .arg(self.socket())
            .arg("--config")
            .arg(self.dir().join("vigil.toml"))
            .args(extra)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let sock = self.socket();
        let up = wait_until(TIMEOUT, || UnixStream::connect(&sock).is_ok());
        if !up {
            panic!("vigil's socket never accepted; log:\n{}", self.log());
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("vigil not started").id() as i32
    }

    /// Starts vigil as PID 1 of a new PID namespace (with its own /proc),
    /// as a container's init: `unshare --pid --fork --mount-proc vigil
    /// --container`. `pid()` is then unshare's pid; `ns_sh` runs commands
    /// inside the namespace.
    pub fn start_in_pid_namespace(&mut self) {
        self.start_in_pid_namespace_with(&["--container"]);
    }

    /// `start_in_pid_namespace` with these arguments instead of `--container`.
    pub fn start_in_pid_namespace_with(&mut self, extra: &[&str]) {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(env!("CARGO_BIN_EXE_vigil"))
            .env_remove("container");
        // Set before the launch, so a failed start still cleans up right.
        self.in_namespace = true;
        self.launch(cmd, extra);
    }

    /// vigil's pid as this (the host's) namespace sees it, when it runs as
    /// PID 1 of its own namespace.
    pub fn ns_host_pid(&self) -> i32 {
        let unshare = self.pid();
        children_of(unshare)
            .first()
            .map(|(p, _)| *p)
            .expect("unshare has forked vigil")
    }

    /// Runs `script` with /bin/sh inside vigil's PID namespace (and its
    /// /proc); returns its stdout.
    pub fn ns_sh(&self, script: &str) -> String {
        let out = Command::new("nsenter")
            .arg("--target")
            .arg(self.ns_host_pid().to_string())
            .args(["--pid", "--mount", "/bin/sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a process inside vigil's PID namespace that gets exactly
    /// `pid` (through ns_last_pid) and leads its own session and group, as
    /// `user`; it runs `script` (which sees its pid as $$). Returns once it
    /// has written its pid to `NAME.pid` in the test directory.
    pub fn ns_process_with_pid(&self, pid: i32, user: &str, name: &str, script: &str) {
        let pid_file = self.dir().join(format!("{name}.pid"));
        // Writable by `user`, who cannot create files in the directory.
        fs::write(&pid_file, "").unwrap();
        fs::set_permissions(&pid_file, fs::Permissions::from_mode(0o666)).unwrap();
        let inner = format!("echo $$ > {}; {script}", pid_file.display());
        let cmd = format!(
            "echo {} > /proc/sys/kernel/ns_last_pid && exec setpriv --reuid={user} --regid={user} --clear-groups setsid -f /bin/sh -c {} </dev/null >/dev/null 2>&1",
            pid - 1,
            shell_quote(&inner)
        );
        self.ns_sh(&cmd);
        let got = wait_until(TIMEOUT, || {
            fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
                .is_some()
        });
        assert!(got, "{name} never started");
        let actual: i32 = fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(actual, pid, "{name} did not get pid {pid}");
    }

    /// Whether `pid` (as vigil's namespace sees it) is a live process there.
    pub fn ns_alive(&self, pid: i32) -> bool {
        // Shell builtins only: a forked helper could get `pid` itself (the
        // namespace hands out low pids again), and so could this shell.
        let out = self.ns_sh(&format!(
            "if [ $$ -ne {pid} ] && read -r s < /proc/{pid}/stat; then case \"$s\" in *') Z '*) ;; *) echo yes ;; esac; fi 2>/dev/null"
        ));
        out.trim() == "yes"
    }

    /// vigil's stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs vigilctl against this vigil's socket.
    pub fn vigilctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_vigilctl"))
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .unwrap()
    }

    /// Waits until vigil's log contains `needle`; panics with the log if not.
    pub fn wait_log(&self, needle: &str) {
        if !wait_until(TIMEOUT, || self.log().contains(needle)) {
            panic!("log never contained {needle:?}; log:\n{}", self.log());
        }
    }

    /// Opens a new control connection.
    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends one raw line (a newline is appended) on a new connection and
    /// returns the reply line parsed as JSON.
    pub fn request_line(&self, line: &str) -> Value {
        let mut s = self.connect();
        send_line(&mut s, line);
        read_reply(&mut BufReader::new(s))
    }

    /// Sends a request object (`version` is added when missing).
    pub fn request(&self, mut req: Value) -> Value {
        if req.get("version").is_none() {
            req["version"] = json!(1);
        }
        self.request_line(&req.to_string())
    }

    /// `status NAME`: that unit's status object (panics if not ok).
    pub fn status(&self, name: &str) -> Value {
        let r = self.request(json!({"verb": "status", "names": [name]}));
        assert_eq!(r["ok"], json!(true), "status {name}: {r}");
        let unit = r["body"]["units"][0].clone();
        assert!(unit.is_object(), "status {name}: no unit in {r}");
        unit
    }

    pub fn state(&self, name: &str) -> String {
        self.status(name)["summary"]["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits until `name` is in `state`; panics with status and log if not.
    pub fn wait_state(&self, name: &str, state: &str) -> Value {
        if !wait_until(TIMEOUT, || self.state(name) == state) {
            panic!(
                "{name} never reached {state}; status: {}\nlog:\n{}",
                self.status(name),
                self.log()
            );
        }
        self.status(name)
    }

    /// Names in `list`.
    pub fn list_names(&self) -> Vec<String> {
        let r = self.request(json!({"verb": "list"}));
        assert_eq!(r["ok"], json!(true), "list: {r}");
        r["body"]["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Event lines written so far.
    pub fn events(&self) -> Vec<Ev> {
        fs::read_to_string(self.events_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some(Ev {
                    name: it.next()?.to_string(),
                    what: it.next()?.to_string(),
                    at_ns: it.next()?.parse().ok()?,
                })
            })
            .collect()
    }

    /// The time of the first event `name what`, waiting for it to appear.
    pub fn event_at(&self, name: &str, what: &str) -> u128 {
        let find = || {
            self.events()
                .into_iter()
                .find(|e| e.name == name && e.what == what)
                .map(|e| e.at_ns)
        };
        if !wait_until(TIMEOUT, || find().is_some()) {
            panic!(
                "no event {name} {what}; events: {:?}\nlog:\n{}",
                self.events(),
                self.log()
            );
        }
        find().unwrap()
    }

    /// Sends `signal` to vigil.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits for vigil to exit (after a signal or a power request).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether vigil is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let target = if self.in_namespace {
            children_of(self.pid()).first().map(|(p, _)| *p)
        } else {
            self.child.as_ref().map(|c| c.id() as i32)
        };
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = target {
            // SAFETY: kill(2) on our own child (or its only child).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `s` as one single-quoted /bin/sh word.
/// The descriptor numbers `pid` has open, once they have not changed for
/// 100 ms (connections of finished requests close when vigil sees the
/// hangup).
pub fn settled_fds(pid: i32) -> std::collections::BTreeSet<u32> {
    let fds = || -> std::collections::BTreeSet<u32> {
        fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .collect()
    };
    let mut open = fds();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let again = fds();
        if again == open {
            return open;
        }
        open = again;
    }
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// TOML basic string literal for `s`.
pub fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub fn send_line(s: &mut UnixStream, line: &str) {
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
}

/// Reads one reply line and parses it.
pub fn read_reply(r: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.ends_with('\n'), "reply line not terminated: {line:?}");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?} is not JSON: {e}"))
}

/// Children of `pid` (from /proc/*/stat) with their state letter.
pub fn children_of(pid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Some((state, ppid)) = proc_stat(child) else {
            continue;
        };
        if ppid == pid {
            out.push((child, state));
        }
    }
    out
}

/// (state, ppid) of a process, or None if it is gone.
pub fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    matches!(proc_stat(pid), Some((s, _)) if s != 'Z')
}

/// The pids in `status.exits`, the `outcome` strings.
pub fn exit_outcomes(status: &Value) -> Vec<String> {
    status["exits"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["outcome"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}
