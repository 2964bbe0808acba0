//! The control socket of the real vigil: authorization by peer credentials
//! with a real unprivileged user, and robustness against bad clients.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{read_reply, send_line, Vigil};
use serde_json::{json, Value};

const WANTED: &str = "wanted_by = [\"default\"]\n";

/// Sends each line on one connection as uid/gid 65534 (nobody) and returns
/// the reply lines, parsed.
fn as_nobody(v: &Vigil, lines: &[&str]) -> Vec<Value> {
    const CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
f = s.makefile("rwb")
for line in sys.argv[2:]:
    f.write(line.encode() + b"\n")
    f.flush()
    sys.stdout.write(f.readline().decode())
"#;
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            CLIENT,
        ])
        .arg(v.socket())
        .args(lines)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client as nobody failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn running_vigil() -> Vigil {
    let mut v = Vigil::new();
    v.write_unit("svc", &format!("exec = [\"sleep\", \"60\"]\n{WANTED}"));
    v.start();
    v.wait_state("svc", "running");
    v
}

#[test]
fn unprivileged_users_may_only_list_and_status() {
    let mut v = running_vigil();
    let pid = v.status("svc")["summary"]["pid"].clone();

    let replies = as_nobody(
        &v,
        &[
            r#"{"version":1,"verb":"list"}"#,
            r#"{"version":1,"verb":"status","names":["svc"]}"#,
            r#"{"version":1,"verb":"start","names":["svc"]}"#,
            r#"{"version":1,"verb":"stop","names":["svc"]}"#,
            r#"{"version":1,"verb":"restart","names":["svc"]}"#,
            r#"{"version":1,"verb":"reload"}"#,
            r#"{"version":1,"verb":"poweroff"}"#,
            r#"{"version":1,"verb":"list"}"#,
        ],
    );
    assert_eq!(replies.len(), 8, "{replies:?}");
    assert_eq!(replies[0]["ok"], json!(true), "{}", replies[0]);
    assert_eq!(replies[0]["body"]["kind"], json!("list"));
    assert_eq!(replies[1]["ok"], json!(true), "{}", replies[1]);
    assert_eq!(
        replies[1]["body"]["units"][0]["summary"]["state"],
        json!("running")
    );
    for r in &replies[2..7] {
        assert_eq!(r["ok"], json!(false), "{r}");
        let err = r["error"].as_str().unwrap_or("");
        assert!(err.contains("permission denied"), "{r}");
    }
    // The connection survives denials.
    assert_eq!(replies[7]["ok"], json!(true), "{}", replies[7]);

    // Nothing happened: same pid, vigil alive, root still in charge.
    std::thread::sleep(Duration::from_millis(300));
    assert!(v.alive());
    let st = v.status("svc");
    assert_eq!(st["summary"]["state"], json!("running"));
    assert_eq!(st["summary"]["pid"], pid);
    let r = v.request(json!({"verb": "restart", "names": ["svc"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let st = v.wait_state("svc", "running");
    assert_ne!(
        st["summary"]["pid"], pid,
        "restart as root did nothing: {st}"
    );
}

#[test]
fn garbage_gets_an_error_and_the_connection_keeps_working() {
    let v = running_vigil();
    let mut s = v.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for bad in [
        "this is not json",
        "[1,2,3]",
        r#"{"verb":"list"}"#,
        r#"{"version":99,"verb":"list"}"#,
        r#"{"version":1,"verb":"explode"}"#,
        r#"{"version":1,"verb":"status","names":"svc"}"#,
    ] {
        send_line(&mut s, bad);
        let reply = read_reply(&mut r);
        assert_eq!(reply["ok"], json!(false), "{bad}: {reply}");
        assert!(
            !reply["error"].as_str().unwrap_or("").is_empty(),
            "{bad}: {reply}"
        );
        assert_eq!(reply["version"], json!(1), "{reply}");
    }
    send_line(&mut s, r#"{"version":1,"verb":"status","names":["svc"]}"#);
    let reply = read_reply(&mut r);
    assert_eq!(reply["ok"], json!(true), "{reply}");
    // Two requests in one write, answered in order.
    s.write_all(b"{\"version\":1,\"verb\":\"list\"}\n{\"version\":1,\"verb\":\"status\",\"names\":[\"svc\"]}\n")
        .unwrap();
    assert_eq!(read_reply(&mut r)["body"]["kind"], json!("list"));
    assert_eq!(read_reply(&mut r)["body"]["kind"], json!("status"));
}

#[test]
fn oversized_request_gets_an_error_or_a_close() {
    let mut v = running_vigil();
    let mut s = v.connect();
    let mut big = vec![b'x'; 100 * 1024];
    big.push(b'\n');
    // vigil may close before reading it all; a failed write is fine.
    let _ = s.write_all(&big);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    if let Some(line) = text.lines().next() {
        let reply: Value = serde_json::from_str(line).unwrap();
        assert_eq!(reply["ok"], json!(false), "{reply}");
        assert!(
            reply["error"].as_str().unwrap().contains("too long"),
            "{reply}"
        );
    }
    assert!(text.lines().count() <= 1, "more than one reply: {text}");
    assert!(v.alive());
    assert_eq!(v.state("svc"), "running");
}

#[test]
fn truncated_request_then_eof() {
    let mut v = running_vigil();
    let mut s = v.connect();
    s.write_all(br#"{"version":1,"verb":"sto"#).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    if let Some(line) = answer.lines().next() {
        let reply: Value = serde_json::from_str(line).unwrap();
        assert_eq!(reply["ok"], json!(false), "{reply}");
    }
    // A client that vanishes mid-line entirely.
    {
        let mut s = v.connect();
        s.write_all(br#"{"version":1,"#).unwrap();
    }
    assert!(v.alive());
    assert_eq!(v.state("svc"), "running");
}

#[test]
fn a_slow_client_does_not_block_others() {
    let v = running_vigil();
    let mut slow = v.connect();
    slow.write_all(br#"{"version":1,"verb":"#).unwrap();

    // Another client is answered while the slow one holds its half line.
    // vigil cuts the slow client after several seconds; the other one
    // must not have to wait for that.
    let t = Instant::now();
    let r = v.request(json!({"verb": "list"}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let r = v.request(json!({"verb": "status", "names": ["svc"]}));
    assert_eq!(r["ok"], json!(true), "{r}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "other clients waited {:?} behind a slow one",
        t.elapsed()
    );

    // The slow client is eventually told off or closed, not kept forever.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = BufReader::new(slow);
    let mut line = String::new();
    let n = r.read_line(&mut line).unwrap_or(0);
    if n > 0 {
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["ok"], json!(false), "{reply}");
    }
}

#[test]
fn pipelined_replies_come_in_request_order() {
    let mut v = Vigil::new();
    let slow = format!(
        "sleep 1; {}; /usr/bin/systemd-notify --ready; exec sleep 60",
        v.mark("slow", "ready")
    );
    v.write_unit("slow", &format!("type = \"notify\"\n{}", Vigil::sh(&slow)));
    v.start();
    v.write_unit("quick", "exec = [\"sleep\", \"60\"]\n");
    let mut s = v.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    // A blocking start, garbage, a start that finishes first, and a list, in
    // one write: one reply per request, in the order asked (the protocol
    // has no request ids).
    s.write_all(
        concat!(
            "{\"version\":1,\"verb\":\"start\",\"names\":[\"slow\"]}\n",
            "garbage\n",
            "{\"version\":1,\"verb\":\"start\",\"names\":[\"quick\"]}\n",
            "{\"version\":1,\"verb\":\"list\"}\n",
        )
        .as_bytes(),
    )
    .unwrap();
    let replies: Vec<Value> = (0..4).map(|_| read_reply(&mut r)).collect();
    assert_eq!(
        replies[0]["body"]["results"][0]["name"],
        json!("slow"),
        "first reply is not the first start's: {replies:?}"
    );
    assert_eq!(replies[1]["ok"], json!(false), "{replies:?}");
    assert_eq!(
        replies[2]["body"]["results"][0]["name"],
        json!("quick"),
        "{replies:?}"
    );
    assert_eq!(replies[3]["body"]["kind"], json!("list"), "{replies:?}");
}

#[test]
fn idle_connections_of_an_unprivileged_user_do_not_lock_out_root() {
    let v = running_vigil();
    // nobody opens many connections and sends nothing on them.
    const HOG: &str = r#"
import socket, sys, time
socks = []
for i in range(200):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    socks.append(s)
print("ready", flush=True)
time.sleep(30)
"#;
    let mut hog = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            HOG,
        ])
        .arg(v.socket())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(hog.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    std::thread::sleep(Duration::from_millis(200));
    let r = v.request(json!({"verb": "status", "names": ["svc"]}));
    let _ = hog.kill();
    let _ = hog.wait();
    assert_eq!(
        r["ok"],
        json!(true),
        "root was refused while nobody held idle connections: {r}"
    );
}
