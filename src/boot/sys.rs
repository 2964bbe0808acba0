//! The syscalls and file access the boot and shutdown steps need, behind a
//! trait so the sequencing is testable with a recording fake and no root.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// How a child command (modprobe) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Exited with this code; stderr is kept for the report.
    Exited { code: i32, stderr: String },
    /// Killed by a signal (including our own kill on timeout).
    Signaled(i32),
    /// Still running after the timeout; it was killed.
    TimedOut,
}

/// Which reboot(2) command to issue at the very end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootCmd {
    PowerOff,
    Restart,
    Halt,
}

/// Everything with a side effect on the host, plus the reads the steps need.
/// Methods take `&self` so a fake can record through interior mutability.
pub trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    /// umount2(2): the shutdown's unmounts (MNT_DETACH as a last resort).
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
    /// `flags` are SWAP_FLAG_* bits (priority, discard).
    fn swapon(&self, path: &Path, flags: i32) -> Result<(), Errno>;
    /// swapoff(2), at shutdown.
    fn swapoff(&self, path: &Path) -> Result<(), Errno>;
    /// sethostname(2), from /etc/hostname.
    fn sethostname(&self, name: &str) -> Result<(), Errno>;
    /// `flags` are MODULE_INIT_* bits.
    fn finit_module(&self, path: &Path, params: &str, flags: u32) -> Result<(), Errno>;
    /// Returns only on failure (or in a fake).
    fn reboot(&self, cmd: RebootCmd) -> Result<(), Errno>;
    /// reboot(2) CAD_ON/CAD_OFF: whether Ctrl-Alt-Del reboots at once.
    fn set_cad_enabled(&self, enabled: bool) -> Result<(), Errno>;
    /// `sig == None` probes (kill with signal 0).
    fn kill(&self, pid: i32, sig: Option<Signal>) -> Result<(), Errno>;
    /// sync(2), before unmounting and before reboot(2).
    fn sync(&self);
    /// The kill-all's pause between checks for processes still alive
    /// (a fake records it and returns).
    fn sleep(&self, d: Duration);
    /// Run a helper (modprobe) to completion with a timeout.
    fn run(&self, argv: &[String], timeout: Duration) -> io::Result<CommandOutcome>;
    /// uname's release: where /lib/modules/RELEASE is.
    fn kernel_release(&self) -> Option<String>;
    /// A whole text file (/proc/cmdline, /etc/fstab, ...).
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// Read up to `len` bytes at `offset` (superblocks of block devices).
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Entry names (not paths) of a directory, sorted.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists (a device node, a mount point).
    fn exists(&self, path: &Path) -> bool;
    /// readlink(2) (/etc/localtime, /dev/disk/by-* links).
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// Mount points and /run's directories.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// A small file (/proc/sys/kernel/hotplug).
    fn write_file(&self, path: &Path, contents: &str) -> io::Result<()>;
    /// Replace `link` (if any) with a symlink to `target`.
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
}

fn cpath(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// The real thing: nix/libc calls against the running kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSyscall;

impl Syscall for RealSyscall {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }

    fn swapon(&self, path: &Path, flags: i32) -> Result<(), Errno> {
        let c = cpath(path)?;
        // SAFETY: c is a valid NUL-terminated string for the duration of the call.
        let r = unsafe { libc::swapon(c.as_ptr(), flags) };
        Errno::result(r).map(drop)
    }

    fn swapoff(&self, path: &Path) -> Result<(), Errno> {
        let c = cpath(path)?;
        // SAFETY: as above.
        let r = unsafe { libc::swapoff(c.as_ptr()) };
        Errno::result(r).map(drop)
    }

    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        nix::unistd::sethostname(name)
    }

    fn finit_module(&self, path: &Path, params: &str, flags: u32) -> Result<(), Errno> {
        let file = std::fs::File::open(path)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        let p = CString::new(params).map_err(|_| Errno::EINVAL)?;
        use std::os::fd::AsRawFd;
        // SAFETY: fd is open for the call; p is NUL-terminated.
        let r = unsafe {
            libc::syscall(
                libc::SYS_finit_module,
                file.as_raw_fd(),
                p.as_ptr(),
                flags as libc::c_int,
            )
        };
        Errno::result(r).map(drop)
    }

    fn reboot(&self, cmd: RebootCmd) -> Result<(), Errno> {
        use nix::sys::reboot::RebootMode;
        let mode = match cmd {
            RebootCmd::PowerOff => RebootMode::RB_POWER_OFF,
            RebootCmd::Restart => RebootMode::RB_AUTOBOOT,
            RebootCmd::Halt => RebootMode::RB_HALT_SYSTEM,
        };
        nix::sys::reboot::reboot(mode).map(drop)
    }

    fn set_cad_enabled(&self, enabled: bool) -> Result<(), Errno> {
        nix::sys::reboot::set_cad_enabled(enabled)
    }

    fn kill(&self, pid: i32, sig: Option<Signal>) -> Result<(), Errno> {
        nix::sys::signal::kill(Pid::from_raw(pid), sig)
    }

    fn sync(&self) {
        nix::unistd::sync();
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }

    fn run(&self, argv: &[String], timeout: Duration) -> io::Result<CommandOutcome> {
        let Some((prog, args)) = argv.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty argv"));
        };
        let mut child = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let start = Instant::now();
        // stderr is drained while the helper runs and never waited on: a
        // full pipe would stall the helper, and a background process that
        // inherited the pipe would keep it open (no EOF) after the helper
        // exits.
        let mut pipe = child.stderr.take();
        if let Some(p) = &pipe {
            set_nonblocking(p);
        }
        let mut stderr = Vec::new();
        loop {
            drain_stderr(&mut pipe, &mut stderr);
            if let Some(status) = child.try_wait()? {
                drain_stderr(&mut pipe, &mut stderr);
                let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
                use std::os::unix::process::ExitStatusExt;
                return Ok(match (status.code(), status.signal()) {
                    (Some(code), _) => CommandOutcome::Exited { code, stderr },
                    (None, Some(sig)) => CommandOutcome::Signaled(sig),
                    (None, None) => CommandOutcome::Signaled(0),
                });
            }
            if start.elapsed() >= timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(CommandOutcome::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kernel_release(&self) -> Option<String> {
        nix::sys::utsname::uname()
            .ok()
            .map(|u| u.release().to_string_lossy().into_owned())
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn write_file(&self, path: &Path, contents: &str) -> io::Result<()> {
        std::fs::write(path, contents)
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        match std::fs::remove_file(link) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::os::unix::fs::symlink(target, link)
    }
}

/// One recorded side effect of the fake, in a form tests can compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        source: Option<String>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount {
        target: PathBuf,
        flags: MntFlags,
    },
    Swapon(PathBuf, i32),
    Swapoff(PathBuf),
    Sethostname(String),
    FinitModule(PathBuf, u32),
    Reboot(RebootCmd),
    SetCad(bool),
    Kill(i32, Option<Signal>),
    Sync,
    Sleep(Duration),
    Run(Vec<String>),
    Mkdir(PathBuf),
    Write(PathBuf, String),
    Symlink(PathBuf, PathBuf),
}

impl fmt::Display for Call {
    /// A short stable text used to match scripted failures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Mount { target, .. } => write!(f, "mount {}", target.display()),
            Call::Umount { target, flags } if flags.contains(MntFlags::MNT_DETACH) => {
                write!(f, "umount-lazy {}", target.display())
            }
            Call::Umount { target, .. } => write!(f, "umount {}", target.display()),
            Call::Swapon(p, _) => write!(f, "swapon {}", p.display()),
            Call::Swapoff(p) => write!(f, "swapoff {}", p.display()),
            Call::Sethostname(n) => write!(f, "sethostname {n}"),
            Call::FinitModule(p, _) => write!(f, "finit_module {}", p.display()),
            Call::Reboot(c) => write!(f, "reboot {c:?}"),
            Call::SetCad(e) => write!(f, "cad {e}"),
            Call::Kill(pid, s) => write!(f, "kill {pid} {s:?}"),
            Call::Sync => write!(f, "sync"),
            Call::Sleep(d) => write!(f, "sleep {d:?}"),
            Call::Run(argv) => write!(f, "run {}", argv.join(" ")),
            Call::Mkdir(p) => write!(f, "mkdir {}", p.display()),
            Call::Write(p, _) => write!(f, "write {}", p.display()),
            Call::Symlink(t, l) => write!(f, "symlink {} {}", t.display(), l.display()),
        }
    }
}

/// A scripted result: calls whose text equals `key` fail with `errno`,
/// `times` times (None: always).
#[derive(Debug, Clone)]
struct Script {
    key: String,
    errno: Errno,
    times: Option<u32>,
}

/// A fake host for tests: an in-memory file tree, recorded calls, and
/// scripted failures. Successful mounts do not change the file tree unless
/// the test says so.
#[derive(Debug, Default)]
pub struct Recording {
    pub calls: RefCell<Vec<Call>>,
    files: RefCell<BTreeMap<PathBuf, Vec<u8>>>,
    dirs: RefCell<BTreeSet<PathBuf>>,
    links: RefCell<BTreeMap<PathBuf, PathBuf>>,
    scripts: RefCell<Vec<Script>>,
    run_results: RefCell<BTreeMap<String, CommandOutcome>>,
    release: Option<String>,
}

impl Recording {
    /// An empty host with kernel release "6.1.0-test".
    pub fn new() -> Self {
        Recording {
            release: Some("6.1.0-test".to_string()),
            ..Default::default()
        }
    }

    /// Put a file (and its parent directories) into the fake tree.
    pub fn add_file(&self, path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> &Self {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent() {
            self.add_dir(parent);
        }
        self.files
            .borrow_mut()
            .insert(path, contents.as_ref().to_vec());
        self
    }

    /// Put a directory (and its parents) into the fake tree.
    pub fn add_dir(&self, path: impl AsRef<Path>) -> &Self {
        let mut dirs = self.dirs.borrow_mut();
        for a in path.as_ref().ancestors() {
            dirs.insert(a.to_path_buf());
        }
        self
    }

    /// Put a symlink into the fake tree (reads do not follow it).
    pub fn add_link(&self, link: impl AsRef<Path>, target: impl AsRef<Path>) -> &Self {
        let link = link.as_ref().to_path_buf();
        if let Some(parent) = link.parent() {
            self.add_dir(parent);
        }
        self.links
            .borrow_mut()
            .insert(link, target.as_ref().to_path_buf());
        self
    }

    /// Make calls whose text (see `Call`'s Display) equals `key` fail.
    pub fn fail(&self, key: &str, errno: Errno, times: Option<u32>) -> &Self {
        self.scripts.borrow_mut().push(Script {
            key: key.to_string(),
            errno,
            times,
        });
        self
    }

    /// What `run` returns for this argv (joined with spaces); default exit 0.
    pub fn on_run(&self, argv: &str, outcome: CommandOutcome) -> &Self {
        self.run_results
            .borrow_mut()
            .insert(argv.to_string(), outcome);
        self
    }

    /// Recorded calls as their display text, for compact assertions.
    pub fn texts(&self) -> Vec<String> {
        self.calls.borrow().iter().map(|c| c.to_string()).collect()
    }

    /// Contents of a fake file (written by the step or added by the test).
    pub fn file(&self, path: impl AsRef<Path>) -> Option<String> {
        self.files
            .borrow()
            .get(path.as_ref())
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// Target of a fake symlink.
    pub fn link(&self, path: impl AsRef<Path>) -> Option<PathBuf> {
        self.links.borrow().get(path.as_ref()).cloned()
    }

    fn record(&self, call: Call) -> Result<(), Errno> {
        let key = call.to_string();
        self.calls.borrow_mut().push(call);
        let mut scripts = self.scripts.borrow_mut();
        for s in scripts.iter_mut() {
            if s.key == key {
                match s.times {
                    Some(0) => continue,
                    Some(ref mut n) => *n -= 1,
                    None => {}
                }
                return Err(s.errno);
            }
        }
        Ok(())
    }
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl Syscall for Recording {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        self.record(Call::Mount {
            source: source.map(str::to_string),
            target: target.to_path_buf(),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        })
    }
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        self.record(Call::Umount {
            target: target.to_path_buf(),
            flags,
        })
    }
    fn swapon(&self, path: &Path, flags: i32) -> Result<(), Errno> {
        self.record(Call::Swapon(path.to_path_buf(), flags))
    }
    fn swapoff(&self, path: &Path) -> Result<(), Errno> {
        self.record(Call::Swapoff(path.to_path_buf()))
    }
    fn sethostname(&self, name: &str) -> Result<(), Errno> {
        self.record(Call::Sethostname(name.to_string()))
    }
    fn finit_module(&self, path: &Path, _params: &str, flags: u32) -> Result<(), Errno> {
        self.record(Call::FinitModule(path.to_path_buf(), flags))
    }
    fn reboot(&self, cmd: RebootCmd) -> Result<(), Errno> {
        self.record(Call::Reboot(cmd))
    }
    fn set_cad_enabled(&self, enabled: bool) -> Result<(), Errno> {
        self.record(Call::SetCad(enabled))
    }
    fn kill(&self, pid: i32, sig: Option<Signal>) -> Result<(), Errno> {
        self.record(Call::Kill(pid, sig))
    }
    fn sync(&self) {
        let _ = self.record(Call::Sync);
    }
    fn sleep(&self, d: Duration) {
        let _ = self.record(Call::Sleep(d));
    }
    fn run(&self, argv: &[String], _timeout: Duration) -> io::Result<CommandOutcome> {
        let key = argv.join(" ");
        self.record(Call::Run(argv.to_vec()))
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        Ok(self
            .run_results
            .borrow()
            .get(&key)
            .cloned()
            .unwrap_or(CommandOutcome::Exited {
                code: 0,
                stderr: String::new(),
            }))
    }
    fn kernel_release(&self) -> Option<String> {
        self.release.clone()
    }
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.file(path).ok_or_else(not_found)
    }
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let files = self.files.borrow();
        let data = files.get(path).ok_or_else(not_found)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(len).min(data.len());
        Ok(data.get(start..end).unwrap_or_default().to_vec())
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        if !self.dirs.borrow().contains(path) {
            return Err(not_found());
        }
        let mut names = BTreeSet::new();
        let files = self.files.borrow();
        let dirs = self.dirs.borrow();
        let links = self.links.borrow();
        let all = files
            .keys()
            .chain(dirs.iter())
            .chain(links.keys())
            .filter(|p| p.parent() == Some(path));
        for p in all {
            if let Some(n) = p.file_name() {
                names.insert(n.to_string_lossy().into_owned());
            }
        }
        Ok(names.into_iter().collect())
    }
    fn exists(&self, path: &Path) -> bool {
        self.files.borrow().contains_key(path)
            || self.dirs.borrow().contains(path)
            || self.links.borrow().contains_key(path)
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.link(path).ok_or_else(not_found)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.record(Call::Mkdir(path.to_path_buf()))
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        self.add_dir(path);
        Ok(())
    }
    fn write_file(&self, path: &Path, contents: &str) -> io::Result<()> {
        self.record(Call::Write(path.to_path_buf(), contents.to_string()))
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        self.add_file(path, contents);
        Ok(())
    }
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.record(Call::Symlink(target.to_path_buf(), link.to_path_buf()))
            .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        self.add_link(link, target);
        Ok(())
    }
}

/// How much of a helper's stderr is kept for the log.
const STDERR_KEEP: usize = 16 * 1024;

fn set_nonblocking(fd: &impl std::os::fd::AsRawFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Reads what the non-blocking pipe holds now, keeping the first
/// `STDERR_KEEP` bytes; the pipe is dropped at EOF or on an error.
fn drain_stderr(pipe: &mut Option<std::process::ChildStderr>, out: &mut Vec<u8>) {
    let Some(p) = pipe.as_mut() else {
        return;
    };
    let mut buf = [0u8; 4096];
    loop {
        match p.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(out.len());
                out.extend_from_slice(buf.get(..n.min(room)).unwrap_or(&[]));
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => break,
        }
    }
    *pipe = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn real_run_reports_exit_code_stderr_and_timeout() {
        let r = RealSyscall;
        let out = r
            .run(
                &argv(&["/bin/sh", "-c", "echo oops >&2; exit 3"]),
                Duration::from_secs(30),
            )
            .unwrap();
        assert_eq!(
            out,
            CommandOutcome::Exited {
                code: 3,
                stderr: "oops".into()
            }
        );
        let out = r
            .run(
                &argv(&["/bin/sh", "-c", "sleep 30"]),
                Duration::from_millis(200),
            )
            .unwrap();
        assert_eq!(out, CommandOutcome::TimedOut);
        assert!(r
            .run(&argv(&["/nonexistent/modprobe"]), Duration::from_secs(1))
            .is_err());
        assert!(r.run(&[], Duration::from_secs(1)).is_err());
    }

    #[test]
    fn real_file_access() {
        let r = RealSyscall;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        r.write_file(&f, "0123456789").unwrap();
        assert_eq!(r.read_at(&f, 4, 3).unwrap(), b"456");
        assert_eq!(r.read_at(&f, 8, 100).unwrap(), b"89");
        r.create_dir_all(&dir.path().join("a/b")).unwrap();
        assert_eq!(r.read_dir(dir.path()).unwrap(), ["a", "f"]);
        let l = dir.path().join("l");
        r.symlink(Path::new("/x"), &l).unwrap();
        r.symlink(Path::new("/y"), &l).unwrap();
        assert_eq!(r.read_link(&l).unwrap(), PathBuf::from("/y"));
    }

    #[test]
    fn recording_scripts_fail_n_times_then_succeed() {
        let f = Recording::new();
        f.fail("umount /a", Errno::EBUSY, Some(1));
        assert_eq!(
            f.umount2(Path::new("/a"), MntFlags::empty()),
            Err(Errno::EBUSY)
        );
        assert_eq!(f.umount2(Path::new("/a"), MntFlags::empty()), Ok(()));
        assert_eq!(f.texts(), ["umount /a", "umount /a"]);
    }
}
