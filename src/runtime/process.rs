//! Signalling processes and process groups, guarded against the classic
//! accident of kill(0) / kill(-1) hitting vigil's own group or everything.

/// Errors from sending a signal.
#[derive(Debug, thiserror::Error)]
pub enum KillError {
    #[error("refusing to signal pid {0}")]
    InvalidPid(i32),
    #[error("sending signal {signal} to {target}: {source}")]
    Kill {
        target: String,
        signal: i32,
        source: std::io::Error,
    },
}

/// Sends `signal` to `pid`, or to its process group when `group` (every
/// service leads its own group, so pgid == main pid). Returns `Ok(false)`
/// when the target no longer exists, which is not an error during a stop.
/// pids <= 1 are refused: 0/-1 would hit vigil itself or every process,
/// and PID 1 is vigil.
pub fn send_signal(pid: i32, signal: i32, group: bool) -> Result<bool, KillError> {
    if pid <= 1 {
        return Err(KillError::InvalidPid(pid));
    }
    let target = if group { -pid } else { pid };
    // SAFETY: plain syscall; target validated above.
    if unsafe { libc::kill(target, signal) } == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(false);
    }
    Err(KillError::Kill {
        target: if group {
            format!("process group {pid}")
        } else {
            format!("pid {pid}")
        },
        signal,
        source: err,
    })
}
