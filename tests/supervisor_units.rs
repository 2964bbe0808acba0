//! Unit loading in the real vigil: bad files are skipped with a precise
//! message while the rest runs, and `reload` applies directory changes.

mod common;

use std::time::Duration;

use common::{pid_alive, wait_until, Vigil, TIMEOUT};
use serde_json::{json, Value};

const WANTED: &str = "wanted_by = [\"default\"]\n";
const SLEEP: &str = "exec = [\"sleep\", \"60\"]\n";

#[test]
fn bad_units_are_skipped_with_file_line_column_messages() {
    let mut v = Vigil::new();
    v.write_unit("typo", &format!("{SLEEP}restrat = \"always\"\n{WANTED}"));
    v.write_unit(
        "syntax",
        &format!("{SLEEP}wanted_by = [\"default\"\ndescription = \"x\"\n"),
    );
    v.write_unit("cy1", &format!("{SLEEP}after = [\"cy2\"]\n{WANTED}"));
    v.write_unit("cy2", &format!("{SLEEP}after = [\"cy1\"]\n{WANTED}"));
    v.write_unit("good", &format!("{SLEEP}{WANTED}"));
    v.write_unit(
        "needs_typo",
        &format!("{SLEEP}requires = [\"typo\"]\n{WANTED}"),
    );
    v.start();
    v.wait_state("good", "running");

    let units = v.units_dir();
    let file = |n: &str| units.join(format!("{n}.toml")).display().to_string();
    v.wait_log(&format!(
        "{}:2:1: error: unknown key `restrat`; did you mean `restart`?",
        file("typo")
    ));
    v.wait_log(&format!("{}:3:1: error: TOML syntax: ", file("syntax")));
    let log = v.log();
    let cycle = log
        .lines()
        .find(|l| l.contains(&format!("{}:2:10: error: ordering cycle", file("cy1"))))
        .unwrap_or_else(|| panic!("no cycle message for cy1; log:\n{log}"));
    assert!(
        cycle.contains("cy1 -> cy2 -> cy1") || cycle.contains("cy2 -> cy1 -> cy2"),
        "{cycle}"
    );
    // Every problem is reported, not just the first.
    assert!(log.contains(&format!("{}:2:10:", file("cy2"))), "{log}");

    let names = v.list_names();
    for skipped in ["typo", "syntax", "cy1", "cy2"] {
        assert!(
            !names.contains(&skipped.to_string()),
            "{skipped} loaded: {names:?}"
        );
    }
    assert!(names.contains(&"good".to_string()), "{names:?}");
    // A unit requiring a skipped one does not run (it is skipped or failed).
    if names.contains(&"needs_typo".to_string()) {
        assert_ne!(v.state("needs_typo"), "running");
    }
    // vigil itself reads no client-named files: `check` is not a request
    // it serves (vigilctl lints by itself and reports the same problems).
    let r = v.request(json!({"verb": "check"}));
    assert_eq!(r["ok"], json!(false), "{r}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigilctl"))
        .arg("check")
        .arg(v.units_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|d| d.contains("did you mean `restart`?") && d.contains(":2:1:")),
        "{text}"
    );
}

fn pid_of(st: &Value) -> i64 {
    st["summary"]["pid"].as_i64().unwrap_or(0)
}

#[test]
fn reload_adds_removes_and_keeps_broken_units() {
    let mut v = Vigil::new();
    let keep = format!("{}; exec sleep 60", v.mark("keep", "v1"));
    v.write_unit("keep", &format!("{}{WANTED}", Vigil::sh(&keep)));
    v.write_unit("old", &format!("{SLEEP}{WANTED}"));
    v.start();
    let keep_pid = pid_of(&v.wait_state("keep", "running"));
    let old_pid = pid_of(&v.wait_state("old", "running"));

    // Add one, remove one, break one.
    v.write_unit("new", &format!("{SLEEP}{WANTED}"));
    v.remove_unit("old");
    v.write_unit(
        "keep",
        &format!("{}restart = \"sometimes\"\n{WANTED}", Vigil::sh(&keep)),
    );
    let r = v.request(json!({"verb": "reload"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let body = &r["body"];
    assert_eq!(body["added"], json!(["new"]), "{r}");
    assert_eq!(body["removed"], json!(["old"]), "{r}");
    assert_eq!(body["changed"], json!([]), "{r}");
    let diags = body["diagnostics"].as_array().unwrap();
    assert!(
        diags.iter().any(|d| {
            let d = d.as_str().unwrap();
            d.contains("keep.toml:2:11:") && d.contains("restart")
        }),
        "{r}"
    );

    v.wait_state("new", "running");
    assert!(
        wait_until(TIMEOUT, || !v.list_names().contains(&"old".to_string())),
        "old still listed: {:?}",
        v.list_names()
    );
    assert!(wait_until(TIMEOUT, || !pid_alive(old_pid as i32)));
    let st = v.status("keep");
    assert_eq!(st["summary"]["state"], json!("running"), "{st}");
    assert_eq!(pid_of(&st), keep_pid, "broken file restarted keep: {st}");

    // Fix it with a new command: applies on the next start, not before.
    let keep2 = format!("{}; exec sleep 60", v.mark("keep", "v2"));
    v.write_unit("keep", &format!("{}{WANTED}", Vigil::sh(&keep2)));
    let r = v.request(json!({"verb": "reload"}));
    assert_eq!(r["body"]["changed"], json!(["keep"]), "{r}");
    assert_eq!(r["body"]["diagnostics"], json!([]), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(pid_of(&v.status("keep")), keep_pid);
    let r = v.request(json!({"verb": "restart", "names": ["keep"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    v.event_at("keep", "v2");
    let st = v.wait_state("keep", "running");
    assert_ne!(pid_of(&st), keep_pid);
}

#[test]
fn start_and_stop_of_unknown_units_are_reported() {
    let mut v = Vigil::new();
    v.write_unit("a", &format!("{SLEEP}{WANTED}"));
    v.start();
    let r = v.request(json!({"verb": "start", "names": ["nope"]}));
    let results = &r["body"]["results"];
    assert_eq!(results[0]["ok"], json!(false), "{r}");
    assert!(
        results[0]["message"]
            .as_str()
            .unwrap()
            .contains("no such unit"),
        "{r}"
    );
    let r = v.request(json!({"verb": "status", "names": ["a", "nope"]}));
    assert_eq!(r["body"]["unknown"], json!(["nope"]), "{r}");
}

#[test]
fn target_option_and_enablement_links() {
    let mut v = Vigil::new();
    v.write_unit("rescue", "type = \"target\"\ndescription = \"Rescue\"\n");
    v.write_unit("shell", &format!("{SLEEP}wanted_by = [\"rescue\"]\n"));
    v.write_unit("normal", &format!("{SLEEP}{WANTED}"));
    // `linked` is enabled for rescue by a link; `masked` is disabled by a
    // /dev/null link although its file says wanted_by rescue.
    v.write_unit("linked", SLEEP);
    let wants = v.units_dir().join("rescue.wants");
    std::fs::create_dir(&wants).unwrap();
    std::os::unix::fs::symlink("../linked.toml", wants.join("linked.toml")).unwrap();
    v.write_unit("masked", &format!("{SLEEP}wanted_by = [\"rescue\"]\n"));
    std::os::unix::fs::symlink("/dev/null", wants.join("masked.toml")).unwrap();
    v.start_with_args(&["--target", "rescue"]);

    v.wait_state("rescue", "running");
    v.wait_state("shell", "running");
    v.wait_state("linked", "running");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(v.state("normal"), "inactive");
    assert_eq!(v.state("masked"), "inactive");
    let r = v.request(json!({"verb": "status"}));
    assert_eq!(r["body"]["target"], json!("rescue"), "{r}");
}
