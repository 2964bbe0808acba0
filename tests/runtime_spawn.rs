//! Real fork/exec tests for runtime::spawn. Each test waits for its own pid
//! only (never waitpid(-1)), because tests in this binary run in parallel.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use vigil::runtime::spawn::{parse_env_file, spawn, LogFds, SpawnContext};
use vigil::unit::model::{EnvironmentFile, Output, UnitDef, UnitKind};

fn ctx() -> SpawnContext {
    SpawnContext {
        base_env: vec![
            ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            ("LANG".into(), "C.UTF-8".into()),
        ],
        notify_socket: None,
        service_nofile: None,
    }
}

fn unit(exec: &[&str]) -> UnitDef {
    let mut def = UnitDef::new("t");
    def.exec = exec.iter().map(|s| s.to_string()).collect();
    def
}

/// Blocks until `pid` exits and returns (exited code or -signal).
fn wait(pid: i32) -> i32 {
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    }
}

fn shell_to_file(script: &str, out: &Path) -> UnitDef {
    let mut def = unit(&["sh", "-c", script]);
    def.stdout = Output::File(out.to_path_buf());
    def
}

/// A shell running `script` (stdout to `out`), held in a process table
/// as the shell holds its children.
fn spawn_held(script: &str, out: &Path) -> (i32, vigil::runtime::processes::ProcessTable) {
    let child = spawn(&shell_to_file(script, out), &ctx(), LogFds::default()).unwrap();
    let mut table = vigil::runtime::processes::ProcessTable::default();
    table.insert_spawned(child.pid, child.pidfd);
    (child.pid, table)
}

fn run_capture(def: &UnitDef, ctx: &SpawnContext, out: &Path) -> String {
    let pid = spawn(def, ctx, LogFds::default()).unwrap().pid;
    assert_eq!(wait(pid), 0);
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn environment_layers_and_nothing_leaks() {
    std::env::set_var("VIGIL_SHOULD_NOT_LEAK", "1");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let envfile = dir.path().join("vars");
    std::fs::write(
        &envfile,
        "# comment\nFROM_FILE=file\nOVERRIDE=file\nQUOTED=\"a b\"\nLANG=fr_FR\n",
    )
    .unwrap();
    let mut def = shell_to_file("env", &out);
    def.kind = UnitKind::Notify;
    def.extra_mut().environment_file = vec![
        EnvironmentFile {
            path: envfile,
            optional: false,
        },
        EnvironmentFile {
            path: dir.path().join("missing"),
            optional: true,
        },
    ];
    def.extra_mut()
        .environment
        .insert("OVERRIDE".into(), "unit".into());
    let mut c = ctx();
    c.notify_socket = Some("/run/vigil/notify".into());
    let text = run_capture(&def, &c, &out);
    let lines: Vec<&str> = text.lines().collect();
    for want in [
        "FROM_FILE=file",
        "OVERRIDE=unit",
        "QUOTED=a b",
        "LANG=fr_FR",
        "NOTIFY_SOCKET=/run/vigil/notify",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ] {
        assert!(lines.contains(&want), "missing {want} in {text}");
    }
    assert!(!text.contains("VIGIL_SHOULD_NOT_LEAK"), "{text}");
}

#[test]
fn notify_socket_only_for_notify_units() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let mut c = ctx();
    c.notify_socket = Some("/run/vigil/notify".into());
    let mut def = shell_to_file("env", &out);
    def.extra_mut()
        .environment
        .insert("NOTIFY_SOCKET".into(), "/forged".into());
    let text = run_capture(&def, &c, &out);
    assert!(!text.contains("NOTIFY_SOCKET"), "{text}");
}

#[test]
fn own_session_and_default_signal_state() {
    // Block SIGTERM in this thread, as vigil does for its signalfd; the
    // service must not inherit the mask.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
    }
    unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
    let result = spawn(&unit(&["sleep", "30"]), &ctx(), LogFds::default());
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    let pid = result.unwrap().pid;
    assert_eq!(unsafe { libc::getsid(pid) }, pid);
    assert_eq!(unsafe { libc::getpgid(pid) }, pid);
    // spawn returns once exec is past its point of no return (like
    // posix_spawn); the kernel may still be loading the image for a moment,
    // so wait for /proc to show sleep, not us.
    let mut status = String::new();
    for _ in 0..1000 {
        status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if status.contains("Name:\tsleep") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(status.contains("Name:\tsleep"), "{status}");
    let blocked = status
        .lines()
        .find(|l| l.starts_with("SigBlk:"))
        .unwrap()
        .to_string();
    assert_eq!(blocked, "SigBlk:\t0000000000000000");
    // This process ignores SIGUSR2 (set below) and the test harness leaves
    // glibc's signal 32 ignored; ignored dispositions survive exec, so only
    // an explicit reset makes this zero.
    let ignored = status
        .lines()
        .find(|l| l.starts_with("SigIgn:"))
        .unwrap()
        .to_string();
    assert_eq!(ignored, "SigIgn:\t0000000000000000");
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    assert_eq!(wait(pid), -libc::SIGTERM);
}

#[test]
fn unknown_user_is_a_stage_failure() {
    let mut def = unit(&["true"]);
    def.extra_mut().user = Some("no-such-user-vigil".into());
    let err = spawn(&def, &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, "changing to user no-such-user-vigil");
    assert_eq!(err.error, "no such user in /etc/passwd");
}

#[test]
fn unknown_group_is_a_stage_failure() {
    let mut def = unit(&["true"]);
    def.extra_mut().group = Some("no-such-group-vigil".into());
    let err = spawn(&def, &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, "changing to group no-such-group-vigil");
    assert_eq!(err.error, "no such group in /etc/group");
}

#[test]
fn missing_binary_on_path() {
    let err = spawn(&unit(&["nope-vigil-xyz"]), &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, "executing nope-vigil-xyz");
    assert!(err.error.contains("No such file or directory"), "{err:?}");
}

#[test]
fn exec_failure_comes_back_from_the_child() {
    let err = spawn(
        &unit(&["/nonexistent/vigil/bin"]),
        &ctx(),
        LogFds::default(),
    )
    .unwrap_err();
    assert_eq!(err.stage, "executing /nonexistent/vigil/bin");
    assert!(err.error.contains("No such file or directory"), "{err:?}");
    // A non-executable file: EACCES from execve in the child.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = spawn(&unit(&[file.to_str().unwrap()]), &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, format!("executing {}", file.display()));
    assert!(err.error.contains("Permission denied"), "{err:?}");
}

#[test]
fn bad_working_directory() {
    let mut def = unit(&["true"]);
    def.extra_mut().working_directory = Some("/nonexistent/vigil-dir".into());
    let err = spawn(&def, &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, "changing directory to /nonexistent/vigil-dir");
    assert!(err.error.contains("No such file or directory"), "{err:?}");
}

#[test]
fn missing_environment_file() {
    let mut def = unit(&["true"]);
    def.extra_mut().environment_file = vec![EnvironmentFile {
        path: "/nonexistent/vigil.env".into(),
        optional: false,
    }];
    let err = spawn(&def, &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, "reading environment file /nonexistent/vigil.env");
    assert!(err.error.contains("No such file"), "{err:?}");
}

#[test]
fn runs_as_user_nobody_with_its_groups_and_home() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("id");
    let mut def = shell_to_file("id -u; id -g; id -G; echo $USER; pwd", &out);
    def.extra_mut().user = Some("nobody".into());
    def.extra_mut().working_directory = Some(dir.path().to_path_buf());
    let text = run_capture(&def, &ctx(), &out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"65534"), "{text}");
    assert_eq!(lines.get(1), Some(&"65534"), "{text}");
    assert_eq!(lines.get(2), Some(&"65534"), "{text}");
    assert_eq!(lines.get(3), Some(&"nobody"), "{text}");
    assert_eq!(lines.get(4).map(Path::new), Some(dir.path()), "{text}");
}

#[test]
fn supplementary_groups_and_group_override() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("id");
    let mut def = shell_to_file("id -g; id -G", &out);
    def.extra_mut().user = Some("nobody".into());
    def.extra_mut().group = Some("daemon".into());
    def.extra_mut().supplementary_groups = vec!["adm".into()];
    let text = run_capture(&def, &ctx(), &out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1"), "{text}"); // daemon
    let groups: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert!(groups.contains(&"4"), "adm missing: {text}");
    assert!(!groups.contains(&"0"), "root group leaked: {text}");
}

#[test]
fn output_file_appends_and_null_discards() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("log");
    let mut def = shell_to_file("echo line; echo err >&2", &out);
    def.stderr = Output::Null;
    run_capture(&def, &ctx(), &out);
    let text = run_capture(&def, &ctx(), &out);
    assert_eq!(text, "line\nline\n");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn unopenable_output_is_a_stage_failure() {
    let mut def = unit(&["true"]);
    def.stdout = Output::File("/nonexistent/dir/log".into());
    let err = spawn(&def, &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, "opening stdout /nonexistent/dir/log");
}

#[test]
fn umask_stdin_and_no_fd_leak() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    // An fd that is NOT close-on-exec in the parent must still not leak.
    let leaky = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(leaky > 2);
    let script = format!(
        "umask; if [ -e /proc/$$$$/fd/{leaky} ]; then echo leaked; else echo clean; fi; \
         readlink /proc/$$$$/fd/0"
    );
    let mut def = shell_to_file(&script, &out);
    def.extra_mut().umask = Some(0o027);
    let text = run_capture(&def, &ctx(), &out);
    unsafe { libc::close(leaky) };
    assert_eq!(text, "0027\nclean\n/dev/null\n");
}

#[test]
fn exit_code_passes_through() {
    let pid = spawn(&unit(&["sh", "-c", "exit 7"]), &ctx(), LogFds::default())
        .unwrap()
        .pid;
    let start = Instant::now();
    assert_eq!(wait(pid), 7);
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn env_file_parser() {
    let vars =
        parse_env_file("  # c\n; c\n\nexport A=1\nB = 'x $y'\nC=\"q\\\"uote\\n\"\nD=\n").unwrap();
    assert_eq!(
        vars,
        vec![
            ("A".into(), "1".into()),
            ("B".into(), "x $y".into()),
            ("C".into(), "q\"uote\n".into()),
            ("D".into(), "".into()),
        ]
    );
    assert_eq!(
        parse_env_file("OK=1\njunk\n").unwrap_err(),
        "line 2: expected KEY=VALUE"
    );
    assert!(parse_env_file("1X=2")
        .unwrap_err()
        .contains("invalid variable name"));
}

#[test]
fn a_group_is_signalled_only_while_its_witness_is_unreaped() {
    use vigil::manager::{SignalTarget, Then};
    use vigil::runtime::processes::SignalError;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("child");
    // The main process starts a grandchild in the same group, then waits.
    let (pid, mut table) = spawn_held("sleep 30 & echo $!; wait", &out);
    let deadline = Instant::now() + Duration::from_secs(30);
    let grandchild = loop {
        if let Some(p) = std::fs::read_to_string(&out)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            break p;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(unsafe { libc::getpgid(grandchild) }, pid);
    let group = SignalTarget::Group {
        pgid: pid,
        witness: pid,
    };
    assert_eq!(table.signal(group, libc::SIGTERM, Then::Nothing), Ok(true));
    assert_eq!(wait(pid), -libc::SIGTERM);
    table.forget(pid);
    // The grandchild got it too (it is reparented and reaped elsewhere, so
    // poll until it is gone or a zombie).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        let gone = state.is_empty() || state.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'));
        if gone {
            break;
        }
        assert!(Instant::now() < deadline, "grandchild survived: {state}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The witness is reaped: its group id proves nothing any more, and no
    // bare pid is ever signalled.
    assert_eq!(
        table.signal(group, libc::SIGTERM, Then::Nothing),
        Err(SignalError::Unproven {
            pgid: pid,
            witness: pid
        })
    );
    assert_eq!(
        table.signal(SignalTarget::Process(pid), libc::SIGTERM, Then::Nothing),
        Err(SignalError::NoHandle(pid))
    );
    let dangerous = SignalTarget::Group {
        pgid: 1,
        witness: 1,
    };
    assert!(table
        .signal(dangerous, libc::SIGTERM, Then::Nothing)
        .is_err());
}

#[test]
fn a_stopped_group_acts_on_its_stop_signal_when_sigcont_follows_it() {
    // Issue 8, point 18, through the shell: one signal action sends the
    // stop signal and SIGCONT under one proof of the group.
    use vigil::manager::{SignalTarget, Then};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trap");
    // A daemon that handles SIGTERM: its handler runs only once continued
    // (a default-action SIGTERM would end even a stopped process).
    let (pid, table) = spawn_held(
        "trap 'echo term; exit 7' TERM; echo up; sleep 30 & wait",
        &out,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("up")
    {
        assert!(Instant::now() < deadline, "the shell never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let stopped = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .split(") ")
            .nth(1)
            .is_some_and(|r| r.starts_with('T'))
    };
    while !stopped(pid) {
        assert!(Instant::now() < deadline, "the shell never stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let group = SignalTarget::Group {
        pgid: pid,
        witness: pid,
    };
    assert_eq!(table.signal(group, libc::SIGTERM, Then::Continue), Ok(true));
    // The trap ran: the exit is the handler's, not a signal's (a shell
    // left stopped would never exit: bounded here).
    let mut status = 0;
    while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
        if Instant::now() > deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the stopped shell never acted on its SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
        "{status:#x}"
    );
    assert!(std::fs::read_to_string(&out).unwrap().contains("term"));
}

#[test]
fn a_missing_needed_device_fails_the_start_with_its_path() {
    let mut def = unit(&["true"]);
    def.extra_mut().needs_device = Some("/dev/ttyS99-vigil-missing".into());
    let err = spawn(&def, &ctx(), LogFds::default()).unwrap_err();
    assert_eq!(err.stage, "opening /dev/ttyS99-vigil-missing");
    assert!(err.error.contains("No such file"), "{}", err.error);
    // Present device: starts normally.
    def.extra_mut().needs_device = Some("/dev/null".into());
    let pid = spawn(&def, &ctx(), LogFds::default()).unwrap().pid;
    assert_eq!(wait(pid), 0);
}

#[test]
fn services_get_the_descriptor_limit_vigil_was_started_with() {
    // vigil raises its own RLIMIT_NOFILE (a pidfd per unit); services must
    // not inherit that: select(2) breaks above descriptor 1023.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("limits");
    let mut ctx = ctx();
    ctx.service_nofile = Some((1000, 2000));
    let pid = spawn(
        &shell_to_file("cat /proc/self/limits", &out),
        &ctx,
        LogFds::default(),
    )
    .unwrap()
    .pid;
    assert_eq!(wait(pid), 0);
    let text = std::fs::read_to_string(&out).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&fields[3..5], &["1000", "2000"], "{line}");
}
