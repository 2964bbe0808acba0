//! One monotonic timerfd: the event loop arms it at the manager's next
//! deadline, so vigil never wakes up unless something is due.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Errors from the timerfd.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    #[error("creating timerfd: {0}")]
    Create(std::io::Error),
    #[error("setting timerfd: {0}")]
    Set(std::io::Error),
}

/// A non-blocking, close-on-exec CLOCK_MONOTONIC timerfd.
#[derive(Debug)]
pub struct Timer {
    fd: OwnedFd,
}

/// Time since boot on CLOCK_MONOTONIC: the clock every deadline uses.
pub fn monotonic_now() -> Duration {
    clock(libc::CLOCK_MONOTONIC)
}

/// CLOCK_BOOTTIME now: time since the kernel started, suspend included
/// (read once at vigil's start: the kernel's part of the boot).
pub fn boottime_now() -> Duration {
    clock(libc::CLOCK_BOOTTIME)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; both clocks exist on every Linux vigil supports.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn to_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    }
}

impl Timer {
    /// Creates a disarmed timer.
    pub fn new() -> Result<Self, TimerError> {
        // SAFETY: plain syscall.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(TimerError::Create(std::io::Error::last_os_error()));
        }
        // SAFETY: fresh descriptor we own.
        Ok(Timer {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn set(&self, value: Duration, flags: libc::c_int) -> Result<(), TimerError> {
        let spec = libc::itimerspec {
            it_interval: to_timespec(Duration::ZERO),
            it_value: to_timespec(value),
        };
        // SAFETY: valid pointers; old value not requested.
        let rc = unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), flags, &spec, std::ptr::null_mut())
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(TimerError::Set(std::io::Error::last_os_error()))
        }
    }

    /// Fires once at the absolute monotonic time `at`; a time in the past
    /// fires immediately (a zero value would disarm, so it is bumped to 1ns).
    pub fn arm_at(&self, at: Duration) -> Result<(), TimerError> {
        let at = if at.is_zero() {
            Duration::from_nanos(1)
        } else {
            at
        };
        self.set(at, libc::TFD_TIMER_ABSTIME)
    }

    /// Stops the timer; a pending expiration is still readable until drained.
    pub fn disarm(&self) -> Result<(), TimerError> {
        self.set(Duration::ZERO, 0)
    }

    /// Consumes pending expirations so the fd stops being readable; returns
    /// how many expirations there were (0 if none).
    pub fn drain(&self) -> u64 {
        let mut count: u64 = 0;
        // SAFETY: reading 8 bytes into a u64.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut count as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if n == 8 {
            count
        } else {
            0
        }
    }
}

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
