//! Reading another process's cost from /proc without waking it: memory
//! (smaps_rollup), CPU (schedstat), context switches (status), children.

use std::fs;

/// Direct children of a single-threaded process (needs CONFIG_PROC_CHILDREN).
pub fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A `Key:   value kB`-style field of a /proc file, as a number.
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// A numeric field of /proc/PID/status (VmHWM in kB, *_ctxt_switches).
pub fn status_field(pid: i32, key: &str) -> Option<u64> {
    field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        key,
    )
}

/// The pid of `pid` in its innermost PID namespace (last NSpid column).
pub fn inner_pid(pid: i32) -> Option<i32> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// Resident and proportional set size in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub pss_kib: u64,
    /// What vigil allocated itself (heap, stack), apart from the page-cache
    /// pages of its binary that the kernel maps: on some kernels those
    /// come back in large folios, whole (docs/benchmarks.md).
    pub anon_kib: u64,
    /// Peak RSS over the process's life (VmHWM).
    pub hwm_kib: u64,
}

/// Memory of `pid` from smaps_rollup (and VmHWM from status).
pub fn memory(pid: i32) -> Option<Memory> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some(Memory {
        rss_kib: field(&text, "Rss")?,
        pss_kib: field(&text, "Pss")?,
        anon_kib: field(&text, "Anonymous")?,
        hwm_kib: status_field(pid, "VmHWM").unwrap_or(0),
    })
}

/// CPU time and context switches so far: the wake-up counters of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    /// Time on CPU in ns (schedstat: exact, unlike the 10 ms utime/stime ticks).
    pub cpu_ns: u64,
    /// utime + stime from /proc/PID/stat, in clock ticks.
    pub cpu_ticks: u64,
    pub voluntary: u64,
    pub involuntary: u64,
}

/// Activity counters of `pid`.
pub fn activity(pid: i32) -> Option<Activity> {
    let sched = fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let cpu_ns = sched.split_whitespace().next()?.parse().ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" of comm: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Activity {
        cpu_ns,
        cpu_ticks: utime + stime,
        voluntary: status_field(pid, "voluntary_ctxt_switches")?,
        involuntary: status_field(pid, "nonvoluntary_ctxt_switches")?,
    })
}

/// Clock ticks per second for `cpu_ticks`.
pub fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).unwrap_or(100).max(1)
}
