//! Template units (issue 10): `NAME@.toml` instantiated as
//! `NAME@INSTANCE` with `%i` and `%n`, by an enablement link, by another
//! unit's dependency, or by a start request.

mod common;

use common::{wait_until, Vigil, TIMEOUT};

const TEMPLATE: &str = "description = \"worker %i\"\nexec = [\"/bin/sh\", \"-c\", \"echo I am %n on %i; exec sleep 1000\"]\nwanted_by = [\"default\"]\n";

fn log_of(v: &Vigil, name: &str) -> String {
    std::fs::read_to_string(v.dir().join(format!("log/{name}.log"))).unwrap_or_default()
}

#[test]
fn instances_come_from_links_dependencies_and_start_requests() {
    let mut v = Vigil::new();
    v.write_unit("worker@", TEMPLATE);
    // An enablement link names worker@a; a unit wants worker@b.
    std::fs::create_dir_all(v.units_dir().join("default.wants")).unwrap();
    std::os::unix::fs::symlink(
        "../worker@.toml",
        v.units_dir().join("default.wants/worker@a.toml"),
    )
    .unwrap();
    v.write_unit(
        "app",
        "exec = [\"/bin/sleep\", \"1000\"]\nwants = [\"worker@b\"]\nafter = [\"worker@b\"]\nwanted_by = [\"default\"]\n",
    );
    v.start();
    v.wait_state("worker@a", "running");
    v.wait_state("worker@b", "running");
    v.wait_state("app", "running");
    assert!(
        wait_until(TIMEOUT, || log_of(&v, "worker@a")
            .contains("out: I am worker@a on a")),
        "{}",
        log_of(&v, "worker@a")
    );
    assert_eq!(v.status("worker@b")["summary"]["description"], "worker b");
    // The template itself is no unit.
    assert!(!v.list_names().contains(&"worker@".to_string()));
    // A start request makes an instance nothing named yet.
    let out = v.vigilctl(&["start", "worker@c"]);
    assert!(out.status.success(), "{out:?}\n{}", v.log());
    assert_eq!(v.state("worker@c"), "running");
    // It stays across a reload.
    let r = v.request(serde_json::json!({"verb": "reload"}));
    assert_eq!(r["ok"], serde_json::json!(true), "{r}");
    assert_eq!(v.state("worker@c"), "running");
    // An instance of no template is still unknown.
    let out = v.vigilctl(&["start", "nothing@x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn enable_of_an_instance_links_to_its_template() {
    let mut v = Vigil::new();
    v.write_unit(
        "getty@",
        "exec = [\"/bin/sleep\", \"1000\"]\nwanted_by = [\"default\"]\n",
    );
    v.start();
    let units = v.units_dir().display().to_string();
    let out = v.vigilctl(&["--units", &units, "enable", "--now", "getty@tty2"]);
    assert!(out.status.success(), "{out:?}\n{}", v.log());
    let link = v.units_dir().join("default.wants/getty@tty2.toml");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        std::path::PathBuf::from("../getty@.toml")
    );
    assert_eq!(v.state("getty@tty2"), "running");
    let out = v.vigilctl(&["--units", &units, "is-enabled", "getty@tty2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "enabled\n");
}

#[test]
fn check_reports_the_problems_of_a_template_nothing_instantiates() {
    let v = Vigil::new();
    v.write_unit(
        "worker@",
        "exec = [\"/bin/sleep\", \"%i\"]\nrestrat = \"always\"\n",
    );
    let units = v.units_dir().display().to_string();
    let out = v.vigilctl(&["--units", &units, "check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "{}:2:1: error: unknown key `restrat`; did you mean `restart`?",
            v.units_dir().join("worker@.toml").display()
        )),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1));
}
