//! The sd_notify socket: services (type = "notify") send `READY=1` and
//! friends as datagrams to $NOTIFY_SOCKET.
//!
//! Attribution: the kernel attaches the sender's credentials (SO_PASSCRED),
//! so the pid cannot be forged by unprivileged senders. But the sender is not
//! always the main process: Debian's `systemd-notify` (systemd 252), run as
//! root, sends SCM_CREDENTIALS naming its *parent* pid; run as non-root that
//! is refused and it falls back to its own pid, a short-lived helper. Every
//! service runs in its own session (spawn calls setsid), so we also resolve
//! the sender's session id at receive time: for a simple/notify service it
//! equals the main pid. The lead matches `pid`, then `session`, against
//! units' main pids. This is reliable with systemd-notify because it follows
//! READY=1 with `BARRIER=1` plus a pipe fd and waits (up to 5 s) for the
//! receiver to close that fd: `recv_all` closes received fds only after
//! resolving the session, so the helper is still alive at that point.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, UnixAddr};

use crate::manager::NotifyMessage;

/// Largest datagram we read; systemd uses the same bound for its notify socket.
pub const MAX_NOTIFY_BYTES: usize = 4096;

/// Datagrams read per loop turn at most.
const MAX_DATAGRAMS_PER_TURN: usize = 256;

/// Errors from setting up the notify socket.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("removing stale notify socket {path}: {source}")]
    RemoveStale {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("binding notify socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuring notify socket {path}: {source}")]
    Configure {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One received notification and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyReceived {
    /// The sender's pid from SCM_CREDENTIALS (kernel-checked); datagrams
    /// without credentials are dropped.
    pub pid: i32,
    /// The sender's session id read at receive time (None if it already
    /// exited and was reaped). Equals the service's main pid for services
    /// spawned by vigil, which each start a new session.
    pub session: Option<i32>,
    /// The sender's uid from SCM_CREDENTIALS; decides whether its MAINPID=
    /// may name a process (see `event_loop`).
    pub uid: Option<u32>,
    pub message: NotifyMessage,
}

/// The bound, non-blocking notify socket.
#[derive(Debug)]
pub struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds at `path` (replacing a stale socket file), with SO_PASSCRED and
    /// mode 0777 so services running as any user can send to it.
    pub fn bind(path: &Path) -> Result<Self, NotifyError> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(NotifyError::RemoveStale {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        let sock = UnixDatagram::bind(path).map_err(|source| NotifyError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        let configure = |source| NotifyError::Configure {
            path: path.to_path_buf(),
            source,
        };
        sock.set_nonblocking(true).map_err(configure)?;
        setsockopt(&sock, sockopt::PassCred, &true)
            .map_err(|e| configure(std::io::Error::from(e)))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
            .map_err(configure)?;
        Ok(NotifySocket {
            sock,
            path: path.to_path_buf(),
        })
    }

    /// The socket a re-exec'd vigil inherited from its previous image
    /// (bound at `path`, SO_PASSCRED set): datagrams sent during the exec
    /// wait in it.
    pub fn from_fd(fd: std::os::fd::OwnedFd, path: &Path) -> Self {
        let sock = UnixDatagram::from(fd);
        let _ = sock.set_nonblocking(true);
        NotifySocket {
            sock,
            path: path.to_path_buf(),
        }
    }

    /// Where services must send; goes into their NOTIFY_SOCKET.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Drains every queued datagram without blocking.
    pub fn recv_all(&self) -> Vec<NotifyReceived> {
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_NOTIFY_BYTES];
        // A bounded number per turn, so a flood of datagrams cannot keep
        // PID 1 from its signals and timers; the rest wait for the next turn
        // (the socket stays readable).
        for _ in 0..MAX_DATAGRAMS_PER_TURN {
            // Room for as many fds as the kernel passes in one message
            // (SCM_MAX_FD): with less, it installs some and truncates the
            // list, and those could not be closed.
            let mut cmsg = nix::cmsg_space!(libc::ucred, [RawFd; 253]);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut received_fds: Vec<RawFd> = Vec::new();
            let (len, cred_pid, cred_uid) = match recvmsg::<UnixAddr>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_TRUNC,
            ) {
                Ok(msg) => {
                    let mut pid = None;
                    let mut uid = None;
                    if let Ok(cmsgs) = msg.cmsgs() {
                        for c in cmsgs {
                            match c {
                                ControlMessageOwned::ScmCredentials(cred) => {
                                    pid = Some(cred.pid());
                                    uid = Some(cred.uid());
                                }
                                ControlMessageOwned::ScmRights(fds) => {
                                    received_fds.extend(fds);
                                }
                                _ => {}
                            }
                        }
                    }
                    (msg.bytes, pid, uid)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            };
            // Services may pass fds (BARRIER=1, FDSTORE=1); we keep none.
            // Closing releases a barrier waiter, so do it only after the
            // sender's session is known.
            let close_fds = |fds: Vec<RawFd>| {
                for fd in fds {
                    // SAFETY: the fd was just received and is ours alone.
                    unsafe { libc::close(fd) };
                }
            };
            // The sender is who the kernel says it is (SO_PASSCRED), never
            // what the message claims: without credentials it is dropped.
            let Some(pid) = cred_pid.filter(|p| *p > 0) else {
                close_fds(received_fds);
                continue;
            };
            let data = buf.get(..len.min(MAX_NOTIFY_BYTES)).unwrap_or(&[]);
            let message = parse_notify(data);
            // SAFETY: plain syscall; fails harmlessly if the pid is gone.
            let sid = unsafe { libc::getsid(pid) };
            let session = (sid > 0).then_some(sid);
            close_fds(received_fds);
            out.push(NotifyReceived {
                pid,
                session,
                uid: cred_uid,
                message,
            });
        }
        out
    }
}

impl AsRawFd for NotifySocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Parses one datagram: newline-separated KEY=VALUE assignments. Unknown keys
/// and malformed lines are ignored; invalid UTF-8 is replaced, never fatal.
pub fn parse_notify(data: &[u8]) -> NotifyMessage {
    let text = String::from_utf8_lossy(data);
    let mut msg = NotifyMessage::default();
    for line in text.split('\n') {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "READY" => msg.ready = value == "1",
            "STOPPING" => msg.stopping = value == "1",
            "RELOADING" => msg.reloading = value == "1",
            "STATUS" => {
                // Bounded anyway by the datagram size; strip control chars
                // so status output cannot be used to mess up terminals.
                let clean: String = value.chars().filter(|c| !c.is_control()).collect();
                msg.status = Some(clean);
            }
            "MAINPID" => {
                msg.main_pid = value.trim().parse::<i32>().ok().filter(|p| *p > 0);
            }
            _ => {}
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys() {
        let m = parse_notify(b"READY=1\nSTATUS=Serving 3 clients\nMAINPID=42\nFOO=bar\n");
        assert!(m.ready);
        assert!(!m.stopping);
        assert_eq!(m.status.as_deref(), Some("Serving 3 clients"));
        assert_eq!(m.main_pid, Some(42));
        let m = parse_notify(b"STOPPING=1\nRELOADING=1");
        assert!(m.stopping && m.reloading && !m.ready);
    }

    #[test]
    fn tolerates_garbage() {
        let m =
            parse_notify(b"\xff\xfe\x00READY\n=\nMAINPID=-4\nMAINPID=x\nREADY=0\nSTATUS=a\x1b[2Jb");
        assert!(!m.ready);
        assert_eq!(m.main_pid, None);
        assert_eq!(m.status.as_deref(), Some("a[2Jb"));
        assert_eq!(parse_notify(b""), NotifyMessage::default());
    }
}
