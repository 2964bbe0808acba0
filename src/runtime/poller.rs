//! A tiny epoll wrapper: the event loop's only blocking point.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Errors from epoll.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("creating epoll: {0}")]
    Create(std::io::Error),
    #[error("epoll_ctl on fd {fd}: {source}")]
    Ctl { fd: RawFd, source: std::io::Error },
    #[error("epoll_wait: {0}")]
    Wait(std::io::Error),
}

/// What a registration wants to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    pub readable: bool,
    pub writable: bool,
}

impl Interest {
    /// Most sources: data or a connection to take.
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    /// vigil's own output, waiting for a slow console to drain.
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
}

/// One readiness report: the registration token and what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub token: u64,
    pub readable: bool,
    pub writable: bool,
    /// Peer hung up or the fd is in error: read to EOF, then close.
    pub hangup: bool,
}

/// Level-triggered epoll instance keyed by caller-chosen u64 tokens.
#[derive(Debug)]
pub struct Poller {
    fd: OwnedFd,
}

fn events_of(interest: Interest) -> u32 {
    let mut ev = 0u32;
    if interest.readable {
        ev |= libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32;
    }
    if interest.writable {
        ev |= libc::EPOLLOUT as u32;
    }
    ev
}

impl Poller {
    /// Creates a close-on-exec epoll fd.
    pub fn new() -> Result<Self, PollError> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(PollError::Create(std::io::Error::last_os_error()));
        }
        // SAFETY: fresh descriptor we own.
        Ok(Poller {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn ctl(
        &self,
        op: libc::c_int,
        fd: RawFd,
        token: u64,
        interest: Interest,
    ) -> Result<(), PollError> {
        let mut ev = libc::epoll_event {
            events: events_of(interest),
            u64: token,
        };
        // SAFETY: valid event pointer (ignored for DEL on modern kernels).
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if rc == 0 {
            Ok(())
        } else {
            Err(PollError::Ctl {
                fd,
                source: std::io::Error::last_os_error(),
            })
        }
    }

    /// Starts watching `fd`, reporting it as `token`.
    pub fn add(&self, fd: RawFd, token: u64, interest: Interest) -> Result<(), PollError> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes the interest (e.g. add writable while output is pending).
    pub fn modify(&self, fd: RawFd, token: u64, interest: Interest) -> Result<(), PollError> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Stops watching `fd`; call before closing it.
    pub fn delete(&self, fd: RawFd) -> Result<(), PollError> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, Interest::READABLE)
    }

    /// Waits for readiness; `None` waits until something happens. EINTR
    /// returns an empty list rather than an error.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Vec<Ready>, PollError> {
        const MAX: usize = 64;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX];
        let ms: libc::c_int = match timeout {
            None => -1,
            // Round up so a 0.5 ms deadline does not spin with timeout 0.
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        };
        // SAFETY: the buffer holds MAX events.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                MAX as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                return Ok(Vec::new());
            }
            return Err(PollError::Wait(err));
        }
        let count = usize::try_from(n).unwrap_or(0);
        Ok(events
            .iter()
            .take(count)
            .map(|ev| {
                let bits = ev.events;
                Ready {
                    token: ev.u64,
                    readable: bits & (libc::EPOLLIN as u32) != 0,
                    writable: bits & (libc::EPOLLOUT as u32) != 0,
                    hangup: bits
                        & (libc::EPOLLHUP as u32 | libc::EPOLLERR as u32 | libc::EPOLLRDHUP as u32)
                        != 0,
                }
            })
            .collect())
    }
}

impl AsRawFd for Poller {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
