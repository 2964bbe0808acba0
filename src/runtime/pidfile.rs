//! Reading the pid file a forking daemon leaves behind.

use std::path::Path;

use crate::regular_file::read_regular;

/// Reads and validates a daemon's pid file; the error text goes straight into
/// the unit's failure reason, so it names the file and the problem.
pub fn read_pid_file(path: &Path) -> Result<PidFile, String> {
    // Not followed through a symlink, never blocking, a few bytes at most:
    // the file is written by the daemon, which may not be root.
    let (bytes, meta) = read_regular(path, MAX_PID_FILE_BYTES, false).map_err(|e| {
        if e.is_not_found() {
            format!("pid file {} does not exist", path.display())
        } else {
            format!("reading pid file {}: {e}", path.display())
        }
    })?;
    let pid = parse_pid_text(&bytes).map_err(|why| format!("pid file {} {why}", path.display()))?;
    if !pid_alive(pid) {
        return Err(format!(
            "pid file {} names pid {pid}, which is not running",
            path.display()
        ));
    }
    Ok(PidFile {
        pid,
        owner: std::os::unix::fs::MetadataExt::uid(&meta),
    })
}

/// The pid a pid file's bytes hold: the first word, a positive number.
/// Err says what is wrong, to follow "pid file PATH".
pub fn parse_pid_text(bytes: &[u8]) -> Result<i32, String> {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("is empty".to_string());
    }
    let first = trimmed.split_whitespace().next().unwrap_or(trimmed);
    let pid: i32 = first
        .parse()
        .map_err(|_| format!("does not hold a number: {first:?}"))?;
    if pid <= 0 {
        return Err(format!("holds an invalid pid {pid}"));
    }
    Ok(pid)
}

/// A pid read from a pid file, and the file's owner (from the descriptor
/// it was read through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    pub owner: u32,
}

/// Pid files are a number and a newline; anything longer is not one.
const MAX_PID_FILE_BYTES: u64 = 64;

/// Whether a process exists (zombies count as existing until reaped; EPERM
/// means it exists but belongs to someone else).
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
