//! Signals as readable events: block them and read them from a signalfd so the
//! event loop handles SIGCHLD/SIGTERM/... synchronously, never in a handler.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Errors from setting up signal delivery.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("invalid signal number {0}")]
    InvalidSignal(i32),
    #[error("blocking signals: {0}")]
    Block(std::io::Error),
    #[error("creating signalfd: {0}")]
    Create(std::io::Error),
}

/// A non-blocking, close-on-exec signalfd for a fixed set of blocked signals.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` for the calling thread (vigil is single-threaded) and
    /// creates the fd that reports them. Spawned children reset their mask.
    pub fn new(signals: &[i32]) -> Result<Self, SignalError> {
        // SAFETY: sigset_t is plain data; sigemptyset initializes it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a sigset_t.
        unsafe { libc::sigemptyset(&mut set) };
        for &sig in signals {
            // SAFETY: valid pointer; the return value checks the number.
            if unsafe { libc::sigaddset(&mut set, sig) } != 0 {
                return Err(SignalError::InvalidSignal(sig));
            }
        }
        // SAFETY: valid set pointer; old mask not requested.
        let rc = unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(SignalError::Block(std::io::Error::last_os_error()));
        }
        // SAFETY: valid set pointer, -1 asks for a new fd.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(SignalError::Create(std::io::Error::last_os_error()));
        }
        // SAFETY: fd is a freshly created descriptor we own.
        Ok(SignalFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Every pending signal, in arrival order (standard signals are
    /// coalesced by the kernel, so SIGCHLD means "reap everything"), with
    /// the sending pid of each (for SIGCHLD: the child whose state changed,
    /// which can be reaped directly).
    pub fn read_all_with_sender(&self) -> Vec<(i32, i32)> {
        let mut out = Vec::new();
        loop {
            // SAFETY: signalfd_siginfo is plain data.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: reading into a buffer of exactly `size` bytes.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n == size as isize {
                out.push((info.ssi_signo as i32, info.ssi_pid as i32));
                continue;
            }
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        out
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
