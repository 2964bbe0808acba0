#!/usr/bin/env python3
"""Issue-9 log capture benchmark: one writer prints lines as fast as it can
for S seconds (`timeout S yes LINE`; or N lines, `yes LINE | head -n N`,
with --lines) and each capturer (vigil, s6-log, svlogd, plus `cat`
into a file as the floor) takes the whole stream to disk with a timestamp on
every line and size-based rotation. Prints lines/s, MB/s and CPU seconds per
MB of the capturing process, all measured in the same run; then the latency
of `status` of another unit over vigil's control socket, idle and during a
flood. Run as root from the repository after `cargo build --release`:

    python3 bench/log-flood.py [--seconds S | --lines N] [--reps R]

Lines per second are the lines found in the capturer's files over the time
from the writer's start until the capturer has written the last one.

Needs Debian's s6 and runit packages (s6-log, svlogd). See docs/benchmarks.md.
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/vigil")
LINE = "x" * 99  # 100 bytes with the newline
ROTATE = 16 << 20  # 16 MiB files
KEEP = 400         # enough that nothing is rotated away during a run (6.4 GB)


def writer(amount):
    """The writer's shell command: ("lines", N) or ("seconds", S)."""
    kind, value = amount
    if kind == "lines":
        return f"yes {LINE} | head -n {value}"
    return f"timeout {value} yes {LINE}"


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lines_in(d):
    total = 0
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isfile(p) and not name.startswith(("lock", "config", "state", "newstate", "processor", "vigil.log")):
            with open(p, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    total += b.count(b"\n")
    return total


def run_pipe_logger(argv, amount, work):
    """writer | logger: wall and logger CPU from start to the logger's exit."""
    start = time.monotonic()
    source = subprocess.Popen(["sh", "-c", writer(amount)], stdout=subprocess.PIPE)
    logger = subprocess.Popen(argv, stdin=source.stdout, cwd=work)
    source.stdout.close()
    source.wait()
    _, status, usage = os.wait4(logger.pid, 0)
    wall = time.monotonic() - start
    return wall, usage.ru_utime + usage.ru_stime


def request(sock_path, req):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    req["version"] = 1
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf)


def start_vigil(work, units):
    os.makedirs(os.path.join(work, "units"))
    for name, toml in units.items():
        with open(os.path.join(work, "units", name + ".toml"), "w") as f:
            f.write(toml)
    with open(os.path.join(work, "vigil.toml"), "w") as f:
        f.write(f'log_max_size = {ROTATE}\nlog_keep = {KEEP}\n')
    sock = os.path.join(work, "ctl")
    p = subprocess.Popen([VIGIL, "--units", os.path.join(work, "units"), "--socket", sock,
                          "--config", os.path.join(work, "vigil.toml"), "--log-dir", os.path.join(work, "log")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        if os.path.exists(sock):
            try:
                request(sock, {"verb": "list"})
                return p, sock
            except OSError:
                pass
        time.sleep(0.01)
    raise SystemExit("vigil did not come up")


def state(sock, name):
    r = request(sock, {"verb": "status", "names": [name]})
    return r["body"]["units"][0]["summary"]["state"]


def run_vigil(amount, work):
    units = {"flood": f'exec = ["/bin/sh", "-c", "{writer(amount)}"]\n'}
    p, sock = start_vigil(work, units)
    try:
        cpu0 = cpu_of(p.pid)
        start = time.monotonic()
        request(sock, {"verb": "start", "names": ["flood"], "no_block": True})
        while state(sock, "flood") not in ("inactive", "failed", "exited"):
            time.sleep(0.005)
        wall = time.monotonic() - start
        cpu = cpu_of(p.pid) - cpu0
        got = lines_in(os.path.join(work, "log")) 
    finally:
        p.terminate()
        p.wait()
    return wall, cpu, got


def status_latency(sock, count=200):
    times = []
    for _ in range(count):
        t = time.monotonic()
        request(sock, {"verb": "status", "names": ["quiet"]})
        times.append((time.monotonic() - t) * 1000)
    return times


def summary(times):
    times = sorted(times)
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def latency(work, rounds=5):
    """Idle and flood samples interleaved, `rounds` times, so that the
    machine's drift touches both alike."""
    units = {
        "quiet": 'exec = ["sleep", "600"]\nwanted_by = ["default"]\n',
        "flood": f'exec = ["yes", "{LINE}"]\n',
        # The same load on the machine, its output not captured: what the
        # CPUs' contention alone costs a request.
        "uncaptured": f'exec = ["yes", "{LINE}"]\nstdout = "null"\n',
    }
    p, sock = start_vigil(work, units)
    idle, flood, uncaptured = [], [], []
    try:
        time.sleep(0.3)
        for _ in range(rounds):
            idle += status_latency(sock)
            request(sock, {"verb": "start", "names": ["flood"]})
            time.sleep(0.3)
            flood += status_latency(sock)
            request(sock, {"verb": "stop", "names": ["flood"]})
            request(sock, {"verb": "start", "names": ["uncaptured"]})
            time.sleep(0.3)
            uncaptured += status_latency(sock)
            request(sock, {"verb": "stop", "names": ["uncaptured"]})
            time.sleep(0.2)
    finally:
        p.terminate()
        p.wait()
    return summary(idle), summary(flood), summary(uncaptured)


def main():
    ap = argparse.ArgumentParser()
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--seconds", type=int, help="the writer runs this long (default 10)")
    how.add_argument("--lines", type=int, help="the writer prints this many lines")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    amount = ("lines", args.lines) if args.lines else ("seconds", args.seconds or 10)
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    for tool in ("s6-log", "svlogd"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} missing: apt-get install s6 runit")
    rows = {}
    for rep in range(args.reps):
        for name in ("floor (cat > file)", "vigil", "s6-log", "svlogd"):
            work = tempfile.mkdtemp(prefix="vigil-flood.", dir="/var/tmp")
            try:
                if name == "vigil":
                    wall, cpu, got = run_vigil(amount, work)
                else:
                    d = os.path.join(work, "log")
                    os.makedirs(d)
                    if name == "s6-log":
                        argv = ["s6-log", "-b", "t", f"s{ROTATE}", f"n{KEEP}", d]
                    elif name == "svlogd":
                        with open(os.path.join(d, "config"), "w") as f:
                            f.write(f"s{ROTATE}\nn{KEEP}\n")
                        argv = ["svlogd", "-tt", d]
                    else:
                        argv = ["sh", "-c", f"cat > {d}/current"]
                    wall, cpu = run_pipe_logger(argv, amount, work)
                    got = lines_in(d)
                if amount[0] == "lines" and got < amount[1]:
                    print(f"warning: {name} kept {got} of {amount[1]} lines", file=sys.stderr)
                # Per run: lines/s, MB/s, CPU s per MB.
                mb = got * 100 / 1e6
                rows.setdefault(name, []).append((got / wall, mb / wall, cpu / mb if mb else float("inf")))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    what = f"{amount[1]} lines" if amount[0] == "lines" else f"a writer running {amount[1]} s"
    print(f"{what} of 100-byte lines, median of {args.reps} runs, same machine, same run")
    print(f"{'capturer':<20} {'lines/s':>12} {'MB/s':>8} {'CPU s/MB':>10} {'vs s6-log':>10} {'vs svlogd':>10}")
    med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in rows.items()}
    for name, (lps, mbps, cpu_mb) in med.items():
        vs_s6 = lps / med["s6-log"][0]
        vs_sv = lps / med["svlogd"][0]
        print(f"{name:<20} {lps:>12,.0f} {mbps:>8.1f} {cpu_mb:>10.4f} {vs_s6:>9.2f}x {vs_sv:>9.2f}x")
    print("(vs columns: throughput ratio; above 1 is faster than the peer)")
    work = tempfile.mkdtemp(prefix="vigil-lat.", dir="/var/tmp")
    try:
        (i50, i99), (f50, f99), (u50, u99) = latency(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("vigilctl status of another unit over the control socket (ms; 5 rounds of 200 idle, then 200 during a flood):")
    print(f"{'':<21} {'median':>8} {'p99':>8}")
    print(f"{'idle':<21} {i50:>8.3f} {i99:>8.3f}")
    print(f"{'during a flood':<21} {f50:>8.3f} {f99:>8.3f}")
    print(f"{'same load, uncaptured':<21} {u50:>8.3f} {u99:>8.3f}")
    print(f"flood/idle median: {f50 / i50:.2f}x; flood/uncaptured: {f50 / u50:.2f}x")


if __name__ == "__main__":
    main()
