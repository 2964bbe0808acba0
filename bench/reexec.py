#!/usr/bin/env python3
"""Issue-11 re-exec benchmark: vigil (release build, supervisor mode)
supervises N `sleep` units; `daemon-reexec` is sent over the control socket
and timed from the request to the new image answering `list`. A second
client loops on `status` meanwhile: the longest gap between two of its
replies is the control-socket outage. Floors, measured in the same run:
one fork+exec of the same binary (`vigil --check-reexec`, the probe every
re-exec runs first) and a cold start of vigil with the same N units up to
its socket answering `list` (what a restart of the supervisor would cost,
services aside). Run from the repository after `cargo build --release`:

    python3 bench/reexec.py [--n 100,1000] [--reps 5]

See docs/benchmarks.md.
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/vigil")


def request(sock_path, verb, timeout=30.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall((json.dumps({"version": 1, "verb": verb}) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf) if buf else None


def wait_socket(path, proc, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            r = request(path, "list", timeout=5)
            if r and r.get("ok"):
                return
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit(f"vigil exited: {proc.returncode}")
        time.sleep(0.005)
    sys.exit("vigil's socket never answered")


def setup(n):
    d = tempfile.mkdtemp(prefix="vigil-reexec-bench.")
    units = os.path.join(d, "units")
    os.mkdir(units)
    for i in range(n):
        with open(os.path.join(units, f"s{i:04}.toml"), "w") as f:
            f.write('exec = ["/bin/sleep", "1000000"]\nwanted_by = ["default"]\n')
    return d


def start(d):
    sock = os.path.join(d, "control")
    log = open(os.path.join(d, "vigil.out"), "w")
    p = subprocess.Popen([VIGIL, "--units", os.path.join(d, "units"), "--socket", sock,
                          "--config", os.path.join(d, "vigil.toml")], stdout=log, stderr=log)
    return p, sock


def all_running(sock, n):
    r = request(sock, "list")
    units = r["body"]["units"]
    return sum(1 for u in units if u["state"] == "running" and u.get("pid")) == n


def stop(p):
    p.terminate()
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cold_start(d, n):
    t0 = time.monotonic()
    p, sock = start(d)
    wait_socket(sock, p)
    took = time.monotonic() - t0
    return p, sock, took


def reexec_once(sock, pid):
    gaps = []
    done = threading.Event()

    def poll():
        last = time.monotonic()
        while not done.is_set():
            try:
                r = request(sock, "status", timeout=10)
                ok = r is not None and r.get("ok")
            except OSError:
                ok = False
            now = time.monotonic()
            if ok:
                gaps.append(now - last)
                last = now

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    r = request(sock, "daemon_reexec")
    if not r or not r.get("ok"):
        done.set(); t.join()
        sys.exit(f"daemon-reexec failed: {r}")
    l = request(sock, "list")
    took = time.monotonic() - t0
    time.sleep(0.05)
    done.set()
    t.join()
    assert l and l.get("ok"), l
    return took, r["body"]["took_secs"], max(gaps) if gaps else float("nan")


def probe_floor(reps=20):
    times = []
    for _ in range(reps):
        t0 = time.monotonic()
        subprocess.run([VIGIL, "--check-reexec"], stdout=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="100,1000")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if not os.path.exists(VIGIL):
        sys.exit("build first: cargo build --release")
    floor = probe_floor()
    print(f"floor: fork+exec of vigil --check-reexec, median of 20: {floor * 1000:.2f} ms")
    print()
    print("| N | daemon-reexec to `list` answered | of which in vigil (report) | status outage (max gap) | cold start to `list` | ratio re-exec / cold start |")
    print("|---|---|---|---|---|---|")
    for n in [int(x) for x in a.n.split(",")]:
        d = setup(n)
        colds, totals, inner, outages = [], [], [], []
        try:
            for rep in range(a.reps):
                p, sock, cold = cold_start(d, n)
                colds.append(cold)
                end = time.monotonic() + 120
                while not all_running(sock, n):
                    if time.monotonic() > end:
                        sys.exit("units never all running")
                    time.sleep(0.1)
                time.sleep(0.3)
                pids_before = {u["name"]: u.get("pid") for u in request(sock, "list")["body"]["units"]}
                took, took_inner, outage = reexec_once(sock, p.pid)
                pids_after = {u["name"]: u.get("pid") for u in request(sock, "list")["body"]["units"]}
                assert pids_after == pids_before, "pids changed across the re-exec"
                totals.append(took); inner.append(took_inner); outages.append(outage)
                stop(p)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        med = statistics.median
        print(f"| {n} | {med(totals) * 1000:.1f} ms ({min(totals) * 1000:.1f}-{max(totals) * 1000:.1f}) "
              f"| {med(inner) * 1000:.1f} ms | {med(outages) * 1000:.1f} ms "
              f"| {med(colds) * 1000:.1f} ms | {med(totals) / med(colds):.2f} |")


if __name__ == "__main__":
    main()
