//! Restart policies, the exit history and the start limit of the real vigil.

mod common;

use std::time::Duration;

use common::{exit_outcomes, wait_until, Vigil, TIMEOUT};
use serde_json::json;

const WANTED: &str = "wanted_by = [\"default\"]\n";
/// Fast restarts and no start limit in the way.
const QUICK: &str =
    "restart_delay = \"50ms\"\nrestart_delay_max = \"100ms\"\nstart_limit_burst = 1000\n";

fn runs(v: &Vigil, name: &str) -> usize {
    v.events().iter().filter(|e| e.name == name).count()
}

#[test]
fn restart_policies() {
    let mut v = Vigil::new();
    let unit = |v: &Vigil, name: &str, restart: &str, code: i32| {
        let script = format!("{}; sleep 0.1; exit {code}", v.mark(name, "run"));
        v.write_unit(
            name,
            &format!(
                "restart = \"{restart}\"\n{QUICK}{}{WANTED}",
                Vigil::sh(&script)
            ),
        );
    };
    unit(&v, "always_clean", "always", 0);
    unit(&v, "onfail_bad", "on-failure", 1);
    unit(&v, "onfail_clean", "on-failure", 0);
    unit(&v, "never_bad", "never", 1);
    v.start();

    // The restarting units run again and again.
    for name in ["always_clean", "onfail_bad"] {
        assert!(
            wait_until(TIMEOUT, || runs(&v, name) >= 3),
            "{name} was not restarted: {:?}\nlog:\n{}",
            v.events(),
            v.log()
        );
        let st = v.status(name);
        assert!(st["restarts"].as_u64().unwrap() >= 2, "{name}: {st}");
        let exits = exit_outcomes(&st);
        assert!(exits.len() >= 2, "{name}: exit history too short: {st}");
        let code = if name == "always_clean" { 0 } else { 1 };
        for e in &st["exits"].as_array().unwrap()[..2] {
            assert_eq!(e["code"], json!(code), "{name}: {st}");
            assert_eq!(
                e["outcome"],
                json!(format!("exited {code}")),
                "{name}: {st}"
            );
            assert!(e["pid"].as_i64().unwrap() > 0, "{name}: {st}");
            assert!(e["at_unix"].as_f64().unwrap() > 1.0e9, "{name}: {st}");
            // Each run slept 100 ms.
            assert!(e["runtime_ms"].as_u64().unwrap() >= 50, "{name}: {st}");
        }
    }

    // The others ran once and stay down.
    let clean = v.wait_state("onfail_clean", "exited");
    v.wait_state("never_bad", "failed");
    // Give a wrong restart time to happen.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&v, "onfail_clean"), 1, "{:?}", v.events());
    assert_eq!(runs(&v, "never_bad"), 1, "{:?}", v.events());
    assert_eq!(clean["restarts"], json!(0), "{clean}");
    assert_eq!(exit_outcomes(&clean), vec!["exited 0"], "{clean}");
    let bad = v.status("never_bad");
    assert_eq!(bad["restarts"], json!(0), "{bad}");
    assert_eq!(exit_outcomes(&bad), vec!["exited 1"], "{bad}");
    assert_eq!(bad["summary"]["state"], json!("failed"));
    assert!(
        bad["summary"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("exited 1"),
        "{bad}"
    );
}

#[test]
fn start_limit_fails_the_unit_until_a_manual_start() {
    let mut v = Vigil::new();
    let flag = v.dir().join("healthy");
    // Fails until the flag file exists, then stays up.
    let script = format!(
        "{}; if [ -e {} ]; then exec sleep 30; fi; exit 3",
        v.mark("flaky", "run"),
        flag.display()
    );
    v.write_unit(
        "flaky",
        &format!(
            "restart = \"on-failure\"\nrestart_delay = \"50ms\"\nstart_limit_burst = 3\nstart_limit_interval = \"30s\"\n{}{WANTED}",
            Vigil::sh(&script)
        ),
    );
    v.start();

    let st = v.wait_state("flaky", "failed");
    let reason = st["summary"]["reason"].as_str().unwrap_or("");
    assert!(reason.starts_with("start limit hit"), "{st}");
    let runs_at_limit = runs(&v, "flaky");
    assert!((3..=4).contains(&runs_at_limit), "{:?}", v.events());
    assert!(exit_outcomes(&st).iter().all(|o| o == "exited 3"), "{st}");
    v.wait_log("start limit hit");
    // It stays failed: no further automatic start.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(runs(&v, "flaky"), runs_at_limit);
    assert_eq!(v.state("flaky"), "failed");

    std::fs::write(&flag, "").unwrap();
    let r = v.request(json!({"verb": "start", "names": ["flaky"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let results = &r["body"]["results"];
    assert_eq!(results[0]["name"], json!("flaky"), "{r}");
    assert_eq!(results[0]["ok"], json!(true), "{r}");
    let st = v.wait_state("flaky", "running");
    assert!(st["summary"]["pid"].as_i64().unwrap() > 0, "{st}");
    assert!(
        wait_until(TIMEOUT, || runs(&v, "flaky") == runs_at_limit + 1),
        "{:?}",
        v.events()
    );
}

#[test]
fn stop_wins_over_restart_always() {
    let mut v = Vigil::new();
    v.write_unit(
        "forever",
        &format!("restart = \"always\"\n{QUICK}exec = [\"sleep\", \"60\"]\n{WANTED}"),
    );
    let looping = format!("{}; exit 1", v.mark("looping", "run"));
    v.write_unit(
        "looping",
        &format!(
            "restart = \"always\"\nrestart_delay = \"2s\"\nrestart_delay_max = \"2s\"\n{}{WANTED}",
            Vigil::sh(&looping)
        ),
    );
    v.start();
    let pid = v.wait_state("forever", "running")["summary"]["pid"]
        .as_i64()
        .unwrap();
    let r = v.request(json!({"verb": "stop", "names": ["forever"]}));
    assert_eq!(r["body"]["results"][0]["ok"], json!(true), "{r}");
    // Stopped during its restart delay.
    assert!(wait_until(TIMEOUT, || v.status("looping")["restarts"] == json!(1)));
    let r = v.request(json!({"verb": "stop", "names": ["looping"]}));
    assert_eq!(r["body"]["results"][0]["ok"], json!(true), "{r}");
    std::thread::sleep(Duration::from_millis(2500));
    let st = v.status("forever");
    assert_eq!(st["summary"]["state"], json!("inactive"), "{st}");
    assert!(!common::pid_alive(pid as i32));
    let st = v.status("looping");
    assert_eq!(st["summary"]["state"], json!("inactive"), "{st}");
    assert_eq!(runs(&v, "looping"), 1, "{:?}", v.events());
}
