//! The unit keys real daemons need for their processes (issue 10):
//! resource limits, nice and oom_score_adj, as the started process sees
//! them, and a limit that cannot be set failing the start with its reason.

mod common;

use std::os::unix::fs::OpenOptionsExt;

use common::{wait_until, Vigil, TIMEOUT};

const WANTED: &str = "wanted_by = [\"default\"]\n";

#[test]
fn limits_nice_and_oom_score_reach_the_process() {
    let mut v = Vigil::new();
    let out = v.dir().join("seen");
    v.write_unit(
        "daemon",
        &format!(
            "{}limits = {{ nofile = \"100:200\", core = \"infinity\", memlock = \"64K\" }}\nnice = 5\noom_score_adj = 300\n{WANTED}",
            Vigil::sh(&format!(
                "{{ ulimit -Sn; ulimit -Hn; ulimit -c; ulimit -l; cut -d' ' -f19 /proc/self/stat; cat /proc/self/oom_score_adj; }} > {}; exec sleep 1000",
                out.display()
            ))
        ),
    );
    v.start();
    v.wait_state("daemon", "running");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            == 6),
        "{}",
        v.log()
    );
    let seen = std::fs::read_to_string(&out).unwrap();
    // cut reports its own nice, which it inherited from the shell.
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        ["100", "200", "unlimited", "64", "5", "300"],
        "soft and hard nofile, core, memlock (KiB), nice, oom_score_adj"
    );
}

#[test]
fn a_limit_that_cannot_be_set_fails_the_start_and_says_which() {
    let mut v = Vigil::new();
    // Above the kernel's nr_open: setrlimit says EPERM even to root.
    v.write_unit(
        "greedy",
        &format!("exec = [\"/bin/sleep\", \"1000\"]\nlimits = {{ nofile = 1073741824 }}\n{WANTED}"),
    );
    v.write_unit(
        "fine",
        &format!("exec = [\"/bin/sleep\", \"1000\"]\n{WANTED}"),
    );
    v.start();
    v.wait_state("fine", "running");
    let st = v.wait_state("greedy", "failed");
    let reason = st["summary"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("setting limit nofile to 1073741824:1073741824")
            && reason.contains("Operation not permitted"),
        "{reason}"
    );
}

#[test]
fn bad_limits_name_the_file_line_and_limit() {
    let v = Vigil::new();
    v.write_unit(
        "typo",
        &format!("exec = [\"/bin/sleep\", \"1\"]\nlimits = {{ nofiles = 10 }}\n{WANTED}"),
    );
    v.write_unit(
        "inverted",
        &format!(
            "exec = [\"/bin/sleep\", \"1\"]\nlimits = {{ nproc = \"10:5\" }}\nnice = 40\n{WANTED}"
        ),
    );
    let out = v.vigilctl(&["--units", &v.units_dir().display().to_string(), "check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let file = |n: &str| {
        v.units_dir()
            .join(format!("{n}.toml"))
            .display()
            .to_string()
    };
    assert!(
        text.contains(&format!(
            "{}:2:12: error: `limits`: unknown limit `nofiles`; did you mean `nofile`?",
            file("typo")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}:2:20: error: `limits.nproc`: the soft limit 10 is above the hard limit 5",
            file("inverted")
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}:3:8: error: `nice` must be an integer from -20 to 19, found",
            file("inverted")
        )),
        "{text}"
    );
}

/// A daemon that leaves a "session" behind in its process group, and
/// whether a restart ends it, by kill_mode.
fn session_survives_restart(kill_mode: Option<&str>) -> bool {
    let mut v = Vigil::new();
    let session = v.dir().join("session.pid");
    let mode = kill_mode
        .map(|m| format!("kill_mode = \"{m}\"\n"))
        .unwrap_or_default();
    v.write_unit(
        "sshd",
        &format!(
            "{}{mode}stop_timeout = \"5s\"\n{WANTED}",
            Vigil::sh(&format!(
                "[ -e {s} ] || {{ sleep 1000 & echo $! > {s}; }}; exec sleep 999",
                s = session.display()
            ))
        ),
    );
    v.start();
    let first = v.wait_state("sshd", "running")["summary"]["pid"].clone();
    assert!(wait_until(TIMEOUT, || session.exists()));
    let child: i32 = std::fs::read_to_string(&session)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let r = v.request(serde_json::json!({"verb": "restart", "names": ["sshd"]}));
    assert_eq!(r["ok"], serde_json::json!(true), "{r}");
    let st = v.wait_state("sshd", "running");
    assert_ne!(st["summary"]["pid"], first, "sshd was not restarted");
    // Reaped zombies count as gone: look at the state, not the pid alone.
    let alive = std::fs::read_to_string(format!("/proc/{child}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false);
    // SAFETY: kill(2) of the test's own leftover (no-op when it is gone).
    unsafe { libc::kill(child, libc::SIGKILL) };
    alive
}

#[test]
fn kill_mode_process_keeps_the_sessions_of_a_restarted_daemon() {
    assert!(session_survives_restart(Some("process")));
    assert!(
        !session_survives_restart(None),
        "the default kills the group"
    );
}

#[test]
fn variables_in_exec_come_from_the_units_environment_by_systemds_rule() {
    let mut v = Vigil::new();
    let out = v.dir().join("argv");
    let env_file = v.dir().join("default-ssh");
    std::fs::write(&env_file, "SSHD_OPTS=\"-o 'Banner none' -p 2222\"\n").unwrap();
    v.write_unit(
        "sshd",
        &format!(
            "exec = [\"/bin/sh\", \"-c\", \"printf '%s|' \\\"$@\\\" > {}; exec sleep 1000\", \"sh\", \"$SSHD_OPTS\", \"${{ONE}}\", \"--x=${{ONE}}\", \"$UNSET\", \"$$\"]\nenvironment_file = \"{}\"\nenvironment = {{ ONE = \"a b\" }}\n{WANTED}",
            out.display(),
            env_file.display()
        ),
    );
    v.start();
    v.wait_state("sshd", "running");
    assert!(wait_until(TIMEOUT, || out.exists()), "{}", v.log());
    assert!(wait_until(TIMEOUT, || std::fs::read_to_string(&out)
        .unwrap_or_default()
        .ends_with('|')));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "-o|Banner none|-p|2222|a b|--x=a b|$|"
    );
}

#[test]
fn runtime_and_state_directories_are_made_owned_and_the_runtime_one_removed_at_stop() {
    let mut v = Vigil::new();
    let tag = format!("vigil-it-{}", std::process::id());
    let run = std::path::PathBuf::from(format!("/run/{tag}"));
    let state = std::path::PathBuf::from(format!("/var/lib/{tag}"));
    let seen = v.dir().join("dirs");
    v.write_unit(
        "daemon",
        &format!(
            "{}user = \"nobody\"\nruntime_directory = \"{tag}\"\nruntime_directory_mode = \"0750\"\nstate_directory = \"{tag}/db\"\n{WANTED}",
            Vigil::sh(&format!(
                "echo \"${{RUNTIME_DIRECTORY}} ${{STATE_DIRECTORY}}\" > {seen}.tmp; stat -c '%U %a' ${{RUNTIME_DIRECTORY}} ${{STATE_DIRECTORY}} >> {seen}.tmp; touch ${{STATE_DIRECTORY}}/kept; mv {seen}.tmp {seen}; exec sleep 1000",
                seen = seen.display()
            ))
        ),
    );
    std::fs::set_permissions(v.dir(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    v.start();
    v.wait_state("daemon", "running");
    assert!(wait_until(TIMEOUT, || seen.exists()), "{}", v.log());
    let text = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!("{} {}/db", run.display(), state.display()).as_str(),
            "nobody 750",
            "nobody 755"
        ]
    );
    let r = v.request(serde_json::json!({"verb": "stop", "names": ["daemon"]}));
    assert_eq!(r["ok"], serde_json::json!(true), "{r}");
    assert!(
        wait_until(TIMEOUT, || !run.exists()),
        "{} outlived the stop",
        run.display()
    );
    assert!(
        state.join("db/kept").exists(),
        "the state directory must stay"
    );
    std::fs::remove_dir_all(&state).unwrap();
}

#[test]
fn a_directory_that_escapes_its_base_is_an_error_with_its_position() {
    let v = Vigil::new();
    v.write_unit(
        "escape",
        "exec = [\"/bin/true\"]\nruntime_directory = [\"ok\", \"../etc\"]\n",
    );
    let out = v.vigilctl(&["--units", &v.units_dir().display().to_string(), "check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "{}:2:28: error: `runtime_directory`: \"../etc\" must be a relative path under /run",
            v.units_dir().join("escape.toml").display()
        )),
        "{text}"
    );
}

#[test]
fn a_unit_whose_condition_fails_is_skipped_not_failed_and_says_why() {
    let mut v = Vigil::new();
    let flag = v.dir().join("sshd_not_to_be_run");
    std::fs::write(&flag, "").unwrap();
    v.write_unit(
        "sshd",
        &format!(
            "exec = [\"/bin/sleep\", \"1000\"]\ncondition_path_exists = \"!{}\"\n{WANTED}",
            flag.display()
        ),
    );
    v.write_unit(
        "after-sshd",
        &format!("exec = [\"/bin/sleep\", \"1000\"]\nafter = [\"sshd\"]\n{WANTED}"),
    );
    v.start();
    // What is ordered after it still starts; the boot is not degraded.
    v.wait_state("after-sshd", "running");
    let st = v.status("sshd");
    assert_eq!(st["summary"]["state"], "inactive", "{st}");
    let reason = st["summary"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        reason,
        format!(
            "skipped: condition_path_exists = \"!{}\" does not hold",
            flag.display()
        )
    );
    let out = v.vigilctl(&["status"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("degraded"),
        "{out:?}"
    );
    let out = v.vigilctl(&["status", "sshd"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("does not hold"),
        "{out:?}"
    );
    // A start reports the skip as done (systemctl: exit 0); once the flag
    // is gone the unit starts.
    let out = v.vigilctl(&["start", "sshd"]);
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_file(&flag).unwrap();
    let out = v.vigilctl(&["start", "sshd"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v.state("sshd"), "running");
    assert_eq!(
        v.status("sshd")["summary"]["reason"],
        serde_json::Value::Null
    );
}

#[test]
fn start_pre_post_reload_and_stop_commands_run_around_a_real_daemon() {
    let mut v = Vigil::new();
    let d = v.dir().display().to_string();
    v.write_unit(
        "sshd",
        &format!(
            "{}exec_start_pre = [\"/bin/sh -c 'echo pre > {d}/pre'\", \"-/bin/false\"]\nexec_start_post = [[\"/bin/sh\", \"-c\", \"echo post $MAINPID > {d}/post\"]]\nexec_reload = [\"/bin/kill -HUP $MAINPID\"]\nexec_stop = [\"/bin/sh -c 'echo stop $MAINPID > {d}/stop; kill -TERM $MAINPID'\"]\n{WANTED}",
            Vigil::sh("trap 'echo hup' HUP; trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done")
        ),
    );
    v.start();
    let st = v.wait_state("sshd", "running");
    let pid = st["summary"]["pid"].as_i64().unwrap();
    let read = |f: &str| std::fs::read_to_string(v.dir().join(f)).unwrap_or_default();
    assert_eq!(read("pre"), "pre\n");
    assert_eq!(read("post"), format!("post {pid}\n"));
    // reload: exec_reload sends SIGHUP to $MAINPID; the pid stays.
    let out = v.vigilctl(&["reload", "sshd"]);
    assert!(out.status.success(), "{out:?}");
    let log = v.dir().join("log/sshd.log");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("out: hup")),
        "{}",
        v.log()
    );
    v.wait_log("reloaded sshd");
    assert_eq!(v.status("sshd")["summary"]["pid"].as_i64(), Some(pid));
    // stop: exec_stop, which ends it (the daemon says bye to its TERM).
    let out = v.vigilctl(&["stop", "sshd"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v.state("sshd"), "inactive");
    assert_eq!(read("stop"), format!("stop {pid}\n"));
    assert!(std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("out: bye"));
}

#[test]
fn a_failing_pre_command_fails_the_start_and_nothing_else_runs() {
    let mut v = Vigil::new();
    let marker = v.dir().join("main-ran");
    v.write_unit(
        "sshd",
        &format!(
            "{}exec_start_pre = [\"/bin/sh -c 'echo config broken >&2; exit 255'\"]\n{WANTED}",
            Vigil::sh(&format!("touch {}; exec sleep 1000", marker.display()))
        ),
    );
    v.start();
    let st = v.wait_state("sshd", "failed");
    let reason = st["summary"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.starts_with(
            "exec_start_pre[0] (/bin/sh -c echo config broken >&2; exit 255) exited 255"
        ),
        "{reason}"
    );
    assert!(!marker.exists(), "the main process must not start");
    // What the pre command printed is in the unit's log.
    let log = v.dir().join("log/sshd.log");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("err: config broken")),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn exec_stop_post_runs_after_the_daemon_is_gone_on_stop_and_on_a_crash() {
    let mut v = Vigil::new();
    let d = v.dir().display().to_string();
    // The command sees the daemon gone: its pid file is stale by then.
    v.write_unit(
        "web",
        &format!(
            "{}exec_stop_post = [\"/bin/sh -c 'if kill -0 $(cat {d}/pid) 2>/dev/null; then echo alive; else echo gone; fi >> {d}/post'\"]\nrestart = \"on-failure\"\nrestart_delay = \"50ms\"\n{WANTED}",
            Vigil::sh(&format!("echo $$ > {d}/pid; [ -e {d}/crashed ] || {{ touch {d}/crashed; exit 3; }}; exec sleep 1000"))
        ),
    );
    v.start();
    let read = |f: &str| std::fs::read_to_string(v.dir().join(f)).unwrap_or_default();
    // The first run exits 3: the command runs, then the restart.
    assert!(
        wait_until(TIMEOUT, || {
            let st = v.status("web");
            st["restarts"].as_u64() == Some(1) && st["summary"]["state"] == "running"
        }),
        "{}",
        v.log()
    );
    assert_eq!(read("post"), "gone\n");
    let out = v.vigilctl(&["stop", "web"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v.state("web"), "inactive");
    assert_eq!(read("post"), "gone\ngone\n");
}

#[test]
fn an_alias_works_in_every_verb_that_takes_a_unit() {
    let mut v = Vigil::new();
    v.write_unit(
        "ssh",
        &format!(
            "{}aliases = [\"sshd\"]\nreload_signal = \"SIGHUP\"\n{WANTED}",
            Vigil::sh("trap 'echo hup' HUP; echo up; while :; do sleep 0.05; done")
        ),
    );
    v.start();
    let st = v.wait_state("ssh", "running");
    let pid = st["summary"]["pid"].as_i64().unwrap();
    let out = v.vigilctl(&["is-active", "sshd"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "active\n", "{out:?}");
    assert!(out.status.success());
    let out = v.vigilctl(&["status", "sshd"]);
    let page = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(page.starts_with("ssh - "), "{page}");
    assert!(page.contains("Aliases: sshd"), "{page}");
    let out = v.vigilctl(&["reload", "sshd"]);
    assert!(out.status.success(), "{out:?}");
    let log = v.dir().join("log/ssh.log");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("out: hup")),
        "{}",
        v.log()
    );
    let out = v.vigilctl(&["logs", "sshd"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hup"),
        "{out:?}"
    );
    let out = v.vigilctl(&["cat", "sshd"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("aliases = [\"sshd\"]"),
        "{out:?}"
    );
    let out = v.vigilctl(&["restart", "sshd"]);
    assert!(out.status.success(), "{out:?}");
    let st = v.wait_state("ssh", "running");
    assert_ne!(st["summary"]["pid"].as_i64(), Some(pid));
    let out = v.vigilctl(&["stop", "sshd"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v.state("ssh"), "inactive");
}

/// A pty's master (non-blocking) and its slave's path.
fn open_pty() -> (std::fs::File, String) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on a descriptor this function owns.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (std::fs::File::from_raw_fd(master), slave)
    }
}

/// What the pty's other side printed, read until `want` appears.
fn read_pty_until(master: &mut std::fs::File, seen: &mut String, want: &str) -> bool {
    use std::io::Read;
    wait_until(TIMEOUT, || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen.contains(want)
    })
}

#[test]
fn a_unit_on_a_tty_has_it_as_stdin_stdout_and_controlling_terminal() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let (mut master, slave) = open_pty();
    let rdev = std::fs::metadata(&slave).unwrap().rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    // /proc/PID/stat's tty_nr encoding of the device.
    let tty_nr = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
    let mut v = Vigil::new();
    v.write_unit(
        "term",
        &format!(
            "{}tty = \"{slave}\"\n{WANTED}",
            Vigil::sh(
                "echo on=$(tty) TERM=$TERM; set -- $(cat /proc/self/stat); echo ctty=$7; \
                 read -r line; echo got:$line; exec sleep 1000"
            )
        ),
    );
    v.start();
    v.wait_state("term", "running");
    let mut seen = String::new();
    assert!(
        read_pty_until(&mut master, &mut seen, &format!("ctty={tty_nr}")),
        "expected on={slave} and ctty={tty_nr} on the pty, got {seen:?}\n{}",
        v.log()
    );
    assert!(seen.contains(&format!("on={slave} TERM=vt220")), "{seen:?}");
    master.write_all(b"hello\n").unwrap();
    assert!(
        read_pty_until(&mut master, &mut seen, "got:hello"),
        "{seen:?}"
    );
    // Nothing of it went to the unit's log.
    let log = std::fs::read_to_string(v.dir().join("log/term.log")).unwrap_or_default();
    assert!(!log.contains("got:"), "{log}");
}

#[test]
fn a_missing_tty_fails_the_start_with_its_name_and_stdout_tty_needs_one() {
    let mut v = Vigil::new();
    v.write_unit(
        "term",
        &format!(
            "{}tty = \"/dev/ttyNOPE\"\nrestart = \"never\"\n{WANTED}",
            Vigil::sh("exit 0")
        ),
    );
    v.write_unit(
        "bad",
        &format!("{}stdout = \"tty\"\n{WANTED}", Vigil::sh("exit 0")),
    );
    v.write_unit(
        "bad2",
        &format!("{}tty_vhangup = true\n{WANTED}", Vigil::sh("exit 0")),
    );
    v.start();
    let st = v.wait_state("term", "failed");
    assert_eq!(
        st["summary"]["reason"].as_str(),
        Some("could not start: opening /dev/ttyNOPE: No such file or directory (os error 2)"),
        "{st}"
    );
    let out = v.vigilctl(&["check", v.dir().join("units/bad.toml").to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "bad.toml:2:10: error: `stdout = \"tty\"` needs `tty`, the terminal to write to"
        ),
        "{text}"
    );
    let out = v.vigilctl(&["check", v.dir().join("units/bad2.toml").to_str().unwrap()]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("bad2.toml:2:1: error: `tty_vhangup` needs `tty`, the terminal to hang up"),
        "{text}"
    );
}

/// Whether a write to the pty's slave through `fd` still works.
fn slave_writable(fd: &std::fs::File) -> bool {
    use std::io::Write;
    let mut f = fd;
    f.write_all(b".").is_ok()
}

#[test]
fn tty_vhangup_takes_the_terminal_from_what_a_previous_session_left_open() {
    use std::io::Write;
    for hang_up in [false, true] {
        let (mut master, slave) = open_pty();
        // A leftover of an earlier session: the terminal, still open.
        let leftover = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave)
            .unwrap();
        assert!(slave_writable(&leftover));
        let mut v = Vigil::new();
        v.write_unit(
            "term",
            &format!(
                "{}tty = \"{slave}\"\ntty_vhangup = {hang_up}\n{WANTED}",
                Vigil::sh("read -r line; echo got:$line; exec sleep 1000")
            ),
        );
        v.start();
        v.wait_state("term", "running");
        // The unit's own terminal works either way.
        master.write_all(b"hello\n").unwrap();
        let mut seen = String::new();
        assert!(
            read_pty_until(&mut master, &mut seen, "got:hello"),
            "hang_up = {hang_up}: {seen:?}\n{}",
            v.log()
        );
        assert_eq!(
            slave_writable(&leftover),
            !hang_up,
            "hang_up = {hang_up}: the leftover descriptor"
        );
    }
}

#[test]
fn a_command_of_a_unit_whose_tty_is_missing_fails_and_creates_no_file_there() {
    let mut v = Vigil::new();
    let tty = v.dir().join("no-such-tty");
    v.write_unit(
        "term",
        &format!(
            "{}tty = \"{}\"\nexec_start_pre = [\"/bin/true\"]\n{WANTED}",
            Vigil::sh("exit 0"),
            tty.display()
        ),
    );
    v.start();
    let st = v.wait_state("term", "failed");
    let reason = st["summary"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains(&format!(
            "opening {}: No such file or directory",
            tty.display()
        )),
        "{reason}"
    );
    assert!(
        !tty.exists(),
        "a command's output made a file where the tty should be"
    );
}

#[test]
fn success_exit_status_makes_a_listed_exit_a_clean_end_with_real_processes() {
    let mut v = Vigil::new();
    // Both exit 75 once they have run; only `listed` says 75 is a success.
    for (name, extra) in [("listed", "success_exit_status = [75]\n"), ("unlisted", "")] {
        v.write_unit(
            name,
            &format!(
                "{}restart = \"on-failure\"\nrestart_delay = \"20s\"\n{extra}{WANTED}",
                Vigil::sh("sleep 0.2; exit 75")
            ),
        );
    }
    v.start();
    v.wait_state("listed", "exited");
    // The unlisted one failed and waits for its restart.
    v.wait_log("unlisted: exited 75; restarting in 20.0s");
    let out = v.vigilctl(&["is-failed", "listed"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "listed is not failed: {}",
        v.log()
    );
    assert!(!v.log().contains("listed failed"), "{}", v.log());
}

/// systemd's other path conditions, as Debian's units use them
/// (ConditionDirectoryNotEmpty= above all): each checked on the real file
/// system before the start.
#[test]
fn path_conditions_check_directories_files_and_links() {
    let mut v = Vigil::new();
    let d = v.dir().to_path_buf();
    let empty = d.join("empty");
    let full = d.join("full");
    std::fs::create_dir(&empty).unwrap();
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("a.conf"), "x").unwrap();
    let zero = d.join("zero");
    std::fs::write(&zero, "").unwrap();
    let script = d.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let link = d.join("link");
    std::os::unix::fs::symlink(&zero, &link).unwrap();
    let cases = [
        (
            "dir-not-empty-yes",
            format!("condition_directory_not_empty = \"{}\"", full.display()),
            "running",
        ),
        (
            "dir-not-empty-no",
            format!("condition_directory_not_empty = \"{}\"", empty.display()),
            "inactive",
        ),
        (
            "is-dir-yes",
            format!("condition_path_is_directory = \"{}\"", empty.display()),
            "running",
        ),
        (
            "is-dir-no",
            format!("condition_path_is_directory = \"{}\"", zero.display()),
            "inactive",
        ),
        (
            "not-empty-file-no",
            format!("condition_file_not_empty = \"{}\"", zero.display()),
            "inactive",
        ),
        (
            "executable-yes",
            format!("condition_file_is_executable = \"{}\"", script.display()),
            "running",
        ),
        (
            "executable-no",
            format!("condition_file_is_executable = \"{}\"", zero.display()),
            "inactive",
        ),
        (
            "symlink-yes",
            format!("condition_path_is_symbolic_link = \"{}\"", link.display()),
            "running",
        ),
        (
            "symlink-negated",
            format!("condition_path_is_symbolic_link = \"!{}\"", link.display()),
            "inactive",
        ),
    ];
    for (name, condition, _) in &cases {
        v.write_unit(
            name,
            &format!("exec = [\"/bin/sleep\", \"1000\"]\n{condition}\n{WANTED}"),
        );
    }
    v.start();
    v.wait_state("symlink-yes", "running");
    for (name, condition, want) in &cases {
        v.wait_state(name, want);
        if *want == "inactive" {
            let reason = v.status(name)["summary"]["reason"].clone();
            assert_eq!(
                reason,
                serde_json::Value::String(format!("skipped: {condition} does not hold")),
                "{name}"
            );
        }
    }
}

/// `condition_capability` reads vigil's bounding set: run under `setpriv`
/// without CAP_SYS_MODULE (as a container drops it), a unit that needs it
/// is skipped, one that needs it absent runs, and one that needs a
/// capability vigil kept runs.
#[test]
fn capability_conditions_follow_vigils_bounding_set() {
    let mut v = Vigil::new();
    let cases = [
        (
            "needs-module",
            "condition_capability = \"CAP_SYS_MODULE\"",
            "inactive",
        ),
        (
            "no-module",
            "condition_capability = \"!CAP_SYS_MODULE\"",
            "running",
        ),
        (
            "needs-chown",
            "condition_capability = [\"cap_chown\"]",
            "running",
        ),
    ];
    for (name, condition, _) in &cases {
        v.write_unit(
            name,
            &format!("exec = [\"/bin/sleep\", \"1000\"]\n{condition}\n{WANTED}"),
        );
    }
    v.start_wrapped(&["setpriv", "--bounding-set=-sys_module"], &[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", v.pid())).unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(bnd & (1 << 16), 0, "setpriv left CAP_SYS_MODULE in the set");
    assert_ne!(bnd & 1, 0, "CAP_CHOWN is gone too");
    for (name, _, want) in &cases {
        v.wait_state(name, want);
    }
    assert_eq!(
        v.status("needs-module")["summary"]["reason"],
        serde_json::Value::String(
            "skipped: condition_capability = \"CAP_SYS_MODULE\" does not hold".into()
        )
    );
}

/// `on_failure`: when a unit fails for good, the units it names start; an
/// instance of a template is made for it, and a name no unit has is a
/// warning that loads the rest.
#[test]
fn on_failure_starts_an_instance_that_records_which_unit_failed() {
    let mut v = Vigil::new();
    let record = v.dir().join("failed-units");
    v.write_unit(
        "alert@",
        &format!(
            "type = \"oneshot\"\nexec = [\"/bin/sh\", \"-c\", \"echo %i >> {}\"]\n",
            record.display()
        ),
    );
    v.write_unit(
        "crashy",
        &format!("exec = [\"/bin/sh\", \"-c\", \"exit 3\"]\non_failure = [\"alert@crashy\", \"nosuch\"]\n{WANTED}"),
    );
    v.start();
    v.wait_state("crashy", "failed");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&record)
            .is_ok_and(|t| t == "crashy\n")),
        "the alert never ran; log:\n{}",
        v.log()
    );
    v.wait_state("alert@crashy", "exited");
    let log = v.log();
    assert!(
        log.contains("`crashy` starts on failure `nosuch`, which does not exist; ignoring"),
        "{log}"
    );
    assert!(
        log.contains("starting alert@crashy: on_failure of crashy"),
        "{log}"
    );
}
