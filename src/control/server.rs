//! The control socket server: accepts vigilctl connections, authorizes them
//! by kernel-checked peer credentials, frames and parses request lines, and
//! buffers replies, all without ever blocking the event loop.
//!
//! The event loop owns the epoll set. The server tells it what to watch
//! through `take_fd_changes` (apply them after every call), and it reports
//! its only timeout through `next_deadline`/`expire`: a deadline exists only
//! while some client has a partial request line pending (slow loris).

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt};

use crate::control::protocol::{
    Reply, Request, RequestEnvelope, MAX_REQUEST_BYTES, PROTOCOL_VERSION,
};
use crate::manager::ClientId;
use crate::runtime::poller::Interest;

/// A partial request line older than this closes the connection.
pub const PARTIAL_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Reply bytes a client may leave unread before it is dropped.
pub const MAX_PENDING_OUTPUT: usize = 1024 * 1024;
/// Unprivileged connections beyond this are told so and closed at once
/// (privileged peers have as many slots again of their own).
pub const MAX_CLIENTS: usize = 128;
/// While this many requests of one client await replies, vigil stops reading
/// from it (backpressure instead of unbounded queues).
pub const MAX_PIPELINED: usize = 64;
/// Bytes read from one client per readiness event, for fairness.
const READ_CHUNK: usize = 64 * 1024;
/// The ids handed to the manager are `connection << SEQ_BITS | sequence`, so
/// that replies finishing out of order still go out in request order.
const SEQ_BITS: u32 = 16;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// Errors from setting up the control socket.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("creating directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} exists and is not a socket; refusing to remove it")]
    NotASocket { path: PathBuf },
    #[error("{path} is in use by a running process (another vigil?)")]
    InUse { path: PathBuf },
    #[error("removing stale socket {path}: {source}")]
    RemoveStale {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("binding control socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuring control socket {path}: {source}")]
    Configure {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Who is on the other end, as the kernel saw it at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// An authorized, parsed request to hand to the manager as `Event::Request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Names the connection and this request's place in its order; answer
    /// with `send(client, ...)` (replies go out in request order).
    pub client: ClientId,
    pub request: Request,
}

/// What the event loop must change in its epoll set. Token choice is the
/// loop's; `client` identifies the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdChange {
    /// A new connection: add `fd` with `interest`.
    Add {
        client: ClientId,
        fd: RawFd,
        interest: Interest,
    },
    /// Change the interest of an existing connection.
    Modify {
        client: ClientId,
        fd: RawFd,
        interest: Interest,
    },
    /// The connection is closed already (epoll dropped the fd with it);
    /// forget its token.
    Remove { client: ClientId },
}

#[derive(Debug)]
struct Client {
    stream: UnixStream,
    peer: PeerCred,
    privileged: bool,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// When the current partial line started (monotonic).
    partial_since: Option<Duration>,
    /// Requests handed out and not yet answered through `send`.
    pending: usize,
    /// Sequence number of the next request line.
    next_seq: u64,
    /// One entry per request line in arrival order: its reply once known.
    /// Replies leave for `outbuf` only from the front, keeping the order.
    slots: VecDeque<(u64, Option<Vec<u8>>)>,
    /// Peer closed its write side: no more requests.
    read_closed: bool,
    /// Protocol violation: flush what is queued, then close.
    closing: bool,
    interest: Interest,
}

impl Client {
    fn desired_interest(&self) -> Interest {
        Interest {
            readable: !self.read_closed
                && !self.closing
                && self.pending < MAX_PIPELINED
                && self.slots.len() < MAX_PIPELINED,
            writable: !self.outbuf.is_empty(),
        }
    }

    fn finished(&self) -> bool {
        (self.read_closed || self.closing) && self.pending == 0 && self.outbuf.is_empty()
    }
}

/// The listening control socket and its connections.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    admin_gid: Option<u32>,
    clients: BTreeMap<ClientId, Client>,
    next_id: ClientId,
    changes: Vec<FdChange>,
}

fn encode(reply: &Reply) -> Vec<u8> {
    let mut line = serde_json::to_vec(reply).unwrap_or_else(|e| {
        format!(
            "{{\"version\":{PROTOCOL_VERSION},\"ok\":false,\"error\":\"encoding reply: {}\"}}",
            e.to_string().replace(['"', '\\'], "'")
        )
        .into_bytes()
    });
    line.push(b'\n');
    line
}

/// The verb of a request, for permission messages.
pub fn verb(request: &Request) -> &'static str {
    match request {
        Request::List => "list",
        Request::Status { .. } => "status",
        Request::Start { .. } => "start",
        Request::Stop { .. } => "stop",
        Request::Restart { .. } => "restart",
        Request::Reload => "reload",
        Request::Check { .. } => "check",
        Request::Poweroff { .. } => "poweroff",
        Request::Reboot { .. } => "reboot",
        Request::Halt { .. } => "halt",
    }
}

/// Parses one request line; the error text is what the client sees.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("invalid request: not JSON: {e}"))?;
    let Some(object) = value.as_object() else {
        return Err("invalid request: expected a JSON object".to_string());
    };
    match object.get("version") {
        None => return Err("invalid request: missing \"version\"".to_string()),
        Some(v) => match v.as_u64() {
            Some(n) if n == u64::from(PROTOCOL_VERSION) => {}
            Some(n) => return Err(format!(
                "unsupported protocol version {n} (this vigil speaks version {PROTOCOL_VERSION})"
            )),
            None => {
                return Err(format!(
                    "invalid request: \"version\" must be a number, got {v}"
                ))
            }
        },
    }
    if !object.contains_key("verb") {
        return Err("invalid request: missing \"verb\"".to_string());
    }
    serde_json::from_value::<RequestEnvelope>(value)
        .map(|env| env.request)
        .map_err(|e| format!("invalid request: {e}"))
}

/// Supplementary groups of a live process from /proc/PID/status.
fn proc_groups(pid: i32) -> Option<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Groups:"))?;
    Some(
        line.trim_start_matches("Groups:")
            .split_whitespace()
            .filter_map(|g| g.parse().ok())
            .collect(),
    )
}

/// Groups of a user by name lookup (when /proc is unavailable).
fn user_groups(uid: u32, gid: u32) -> Vec<u32> {
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let Ok(name) = std::ffi::CString::new(user.name) else {
        return Vec::new();
    };
    nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(gid))
        .map(|v| v.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default()
}

/// Root, or a member of the admin group, may do everything.
fn is_privileged(peer: &PeerCred, admin_gid: Option<u32>) -> bool {
    if peer.uid == 0 {
        return true;
    }
    let Some(admin) = admin_gid else {
        return false;
    };
    if peer.gid == admin {
        return true;
    }
    let groups = proc_groups(peer.pid).unwrap_or_else(|| user_groups(peer.uid, peer.gid));
    groups.contains(&admin)
}

fn remove_stale(path: &Path) -> Result<(), ServerError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ServerError::RemoveStale {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ServerError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    // A connect that succeeds means someone is serving it: do not steal it.
    if UnixStream::connect(path).is_ok() {
        return Err(ServerError::InUse {
            path: path.to_path_buf(),
        });
    }
    std::fs::remove_file(path).map_err(|source| ServerError::RemoveStale {
        path: path.to_path_buf(),
        source,
    })
}

impl ControlServer {
    /// Creates the socket at `path` (mode 0666: any local user may connect;
    /// authorization is per request by peer credentials). Members of
    /// `admin_gid` get the same rights as root.
    pub fn bind(path: &Path, admin_gid: Option<u32>) -> Result<Self, ServerError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(|source| ServerError::CreateDir {
                        path: parent.to_path_buf(),
                        source,
                    })?;
            }
        }
        remove_stale(path)?;
        let listener = UnixListener::bind(path).map_err(|source| ServerError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        let configure = |source| ServerError::Configure {
            path: path.to_path_buf(),
            source,
        };
        listener.set_nonblocking(true).map_err(configure)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
            .map_err(configure)?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
            admin_gid,
            clients: BTreeMap::new(),
            next_id: 1,
            changes: Vec::new(),
        })
    }

    /// Register this for readability; call `accept` when it fires.
    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// The socket path (removed again by `remove_socket` at shutdown).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of open connections.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// The kernel-checked credentials of a connection.
    pub fn peer(&self, client: ClientId) -> Option<PeerCred> {
        self.clients.get(&client).map(|c| c.peer)
    }

    /// Epoll changes accumulated since the last call; apply them in order.
    pub fn take_fd_changes(&mut self) -> Vec<FdChange> {
        std::mem::take(&mut self.changes)
    }

    /// Accepts every pending connection; returns the new client ids (their
    /// `FdChange::Add` entries are queued).
    pub fn accept(&mut self) -> Vec<ClientId> {
        let mut accepted = Vec::new();
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // WouldBlock ends the batch; other errors (EMFILE, ...) too:
                // the listener stays readable and we retry next round.
                Err(_) => break,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let Ok(cred) = getsockopt(&stream, sockopt::PeerCredentials) else {
                continue;
            };
            let peer = PeerCred {
                pid: cred.pid(),
                uid: cred.uid(),
                gid: cred.gid(),
            };
            let privileged = is_privileged(&peer, self.admin_gid);
            // Unprivileged peers share MAX_CLIENTS slots; root and the admin
            // group get as many again, so idle connections of an ordinary
            // user can never lock the administrator out.
            let unprivileged = self.clients.values().filter(|c| !c.privileged).count();
            let full = if privileged {
                self.clients.len() >= 2 * MAX_CLIENTS
            } else {
                unprivileged >= MAX_CLIENTS
            };
            if full {
                let line = encode(&Reply::error("too many connections; try again later"));
                // Best effort: a fresh socket buffer takes a short line.
                // SAFETY: non-blocking send on a valid socket.
                unsafe {
                    libc::send(
                        stream.as_raw_fd(),
                        line.as_ptr().cast(),
                        line.len(),
                        libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                    )
                };
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let client = Client {
                stream,
                peer,
                privileged,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                partial_since: None,
                pending: 0,
                next_seq: 0,
                slots: VecDeque::new(),
                read_closed: false,
                closing: false,
                interest: Interest::READABLE,
            };
            self.changes.push(FdChange::Add {
                client: id,
                fd: client.stream.as_raw_fd(),
                interest: client.interest,
            });
            self.clients.insert(id, client);
            accepted.push(id);
        }
        accepted
    }

    /// Reads what the client sent (call on readable or hangup) and returns
    /// the authorized requests; errors are answered by the server itself.
    pub fn on_readable(&mut self, id: ClientId, now: Duration) -> Vec<Incoming> {
        let mut out = Vec::new();
        let admin_gid = self.admin_gid;
        let Some(client) = self.clients.get_mut(&id) else {
            return out;
        };
        if client.read_closed || client.closing {
            // Readable interest is off, so epoll woke us for a full hangup:
            // nobody is left to read replies.
            self.close(id);
            return out;
        }
        let mut buf = [0u8; 8192];
        let mut total = 0usize;
        let mut dead = false;
        while total < READ_CHUNK {
            match client.stream.read(&mut buf) {
                Ok(0) => {
                    client.read_closed = true;
                    break;
                }
                Ok(n) => {
                    total += n;
                    client.inbuf.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                    process_lines(id, client, admin_gid, now, &mut out);
                    if client.closing {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    dead = true;
                    break;
                }
            }
        }
        if dead {
            self.close(id);
            return out;
        }
        if client.read_closed && !client.inbuf.is_empty() && !client.closing {
            client.inbuf.clear();
            client.partial_since = None;
            client.closing = true;
            queue(
                client,
                &Reply::error("incomplete request: connection closed before the end of the line"),
            );
        }
        self.flush_and_update(id);
        out
    }

    /// Queues a reply line and writes as much as the socket takes now.
    /// Answers one request handed out by `on_readable`. Unknown (already
    /// closed) clients are ignored.
    pub fn send(&mut self, tagged: ClientId, reply: &Reply) {
        let id = tagged >> SEQ_BITS;
        let seq = tagged & SEQ_MASK;
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        client.pending = client.pending.saturating_sub(1);
        match client
            .slots
            .iter_mut()
            .find(|(s, r)| *s & SEQ_MASK == seq && r.is_none())
        {
            Some(slot) => slot.1 = Some(encode(reply)),
            None => client.slots.push_back((seq, Some(encode(reply)))),
        }
        release(client);
        self.flush_and_update(id);
    }

    /// Continues writing pending replies.
    pub fn on_writable(&mut self, id: ClientId) {
        self.flush_and_update(id);
    }

    /// Closes a connection (its fd leaves epoll with it).
    pub fn close(&mut self, id: ClientId) {
        if self.clients.remove(&id).is_some() {
            self.changes.push(FdChange::Remove { client: id });
        }
    }

    /// The earliest time a stalled partial request must be cut off; `None`
    /// when no client is mid-line, so an idle vigil never wakes up.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.clients
            .values()
            .filter_map(|c| c.partial_since)
            .min()
            .map(|t| t + PARTIAL_REQUEST_TIMEOUT)
    }

    /// Closes every connection whose partial line stalled past the timeout.
    pub fn expire(&mut self, now: Duration) {
        let stale: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.partial_since
                    .is_some_and(|t| t + PARTIAL_REQUEST_TIMEOUT <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(client) = self.clients.get_mut(&id) {
                let line = encode(&Reply::error("request timed out: incomplete line"));
                // Best effort only: the peer is misbehaving already.
                // SAFETY: non-blocking send on a valid socket.
                unsafe {
                    libc::send(
                        client.stream.as_raw_fd(),
                        line.as_ptr().cast(),
                        line.len(),
                        libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                    )
                };
            }
            self.close(id);
        }
    }

    /// Closes all connections and removes the socket file (at shutdown or
    /// exit, so a later vigil does not find a stale socket).
    pub fn shutdown(&mut self) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        let _ = std::fs::remove_file(&self.path);
    }

    fn flush_and_update(&mut self, id: ClientId) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let mut dead = false;
        let mut written = 0usize;
        while written < client.outbuf.len() {
            let rest = client.outbuf.get(written..).unwrap_or(&[]);
            // SAFETY: non-blocking send from a valid buffer; MSG_NOSIGNAL
            // keeps a vanished peer from raising SIGPIPE.
            let n = unsafe {
                libc::send(
                    client.stream.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                written += n as usize;
                continue;
            }
            let err = std::io::Error::last_os_error();
            match err.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => break,
                _ => {
                    dead = true;
                    break;
                }
            }
        }
        client.outbuf.drain(..written);
        if dead || client.outbuf.len() > MAX_PENDING_OUTPUT || client.finished() {
            self.close(id);
            return;
        }
        let want = client.desired_interest();
        if want != client.interest {
            client.interest = want;
            self.changes.push(FdChange::Modify {
                client: id,
                fd: client.stream.as_raw_fd(),
                interest: want,
            });
        }
    }
}

/// Queues a reply that needs no manager (errors, denials) in request order.
fn queue(client: &mut Client, reply: &Reply) {
    let seq = client.next_seq;
    client.next_seq = client.next_seq.wrapping_add(1);
    client.slots.push_back((seq, Some(encode(reply))));
    release(client);
}

/// Moves the answered replies at the front of the order into `outbuf`.
fn release(client: &mut Client) {
    while let Some((_, Some(_))) = client.slots.front() {
        if let Some((_, Some(line))) = client.slots.pop_front() {
            client.outbuf.extend_from_slice(&line);
        }
    }
}

/// Splits complete lines off the input buffer and handles each one.
fn process_lines(
    id: ClientId,
    client: &mut Client,
    admin_gid: Option<u32>,
    now: Duration,
    out: &mut Vec<Incoming>,
) {
    let mut start = 0usize;
    while let Some(pos) = client
        .inbuf
        .get(start..)
        .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
    {
        let end = start + pos;
        let line = client.inbuf.get(start..end).unwrap_or(&[]);
        start = end + 1;
        if line.len() > MAX_REQUEST_BYTES {
            oversized(client, now);
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_request(line) {
            Err(message) => {
                let reply = Reply::error(message);
                queue(client, &reply);
            }
            Ok(request) if !client.privileged && !request.is_read_only() => {
                let who = match admin_gid {
                    Some(g) => format!("root or members of group {g}"),
                    None => "root".to_string(),
                };
                let reply = Reply::error(format!(
                    "permission denied: only {who} may {}; uid {} may only list and status",
                    verb(&request),
                    client.peer.uid
                ));
                queue(client, &reply);
            }
            Ok(request) => {
                let seq = client.next_seq;
                client.next_seq = client.next_seq.wrapping_add(1);
                client.slots.push_back((seq, None));
                client.pending += 1;
                out.push(Incoming {
                    client: (id << SEQ_BITS) | (seq & SEQ_MASK),
                    request,
                });
            }
        }
    }
    client.inbuf.drain(..start.min(client.inbuf.len()));
    if client.inbuf.len() > MAX_REQUEST_BYTES {
        oversized(client, now);
        return;
    }
    if client.inbuf.is_empty() {
        client.partial_since = None;
    } else if client.partial_since.is_none() {
        client.partial_since = Some(now);
    }
}

/// Answers an over-long line and marks the connection for closing; the
/// deadline stays armed so a peer that never reads the error is cut off too.
fn oversized(client: &mut Client, now: Duration) {
    client.inbuf.clear();
    client.closing = true;
    client.partial_since.get_or_insert(now);
    let reply = Reply::error(format!(
        "request too long (limit {MAX_REQUEST_BYTES} bytes); closing connection"
    ));
    queue(client, &reply);
}
