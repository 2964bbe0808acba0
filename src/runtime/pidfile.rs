//! Reading the pid file a forking daemon leaves behind.

use std::path::Path;

/// Reads and validates a daemon's pid file; the error text goes straight into
/// the unit's failure reason, so it names the file and the problem.
pub fn read_pid_file(path: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("pid file {} does not exist", path.display())
        } else {
            format!("reading pid file {}: {e}", path.display())
        }
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("pid file {} is empty", path.display()));
    }
    let first = trimmed.split_whitespace().next().unwrap_or(trimmed);
    let pid: i32 = first.parse().map_err(|_| {
        format!(
            "pid file {} does not hold a number: {first:?}",
            path.display()
        )
    })?;
    if pid <= 0 {
        return Err(format!(
            "pid file {} holds an invalid pid {pid}",
            path.display()
        ));
    }
    if !pid_alive(pid) {
        return Err(format!(
            "pid file {} names pid {pid}, which is not running",
            path.display()
        ));
    }
    Ok(pid)
}

/// Whether a process exists (zombies count as existing until reaped; EPERM
/// means it exists but belongs to someone else).
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
