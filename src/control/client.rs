//! The client side of the control socket, used by `vigilctl`: one connection
//! per request, one request line out, one reply line back, with timeouts and
//! a size cap so that a wedged or hostile peer cannot hang or flood the caller.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

use super::protocol::{Reply, Request, RequestEnvelope, DEFAULT_SOCKET, PROTOCOL_VERSION};

/// Largest reply line accepted; `list`/`status` of thousands of units with
/// their exit histories stays far below it.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// Environment variable naming the socket when `--socket` is not given.
pub const SOCKET_ENV: &str = "VIGIL_SOCKET";

/// Why a request got no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the path: the usual "vigil is down" case.
    #[error("vigil is not running (no control socket at {})", .path.display())]
    NotRunning { path: PathBuf },
    /// The socket exists but this user may not connect to it.
    #[error("permission denied connecting to {}", .path.display())]
    SocketPermission { path: PathBuf },
    #[error("timed out {stage} {}", .path.display())]
    Timeout { stage: &'static str, path: PathBuf },
    #[error("{stage} {}: {source}", .path.display())]
    Io {
        stage: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// vigil closed the connection before a full line: expected after a
    /// power command, an error otherwise.
    #[error("vigil closed the connection without replying")]
    NoReply,
    #[error("reply from vigil is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("malformed reply from vigil: {source}")]
    Malformed {
        #[source]
        source: serde_json::Error,
    },
    #[error("vigil speaks control protocol version {theirs}, vigilctl speaks {PROTOCOL_VERSION}")]
    Version { theirs: u32 },
    #[error("cannot encode request: {source}")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
}

/// The socket path from `--socket`, else `$VIGIL_SOCKET`, else the default.
pub fn socket_path(flag: Option<PathBuf>, env: Option<std::ffi::OsString>) -> PathBuf {
    flag.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Whether an error reply means the server refused us for our credentials
/// (vigil's authorization says so in its error text).
pub fn is_permission_denied(reply: &Reply) -> bool {
    !reply.ok
        && reply
            .error
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().contains("permission denied"))
}

/// A connection recipe: where vigil listens and how long to wait for it.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    connect_timeout: Duration,
    io_timeout: Duration,
    max_reply: usize,
}

impl Client {
    /// Defaults: 5 s to connect, 30 s for the reply.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Client {
            path: path.into(),
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(30),
            max_reply: MAX_REPLY_BYTES,
        }
    }

    /// How long to wait for the reply (blocking jobs may take minutes).
    pub fn with_io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// Caps the reply size (tests use a small cap).
    pub fn with_max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// Sends one request and returns vigil's reply, `ok == false` included:
    /// the caller decides what an error reply means.
    pub fn request(&self, request: &Request) -> Result<Reply, ClientError> {
        let mut stream = self.connect()?;
        let envelope = RequestEnvelope {
            version: PROTOCOL_VERSION,
            request: request.clone(),
        };
        let mut line =
            serde_json::to_vec(&envelope).map_err(|source| ClientError::Encode { source })?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .map_err(|e| self.io_error("sending request to", e))?;
        let mut raw = Vec::new();
        let cap = u64::try_from(self.max_reply).unwrap_or(u64::MAX);
        let mut reader = BufReader::new(&stream).take(cap.saturating_add(1));
        let n = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| self.io_error("reading reply from", e))?;
        if raw.last() != Some(&b'\n') {
            if n > self.max_reply {
                return Err(ClientError::TooLarge {
                    limit: self.max_reply,
                });
            }
            return Err(ClientError::NoReply);
        }
        let reply: Reply =
            serde_json::from_slice(&raw).map_err(|source| ClientError::Malformed { source })?;
        if reply.version != PROTOCOL_VERSION {
            return Err(ClientError::Version {
                theirs: reply.version,
            });
        }
        Ok(reply)
    }

    /// Non-blocking connect retried until the deadline: a full listen
    /// backlog (EAGAIN) means vigil is busy, not gone.
    fn connect(&self) -> Result<UnixStream, ClientError> {
        let addr =
            UnixAddr::new(&self.path).map_err(|e| self.io_error("connecting to", e.into()))?;
        let deadline = Instant::now() + self.connect_timeout;
        loop {
            let fd = socket::socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                None,
            )
            .map_err(|e| self.io_error("creating a socket for", e.into()))?;
            match socket::connect(fd.as_raw_fd(), &addr) {
                Ok(()) => {
                    let stream = UnixStream::from(fd);
                    self.setup(&stream)?;
                    return Ok(stream);
                }
                Err(Errno::ENOENT | Errno::ECONNREFUSED | Errno::ENOTDIR) => {
                    return Err(ClientError::NotRunning {
                        path: self.path.clone(),
                    })
                }
                Err(Errno::EACCES | Errno::EPERM) => {
                    return Err(ClientError::SocketPermission {
                        path: self.path.clone(),
                    })
                }
                Err(Errno::EAGAIN | Errno::EINTR) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(Errno::EAGAIN) => {
                    return Err(ClientError::Timeout {
                        stage: "connecting to",
                        path: self.path.clone(),
                    })
                }
                Err(e) => return Err(self.io_error("connecting to", e.into())),
            }
        }
    }

    fn setup(&self, stream: &UnixStream) -> Result<(), ClientError> {
        let timeout = Some(self.io_timeout.max(Duration::from_millis(1)));
        stream
            .set_nonblocking(false)
            .and_then(|()| stream.set_read_timeout(timeout))
            .and_then(|()| stream.set_write_timeout(timeout))
            .map_err(|e| self.io_error("configuring connection to", e))
    }

    fn io_error(&self, stage: &'static str, source: io::Error) -> ClientError {
        let path = self.path.clone();
        match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                ClientError::Timeout { stage, path }
            }
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ClientError::NoReply,
            _ => ClientError::Io {
                stage,
                path,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::ReplyBody;
    use std::os::unix::net::UnixListener;
    use std::thread;

    fn serve_once(
        reply: &'static [u8],
    ) -> (tempfile::TempDir, PathBuf, thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            (&stream).write_all(reply).unwrap();
            line
        });
        (dir, path, handle)
    }

    #[test]
    fn socket_path_precedence() {
        assert_eq!(
            socket_path(Some("/a".into()), Some("/b".into())),
            PathBuf::from("/a")
        );
        assert_eq!(socket_path(None, Some("/b".into())), PathBuf::from("/b"));
        assert_eq!(
            socket_path(None, Some("".into())),
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(socket_path(None, None), PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn round_trip() {
        let (_dir, path, h) =
            serve_once(b"{\"version\":1,\"ok\":true,\"body\":{\"kind\":\"done\"}}\n");
        let reply = Client::new(&path).request(&Request::Reload).unwrap();
        assert_eq!(reply, Reply::ok(ReplyBody::Done));
        assert_eq!(h.join().unwrap(), "{\"version\":1,\"verb\":\"reload\"}\n");
    }

    #[test]
    fn missing_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let err = Client::new(&path).request(&Request::List).unwrap_err();
        assert!(matches!(err, ClientError::NotRunning { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "vigil is not running (no control socket at {})",
                path.display()
            )
        );
    }

    #[test]
    fn stale_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control");
        // A socket file nobody listens on. Bound but never listening: a
        // listener that is bound and dropped could still be listening in a
        // child that another test thread forked in between (its fd copy
        // lives until that child execs).
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        socket::bind(fd.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        drop(fd);
        let err = Client::new(&path).request(&Request::List).unwrap_err();
        assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    }

    #[test]
    fn eof_without_reply() {
        let (_dir, path, _h) = serve_once(b"{\"version\":1");
        let err = Client::new(&path).request(&Request::List).unwrap_err();
        assert!(matches!(err, ClientError::NoReply), "{err:?}");
    }

    #[test]
    fn oversized_reply_is_refused() {
        let (_dir, path, _h) =
            serve_once(b"{\"version\":1,\"ok\":true,\"body\":{\"kind\":\"done\"}}\n");
        let err = Client::new(&path)
            .with_max_reply(10)
            .request(&Request::List)
            .unwrap_err();
        assert!(
            matches!(err, ClientError::TooLarge { limit: 10 }),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_and_wrong_version() {
        let (_dir, path, _h) = serve_once(b"hello\n");
        let err = Client::new(&path).request(&Request::List).unwrap_err();
        assert!(matches!(err, ClientError::Malformed { .. }), "{err:?}");
        let (_dir, path, _h) = serve_once(b"{\"version\":2,\"ok\":true}\n");
        let err = Client::new(&path).request(&Request::List).unwrap_err();
        assert!(matches!(err, ClientError::Version { theirs: 2 }), "{err:?}");
    }

    #[test]
    fn silent_server_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control");
        let _listener = UnixListener::bind(&path).unwrap();
        let err = Client::new(&path)
            .with_io_timeout(Duration::from_millis(200))
            .request(&Request::List)
            .unwrap_err();
        assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    }

    #[test]
    fn permission_denied_detection() {
        assert!(is_permission_denied(&Reply::error(
            "permission denied: uid 1000 may only list and status"
        )));
        assert!(!is_permission_denied(&Reply::error("no such unit")));
        assert!(!is_permission_denied(&Reply::ok(ReplyBody::Done)));
    }
}
