//! Descriptors that cross a re-exec: every descriptor vigil opens is
//! close-on-exec, so the ones the next image needs are marked to survive
//! just before the execve (and marked back if it fails), and the next image
//! takes them over by number.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Marks `fd` to survive (`true`) or not survive an execve. (FD_CLOEXEC
/// is the only descriptor flag there is, so it is set without reading it:
/// one syscall per descriptor, and a re-exec marks thousands.)
pub fn set_inherited(fd: RawFd, inherited: bool) -> std::io::Result<()> {
    let flags = if inherited { 0 } else { libc::FD_CLOEXEC };
    // SAFETY: fcntl on a descriptor number; a bad one fails with EBADF.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of a descriptor the previous image left open for this
/// one, marking it close-on-exec again; None when no such descriptor is
/// open (the state named a number that did not survive).
pub fn take_inherited(fd: RawFd) -> Option<OwnedFd> {
    if fd < 3 {
        return None;
    }
    set_inherited(fd, false).ok()?;
    // SAFETY: the descriptor is open (fcntl succeeded), was left to this
    // image by the previous one, and is taken over exactly once (the
    // state names each descriptor once).
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_flag_toggles_and_stdio_numbers_are_never_taken() {
        let file = std::fs::File::open("/dev/null").expect("open");
        let fd = file.as_raw_fd();
        set_inherited(fd, true).expect("clear");
        // SAFETY: reading flags of an open descriptor.
        assert_eq!(
            unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC,
            0
        );
        set_inherited(fd, false).expect("set");
        // SAFETY: as above.
        assert_ne!(
            unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC,
            0
        );
        assert!(take_inherited(-1).is_none());
        assert!(take_inherited(1).is_none());
    }
}
