//! signalfd + timerfd + epoll together, as the event loop uses them.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use vigil::runtime::pidfile::read_pid_file;
use vigil::runtime::poller::{Interest, Poller};
use vigil::runtime::signals::SignalFd;
use vigil::runtime::timer::{monotonic_now, Timer};

#[test]
fn signal_and_timer_wake_the_poller() {
    let sigs = SignalFd::new(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
    let timer = Timer::new().unwrap();
    let poller = Poller::new().unwrap();
    poller.add(sigs.as_raw_fd(), 1, Interest::READABLE).unwrap();
    poller
        .add(timer.as_raw_fd(), 2, Interest::READABLE)
        .unwrap();

    // Nothing pending: a short wait returns nothing.
    assert!(poller
        .wait(Some(Duration::from_millis(10)))
        .unwrap()
        .is_empty());

    // raise() targets this thread, which has the signals blocked.
    unsafe { libc::raise(libc::SIGUSR1) };
    let ready = poller.wait(Some(Duration::from_secs(10))).unwrap();
    assert!(
        ready.iter().any(|r| r.token == 1 && r.readable),
        "{ready:?}"
    );
    let signals: Vec<i32> = sigs.read_all_with_sender().iter().map(|s| s.0).collect();
    assert_eq!(signals, vec![libc::SIGUSR1]);
    assert!(sigs.read_all_with_sender().is_empty());

    let start = monotonic_now();
    timer.arm_at(start + Duration::from_millis(50)).unwrap();
    let t0 = Instant::now();
    let mut fired = false;
    while t0.elapsed() < Duration::from_secs(10) {
        let ready = poller.wait(Some(Duration::from_secs(10))).unwrap();
        if ready.iter().any(|r| r.token == 2) {
            fired = true;
            break;
        }
    }
    assert!(fired);
    assert!(monotonic_now() >= start + Duration::from_millis(50));
    assert_eq!(timer.drain(), 1);
    assert_eq!(timer.drain(), 0);

    // A deadline in the past fires at once; disarm cancels a future one.
    timer.arm_at(Duration::ZERO).unwrap();
    let ready = poller.wait(Some(Duration::from_secs(10))).unwrap();
    assert!(ready.iter().any(|r| r.token == 2));
    timer.drain();
    timer
        .arm_at(monotonic_now() + Duration::from_millis(30))
        .unwrap();
    timer.disarm().unwrap();
    assert!(poller
        .wait(Some(Duration::from_millis(200)))
        .unwrap()
        .is_empty());

    poller.delete(timer.as_raw_fd()).unwrap();
    timer.arm_at(Duration::ZERO).unwrap();
    assert!(poller
        .wait(Some(Duration::from_millis(50)))
        .unwrap()
        .is_empty());
}

#[test]
fn poller_reports_writable_and_hangup() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let poller = Poller::new().unwrap();
    poller.add(a.as_raw_fd(), 7, Interest::READABLE).unwrap();
    assert!(poller
        .wait(Some(Duration::from_millis(10)))
        .unwrap()
        .is_empty());
    poller
        .modify(
            a.as_raw_fd(),
            7,
            Interest {
                readable: true,
                writable: true,
            },
        )
        .unwrap();
    let ready = poller.wait(Some(Duration::from_secs(5))).unwrap();
    assert!(ready
        .iter()
        .any(|r| r.token == 7 && r.writable && !r.hangup));
    poller.modify(a.as_raw_fd(), 7, Interest::READABLE).unwrap();
    drop(b);
    let ready = poller.wait(Some(Duration::from_secs(5))).unwrap();
    assert!(ready.iter().any(|r| r.token == 7 && r.hangup), "{ready:?}");
}

#[test]
fn pid_file_messages() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pid");
    assert!(read_pid_file(&p).unwrap_err().contains("does not exist"));
    std::fs::write(&p, "\n").unwrap();
    assert!(read_pid_file(&p).unwrap_err().contains("is empty"));
    std::fs::write(&p, "abc\n").unwrap();
    assert!(read_pid_file(&p)
        .unwrap_err()
        .contains("does not hold a number"));
    std::fs::write(&p, "0\n").unwrap();
    assert!(read_pid_file(&p).unwrap_err().contains("invalid pid"));
    // A pid that surely is not running (above the default pid_max).
    std::fs::write(&p, "4194303\n").unwrap();
    assert!(read_pid_file(&p).unwrap_err().contains("not running"));
    let me = std::process::id() as i32;
    std::fs::write(&p, format!("{me}\n")).unwrap();
    assert_eq!(read_pid_file(&p).map(|f| f.pid), Ok(me));
}
