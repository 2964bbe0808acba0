//! The Debian package (pkg/build-deb.sh): what it installs, and that its
//! postinst re-executes a running vigil on upgrade, and only then.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Vigil;
use serde_json::json;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the .deb from the binaries this test run built; returns its path.
fn build_deb(out: &Path) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_vigil")).parent().unwrap();
    let res = Command::new("bash")
        .arg(repo().join("pkg/build-deb.sh"))
        .arg("--bin")
        .arg(bin)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "pkg/build-deb.sh: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    PathBuf::from(String::from_utf8(res.stdout).unwrap().trim())
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_package_installs_the_binaries_a_conffile_and_the_docs_but_not_sbin_init() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb(dir.path());
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("vigil_") && name.ends_with("_amd64.deb"),
        "{name}"
    );
    let list = dpkg_deb(&["-c"], &deb);
    let entries: Vec<(&str, &str)> = list
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((*f.first()?, *f.last()?))
        })
        .collect();
    let has = |mode: &str, path: &str| entries.iter().any(|(m, p)| *m == mode && *p == path);
    assert!(has("drwxr-xr-x", "./"), "{list}");
    assert!(has("-rwxr-xr-x", "./usr/sbin/vigil"), "{list}");
    assert!(has("-rwxr-xr-x", "./usr/sbin/vigilctl"), "{list}");
    assert!(has("-rw-r--r--", "./etc/vigil/vigil.toml"), "{list}");
    assert!(has("drwxr-xr-x", "./etc/vigil/units/"), "{list}");
    assert!(
        has("-rw-r--r--", "./usr/share/doc/vigil/reexec.md"),
        "{list}"
    );
    assert!(
        !list.contains("sbin/init"),
        "the package must not take /sbin/init:\n{list}"
    );
    assert_eq!(
        dpkg_deb(&["-f"], &deb).lines().next(),
        Some("Package: vigil")
    );
    let ctl = dir.path().join("control");
    let st = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&ctl)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        std::fs::read_to_string(ctl.join("conffiles")).unwrap(),
        "/etc/vigil/vigil.toml\n"
    );
    // The packaged config is the documented default: it parses, and
    // vigilctl check of an empty units directory passes.
    let (_, problems) = vigil::config::load_config(&repo().join("pkg/vigil.toml"));
    assert!(problems.is_empty(), "{problems:?}");
}

/// Runs the package's postinst with `args`, PATH starting with `stubs`.
fn postinst(args: &[&str], stubs: &Path, socket: &Path) -> std::process::Output {
    Command::new("sh")
        .arg(repo().join("pkg/debian/postinst"))
        .args(args)
        .env(
            "PATH",
            format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap()),
        )
        .env("VIGIL_SOCKET", socket)
        .output()
        .unwrap()
}

fn stub(dir: &Path, name: &str, script: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn postinst_reexecutes_vigil_as_pid1_on_upgrade_only() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let absent = dir.path().join("no-socket");
    stub(
        dir.path(),
        "vigilctl",
        &format!("echo \"$@\" >> {}", calls.display()),
    );
    let calls_made = || std::fs::read_to_string(&calls).unwrap_or_default();
    for (pid1, args, expected) in [
        (
            "/usr/sbin/vigil (deleted)",
            &["configure", "0.0.9"][..],
            "daemon-reexec\n",
        ),
        (
            "/usr/sbin/vigil",
            &["configure", "0.0.9"][..],
            "daemon-reexec\n",
        ),
        ("/usr/lib/systemd/systemd", &["configure", "0.0.9"][..], ""),
        ("/usr/sbin/vigil (deleted)", &["configure", ""][..], ""),
        ("/usr/sbin/vigil (deleted)", &["configure"][..], ""),
        (
            "/usr/sbin/vigil (deleted)",
            &["abort-upgrade", "0.0.9"][..],
            "",
        ),
    ] {
        let _ = std::fs::remove_file(&calls);
        stub(dir.path(), "readlink", &format!("echo '{pid1}'"));
        let out = postinst(args, dir.path(), &absent);
        assert!(out.status.success(), "{pid1} {args:?}: {out:?}");
        assert_eq!(calls_made(), expected, "PID 1 {pid1}, postinst {args:?}");
    }
    // A re-exec that fails does not fail the upgrade.
    stub(dir.path(), "vigilctl", "exit 1");
    stub(dir.path(), "readlink", "echo /usr/sbin/vigil");
    let out = postinst(&["configure", "0.0.9"], dir.path(), &absent);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("daemon-reexec failed"));
}

#[test]
fn postinst_reexecutes_a_running_supervisor_with_the_real_vigilctl() {
    let mut v = Vigil::new();
    v.write_unit(
        "web",
        "exec = [\"/bin/sleep\", \"1000\"]\nwanted_by = [\"default\"]\n",
    );
    v.start();
    let pid = v.wait_state("web", "running")["summary"]["pid"].clone();
    let stubs = tempfile::tempdir().unwrap();
    stub(stubs.path(), "readlink", "echo /usr/lib/systemd/systemd");
    let ctl = Path::new(env!("CARGO_BIN_EXE_vigilctl"));
    std::os::unix::fs::symlink(ctl, stubs.path().join("vigilctl")).unwrap();
    let out = postinst(&["configure", "0.0.9"], stubs.path(), &v.socket());
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("units kept as they were"),
        "{out:?}\n{}",
        v.log()
    );
    assert!(v.log().contains("re-executed"), "{}", v.log());
    assert_eq!(v.status("web")["summary"]["pid"], pid);
    let r = v.request(json!({"verb": "list"}));
    assert_eq!(r["ok"], json!(true));
}
