//! Start-up ordering and parallelism of the real vigil, observed through
//! timestamps that the services write themselves.

mod common;

use common::{Vigil, TIMEOUT};

const WANTED: &str = "wanted_by = [\"default\"]\n";

#[test]
fn after_and_before_order_starts() {
    let mut v = Vigil::new();
    // first <- second (after on the dependent) and second -> third declared as
    // `before` on the earlier side. Each is a oneshot that takes a while, so a
    // unit that starts too early would write its mark before the other finishes.
    let first = format!("sleep 0.5; {}", v.mark("first", "done"));
    v.write_unit(
        "first",
        &format!("type = \"oneshot\"\n{}{WANTED}", Vigil::sh(&first)),
    );
    let second = format!(
        "{}; sleep 0.5; {}",
        v.mark("second", "start"),
        v.mark("second", "done")
    );
    v.write_unit(
        "second",
        &format!(
            "type = \"oneshot\"\nafter = [\"first\"]\nbefore = [\"third\"]\n{}{WANTED}",
            Vigil::sh(&second)
        ),
    );
    let third = format!("{}; sleep 30", v.mark("third", "start"));
    v.write_unit("third", &format!("{}{WANTED}", Vigil::sh(&third)));
    v.start();

    let third_start = v.event_at("third", "start");
    let first_done = v.event_at("first", "done");
    let second_start = v.event_at("second", "start");
    let second_done = v.event_at("second", "done");
    assert!(
        first_done < second_start,
        "second (after = first) started before first finished: {:?}",
        v.events()
    );
    assert!(
        second_done < third_start,
        "third (second has before = third) started before second finished: {:?}",
        v.events()
    );
    v.wait_state("third", "running");
    assert_eq!(v.state("first"), "exited");
}

#[test]
fn notify_readiness_delays_the_unit_ordered_after_it() {
    let mut v = Vigil::new();
    let svc = format!(
        "{}; sleep 1; {}; /usr/bin/systemd-notify --ready; sleep 30",
        v.mark("slow", "start"),
        v.mark("slow", "ready")
    );
    v.write_unit(
        "slow",
        &format!("type = \"notify\"\n{}{WANTED}", Vigil::sh(&svc)),
    );
    let dependent = format!("{}; sleep 30", v.mark("dependent", "start"));
    v.write_unit(
        "dependent",
        &format!("after = [\"slow\"]\n{}{WANTED}", Vigil::sh(&dependent)),
    );
    v.start();

    let ready = v.event_at("slow", "ready");
    let dep = v.event_at("dependent", "start");
    assert!(
        dep > ready,
        "dependent started before slow sent READY=1: {:?}",
        v.events()
    );
    v.wait_state("slow", "running");
    v.wait_state("dependent", "running");
}

#[test]
fn independent_units_start_in_parallel() {
    const N: usize = 6;
    let mut v = Vigil::new();
    for i in 0..N {
        let script = format!(
            "{}; sleep 1; {}",
            v.mark(&format!("p{i}"), "start"),
            v.mark(&format!("p{i}"), "done")
        );
        v.write_unit(
            &format!("p{i}"),
            &format!("type = \"oneshot\"\n{}{WANTED}", Vigil::sh(&script)),
        );
    }
    v.start();
    assert!(
        common::wait_until(TIMEOUT, || v
            .events()
            .iter()
            .filter(|e| e.what == "done")
            .count()
            == N),
        "not every unit finished: {:?}\nlog:\n{}",
        v.events(),
        v.log()
    );
    let starts: Vec<u128> = v
        .events()
        .iter()
        .filter(|e| e.what == "start")
        .map(|e| e.at_ns)
        .collect();
    assert_eq!(starts.len(), N);
    let spread = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    // Serial starts would spread over (N-1) seconds; parallel ones over milliseconds.
    assert!(
        spread < 2_500_000_000,
        "starts spread over {} ms: {:?}",
        spread / 1_000_000,
        v.events()
    );
}
