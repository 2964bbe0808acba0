//! The floor: what the same work costs with nothing but fork, execve and a
//! close-on-exec pipe (the same exec-confirmation vigil uses), done by this
//! process directly. No setsid, no signal reset, no logging, no state.

use std::ffi::CString;
use std::time::{Duration, Instant};

/// A prepared argv/envp, built once so the loop measures only the syscalls.
pub struct Program {
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
}

impl Program {
    pub fn new(argv: &[&str]) -> anyhow::Result<Self> {
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(*a))
            .collect::<Result<_, _>>()?;
        let envp = vec![CString::new("PATH=/usr/sbin:/usr/bin:/sbin:/bin")?];
        let mut argv_ptrs: Vec<_> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<_> = envp.iter().map(|a| a.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        Ok(Program {
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
        })
    }

    /// fork + execve; returns once the child has exec'd (the CLOEXEC pipe
    /// reads EOF) or failed to.
    pub fn spawn(&self) -> anyhow::Result<i32> {
        let mut fds = [-1; 2];
        // SAFETY: valid out-array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let [rd, wr] = fds;
        // SAFETY: the child only calls execve, write and _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: async-signal-safe calls on data prepared before fork.
            unsafe {
                libc::execve(
                    *self.argv_ptrs.first().unwrap_or(&std::ptr::null()),
                    self.argv_ptrs.as_ptr(),
                    self.envp_ptrs.as_ptr(),
                );
                let errno = *libc::__errno_location();
                libc::write(wr, (&errno as *const i32).cast(), 4);
                libc::_exit(127);
            }
        }
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(wr) };
        let mut buf = [0u8; 4];
        let n = loop {
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), 4) };
            if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break n;
            }
        };
        // SAFETY: closing our read end.
        unsafe { libc::close(rd) };
        if pid < 0 {
            return Err(anyhow::anyhow!("fork failed"));
        }
        if n != 0 {
            wait(pid);
            anyhow::bail!("exec failed: errno {}", i32::from_ne_bytes(buf));
        }
        Ok(pid)
    }
}

/// Blocking waitpid for one child.
pub fn wait(pid: i32) {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    {}
}

/// Start-all time for `n` processes, restarts done the way a supervisor
/// must do them while the `n` are alive, and the `n` themselves, still
/// running: they are stopped (and timed) later, by `Children::stop`.
pub struct Bulk {
    pub start: Duration,
    /// (latency, thread CPU ns) per restart with `waitpid(-1)`.
    pub restarts: Vec<(Duration, u64)>,
    pub children: Children,
}

/// The floor's running children. Stopping them is timed by `stop`, so that
/// the bench can stop them when vigil's services have reached the same age:
/// reaping a process that has lived for seconds costs more than reaping a
/// new one (the machine's /proc readers leave dentries that exit must
/// flush), and vigil's services are stopped after the idle phase. Dropped
/// unstopped (an error path), they are killed and reaped.
pub struct Children(Vec<i32>);

impl Children {
    /// SIGTERM to all, then waitpid each: the stop-all floor.
    pub fn stop(mut self) -> Duration {
        let t0 = Instant::now();
        kill_all(&std::mem::take(&mut self.0));
        t0.elapsed()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        kill_all(&self.0);
    }
}

/// Spawn `n` copies until all have exec'd; restart `restarts` of them
/// supervisor-style; then SIGTERM them all and reap them.
pub fn bulk(program: &Program, n: usize, restarts: usize) -> anyhow::Result<Bulk> {
    let mut pids = Vec::with_capacity(n);
    let t0 = Instant::now();
    for _ in 0..n {
        match program.spawn() {
            Ok(pid) => pids.push(pid),
            Err(e) => {
                kill_all(&pids);
                return Err(e);
            }
        }
    }
    let start = t0.elapsed();
    let mut children = Children(pids);
    std::thread::sleep(VICTIM_AGE);
    let mut times = Vec::with_capacity(restarts);
    for slot in children.0.iter_mut().take(restarts) {
        let (pid, sample) = restart_among_many(program, *slot)?;
        *slot = pid;
        times.push(sample);
    }
    Ok(Bulk {
        start,
        restarts: times,
        children,
    })
}

/// kill -9 `victim`, then what a supervisor of many children has to do:
/// `waitpid(-1)` for the exit, a `waitpid(-1, WNOHANG)` sweep until none is
/// left (it walks every live child in the kernel), and the new fork/exec.
fn restart_among_many(program: &Program, victim: i32) -> anyhow::Result<(i32, (Duration, u64))> {
    std::thread::sleep(Duration::from_millis(5));
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    let mut status = 0;
    loop {
        // SAFETY: waiting for any of our children.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid > 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    // SAFETY: non-blocking sweep, as after a SIGCHLD.
    while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
    let new = program.spawn()?;
    Ok((new, (t0.elapsed(), thread_cpu_ns() - c0)))
}

fn kill_all(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    for &pid in pids {
        wait(pid);
    }
}

/// CPU time of the calling thread, in ns.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// How long a service has been running when the bench kills it, in the
/// floor and in vigil alike. Reaping a process costs more once it is a
/// second old (here, 3 us when fresh, about 20 us at 0.3-2 s, 35 us later:
/// the machine's /proc readers leave dentries that the exit must flush), so
/// both kill processes of the same age.
pub const VICTIM_AGE: Duration = Duration::from_secs(1);

/// Restart latency floor, `count` times: from kill -9 of a running child
/// (`VICTIM_AGE` old) to its replacement having exec'd (blocking waitpid,
/// then fork/exec). Also returns the CPU time this thread spent on each.
pub fn restarts(program: &Program, count: usize) -> anyhow::Result<Vec<(Duration, u64)>> {
    let mut victims = Children(Vec::with_capacity(count));
    for _ in 0..count {
        victims.0.push(program.spawn()?);
    }
    std::thread::sleep(VICTIM_AGE);
    let mut samples = Vec::with_capacity(count);
    for slot in victims.0.iter_mut() {
        std::thread::sleep(Duration::from_millis(5));
        let c0 = thread_cpu_ns();
        let t0 = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(*slot, libc::SIGKILL) };
        wait(*slot);
        *slot = program.spawn()?;
        samples.push((t0.elapsed(), thread_cpu_ns() - c0));
    }
    Ok(samples)
}

/// The same restarts with `std::process::Command`, which glibc turns into
/// posix_spawn (clone with CLONE_VM|CLONE_VFORK: no page-table copy, no
/// copy-on-write faults afterwards), as vigil spawns.
pub fn restarts_posix_spawn(count: usize) -> anyhow::Result<Vec<(Duration, u64)>> {
    let spawn = || {
        std::process::Command::new("/bin/sleep")
            .arg("1000000")
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .spawn()
    };
    let mut victims = Vec::with_capacity(count);
    let result = (|| {
        for _ in 0..count {
            victims.push(spawn()?);
        }
        std::thread::sleep(VICTIM_AGE);
        let mut samples = Vec::with_capacity(count);
        for slot in victims.iter_mut() {
            std::thread::sleep(Duration::from_millis(5));
            let c0 = thread_cpu_ns();
            let t0 = Instant::now();
            slot.kill()?;
            slot.wait()?;
            *slot = spawn()?;
            samples.push((t0.elapsed(), thread_cpu_ns() - c0));
        }
        Ok(samples)
    })();
    for mut child in victims {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}
