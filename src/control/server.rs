//! The control socket server: accepts vigilctl connections, authorizes them
//! by kernel-checked peer credentials, frames and parses request lines, and
//! buffers replies, all without ever blocking the event loop.
//!
//! Two kinds of ids: a `ConnId` names a connection (the event loop's epoll
//! token space), while every request handed out gets its own `ClientId`
//! (the manager's reply address). Replies on one connection are written in
//! request order whatever order the manager answers in, because the
//! protocol has no request ids of its own; a client wanting concurrency
//! opens more connections.
//!
//! The event loop owns the epoll set. The server tells it what to watch
//! through `take_fd_changes` (apply them after every call), and it reports
//! its only timeout through `next_deadline`/`expire`: a deadline exists only
//! while some client has a partial request line pending (slow loris).
//!
//! Wiring (see tests/runtime_control.rs for a complete miniature loop):
//!
//! ```text
//! listener readable      -> server.accept(now)
//! conn readable|hangup   -> for inc in server.on_readable(conn, now):
//!                               Event::Request { client: inc.client, request: inc.request }
//! conn writable          -> server.on_writable(conn)
//! Action::Reply{client,r}-> server.send_encoded(client, encode(&r))
//! timer / wait timeout   -> min(manager deadline, server.next_deadline()); server.expire(now)
//! after each of these    -> apply server.take_fd_changes() to the Poller
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
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

/// The slot id of a reply the server makes itself (a refused or malformed
/// request): no manager reply is routed to it.
const SERVER_MADE: ClientId = ClientId(0);

/// A partial request line older than this closes the connection.
pub const PARTIAL_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Reply bytes a client may leave unread before it is dropped, beyond the
/// largest single reply it is being sent (one reply always goes out whole,
/// however large: a reload of a big broken directory, a long `list`).
pub const MAX_PENDING_OUTPUT: usize = 1024 * 1024;
/// Unprivileged connections beyond this are told so and closed at once
/// (privileged peers have as many slots again of their own).
pub const MAX_CLIENTS: usize = 128;
/// Unprivileged connections of one uid at most, so that one user's idle
/// connections cannot lock the other users out.
pub const MAX_CLIENTS_PER_UID: usize = 16;
/// An unprivileged connection with nothing in flight for this long is
/// closed (its slot goes back to the pool).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// While this many requests of one client await replies, vigil stops reading
/// from it (backpressure instead of unbounded queues).
pub const MAX_PIPELINED: usize = 64;
/// Bytes read from one client per readiness event, for fairness.
const READ_CHUNK: usize = 64 * 1024;

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

/// Identifies a connection; use it (or a mapping of it) as the epoll token.
/// Distinct from `ClientId` (one request's reply address) so the two can
/// never be confused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// An authorized, parsed request to hand to the manager as `Event::Request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Unique per request: pass it to `send` with the reply.
    pub client: ClientId,
    /// The connection it arrived on.
    pub conn: ConnId,
    pub request: Request,
}

/// What the event loop must change in its epoll set. Token choice is the
/// loop's; `client` identifies the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdChange {
    /// A new connection: add `fd` with `interest`.
    Add {
        client: ConnId,
        fd: RawFd,
        interest: Interest,
    },
    /// Change the interest of an existing connection.
    Modify {
        client: ConnId,
        fd: RawFd,
        interest: Interest,
    },
    /// The connection is closed already (epoll dropped the fd with it);
    /// forget its token.
    Remove { client: ConnId },
}

#[derive(Debug)]
struct Client {
    stream: UnixStream,
    peer: PeerCred,
    privileged: bool,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// The largest reply in `outbuf` (until it empties): the backlog limit
    /// starts above it.
    largest_reply: usize,
    /// When the current partial line started (monotonic).
    partial_since: Option<Duration>,
    /// When the connection last did something (accepted, sent a request,
    /// got a reply), for the idle timeout.
    last_activity: Duration,
    /// One slot per request line still to be answered, in arrival order:
    /// the request id (0 for server-made errors) and the encoded reply once
    /// known. Leading filled slots move to `outbuf`.
    slots: VecDeque<(ClientId, Option<Vec<u8>>)>,
    /// Peer closed its write side: no more requests.
    read_closed: bool,
    /// Protocol violation: flush what is queued, then close.
    closing: bool,
    interest: Interest,
}

impl Client {
    fn desired_interest(&self) -> Interest {
        Interest {
            readable: !self.read_closed && !self.closing && self.slots.len() < MAX_PIPELINED,
            writable: !self.outbuf.is_empty(),
        }
    }

    /// Nothing in flight: no request unanswered, no reply unsent, no
    /// partial line.
    fn idle(&self) -> bool {
        self.slots.is_empty() && self.outbuf.is_empty() && self.partial_since.is_none()
    }

    /// When an idle unprivileged connection is closed.
    fn idle_deadline(&self) -> Option<Duration> {
        (!self.privileged && self.idle()).then(|| self.last_activity.saturating_add(IDLE_TIMEOUT))
    }

    fn finished(&self) -> bool {
        (self.read_closed || self.closing) && self.slots.is_empty() && self.outbuf.is_empty()
    }

    /// Moves the answered prefix of `slots` into the output buffer.
    fn release_ready(&mut self) {
        while let Some((_, Some(_))) = self.slots.front() {
            if let Some((_, Some(bytes))) = self.slots.pop_front() {
                self.largest_reply = self.largest_reply.max(bytes.len());
                self.outbuf.extend_from_slice(&bytes);
            }
        }
    }
}

/// The listening control socket and its connections.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    admin_gid: Option<u32>,
    clients: BTreeMap<ConnId, Client>,
    next_id: ConnId,
    /// Outstanding request ids and the connection they belong to.
    requests: BTreeMap<ClientId, ConnId>,
    next_request: ClientId,
    changes: Vec<FdChange>,
    /// A descriptor held in reserve: when accept fails for want of
    /// descriptors, it is freed to accept and close the waiting connection.
    /// Otherwise the listener stays readable and the loop would spin.
    reserve_fd: Option<std::fs::File>,
}

/// Sends a refusal as the connection's only reply, best effort (a fresh
/// socket buffer takes a short line), never blocking.
fn refuse(stream: &UnixStream, why: &str) {
    let line = encode(&Reply::error(why));
    // SAFETY: non-blocking send on a valid socket.
    unsafe {
        libc::send(
            stream.as_raw_fd(),
            line.as_ptr().cast(),
            line.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
}

/// One reply as the line sent on the wire.
pub fn encode(reply: &Reply) -> Vec<u8> {
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
        Request::Poweroff { .. } => "poweroff",
        Request::Reboot { .. } => "reboot",
        Request::Halt { .. } => "halt",
        Request::Logs { .. } => "logs",
        Request::Analyze => "analyze",
        Request::DaemonReexec => "daemon-reexec",
        Request::Kill { .. } => "kill",
        Request::ResetFailed { .. } => "reset-failed",
        Request::ReloadUnits { .. } => "reload",
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
            Some(n) => {
                return Err(format!(
                "unsupported protocol version {n} (this vigil speaks version {PROTOCOL_VERSION})"
            ))
            }
            None => {
                return Err(format!(
                    "invalid request: \"version\" must be a number, got {v}"
                ))
            }
        },
    }
    match object.get("verb") {
        None => return Err("invalid request: missing \"verb\"".to_string()),
        // serde would take a number as the index of a variant.
        Some(v) if !v.is_string() => {
            return Err(format!(
                "invalid request: \"verb\" must be a string, got {v}"
            ))
        }
        Some(_) => {}
    }
    serde_json::from_value::<RequestEnvelope>(value)
        .map(|env| env.request)
        .map_err(|e| format!("invalid request: {e}"))
}

/// SO_PEERGROUPS (Linux 4.13): not exported by the libc crate for every
/// architecture, so spelled out here (asm-generic value unless noted).
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_PEERGROUPS: libc::c_int = 0x3d;
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_PEERGROUPS: libc::c_int = 59;

/// The peer's supplementary groups as the kernel recorded them at connect
/// time. Unlike /proc/PID/status this cannot be fooled by pid reuse.
fn peer_groups(fd: RawFd) -> Option<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..2 {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer holds `len` bytes; the kernel writes at most that.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let count = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(count);
            return Some(groups);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) || count > 65536 {
            return None;
        }
        // ERANGE reports the size needed; retry once with it.
        groups.resize(count, 0);
    }
    None
}

/// The groups of `uid` from /etc/passwd and /etc/group: the fallback when
/// the kernel does not report the peer's groups (SO_PEERGROUPS).
fn user_groups(uid: u32, gid: u32) -> Vec<u32> {
    match crate::accounts::lookup_user(&uid.to_string()) {
        Ok(Some(user)) => crate::accounts::lookup_groups_of(&user.name, gid).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Root, or a member of the admin group, may do everything. The groups are
/// the connecting process's (SO_PEERGROUPS), or on kernels without it the
/// uid's groups from the group database.
fn is_privileged(fd: RawFd, peer: &PeerCred, admin_gid: Option<u32>) -> bool {
    if peer.uid == 0 {
        return true;
    }
    let Some(admin) = admin_gid else {
        return false;
    };
    if peer.gid == admin {
        return true;
    }
    let groups = peer_groups(fd).unwrap_or_else(|| user_groups(peer.uid, peer.gid));
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
        Ok(ControlServer::with_listener(listener, path, admin_gid))
    }

    /// A server with no connection yet on `listener`.
    fn with_listener(listener: UnixListener, path: &Path, admin_gid: Option<u32>) -> Self {
        ControlServer {
            listener,
            path: path.to_path_buf(),
            admin_gid,
            clients: BTreeMap::new(),
            next_id: ConnId(1),
            requests: BTreeMap::new(),
            next_request: ClientId(1),
            changes: Vec::new(),
            reserve_fd: std::fs::File::open("/dev/null").ok(),
        }
    }

    /// The server of a re-exec'd vigil: the listening socket the previous
    /// image held (`fd`, inherited across execve), bound at `path`.
    /// Connections that queued in its backlog during the exec are accepted
    /// as usual.
    pub fn from_listener(fd: OwnedFd, path: &Path, admin_gid: Option<u32>) -> Self {
        let listener = UnixListener::from(fd);
        let _ = listener.set_nonblocking(true);
        ControlServer::with_listener(listener, path, admin_gid)
    }

    /// Takes over a connection the previous image accepted and whose one
    /// request (`daemon-reexec`) this image answers: returns the id to
    /// reply to, or None when the peer is gone.
    pub fn adopt_pending(&mut self, fd: OwnedFd, now: Duration) -> Option<ClientId> {
        let stream = UnixStream::from(fd);
        stream.set_nonblocking(true).ok()?;
        let cred = getsockopt(&stream, sockopt::PeerCredentials).ok()?;
        let peer = PeerCred {
            pid: cred.pid(),
            uid: cred.uid(),
            gid: cred.gid(),
        };
        let privileged = is_privileged(stream.as_raw_fd(), &peer, self.admin_gid);
        let request = self.next_request;
        self.next_request = ClientId(request.0.wrapping_add(1));
        let id = self.insert_client(stream, peer, privileged, now);
        if let Some(c) = self.clients.get_mut(&id) {
            c.slots.push_back((request, None));
        }
        self.requests.insert(request, id);
        Some(request)
    }

    /// A new connection, watched for requests from now on.
    fn insert_client(
        &mut self,
        stream: UnixStream,
        peer: PeerCred,
        privileged: bool,
        now: Duration,
    ) -> ConnId {
        let id = self.next_id;
        self.next_id = ConnId(id.0.wrapping_add(1));
        let client = Client {
            stream,
            peer,
            privileged,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            largest_reply: 0,
            partial_since: None,
            last_activity: now,
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
        id
    }

    /// Before a re-exec: every connection but the one of `keep` (the
    /// request being answered by the next image) gets `why` as its last
    /// line, best effort, and is closed.
    pub fn close_for_reexec(&mut self, keep: ClientId, why: &str) {
        let kept = self.requests.get(&keep).copied();
        let ids: Vec<ConnId> = self.clients.keys().copied().collect();
        for id in ids {
            if Some(id) == kept {
                continue;
            }
            if let Some(client) = self.clients.get(&id) {
                if !client.slots.is_empty() {
                    refuse(&client.stream, why);
                }
            }
            self.close(id);
        }
    }

    /// The socket of the connection `client`'s request came on.
    pub fn connection_fd(&self, client: ClientId) -> Option<RawFd> {
        let conn = self.requests.get(&client)?;
        self.clients.get(conn).map(|c| c.stream.as_raw_fd())
    }

    /// The path the socket is bound at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Change the admin group (a config reload). Rights are fixed when a
    /// connection is accepted, so this applies to new connections.
    pub fn set_admin_gid(&mut self, admin_gid: Option<u32>) {
        self.admin_gid = admin_gid;
    }

    /// The listening socket, for the event loop's epoll set: register it
    /// for readability and call `accept` when it fires.
    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// Number of open connections.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Epoll changes accumulated since the last call; apply them in order.
    pub fn take_fd_changes(&mut self) -> Vec<FdChange> {
        std::mem::take(&mut self.changes)
    }

    /// Accepts every pending connection; returns the new connection ids
    /// (their `FdChange::Add` entries are queued).
    pub fn accept(&mut self, now: Duration) -> Vec<ConnId> {
        let mut accepted = Vec::new();
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    // Out of descriptors: turn the waiting client away, with
                    // a reply that says why, rather than leave the listener
                    // readable (a busy loop).
                    self.reserve_fd = None;
                    if let Ok((stream, _)) = self.listener.accept() {
                        refuse(&stream, "vigil is out of file descriptors; try again later");
                    }
                    self.reserve_fd = std::fs::File::open("/dev/null").ok();
                    break;
                }
                // WouldBlock ends the batch.
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
            let privileged = is_privileged(stream.as_raw_fd(), &peer, self.admin_gid);
            // Unprivileged peers share MAX_CLIENTS slots; root and the admin
            // group get as many again, so idle connections of an ordinary
            // user can never lock the administrator out.
            let unprivileged = self.clients.values().filter(|c| !c.privileged).count();
            let of_uid = self
                .clients
                .values()
                .filter(|c| !c.privileged && c.peer.uid == peer.uid)
                .count();
            let refusal = if privileged {
                (self.clients.len() >= 2 * MAX_CLIENTS)
                    .then(|| "too many connections; try again later".to_string())
            } else if of_uid >= MAX_CLIENTS_PER_UID {
                Some(format!(
                    "too many connections from uid {} (at most {MAX_CLIENTS_PER_UID} per user); close some and try again",
                    peer.uid
                ))
            } else {
                (unprivileged >= MAX_CLIENTS)
                    .then(|| "too many connections; try again later".to_string())
            };
            if let Some(why) = refusal {
                refuse(&stream, &why);
                continue;
            }
            accepted.push(self.insert_client(stream, peer, privileged, now));
        }
        accepted
    }

    /// Reads what the client sent (call on readable or hangup) and returns
    /// the authorized requests; errors are answered by the server itself.
    pub fn on_readable(&mut self, id: ConnId, now: Duration) -> Vec<Incoming> {
        let mut out = Vec::new();
        let admin_gid = self.admin_gid;
        let Some(client) = self.clients.get_mut(&id) else {
            return out;
        };
        client.last_activity = now;
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
                    let mut ids = RequestIds {
                        conn: id,
                        next: &mut self.next_request,
                        map: &mut self.requests,
                    };
                    process_lines(&mut ids, client, admin_gid, now, &mut out);
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

    /// Answers the request `client` (from `Incoming::client`) with a reply
    /// encoded by `encode`: it is written, in request order, as far as the
    /// socket takes it now; the rest waits for `on_writable`. Requests of
    /// closed connections, and second replies, are ignored.
    pub fn send_encoded(&mut self, client: ClientId, line: Vec<u8>) {
        let Some(conn) = self.requests.remove(&client) else {
            return;
        };
        let Some(c) = self.clients.get_mut(&conn) else {
            return;
        };
        if let Some(slot) = c.slots.iter_mut().find(|(id, _)| *id == client) {
            slot.1 = Some(line);
        }
        c.last_activity = crate::runtime::timer::monotonic_now();
        self.flush_and_update(conn);
    }

    /// Continues writing pending replies.
    pub fn on_writable(&mut self, conn: ConnId) {
        self.flush_and_update(conn);
    }

    /// Closes a connection (its fd leaves epoll with it). Queued changes
    /// for it are dropped, so the loop never touches a closed (or reused)
    /// fd number; a client the loop never saw produces no `Remove` either.
    pub fn close(&mut self, id: ConnId) {
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        for (request, _) in &client.slots {
            self.requests.remove(request);
        }
        let never_registered = self
            .changes
            .iter()
            .any(|c| matches!(c, FdChange::Add { client, .. } if *client == id));
        self.changes.retain(|c| match c {
            FdChange::Add { client, .. }
            | FdChange::Modify { client, .. }
            | FdChange::Remove { client } => *client != id,
        });
        if !never_registered {
            self.changes.push(FdChange::Remove { client: id });
        }
    }

    /// The earliest time a stalled partial request must be cut off; `None`
    /// when no client is mid-line, so an idle vigil never wakes up.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.clients
            .values()
            .filter_map(|c| {
                let partial = c
                    .partial_since
                    .map(|t| t.saturating_add(PARTIAL_REQUEST_TIMEOUT));
                partial.into_iter().chain(c.idle_deadline()).min()
            })
            .min()
    }

    /// Closes every connection whose partial line stalled past the timeout.
    pub fn expire(&mut self, now: Duration) {
        let stale: Vec<ConnId> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.partial_since
                    .is_some_and(|t| t.saturating_add(PARTIAL_REQUEST_TIMEOUT) <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(client) = self.clients.get_mut(&id) {
                // Best effort only: the peer is misbehaving already.
                refuse(&client.stream, "request timed out: incomplete line");
            }
            self.close(id);
        }
        let idle: Vec<ConnId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.idle_deadline().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            self.close(id);
        }
    }

    /// Closes all connections and removes the socket file (at shutdown or
    /// exit, so a later vigil does not find a stale socket).
    pub fn shutdown(&mut self) {
        let ids: Vec<ConnId> = self.clients.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        let _ = std::fs::remove_file(&self.path);
    }

    fn flush_and_update(&mut self, id: ConnId) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        client.release_ready();
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
        if client.outbuf.is_empty() {
            client.largest_reply = 0;
        }
        let limit = MAX_PENDING_OUTPUT.saturating_add(client.largest_reply);
        if dead || client.outbuf.len() > limit || client.finished() {
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

/// Queues a server-made reply behind the requests still being answered.
fn queue(client: &mut Client, reply: &Reply) {
    client.slots.push_back((SERVER_MADE, Some(encode(reply))));
}

/// Hands out request ids for one connection.
struct RequestIds<'a> {
    conn: ConnId,
    next: &'a mut ClientId,
    map: &'a mut BTreeMap<ClientId, ConnId>,
}

/// Splits complete lines off the input buffer and handles each one.
fn process_lines(
    ids: &mut RequestIds<'_>,
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
                let id = *ids.next;
                *ids.next = ClientId(id.0.wrapping_add(1));
                ids.map.insert(id, ids.conn);
                client.slots.push_back((id, None));
                out.push(Incoming {
                    client: id,
                    conn: ids.conn,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_request_errors_name_the_problem() {
        assert_eq!(
            parse_request(br#"{"version":1,"verb":"status","names":["a"]}"#),
            Ok(Request::Status {
                names: vec!["a".into()]
            })
        );
        assert!(parse_request(b"{").unwrap_err().contains("not JSON"));
        assert!(parse_request(b"42").unwrap_err().contains("JSON object"));
        assert!(parse_request(br#"{"verb":"list"}"#)
            .unwrap_err()
            .contains("missing \"version\""));
        assert!(parse_request(br#"{"version":"1","verb":"list"}"#)
            .unwrap_err()
            .contains("must be a number"));
        assert!(parse_request(br#"{"version":9,"verb":"list"}"#)
            .unwrap_err()
            .contains("unsupported protocol version 9"));
        assert!(parse_request(br#"{"version":1}"#)
            .unwrap_err()
            .contains("missing \"verb\""));
        assert!(parse_request(br#"{"version":1,"verb":"stop","names":"x"}"#)
            .unwrap_err()
            .starts_with("invalid request:"));
        // Issue 8, point 19: an integer is not a verb (serde took 5 as the
        // index of `reload`).
        for n in ["5", "0", "-1", "5.0"] {
            let line = format!(r#"{{"version":1,"verb":{n}}}"#);
            let err = parse_request(line.as_bytes()).unwrap_err();
            assert!(err.contains("must be a string"), "{n}: {err}");
        }
    }

    #[test]
    fn verbs_match_the_wire_names() {
        for (req, name) in [
            (Request::List, "list"),
            (Request::Reload, "reload"),
            (Request::Halt { force: false }, "halt"),
        ] {
            let json = serde_json::to_value(&req).unwrap();
            assert_eq!(json["verb"], name);
            assert_eq!(verb(&req), name);
        }
    }
}
