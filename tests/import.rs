//! `vigilctl import` (issue 10) on the unit files Debian 12 ships for
//! openssh-server, rsyslog, cron and ifupdown (tests/data/systemd), and
//! on hand-written corner cases: the results load with no error, keep what
//! vigil can do, and list what they lose with file and line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{wait_until, Vigil, TIMEOUT};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/systemd")
        .join(name)
}

fn vigilctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vigilctl"))
        .args(args)
        .output()
        .unwrap()
}

fn import_into(out: &Path, files: &[PathBuf]) -> (String, String) {
    let mut args = vec![
        "import".to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let res = vigilctl(&args);
    assert!(res.status.success(), "{res:?}");
    (
        String::from_utf8_lossy(&res.stdout).into_owned(),
        String::from_utf8_lossy(&res.stderr).into_owned(),
    )
}

fn table(out: &Path, name: &str) -> toml::Table {
    std::fs::read_to_string(out.join(format!("{name}.toml")))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn debians_own_units_import_and_load_without_errors() {
    let out = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = [
        "ssh.service",
        "rsyslog.service",
        "cron.service",
        "networking.service",
        "ifupdown-pre.service",
        "ifup@.service",
    ]
    .iter()
    .map(|f| data(f))
    .collect();
    let (_, notes) = import_into(out.path(), &files);
    // Every file, and the network target they refer to.
    for name in [
        "ssh",
        "rsyslog",
        "cron",
        "networking",
        "ifupdown-pre",
        "ifup@",
        "network",
    ] {
        assert!(
            out.path().join(format!("{name}.toml")).exists(),
            "{name}: {notes}"
        );
    }
    let check = vigilctl(&["--units", &out.path().display().to_string(), "check"]);
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    // The summary is "N units OK" or "0 error(s), W warning(s); N units OK".
    let summary = text.lines().last().unwrap_or_default();
    assert!(
        !text.contains(": error:")
            && summary.ends_with("units OK")
            && (summary.starts_with("0 error(s)") || !summary.contains("error(s)")),
        "{text}"
    );
    assert!(!text.contains("systemd-udev"), "{text}");

    let ssh = table(out.path(), "ssh");
    assert_eq!(ssh["type"].as_str(), Some("notify"));
    assert_eq!(
        ssh["exec"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["/usr/sbin/sshd", "-D", "$SSHD_OPTS"]
    );
    assert_eq!(
        ssh["exec_start_pre"].to_string(),
        r#"[["/usr/sbin/sshd", "-t"]]"#
    );
    assert_eq!(
        ssh["exec_reload"].to_string(),
        r#"[["/usr/sbin/sshd", "-t"], ["/bin/kill", "-HUP", "$MAINPID"]]"#
    );
    assert_eq!(
        ssh["environment_file"].to_string(),
        r#"["-/etc/default/ssh"]"#
    );
    assert_eq!(ssh["kill_mode"].as_str(), Some("process"));
    assert_eq!(ssh["runtime_directory"].to_string(), r#"["sshd"]"#);
    assert_eq!(
        ssh["condition_path_exists"].to_string(),
        r#"["!/etc/ssh/sshd_not_to_be_run"]"#
    );
    assert_eq!(ssh["wanted_by"].to_string(), r#"["default"]"#);
    // `Alias=sshd.service`: `vigilctl reload sshd` reaches it.
    assert!(!notes.contains("Alias"), "Alias is carried over:\n{notes}");
    assert_eq!(ssh["aliases"].to_string(), r#"["sshd"]"#);
    // vigil's own udev units stand for systemd's.
    let pre = table(out.path(), "ifupdown-pre");
    assert_eq!(pre["after"].to_string(), r#"["udev-trigger"]"#);
    assert_eq!(pre["wants"].to_string(), r#"["udevd"]"#);
    let rsyslog = table(out.path(), "rsyslog");
    assert_eq!(rsyslog["limits"]["nofile"].as_str(), Some("16384"));
    assert_eq!(rsyslog["stdout"].as_str(), Some("null"));
    let networking = table(out.path(), "networking");
    assert_eq!(networking["type"].as_str(), Some("oneshot"));
    assert!(networking["exec_stop"].to_string().contains("/sbin/ifdown"));
    assert_eq!(
        networking["exec_stop_post"].to_string(),
        r#"[["/usr/bin/touch", "/run/network/restart-hotplug"]]"#
    );
    assert!(networking["exec_start_post"]
        .to_string()
        .contains("-/bin/sh"));
    assert_eq!(
        networking["wanted_by"].to_string(),
        r#"["default", "network"]"#
    );
    assert_eq!(
        table(out.path(), "ifup@")["exec"].to_string(),
        r#"["/bin/sh", "-ec", "ifup --allow=hotplug %i; ifquery --state %i"]"#
    );
    // What they lose, with file and line.
    let ssh_file = data("ssh.service").display().to_string();
    for expected in [
        format!("{ssh_file}:15: RestartPreventExitStatus: dropped"),
        format!(
            "{}:3: Requires=syslog.socket: dropped: socket activation is out of vigil's scope",
            data("rsyslog.service").display()
        ),
    ] {
        assert!(
            notes.contains(&expected),
            "missing {expected:?} in:\n{notes}"
        );
    }
}

#[test]
fn debians_serial_getty_becomes_a_template_on_its_tty() {
    let out = tempfile::tempdir().unwrap();
    let (_, notes) = import_into(out.path(), &[data("serial-getty@.service")]);
    let getty = table(out.path(), "serial-getty@");
    assert_eq!(getty["tty"].as_str(), Some("/dev/%i"));
    assert_eq!(getty["stdout"].as_str(), Some("tty"));
    assert_eq!(
        getty["exec"].to_string(),
        // systemd unescapes C escapes inside quotes too: `'-p -- \\u'` is
        // `-p -- \u` (agetty's placeholder for the user name).
        r#"["/sbin/agetty", "-o", '-p -- \u', "--keep-baud", "115200,57600,38400,9600", "-", "$TERM"]"#
    );
    assert_eq!(getty["restart"].as_str(), Some("always"));
    // TTYVHangup=yes: what an earlier session left open loses the line.
    assert_eq!(getty["tty_vhangup"].as_bool(), Some(true));
    let file = data("serial-getty@.service").display().to_string();
    for expected in [
        format!("{file}:37: UtmpIdentifier: dropped"),
        format!("{file}:41: TTYReset: dropped"),
        format!("{file}:44: SendSIGHUP: dropped"),
    ] {
        assert!(
            notes.contains(&expected),
            "missing {expected:?} in:\n{notes}"
        );
    }
    assert!(
        !notes.contains("StandardInput")
            && !notes.contains("TTYPath")
            && !notes.contains("TTYVHangup"),
        "{notes}"
    );
    // An instance of it passes check.
    let dir = out.path().display().to_string();
    let enable = vigilctl(&["--units", &dir, "enable", "serial-getty@ttyS1"]);
    assert!(enable.status.success(), "{enable:?}");
    let check = vigilctl(&["--units", &dir, "check"]);
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(!text.contains(": error:"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap_or_default()
            .ends_with("units OK"),
        "{text}"
    );
}

#[test]
fn corner_cases_quoting_continuations_prefixes_specifiers_and_resets() {
    let out = tempfile::tempdir().unwrap();
    let (_, notes) = import_into(out.path(), &[data("corner/demo.service")]);
    let demo = table(out.path(), "demo");
    // Not a template: the specifiers are resolved now, as systemd resolves
    // them in a unit that is no instance (%n the name, %i empty).
    assert_eq!(
        demo["description"].as_str(),
        Some("Demo of demo with a continuation")
    );
    assert_eq!(demo["after"].to_string(), r#"["network", "syslog"]"#);
    // The drop-in reset Environment= and ExecStartPre=, and set Type.
    assert_eq!(
        demo["environment"].to_string(),
        r#"{ GREETING = "overridden" }"#
    );
    assert_eq!(demo["exec_start_pre"].to_string(), r#"[["/bin/true", ""]]"#);
    assert_eq!(demo["type"].as_str(), Some("simple"));
    let exec: Vec<&str> = demo["exec"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        exec,
        [
            "/bin/sh",
            "-c",
            "echo \"$GREETING\" ${PLAIN}; exec sleep 1000"
        ]
    );
    assert_eq!(demo["limits"]["nofile"].as_str(), Some("1024:4096"));
    assert_eq!(demo["limits"]["core"].as_str(), Some("infinity"));
    assert_eq!(demo["restart"].as_str(), Some("on-failure"));
    assert_eq!(demo["restart_delay"].as_str(), Some("2"));
    assert_eq!(demo["stop_timeout"].as_str(), Some("30s"));
    assert_eq!(demo["umask"].as_str(), Some("0027"));
    let file = data("corner/demo.service").display().to_string();
    assert!(
        notes.contains(&format!("{file}:20: ProtectSystem: dropped: sandboxing")),
        "{notes}"
    );
    // The imported unit runs under vigil.
    let mut v = Vigil::new();
    std::fs::copy(
        out.path().join("demo.toml"),
        v.units_dir().join("demo.toml"),
    )
    .unwrap();
    std::fs::copy(
        out.path().join("network.toml"),
        v.units_dir().join("network.toml"),
    )
    .unwrap();
    v.start();
    v.wait_state("demo", "running");
    let log = v.dir().join("log/demo.log");
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("out: overridden")),
        "{}",
        v.log()
    );
    let r = v.vigilctl(&["reload", "demo"]);
    assert!(r.status.success(), "{r:?}");
}

#[test]
fn a_file_that_cannot_be_a_vigil_unit_is_refused_and_the_rest_imported() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ssh.socket");
    std::fs::write(&socket, "[Socket]\nListenStream=22\n").unwrap();
    let res = vigilctl(&[
        "import",
        "--dry-run",
        &socket.display().to_string(),
        &data("cron.service").display().to_string(),
    ]);
    assert_eq!(res.status.code(), Some(1));
    let err = String::from_utf8_lossy(&res.stderr).into_owned();
    assert!(err.contains("only .service files are imported"), "{err}");
    // systemd's mask (a link to /dev/null, as Debian ships hwclock.service)
    // says so, and the others are still imported.
    let masked = dir.path().join("hwclock.service");
    std::os::unix::fs::symlink("/dev/null", &masked).unwrap();
    let res = vigilctl(&[
        "import",
        "--dry-run",
        &masked.display().to_string(),
        &data("cron.service").display().to_string(),
    ]);
    assert_eq!(res.status.code(), Some(1));
    let err = String::from_utf8_lossy(&res.stderr).into_owned();
    assert!(
        err.contains("hwclock.service: masked (a link to /dev/null): nothing to import"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&res.stdout).contains("/usr/sbin/cron"));
    // A link to another service is systemd's alias of it (Debian's
    // udev.service -> systemd-udevd.service), not a unit of its own.
    let alias = dir.path().join("crond.service");
    std::os::unix::fs::symlink(data("cron.service"), &alias).unwrap();
    let aliased = vigilctl(&["import", "--dry-run", &alias.display().to_string()]);
    assert_eq!(aliased.status.code(), Some(1));
    let err = String::from_utf8_lossy(&aliased.stderr).into_owned();
    assert!(
        err.contains("crond.service: an alias of cron.service (a link)"),
        "{err}"
    );
    assert!(
        aliased.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&aliased.stdout)
    );
    let out = String::from_utf8_lossy(&res.stdout).into_owned();
    assert!(
        out.contains("exec = [\"/usr/sbin/cron\", \"-f\", \"$EXTRA_OPTS\"]"),
        "{out}"
    );
}
