//! One qemu guest booted by rig/boot.sh, driven over its serial lines: the
//! console (ttyS0) appended to RUN/console.log, a root shell on the getty of
//! ttyS1. Shared by tests/boot.rs and tests/debian.rs (included with #[path]).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Condvar, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a guest may take to show a login prompt.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one shell command may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// At most two guests at once: each TCG guest keeps a core busy.

static SLOTS: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();
const MAX_GUESTS: usize = 2;

pub struct Slot;
impl Slot {
    pub fn take() -> Slot {
        let mut n = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_GUESTS {
            n = SLOT_FREED.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Slot
    }
}
impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        SLOT_FREED.notify_one();
    }
}

// ---------------------------------------------------------------------------
// One booted guest.

pub struct Vm {
    pub child: Child,
    run: tempfile::TempDir,
    /// The root shell on ttyS1, once `login` succeeded.
    pub tty: Option<Tty>,
    _slot: Slot,
}

impl Vm {
    pub fn boot(image: &Path) -> Vm {
        Vm::boot_with(image, "")
    }

    /// Boot with extra kernel command line words.
    pub fn boot_with(image: &Path, append: &str) -> Vm {
        Vm::boot_args(image, &["--append", append])
    }

    /// Boot with extra rig/boot.sh arguments (`--append`, `--init`, `--ssh-port`).
    pub fn boot_args(image: &Path, args: &[&str]) -> Vm {
        let slot = Slot::take();
        let run = tempfile::Builder::new()
            .prefix("vigil-boot-")
            .tempdir()
            .unwrap();
        let child = Command::new("bash")
            .arg(repo().join("rig/boot.sh"))
            .arg("--image")
            .arg(image)
            .arg("--run")
            .arg(run.path())
            .args(["--mode", "test"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(run.path().join("qemu.stderr")).unwrap(),
            ))
            .spawn()
            .expect("cannot start rig/boot.sh");
        Vm {
            child,
            run,
            tty: None,
            _slot: slot,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.run.path().join(name)
    }

    /// Everything the guest printed on its console (ttyS0) so far.
    pub fn console(&self) -> String {
        let bytes = std::fs::read(self.path("console.log")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }

    /// A failure message with the evidence: the console's tail and qemu's stderr.
    pub fn fail(&self, what: &str) -> String {
        let console = self.console();
        let tail: Vec<&str> = console.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let stderr = std::fs::read_to_string(self.path("qemu.stderr")).unwrap_or_default();
        format!(
            "{what}\n--- console (last 60 lines) ---\n{}\n--- qemu stderr ---\n{stderr}",
            tail.join("\n")
        )
    }

    pub fn wait_console(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        loop {
            if self.console().contains(needle) {
                return Ok(());
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                if self.console().contains(needle) {
                    return Ok(());
                }
                return Err(self.fail(&format!("qemu exited ({st}) before {needle:?} showed")));
            }
            if Instant::now() > end {
                return Err(self.fail(&format!("{needle:?} not on the console after {timeout:?}")));
            }
            sleep(Duration::from_millis(200));
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let end = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Ok(st),
                Ok(None) if Instant::now() > end => {
                    return Err(self.fail(&format!("qemu still running after {timeout:?}")))
                }
                Ok(None) => sleep(Duration::from_millis(200)),
                Err(e) => return Err(format!("waiting for qemu: {e}")),
            }
        }
    }

    /// Log in as root (empty password) on the getty of ttyS1 and make the shell
    /// quiet (no echo, no prompt) so command output can be cut out exactly.
    pub fn login(&mut self) -> Result<(), String> {
        let sock = self.path("ttyS1.sock");
        let end = Instant::now() + BOOT_TIMEOUT;
        let stream = loop {
            match UnixStream::connect(&sock) {
                Ok(s) => break s,
                Err(_) if Instant::now() < end => sleep(Duration::from_millis(200)),
                Err(e) => return Err(self.fail(&format!("cannot connect to {sock:?}: {e}"))),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut tty = Tty {
            stream,
            buf: Vec::new(),
            mark: 0,
            next: 0,
        };
        // A getty prints "login:" once; whatever it printed before we connected is
        // lost, so poke it with carriage returns until the prompt shows.
        let mut poked = Instant::now() - Duration::from_secs(10);
        loop {
            if tty.seen_since_mark("login:") {
                break;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(self.fail(&format!("qemu exited ({st}) before a login prompt")));
            }
            if Instant::now() > end {
                return Err(self.fail(&format!(
                    "no \"login:\" on ttyS1 after {BOOT_TIMEOUT:?}; ttyS1 said: {:?}",
                    tty.text()
                )));
            }
            if poked.elapsed() > Duration::from_secs(2) {
                tty.send("\r")?;
                poked = Instant::now();
            }
            tty.fill(Duration::from_millis(300))
                .map_err(|e| self.fail(&format!("waiting for login: {e}")))?;
        }
        tty.mark = tty.buf.len();
        tty.send("root\r")?;
        // The shell is up when it evaluates this (the echo shows the unexpanded text).
        let ready = "__READY_2__";
        let end = Instant::now() + CMD_TIMEOUT;
        let mut poked = Instant::now();
        tty.send("stty -echo; PS1=''; export PS1; echo __READY_$((1+1))__\r")?;
        while !tty.seen_since_mark(ready) {
            if Instant::now() > end {
                return Err(self.fail(&format!(
                    "no shell after logging in as root on ttyS1; ttyS1 said: {:?}",
                    tty.text()
                )));
            }
            if poked.elapsed() > Duration::from_secs(5) {
                tty.send("stty -echo; PS1=''; export PS1; echo __READY_$((1+1))__\r")?;
                poked = Instant::now();
            }
            tty.fill(Duration::from_millis(300))
                .map_err(|e| self.fail(&format!("logging in: {e}")))?;
        }
        tty.fill(Duration::from_millis(300))
            .map_err(|e| self.fail(&format!("logging in: {e}")))?;
        tty.mark = tty.buf.len();
        self.tty = Some(tty);
        Ok(())
    }

    /// Run a shell command on ttyS1; returns (exit status, output). Needs `login`.
    pub fn sh(&mut self, cmd: &str) -> Result<(i32, String), String> {
        let Some(mut tty) = self.tty.take() else {
            return Err("sh() before login()".into());
        };
        let r = self.sh_on(&mut tty, cmd);
        self.tty = Some(tty);
        r
    }

    pub fn sh_on(&mut self, tty: &mut Tty, cmd: &str) -> Result<(i32, String), String> {
        tty.next += 1;
        let tag = format!("__DONE_{}_", tty.next);
        tty.mark = tty.buf.len();
        tty.send(&format!("{cmd}\recho {tag}$?__\r"))?;
        let end = Instant::now() + CMD_TIMEOUT;
        loop {
            let text = tty.text();
            if let Some(at) = text.find(&tag) {
                let rest = &text[at + tag.len()..];
                if let Some(close) = rest.find("__") {
                    if let Ok(code) = rest[..close].parse::<i32>() {
                        let out = strip_csi(&text[..at]).replace('\r', "");
                        return Ok((code, out));
                    }
                }
            }
            if Instant::now() > end {
                return Err(self.fail(&format!(
                    "command {cmd:?} did not finish in {CMD_TIMEOUT:?}; ttyS1 said: {text:?}"
                )));
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(self.fail(&format!("qemu exited ({st}) while running {cmd:?}")));
            }
            tty.fill(Duration::from_millis(200))
                .map_err(|e| self.fail(&format!("running {cmd:?}: {e}")))?;
        }
    }

    /// Run a command that must succeed; its output.
    pub fn ok(&mut self, cmd: &str) -> String {
        match self.sh(cmd) {
            Ok((0, out)) => out,
            Ok((code, out)) => panic!("{}", self.fail(&format!("{cmd:?} exited {code}:\n{out}"))),
            Err(e) => panic!("{e}"),
        }
    }

    /// Send a command line to qemu's human monitor (e.g. "sendkey ctrl-alt-delete").
    pub fn monitor(&self, cmd: &str) -> Result<(), String> {
        let mut s = UnixStream::connect(self.path("monitor.sock"))
            .map_err(|e| format!("qemu monitor: {e}"))?;
        s.write_all(format!("{cmd}\n").as_bytes())
            .map_err(|e| format!("qemu monitor: {e}"))?;
        sleep(Duration::from_millis(500));
        Ok(())
    }

    /// Console text plus the guest's kernel log: vigil logs to both.
    pub fn logs(&mut self) -> String {
        let mut all = self.console();
        if self.tty.is_some() {
            if let Ok((_, dmesg)) = self.sh("dmesg") {
                all.push('\n');
                all.push_str(&dmesg);
            }
        }
        all
    }

    /// `e2fsck -n -f` on this boot's data disk (after qemu exited).
    pub fn fsck_data(&self) -> Result<String, String> {
        self.fsck("data.ext4")
    }

    /// `e2fsck -n -f` on one of this boot's disks, by file name in RUN.
    pub fn fsck(&self, disk: &str) -> Result<String, String> {
        let out = Command::new("e2fsck")
            .args(["-n", "-f"])
            .arg(self.path(disk))
            .output()
            .map_err(|e| format!("cannot run e2fsck: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() && !text.contains("recovery") {
            Ok(text)
        } else {
            Err(format!("e2fsck -n -f {disk}: {}\n{text}", out.status))
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("VIGIL_RIG_KEEP").is_some() {
            let keep = self.run.path().with_extension("kept");
            let _ = std::fs::rename(self.run.path(), &keep);
            eprintln!("kept run directory {}", keep.display());
        }
    }
}

/// The guest end of the ttyS1 socket with everything received so far.
pub struct Tty {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Start of the current command's output in `buf`.
    mark: usize,
    next: u32,
}

impl Tty {
    pub fn send(&mut self, s: &str) -> Result<(), String> {
        self.stream
            .write_all(s.as_bytes())
            .map_err(|e| format!("writing to ttyS1: {e}"))
    }

    /// Read what is there for up to `wait`.
    pub fn fill(&mut self, wait: Duration) -> Result<(), String> {
        let end = Instant::now() + wait;
        let mut chunk = [0u8; 4096];
        while Instant::now() < end {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("ttyS1 socket closed".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // A read with a timeout may also end in EINTR (a signal to
                // the test process): read again.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(format!("reading ttyS1: {e}")),
            }
        }
        Ok(())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf[self.mark.min(self.buf.len())..]).into_owned()
    }

    pub fn seen_since_mark(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }
}

/// Drop terminal control sequences (ash asks for the cursor position, `ESC[6n`).
pub fn strip_csi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
pub fn strip_csi_removes_cursor_queries() {
    assert_eq!(strip_csi("a\x1b[6nb\x1b[1;31mc"), "abc");
}
