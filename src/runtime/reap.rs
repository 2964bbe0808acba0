//! Reaping children (PID 1 adopts every orphan) and describing how they ended.

use crate::exit::ExitStatus;

/// Collects every child that has already ended, without blocking.
///
/// Loops `waitpid(-1, WNOHANG)` until no child is ready (or none is left), so
/// one SIGCHLD (which the kernel coalesces) reaps all zombies at once.
pub fn reap_all() -> Vec<(i32, ExitStatus)> {
    let mut out = Vec::new();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: plain syscall with a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if let Some(decoded) = decode_wait_status(status) {
                out.push((pid, decoded));
            }
            continue;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        // 0: children exist but none is ready; -1/ECHILD: no children at all.
        break;
    }
    out
}

/// Reaps one known child if it has exited. Cheaper than a `reap_all` sweep,
/// whose `waitpid(-1)` walks every child in the kernel.
pub fn reap_pid(pid: i32) -> Option<ExitStatus> {
    if pid <= 0 {
        return None;
    }
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: plain syscall with a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            return decode_wait_status(status);
        }
        if rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// Turns a raw waitpid status into the manager's type; `None` for stop/continue
/// notifications, which never come without WUNTRACED but are not exits anyway.
pub fn decode_wait_status(status: libc::c_int) -> Option<ExitStatus> {
    if libc::WIFEXITED(status) {
        Some(ExitStatus::Exited(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(ExitStatus::Signaled {
            signal: libc::WTERMSIG(status),
            core_dumped: libc::WCOREDUMP(status),
        })
    } else {
        None
    }
}

/// Makes this process adopt orphaned descendants, so vigil run as a plain
/// supervisor (not PID 1) still sees forking daemons exit.
pub fn set_child_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_raw_statuses() {
        // Exit code lives in bits 8..16; signal in the low 7 bits; core flag 0x80.
        assert_eq!(decode_wait_status(3 << 8), Some(ExitStatus::Exited(3)));
        assert_eq!(
            decode_wait_status(libc::SIGSEGV | 0x80),
            Some(ExitStatus::Signaled {
                signal: libc::SIGSEGV,
                core_dumped: true
            })
        );
        assert_eq!(
            decode_wait_status(libc::SIGKILL),
            Some(ExitStatus::Signaled {
                signal: libc::SIGKILL,
                core_dumped: false
            })
        );
    }
}
