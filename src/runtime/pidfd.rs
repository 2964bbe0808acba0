//! Process handles (pidfds, Linux 5.3+): a pidfd names one process for as
//! long as it is held, so a signal sent through it can never reach a
//! process that later got the same pid.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Opens a pidfd for `pid` (close-on-exec). Fails with ESRCH when no such
/// process exists.
pub fn open(pid: i32) -> std::io::Result<OwnedFd> {
    if pid <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: a fresh descriptor the kernel just gave us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process `fd` names. Ok(false) when it has already
/// exited (ESRCH): not an error during a stop.
pub fn send_signal(fd: &OwnedFd, signal: i32) -> std::io::Result<bool> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would".
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        return Ok(false);
    }
    Err(err)
}

/// Whether the process is still running: signal 0 through its pidfd.
/// A zombie counts as running until it is reaped.
pub fn is_alive(fd: &OwnedFd) -> bool {
    matches!(send_signal(fd, 0), Ok(true)) || is_unreaped_child(fd)
}

/// waitid(P_PIDFD, WEXITED | WNOHANG | WNOWAIT): None when the process
/// is not an unreaped child of vigil, else the pid waitid reports (0 while
/// it runs, its pid once it is a zombie). Reaps nothing.
fn peek_child(fd: &OwnedFd) -> Option<i32> {
    // SAFETY: siginfo_t is plain data.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let id = libc::id_t::try_from(fd.as_raw_fd()).ok()?;
    // SAFETY: valid out-pointer; WNOWAIT leaves a zombie unreaped.
    let rc = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            id,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid filled in the pid field (0 if no child changed state).
    (rc == 0).then(|| unsafe { info.si_pid() })
}

/// Whether the process is a child of vigil that has not been reaped yet
/// (running or a zombie). While that holds, its pid, process group and
/// session cannot be reused by anyone else.
pub fn is_unreaped_child(fd: &OwnedFd) -> bool {
    peek_child(fd).is_some()
}

/// Whether the process has exited and is a zombie child of vigil.
pub fn is_zombie_child(fd: &OwnedFd) -> bool {
    peek_child(fd).is_some_and(|pid| pid != 0)
}

/// The process group of `pid` (a zombie's too), if it exists.
pub fn process_group(pid: i32) -> Option<i32> {
    // SAFETY: plain syscall.
    let pgid = unsafe { libc::getpgid(pid) };
    (pgid > 0).then_some(pgid)
}

/// Whether any process is in process group `pgid` (signal 0). Only
/// meaningful while something holds the group id (see `Group`).
pub fn group_has_members(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: signal 0 only checks.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
