//! vigil under test: PID 1 of a fresh PID namespace (`unshare --pid --fork
//! --mount-proc vigil --container`) over N generated units, observed from
//! the host through its log lines, /proc and the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use vigil::control::protocol::{Reply, ReplyBody, UnitState};

use crate::logwatch::LogWatch;
use crate::procfs;

/// How long any single step may take before the bench gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// The unit every generated service uses.
pub const UNIT_TEXT: &str = r#"exec = ["/bin/sleep", "1000000"]
restart = "on-failure"
restart_delay = "0"
wanted_by = ["default"]
"#;

/// A running vigil and what the bench knows about it.
pub struct VigilRun {
    child: Option<Child>,
    /// vigil's pid as the host sees it (the child of unshare).
    pub host_pid: i32,
    socket: PathBuf,
    pub log: LogWatch,
    _dir: tempfile::TempDir,
}

/// Start-up timings.
pub struct Startup {
    /// From "starting target default" to "target default is up", both as
    /// read by the bench: the phase comparable to the floor's spawn loop.
    pub boot_to_up: Duration,
    /// vigil's own figure from the "is up after" line.
    pub vigil_says: String,
    /// From launching unshare to "is up": includes exec and loading N files.
    pub total: Duration,
}

/// `name` and pid from "started NAME (pid P)".
fn parse_started(text: &str) -> Option<(&str, i32)> {
    let rest = text.strip_prefix("vigil: started ")?;
    let (name, rest) = rest.split_once(" (pid ")?;
    let pid = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((name, pid))
}

impl VigilRun {
    /// Write N units, launch vigil in a new PID namespace and wait until
    /// the default target is up.
    pub fn launch(vigil: &Path, n: usize) -> anyhow::Result<(Self, Startup)> {
        let dir = tempfile::tempdir()?;
        let units = dir.path().join("units");
        std::fs::create_dir(&units)?;
        for i in 0..n {
            std::fs::write(units.join(format!("s{i:04}.toml")), UNIT_TEXT)?;
        }
        let socket = dir.path().join("control");
        let t0 = Instant::now();
        let mut child = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(vigil)
            .arg("--container")
            .arg("--units")
            .arg(&units)
            .arg("--socket")
            .arg(&socket)
            .arg("--config")
            .arg(dir.path().join("vigil.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running unshare")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let log = LogWatch::spawn(stderr);
        let unshare_pid = i32::try_from(child.id())?;
        let mut run = VigilRun {
            child: Some(child),
            host_pid: 0,
            socket,
            log,
            _dir: dir,
        };
        run.host_pid = run.find_vigil(unshare_pid)?;
        let Some((from, starting)) = run
            .log
            .wait_for(0, STEP_TIMEOUT, |l| l.contains("starting target default"))
        else {
            bail!(
                "vigil never started the default target: {:?}",
                run.log.tail(10)
            );
        };
        let Some((_, up)) = run.log.wait_for(from, STEP_TIMEOUT, |l| {
            l.contains("target default is up after") || l.contains("finished starting after")
        }) else {
            bail!("default target never came up: {:?}", run.log.tail(10));
        };
        if !up.text.contains("is up after") {
            bail!("default target degraded: {}", up.text);
        }
        let startup = Startup {
            boot_to_up: up.at - starting.at,
            vigil_says: up.text.rsplit(' ').next().unwrap_or("?").to_string(),
            total: up.at - t0,
        };
        let running = run.running_count()?;
        if running != n {
            bail!("{running} of {n} services running after the target came up");
        }
        Ok((run, startup))
    }

    /// The host pid of the vigil that unshare forked, once it has exec'd.
    fn find_vigil(&self, unshare_pid: i32) -> anyhow::Result<i32> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(&pid) = procfs::children(unshare_pid).first() {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "vigil" {
                    return Ok(pid);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        bail!("vigil did not appear under unshare (pid {unshare_pid})")
    }

    /// One `list` request over the control socket, parsed as vigilctl would.
    pub fn list(&self) -> anyhow::Result<Vec<vigil::control::protocol::UnitSummary>> {
        let mut stream = UnixStream::connect(&self.socket)
            .with_context(|| format!("connecting to {}", self.socket.display()))?;
        stream.set_read_timeout(Some(STEP_TIMEOUT))?;
        stream.write_all(b"{\"version\":1,\"verb\":\"list\"}\n")?;
        let mut line = Vec::with_capacity(256 * 1024);
        BufReader::with_capacity(1 << 16, &stream).read_until(b'\n', &mut line)?;
        let reply: Reply = serde_json::from_slice(&line).context("parsing the list reply")?;
        match reply.body {
            Some(ReplyBody::List { units }) if reply.ok => Ok(units),
            _ => bail!("list failed: {:?}", reply.error),
        }
    }

    /// Services (not targets) in state running.
    pub fn running_count(&self) -> anyhow::Result<usize> {
        Ok(self
            .list()?
            .iter()
            .filter(|u| u.kind == "simple" && u.state == UnitState::Running)
            .count())
    }

    /// Client-side time of `reps` list requests (connect, send, read, parse).
    pub fn list_times(&self, reps: usize, expect: usize) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t0 = Instant::now();
            let units = self.list()?;
            times.push(t0.elapsed());
            if units.len() != expect {
                bail!("list returned {} units, expected {expect}", units.len());
            }
        }
        Ok(times)
    }

    /// kill -9 of `reps` different services (one each, so neither back-off
    /// nor the start limit applies), timed until vigil logs the replacement;
    /// with vigil's CPU time (schedstat) over each.
    pub fn restart_times(&self, reps: usize) -> anyhow::Result<Vec<(Duration, u64)>> {
        let victims: Vec<i32> = procfs::children(self.host_pid)
            .into_iter()
            .take(reps)
            .collect();
        if victims.len() < reps {
            bail!("only {} children of vigil found", victims.len());
        }
        let mut times = Vec::with_capacity(reps);
        for host in victims {
            let inner = procfs::inner_pid(host).context("reading NSpid")?;
            let name = self.unit_of(inner).context("pid not in vigil's log")?;
            std::thread::sleep(Duration::from_millis(20));
            let from = self.log.len();
            let c0 = procfs::activity(self.host_pid).map(|a| a.cpu_ns);
            let t0 = Instant::now();
            // SAFETY: plain kill of a process we located.
            if unsafe { libc::kill(host, libc::SIGKILL) } != 0 {
                bail!("kill {host}: {}", std::io::Error::last_os_error());
            }
            let Some((_, line)) = self.log.wait_for(from, STEP_TIMEOUT, |l| {
                parse_started(l).is_some_and(|(n, p)| n == name && p != inner)
            }) else {
                bail!("{name} was not restarted: {:?}", self.log.tail(5));
            };
            let c1 = procfs::activity(self.host_pid).map(|a| a.cpu_ns);
            let cpu = c1.zip(c0).map(|(b, a)| b.saturating_sub(a)).unwrap_or(0);
            times.push((line.at - t0, cpu));
        }
        Ok(times)
    }

    /// The unit whose current pid (in vigil's namespace) is `pid`, from the log.
    fn unit_of(&self, pid: i32) -> Option<String> {
        let (_, line) = self.log.wait_for(0, Duration::ZERO, |l| {
            parse_started(l).is_some_and(|(_, p)| p == pid)
        })?;
        parse_started(&line.text).map(|(n, _)| n.to_string())
    }

    /// SIGTERM to vigil; time until it (and so the namespace) has exited,
    /// and until it logged "all units stopped".
    pub fn stop(mut self) -> anyhow::Result<(Duration, Option<Duration>)> {
        let mut child = self.child.take().context("already stopped")?;
        let from = self.log.len();
        let t0 = Instant::now();
        // SAFETY: plain kill.
        unsafe { libc::kill(self.host_pid, libc::SIGTERM) };
        let status = child.wait()?;
        let took = t0.elapsed();
        if !status.success() {
            bail!("vigil exited with {status}: {:?}", self.log.tail(5));
        }
        let logged = self
            .log
            .wait_for(from, Duration::from_secs(5), |l| {
                l.contains("all units stopped")
            })
            .map(|(_, line)| line.at - t0);
        Ok((took, logged))
    }
}

impl Drop for VigilRun {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.host_pid > 0 {
                // SAFETY: killing the namespace's init kills the namespace.
                unsafe { libc::kill(self.host_pid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
