//! The notify socket with Debian's real `systemd-notify` client.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use vigil::runtime::notify::{NotifyReceived, NotifySocket};
use vigil::runtime::spawn::{spawn, LogFds, SpawnContext};
use vigil::unit::model::{UnitDef, UnitKind};

fn collect_until(
    sock: &NotifySocket,
    mut done: impl FnMut(&[NotifyReceived]) -> bool,
) -> Vec<NotifyReceived> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !done(&got) {
        got.extend(sock.recv_all());
        std::thread::sleep(Duration::from_millis(10));
    }
    got
}

fn notify_unit(script: &str, user: Option<&str>) -> UnitDef {
    let mut def = UnitDef::new("n");
    def.kind = UnitKind::Notify;
    def.exec = thin_vec::thin_vec!["/bin/sh".into(), "-c".into(), script.into()];
    def.extra_mut().user = user.map(str::to_string);
    def
}

fn ctx(path: &Path) -> SpawnContext {
    SpawnContext {
        base_env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        notify_socket: Some(path.to_path_buf()),
        service_nofile: None,
    }
}

fn kill_wait(pid: i32) {
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

#[test]
fn raw_datagram_carries_kernel_pid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    std::fs::write(&path, "stale").unwrap();
    let sock = NotifySocket::bind(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o777);
    assert!(sock.recv_all().is_empty(), "non-blocking when empty");
    let client = UnixDatagram::unbound().unwrap();
    // A forged MAINPID does not change the kernel-checked sender pid.
    client.send_to(b"READY=1\nMAINPID=1\n", &path).unwrap();
    client.send_to(b"\xff\xfegarbage", &path).unwrap();
    client.send_to(b"STATUS=two", &path).unwrap();
    let got = collect_until(&sock, |g| g.len() >= 3);
    let me = std::process::id() as i32;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|r| r.pid == me));
    assert!(got[0].message.ready);
    assert_eq!(got[0].message.main_pid, Some(1));
    assert!(!got[1].message.ready);
    assert_eq!(got[2].message.status.as_deref(), Some("two"));
}

/// As root, systemd-notify (252) sends SCM_CREDENTIALS naming its parent,
/// i.e. the shell that is the service's main process.
#[test]
fn systemd_notify_as_root_names_the_main_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = NotifySocket::bind(&path).unwrap();
    let pid = spawn(
        &notify_unit("systemd-notify --ready --status=hi; exec sleep 30", None),
        &ctx(&path),
        LogFds::default(),
    )
    .unwrap()
    .pid;
    let got = collect_until(&sock, |g| g.iter().any(|r| r.message.ready));
    kill_wait(pid);
    eprintln!("root: main pid {pid}, got {got:?}");
    let msg = got
        .iter()
        .find(|r| r.message.ready)
        .expect("READY=1 received");
    assert_eq!(msg.message.status.as_deref(), Some("hi"));
    assert!(
        msg.pid == pid || msg.session == Some(pid),
        "attributable to {pid}: {msg:?}"
    );
}

/// As a non-root user, the kernel refuses a foreign pid in the credentials
/// and systemd-notify falls back to its own pid: attribution then relies on
/// the session id (the service's main pid) resolved at receive time.
#[test]
fn systemd_notify_as_nobody_is_attributable_by_session() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("notify");
    let sock = NotifySocket::bind(&path).unwrap();
    // systemd-notify 252 follows READY=1 with BARRIER=1 carrying a pipe fd
    // and waits until the receiver closes it, so the helper is still alive
    // (and its session readable) when vigil handles READY=1.
    let pid = spawn(
        &notify_unit(
            "systemd-notify --ready --status=nobody; exec sleep 30",
            Some("nobody"),
        ),
        &ctx(&path),
        LogFds::default(),
    )
    .unwrap()
    .pid;
    let got = collect_until(&sock, |g| g.iter().any(|r| r.message.ready));
    kill_wait(pid);
    eprintln!("nobody: main pid {pid}, got {got:?}");
    let msg = got
        .iter()
        .find(|r| r.message.ready)
        .expect("READY=1 received");
    assert_eq!(msg.message.status.as_deref(), Some("nobody"));
    assert_ne!(msg.pid, pid, "kernel refuses the forged parent pid");
    assert_eq!(msg.session, Some(pid), "{msg:?}");
}
