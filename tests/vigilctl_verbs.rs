//! The verbs a systemd user types (issue 10): is-active, is-failed,
//! is-enabled, cat, kill, reset-failed, reload NAME, list --failed,
//! daemon-reload, completions and the manual page, and the hints for
//! systemctl verbs vigilctl spells otherwise.

mod common;

use common::{wait_until, Vigil, TIMEOUT};

const WANTED: &str = "wanted_by = [\"default\"]\n";

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn with_units(v: &Vigil, args: &[&str]) -> std::process::Output {
    let units = v.units_dir().display().to_string();
    let mut all = vec!["--units", units.as_str()];
    all.extend_from_slice(args);
    v.vigilctl(&all)
}

fn started() -> Vigil {
    let mut v = Vigil::new();
    v.write_unit(
        "web",
        &format!(
            "{}reload_signal = \"SIGHUP\"\n{WANTED}",
            Vigil::sh(
                "trap 'echo reloaded' HUP; trap 'echo usr1' USR1; while :; do sleep 0.05; done"
            )
        ),
    );
    v.write_unit("bad", &format!("{}{WANTED}", Vigil::sh("exit 3")));
    v.write_unit("off", "exec = [\"/bin/sleep\", \"100\"]\n");
    v.start();
    v.wait_state("web", "running");
    v.wait_state("bad", "failed");
    v
}

#[test]
fn is_active_is_failed_and_is_enabled_answer_as_systemctl() {
    let v = started();
    let out = v.vigilctl(&["is-active", "web"]);
    assert_eq!(
        (out.status.code(), text(&out)),
        (Some(0), "active\n".into())
    );
    let out = v.vigilctl(&["is-active", "web", "bad", "nope"]);
    assert_eq!(
        (out.status.code(), text(&out)),
        (Some(3), "active\nfailed\ninactive\n".into())
    );
    let out = v.vigilctl(&["is-active", "--quiet", "off"]);
    assert_eq!((out.status.code(), text(&out)), (Some(3), String::new()));
    let out = v.vigilctl(&["is-failed", "web", "bad"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = v.vigilctl(&["is-failed", "web"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = with_units(&v, &["is-enabled", "web", "off"]);
    assert_eq!(
        (out.status.code(), text(&out)),
        (Some(1), "enabled\ndisabled\n".into())
    );
    let out = with_units(&v, &["is-enabled", "nope"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = with_units(&v, &["enable", "off"]);
    assert!(out.status.success(), "{out:?}");
    let out = with_units(&v, &["is-enabled", "off"]);
    assert_eq!(
        (out.status.code(), text(&out)),
        (Some(0), "enabled\n".into())
    );
}

#[test]
fn cat_kill_reload_reset_failed_and_list_failed() {
    let v = started();
    let out = v.vigilctl(&["cat", "off"]);
    assert_eq!(
        text(&out),
        format!(
            "# {}\nexec = [\"/bin/sleep\", \"100\"]\n",
            v.units_dir().join("off.toml").display()
        )
    );
    assert_eq!(v.vigilctl(&["cat", "nope"]).status.code(), Some(4));
    // reload NAME: its reload_signal, the pid unchanged.
    let pid = v.status("web")["summary"]["pid"].clone();
    let out = v.vigilctl(&["reload", "web"]);
    assert!(out.status.success(), "{out:?}");
    let log = v.dir().join("log/web.log");
    let logged = |what: &str| {
        wait_until(TIMEOUT, || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(what)
        })
    };
    assert!(logged("out: reloaded"), "{}", v.log());
    assert_eq!(v.status("web")["summary"]["pid"], pid);
    let out = v.vigilctl(&["reload", "bad"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out).contains("neither exec_reload nor reload_signal"),
        "{out:?}"
    );
    // kill: the signal, the state unchanged.
    let out = v.vigilctl(&["kill", "web", "--signal", "USR1"]);
    assert!(out.status.success(), "{out:?}");
    assert!(logged("out: usr1"), "{}", v.log());
    assert_eq!(v.state("web"), "running");
    let out = v.vigilctl(&["kill", "web", "--signal", "SIGNOPE"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // list --failed, then reset-failed.
    let out = v.vigilctl(&["list", "--failed"]);
    let listed = text(&out);
    assert!(
        listed.contains("bad") && !listed.contains("web"),
        "{listed}"
    );
    let out = v.vigilctl(&["reset-failed"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v.state("bad"), "inactive");
    let out = v.vigilctl(&["daemon-reload"]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn systemctl_verbs_get_a_hint_and_help_pages_exist() {
    let v = Vigil::new();
    for (verb, hint) in [
        ("show", "vigilctl status NAME"),
        ("list-units", "vigilctl list"),
        ("try-restart", "vigilctl restart NAME"),
    ] {
        let out = v.vigilctl(&[verb, "sshd"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{verb}: {err}");
        assert!(err.contains(hint), "{verb}: {err}");
    }
    // A unit named like a systemctl verb is still a unit.
    let out = v.vigilctl(&["status", "show"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("systemctl verb"));
    for verb in ["is-active", "kill", "reset-failed", "cat", "daemon-reexec"] {
        let out = v.vigilctl(&[verb, "--help"]);
        assert!(
            out.status.success() && text(&out).contains("Usage: vigilctl"),
            "{verb}"
        );
    }
    let out = v.vigilctl(&["completions", "bash"]);
    assert!(text(&out).contains("_vigilctl()"), "{out:?}");
    let out = v.vigilctl(&["manpage"]);
    assert!(text(&out).contains(".TH vigilctl 1"), "{out:?}");
}

#[test]
fn check_warns_about_what_the_running_system_lacks() {
    let v = Vigil::new();
    v.write_unit(
        "odd",
        "description = \"x\"\nexec = [\"/nonexistent/daemon\"]\nuser = \"no-such-user-vigil\"\ngroup = \"no-such-group-vigil\"\numask = 22\n",
    );
    v.write_unit("bare", "exec = [\"no-such-program-vigil\", \"-x\"]\n");
    v.write_unit("fine", "exec = [\"sleep\", \"1\"]\numask = \"022\"\n");
    let out = with_units(&v, &["check"]);
    let t = text(&out);
    let file = |n: &str| {
        v.units_dir()
            .join(format!("{n}.toml"))
            .display()
            .to_string()
    };
    for expected in [
        format!(
            "{}:2:8: warning: `exec`: /nonexistent/daemon does not exist on this system",
            file("odd")
        ),
        format!(
            "{}:3:8: warning: `user`: no user \"no-such-user-vigil\" in /etc/passwd",
            file("odd")
        ),
        format!(
            "{}:4:9: warning: `group`: no group \"no-such-group-vigil\" in /etc/group",
            file("odd")
        ),
        format!(
            "{}:5:9: warning: `umask = 22` is the decimal number 22, the mask 0026; write \"022\"",
            file("odd")
        ),
        format!(
            "{}:1:8: warning: `exec`: no-such-program-vigil is not in the services' PATH",
            file("bare")
        ),
    ] {
        assert!(t.contains(&expected), "missing {expected:?} in:\n{t}");
    }
    assert!(!t.contains(&file("fine")), "{t}");
    assert_eq!(out.status.code(), Some(1), "warnings make check exit 1");
}

#[test]
fn a_masked_unit_cannot_start_until_unmasked() {
    let mut v = Vigil::new();
    v.write_unit(
        "web",
        &format!("exec = [\"/bin/sleep\", \"1000\"]\n{WANTED}"),
    );
    v.write_unit(
        "db",
        &format!("exec = [\"/bin/sleep\", \"1000\"]\n{WANTED}"),
    );
    // Masked before vigil starts: the boot does not start it.
    std::fs::create_dir_all(v.units_dir().join("masked")).unwrap();
    std::os::unix::fs::symlink("/dev/null", v.units_dir().join("masked/db.toml")).unwrap();
    v.start();
    v.wait_state("web", "running");
    assert_eq!(v.state("db"), "inactive");
    let out = with_units(&v, &["is-enabled", "db"]);
    assert_eq!(
        (out.status.code(), text(&out)),
        (Some(1), "masked\n".into())
    );
    let out = v.vigilctl(&["start", "db"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out).contains("db is masked"), "{out:?}");
    // mask --now stops a running one and keeps it down.
    let out = with_units(&v, &["mask", "--now", "web"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v.state("web"), "inactive");
    assert_eq!(v.vigilctl(&["start", "web"]).status.code(), Some(1));
    // unmask: it starts again.
    let out = with_units(&v, &["unmask", "web", "db"]);
    assert!(out.status.success(), "{out:?}");
    let out = v.vigilctl(&["start", "web", "db"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(v.state("db"), "running");
    assert!(!v.units_dir().join("masked/web.toml").exists());
}
