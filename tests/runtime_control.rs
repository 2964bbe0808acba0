//! The control server over real sockets, driven by a miniature event loop
//! (epoll + deadlines) in a background thread that answers with canned
//! replies, as the manager would.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vigil::control::protocol::{
    JobResult, Reply, ReplyBody, Request, UnitState, UnitSummary, MAX_REQUEST_BYTES,
};
use vigil::control::server::{encode, verb, ConnId, ControlServer, FdChange};
use vigil::runtime::poller::Poller;
use vigil::runtime::timer::monotonic_now;

const LISTENER: u64 = 0;

struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    clients: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Request>>>,
    thread: Option<JoinHandle<()>>,
}

/// Canned manager: echoes the verb back; `status` gets a 10 KB reply so the
/// output-limit test fills buffers quickly.
fn canned(request: &Request) -> Reply {
    match request {
        Request::Status { .. } => Reply::ok(ReplyBody::List {
            units: vec![UnitSummary {
                name: "big".into(),
                kind: "service".into(),
                state: UnitState::Running,
                reason: None,
                pid: None,
                description: "x".repeat(10_000),
            }],
        }),
        other => Reply::ok(ReplyBody::Jobs {
            results: vec![JobResult {
                name: verb(other).into(),
                ok: true,
                message: String::new(),
            }],
        }),
    }
}

impl Harness {
    fn start(admin_gid: Option<u32>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        // Nested, missing parent: bind must create it (0755).
        let path = dir.path().join("run/vigil/control");
        let mut server = ControlServer::bind(&path, admin_gid).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, clients2, seen2) = (stop.clone(), clients.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let poller = Poller::new().unwrap();
            poller
                .add(
                    server.listener_fd(),
                    LISTENER,
                    vigil::runtime::poller::Interest::READABLE,
                )
                .unwrap();
            let mut fds = HashMap::new();
            let mut deferred = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                let now = monotonic_now();
                let mut timeout = Duration::from_millis(50);
                if let Some(d) = server.next_deadline() {
                    timeout = timeout.min(d.saturating_sub(now));
                }
                let ready = poller.wait(Some(timeout)).unwrap();
                let now = monotonic_now();
                for r in ready {
                    if r.token == LISTENER {
                        server.accept(monotonic_now());
                        continue;
                    }
                    if r.readable || r.hangup {
                        for inc in server.on_readable(ConnId(r.token), now) {
                            seen2.lock().unwrap().push(inc.request.clone());
                            // `restart` is answered late: after the next
                            // request, like a job that takes a while.
                            if matches!(inc.request, Request::Restart { .. }) {
                                deferred.push(inc);
                                continue;
                            }
                            server.send_encoded(inc.client, encode(&canned(&inc.request)));
                            for d in deferred.drain(..) {
                                server.send_encoded(d.client, encode(&canned(&d.request)));
                            }
                        }
                    }
                    if r.writable {
                        server.on_writable(ConnId(r.token));
                    }
                }
                server.expire(now);
                for change in server.take_fd_changes() {
                    match change {
                        FdChange::Add {
                            client,
                            fd,
                            interest,
                        } => {
                            poller.add(fd, client.0, interest).unwrap();
                            fds.insert(client, fd);
                        }
                        FdChange::Modify {
                            client,
                            fd,
                            interest,
                        } => {
                            poller.modify(fd, client.0, interest).unwrap();
                        }
                        FdChange::Remove { client } => {
                            fds.remove(&client);
                        }
                    }
                }
                clients2.store(server.client_count(), Ordering::SeqCst);
            }
            server.shutdown();
        });
        Harness {
            _dir: dir,
            path,
            stop,
            clients,
            seen,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> (UnixStream, BufReader<UnixStream>) {
        let s = UnixStream::connect(&self.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        (s, r)
    }

    fn wait_clients(&self, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.clients.load(Ordering::SeqCst) == n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn read_reply(r: &mut BufReader<UnixStream>) -> Reply {
    let mut line = String::new();
    let n = r.read_line(&mut line).unwrap();
    assert!(n > 0, "connection closed before a reply");
    serde_json::from_str(&line).unwrap()
}

fn error_of(reply: &Reply) -> String {
    assert!(!reply.ok, "expected an error, got {reply:?}");
    reply.error.clone().unwrap()
}

fn job_name(reply: &Reply) -> String {
    match &reply.body {
        Some(ReplyBody::Jobs { results }) => results[0].name.clone(),
        other => panic!("unexpected body {other:?}"),
    }
}

/// Reads until EOF (or reset); true if the server closed the connection.
fn closed_by_server(r: &mut BufReader<UnixStream>) -> bool {
    let mut rest = Vec::new();
    match r.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn socket_file_permissions_and_stale_replacement() {
    let h = Harness::start(None);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&h.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    let parent = std::fs::metadata(h.path.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o777, 0o755);
    // A live server's socket is not stolen.
    let err = ControlServer::bind(&h.path, None).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(h);
    // A stale socket (no listener) is replaced.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sock");
    drop(std::os::unix::net::UnixListener::bind(&p).unwrap());
    ControlServer::bind(&p, None).unwrap();
    // A regular file is never removed.
    let f = dir.path().join("file");
    std::fs::write(&f, "keep").unwrap();
    assert!(ControlServer::bind(&f, None).is_err());
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "keep");
}

#[test]
fn garbage_then_valid_on_same_connection() {
    let h = Harness::start(None);
    let (mut w, mut r) = h.connect();
    w.write_all(b"this is not json\n").unwrap();
    assert!(error_of(&read_reply(&mut r)).contains("not JSON"));
    w.write_all(b"[1,2]\n").unwrap();
    assert!(error_of(&read_reply(&mut r)).contains("expected a JSON object"));
    w.write_all(b"{\"verb\":\"list\"}\n").unwrap();
    assert!(error_of(&read_reply(&mut r)).contains("missing \"version\""));
    w.write_all(b"{\"version\":2,\"verb\":\"list\"}\n").unwrap();
    assert!(error_of(&read_reply(&mut r)).contains("unsupported protocol version 2"));
    w.write_all(b"{\"version\":1,\"verb\":\"frobnicate\"}\n")
        .unwrap();
    assert!(error_of(&read_reply(&mut r)).contains("frobnicate"));
    w.write_all(b"{\"version\":1,\"verb\":\"start\"}\n")
        .unwrap();
    assert!(error_of(&read_reply(&mut r)).contains("names"));
    // Blank lines are ignored; the connection still works.
    w.write_all(b"\n\r\n{\"version\":1,\"verb\":\"list\"}\r\n")
        .unwrap();
    let reply = read_reply(&mut r);
    assert!(reply.ok);
    assert_eq!(job_name(&reply), "list");
    assert_eq!(*h.seen.lock().unwrap(), vec![Request::List]);
}

#[test]
fn pipelined_requests_answered_in_order() {
    let h = Harness::start(None);
    let (mut w, mut r) = h.connect();
    w.write_all(
        b"{\"version\":1,\"verb\":\"list\"}\n{\"version\":1,\"verb\":\"reload\"}\nbad\n{\"version\":1,\"verb\":\"start\",\"names\":[\"a\"]}\n",
    )
    .unwrap();
    assert_eq!(job_name(&read_reply(&mut r)), "list");
    assert_eq!(job_name(&read_reply(&mut r)), "reload");
    assert!(error_of(&read_reply(&mut r)).contains("not JSON"));
    assert_eq!(job_name(&read_reply(&mut r)), "start");
}

#[test]
fn replies_keep_request_order_when_the_manager_answers_out_of_order() {
    let h = Harness::start(None);
    let (mut w, mut r) = h.connect();
    w.write_all(
        b"{\"version\":1,\"verb\":\"restart\",\"names\":[\"a\"]}\nnope\n{\"version\":1,\"verb\":\"list\"}\n",
    )
    .unwrap();
    assert_eq!(job_name(&read_reply(&mut r)), "restart");
    assert!(error_of(&read_reply(&mut r)).contains("not JSON"));
    assert_eq!(job_name(&read_reply(&mut r)), "list");
}

#[test]
fn half_closed_client_still_gets_its_reply() {
    let h = Harness::start(None);
    let (mut w, mut r) = h.connect();
    w.write_all(b"{\"version\":1,\"verb\":\"list\"}\n").unwrap();
    w.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(job_name(&read_reply(&mut r)), "list");
    assert!(closed_by_server(&mut r));
    assert!(h.wait_clients(0));
}

#[test]
fn oversized_line_gets_error_then_close() {
    let h = Harness::start(None);
    let (mut w, mut r) = h.connect();
    let big = vec![b'x'; MAX_REQUEST_BYTES + 10];
    // The server stops reading after the limit; write from a thread so a
    // full socket buffer cannot block the test.
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&big);
        let _ = w.write_all(b"\n");
        w
    });
    assert!(error_of(&read_reply(&mut r)).contains("request too long"));
    assert!(closed_by_server(&mut r));
    let _ = writer.join();
    assert!(h.wait_clients(0));
}

#[test]
fn truncated_request_then_eof() {
    let h = Harness::start(None);
    let (mut w, mut r) = h.connect();
    w.write_all(b"{\"version\":1,\"ve").unwrap();
    w.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(error_of(&read_reply(&mut r)).contains("incomplete request"));
    assert!(closed_by_server(&mut r));
    assert!(h.seen.lock().unwrap().is_empty());
}

#[test]
fn slow_loris_does_not_block_others_and_is_cut_off() {
    let h = Harness::start(None);
    let (mut slow, mut slow_r) = h.connect();
    slow.write_all(b"{\"version\":1,").unwrap();
    let (mut fast, mut fast_r) = h.connect();
    let t0 = Instant::now();
    fast.write_all(b"{\"version\":1,\"verb\":\"list\"}\n")
        .unwrap();
    assert_eq!(job_name(&read_reply(&mut fast_r)), "list");
    // Generous bound: just "not waiting for the slow client's 5 s timeout".
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    // Dripping more bytes does not extend the deadline.
    std::thread::sleep(Duration::from_secs(1));
    let _ = slow.write_all(b"\"ve");
    let t1 = Instant::now();
    let reply = read_reply(&mut slow_r);
    assert!(error_of(&reply).contains("timed out"));
    assert!(closed_by_server(&mut slow_r));
    assert!(t1.elapsed() < Duration::from_secs(30));
    // The fast client is unaffected and still connected.
    fast.write_all(b"{\"version\":1,\"verb\":\"list\"}\n")
        .unwrap();
    assert_eq!(job_name(&read_reply(&mut fast_r)), "list");
}

#[test]
fn client_that_never_reads_is_dropped() {
    let h = Harness::start(None);
    let (mut w, r) = h.connect();
    w.set_nonblocking(true).unwrap();
    let line = b"{\"version\":1,\"verb\":\"status\",\"names\":[\"big\"]}\n";
    // ~10 KB of reply per request: 400 requests want ~4 MB, far beyond the
    // 1 MiB limit plus socket buffers.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    let mut dropped = false;
    while Instant::now() < deadline {
        if sent < 400 {
            match w.write(line) {
                Ok(n) if n == line.len() => sent += 1,
                Ok(_) => panic!("partial write of a short line"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    dropped = true;
                    break;
                }
            }
        } else if h.wait_clients(0) {
            dropped = true;
            break;
        }
        if sent % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(dropped, "client still connected after {sent} requests");
    assert!(h.wait_clients(0));
    drop(r);
}

/// Runs in a forked child that becomes `uid` (with `groups`), connects,
/// sends `requests` and copies every reply byte back through `pipe_w`.
/// Only raw syscalls: the parent is multi-threaded.
unsafe fn probe_child(
    path: &std::ffi::CStr,
    requests: &[u8],
    groups: &[libc::gid_t],
    uid: u32,
    pipe_w: i32,
    lines: usize,
) -> ! {
    if libc::setgroups(groups.len(), groups.as_ptr()) != 0
        || libc::setgid(uid) != 0
        || libc::setuid(uid) != 0
    {
        libc::_exit(10);
    }
    let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
    let mut addr: libc::sockaddr_un = std::mem::zeroed();
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.to_bytes();
    for (i, b) in bytes.iter().enumerate() {
        addr.sun_path[i] = *b as libc::c_char;
    }
    if libc::connect(
        fd,
        (&addr as *const libc::sockaddr_un).cast(),
        std::mem::size_of::<libc::sockaddr_un>() as u32,
    ) != 0
    {
        libc::_exit(11);
    }
    if libc::write(fd, requests.as_ptr().cast(), requests.len()) != requests.len() as isize {
        libc::_exit(12);
    }
    let mut buf = [0u8; 4096];
    let mut seen = 0;
    while seen < lines {
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        if n <= 0 {
            libc::_exit(13);
        }
        for b in &buf[..n as usize] {
            if *b == b'\n' {
                seen += 1;
            }
        }
        libc::write(pipe_w, buf.as_ptr().cast(), n as usize);
    }
    libc::_exit(0)
}

fn run_as(
    path: &Path,
    uid: u32,
    groups: &[libc::gid_t],
    requests: &[u8],
    lines: usize,
) -> Vec<Reply> {
    // The socket dir must be reachable for the unprivileged user.
    use std::os::unix::fs::PermissionsExt;
    let mut p = path.parent();
    while let Some(dir) = p {
        if dir == Path::new("/") {
            break;
        }
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o755)).unwrap();
        p = dir.parent();
        if dir == std::env::temp_dir() {
            break;
        }
    }
    let cpath = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe { probe_child(&cpath, requests, groups, uid, fds[1], lines) };
    }
    unsafe { libc::close(fds[1]) };
    let mut out = Vec::new();
    let mut pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    pipe.read_to_end(&mut out).unwrap();
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(libc::WEXITSTATUS(status), 0, "probe child failed");
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn unprivileged_peer_may_only_read() {
    let h = Harness::start(Some(4242));
    let replies = run_as(
        &h.path,
        65534,
        &[65534],
        b"{\"version\":1,\"verb\":\"start\",\"names\":[\"sshd\"]}\n{\"version\":1,\"verb\":\"list\"}\n{\"version\":1,\"verb\":\"poweroff\"}\n{\"version\":1,\"verb\":\"status\"}\n",
        4,
    );
    assert_eq!(replies.len(), 4);
    let denied = error_of(&replies[0]);
    assert!(denied.starts_with("permission denied"), "{denied}");
    assert!(denied.contains("start"), "{denied}");
    assert_eq!(job_name(&replies[1]), "list");
    assert!(error_of(&replies[2]).starts_with("permission denied"));
    assert!(replies[3].ok);
    // The manager only ever saw the read-only requests.
    let seen = h.seen.lock().unwrap().clone();
    assert_eq!(seen, vec![Request::List, Request::Status { names: vec![] }]);
}

#[test]
fn admin_group_member_may_do_everything() {
    let h = Harness::start(Some(4242));
    let replies = run_as(
        &h.path,
        65534,
        &[65534, 4242],
        b"{\"version\":1,\"verb\":\"start\",\"names\":[\"sshd\"]}\n",
        1,
    );
    assert_eq!(job_name(&replies[0]), "start");
}

/// Issue 8, point 9: an unprivileged connection with nothing in flight is
/// closed after IDLE_TIMEOUT (a root one is not), and the deadline is
/// announced to the loop so that it wakes for it.
#[test]
fn idle_unprivileged_connections_are_closed_after_the_idle_timeout() {
    use std::os::unix::process::CommandExt;
    use vigil::control::server::IDLE_TIMEOUT;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = dir.path().join("ctl");
    let mut server = ControlServer::bind(&path, None).unwrap();
    // As nobody: connect, say "connected", then wait for the close.
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})\nprint('connected', flush=True)\nprint('closed' if s.recv(100) == b'' else 'data', flush=True)\n",
        path.display().to_string()
    );
    let mut nobody = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(nobody.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "connected\n");
    let _root = UnixStream::connect(&path).unwrap();
    let t0 = monotonic_now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.client_count() < 2 {
        server.accept(t0);
        assert!(Instant::now() < deadline, "connections never accepted");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.next_deadline(), Some(t0 + IDLE_TIMEOUT));
    server.expire(t0 + IDLE_TIMEOUT - Duration::from_secs(1));
    assert_eq!(server.client_count(), 2);
    server.expire(t0 + IDLE_TIMEOUT);
    assert_eq!(server.client_count(), 1, "the root connection stays");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "closed\n");
    let _ = nobody.wait();
}
