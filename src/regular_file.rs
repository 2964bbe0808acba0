//! Reading a file vigil is pointed at (a unit file, a pid file, an
//! environment file) without ever blocking on it: a FIFO or a device in its
//! place would stall PID 1's event loop on open or read, and /dev/zero would
//! grow a read until memory runs out. The file is opened non-blocking, the
//! open descriptor (not the path, which can change in between) is checked to
//! be a regular file, and at most `max_bytes` are read.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Opening, inspecting or reading failed.
    Io(io::Error),
    /// A FIFO, socket, device or directory.
    NotRegular,
    /// Larger than the limit given.
    TooLarge { limit: u64 },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular => write!(f, "not a regular file"),
            ReadError::TooLarge { limit } => write!(f, "larger than {limit} bytes"),
        }
    }
}

impl ReadError {
    /// Whether the file does not exist (optional files may be missing).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// The contents of the regular file at `path` and its metadata (taken from
/// the open descriptor). With `follow_symlinks` false, a symlink as the last
/// component is refused (ELOOP).
pub fn read_regular(
    path: &Path,
    max_bytes: u64,
    follow_symlinks: bool,
) -> Result<(Vec<u8>, Metadata), ReadError> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow_symlinks {
        flags |= libc::O_NOFOLLOW;
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > max_bytes {
        return Err(ReadError::TooLarge { limit: max_bytes });
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge { limit: max_bytes });
    }
    Ok((bytes, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_refuses_fifos_devices_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "hello").unwrap();
        let (bytes, meta) = read_regular(&file, 5, true).unwrap();
        assert_eq!(bytes, b"hello");
        assert!(meta.is_file());
        assert!(matches!(
            read_regular(&file, 4, true),
            Err(ReadError::TooLarge { limit: 4 })
        ));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Would block forever on a plain open; here it is refused at once.
        assert!(matches!(
            read_regular(&fifo, 64, true),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 64, true),
            Err(ReadError::NotRegular)
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_regular(&link, 64, true).is_ok());
        assert!(matches!(
            read_regular(&link, 64, false),
            Err(ReadError::Io(_))
        ));
        assert!(read_regular(&dir.path().join("nope"), 64, true)
            .unwrap_err()
            .is_not_found());
    }
}
