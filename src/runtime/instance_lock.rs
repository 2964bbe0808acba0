//! One vigil per control socket. Before it touches anything (sockets,
//! services), vigil takes an exclusive lock on `SOCKET.lock` beside its
//! control socket and writes its pid there; a second vigil pointed at the
//! same socket finds the lock taken, names the running one and exits,
//! instead of starting every service again and deleting the first one's
//! notify socket on its way out.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another vigil{} is already running on {socket} (lock {lock}); not starting a second one", .holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held {
        socket: PathBuf,
        lock: PathBuf,
        holder: Option<i32>,
    },
    #[error("locking {lock}: {source}")]
    Io {
        lock: PathBuf,
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when vigil exits or execs).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Where the lock of a control socket lives.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

impl InstanceLock {
    /// The lock a re-exec'd vigil inherited (the descriptor's open file
    /// description holds the flock across execve).
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> InstanceLock {
        InstanceLock {
            _file: File::from(fd),
        }
    }

    /// The descriptor that holds the lock (kept across a re-exec).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self._file.as_raw_fd()
    }

    /// Takes the lock for `socket` (creating its directory if needed).
    pub fn acquire(socket: &Path) -> Result<InstanceLock, LockError> {
        let lock = lock_path(socket);
        let io = |source| LockError::Io {
            lock: lock.clone(),
            source,
        };
        if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&lock)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder: Option<i32> = text.trim().parse().ok();
                if holder.is_some_and(|p| u32::try_from(p).ok() == Some(std::process::id())) {
                    // This very process holds it, through a descriptor
                    // inherited across a re-exec whose state was lost.
                    return Ok(InstanceLock { _file: file });
                }
                return Err(LockError::Held {
                    socket: socket.to_path_buf(),
                    lock,
                    holder,
                });
            }
            return Err(io(err));
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock { _file: file })
    }
}
