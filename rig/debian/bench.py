#!/usr/bin/env python3
"""Boot benchmark on the Debian rig (issue 10): vigil against finit, systemd and
the floor, on the same image, kernel and disk, in the same run.

    python3 rig/debian/bench.py [--runs 5] [--smp 2] [--disk-cache unsafe] [--image DIR]
                                [--inits vigil,finit,...]

For each init, RUNS boots of a fresh copy of the disk (rig/boot.sh), one at a
time. Each boot measures, from the initramfs's hand-off to the init (the line
"rig: handoff UPTIME INIT" on the console):
  sshd    the first SSH banner read through the forwarded port: sshd accepts
  login   "login:" read on ttyS1
then, 25 s after the hand-off (every init here is up by then), logs in as root on
ttyS1, reads PID 1's VmRSS (and again after the init's
own list and status commands, as an administrator's first look), sends the init's power-off
command and times it until "reboot: Power down" shows on the console, and runs
`e2fsck -n -f` on the disk. Times are host clock, 5 ms polling, counted from the
moment the hand-off line arrived; under TCG the guest's clock runs with the
host's, and the table's "from kernel" column adds the guest uptime the hand-off
line carries. The floor is two minimal inits (rig/debian/system/usr/local/sbin):
one remounts /, configures eth0 and runs sshd's own commands, one runs agetty
alone; a floor boot measures only its own target and is then killed. A third,
floor-ifupdown, runs Debian's `ifup -a` (networking.service, which ssh.service
is ordered after) in place of the floor's `ip`, and at power-off Debian's
`ifdown -a` (networking's ExecStop=): the least any init that keeps Debian's
units must do (it is not in the default --inits; its sshd is printed against
floor-sshd, and it has no login, so a line on ttyS1 is its power-off command).

Prints a table of medians (and min-max) and the ratios to the floor.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("RIG_CACHE", os.path.join(REPO, ".rig-cache"))

INITS = {
    "floor-sshd": {"init": "/usr/local/sbin/rig-floor-sshd", "wait": ["sshd"]},
    "floor-getty": {"init": "/usr/local/sbin/rig-floor-getty", "wait": ["login"]},
    "floor-ifupdown": {"init": "/usr/local/sbin/rig-floor-ifupdown", "wait": ["sshd"],
                       "poweroff": "poweroff", "no_login": True},
    "vigil": {"init": "/usr/sbin/vigil", "poweroff": "vigilctl poweroff",
              "use": "vigilctl list; vigilctl status ssh"},
    "finit": {"init": "/sbin/finit", "poweroff": "/lib/finit/initctl poweroff",
              "use": "/lib/finit/initctl status; /lib/finit/initctl status sshd"},
    "systemd": {"init": "/lib/systemd/systemd", "poweroff": "systemctl poweroff",
                "use": "systemctl list-units; systemctl status ssh"},
}
BOOT_TIMEOUT = 180.0
RSS_AT = 25.0  # seconds after the hand-off
POLL = 0.005


class Boot:
    """One guest: qemu through rig/boot.sh, its console file and ttyS1 socket."""

    def __init__(self, image, init, port, smp=1, disk_cache="writeback"):
        self.run = tempfile.mkdtemp(prefix="vigil-debbench-")
        self.console_path = os.path.join(self.run, "console.log")
        self.proc = subprocess.Popen(
            ["bash", os.path.join(REPO, "rig/boot.sh"), "--image", image, "--run", self.run,
             "--mode", "test", "--init", init, "--ssh-port", str(port), "--smp", str(smp),
             "--disk-cache", disk_cache],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.run, "qemu.stderr"), "wb"))
        self.port = port
        self.events = {}
        self.lock = threading.Lock()
        self.tty = None
        self.tty_buf = b""
        self.stop = False
        self.handoff_uptime = None
        threading.Thread(target=self._watch_console, daemon=True).start()
        threading.Thread(target=self._watch_tty, daemon=True).start()
        threading.Thread(target=self._probe_sshd, daemon=True).start()

    def mark(self, name):
        with self.lock:
            self.events.setdefault(name, time.monotonic())

    def console(self):
        try:
            with open(self.console_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _watch_console(self):
        while not self.stop:
            text = self.console()
            if "handoff" not in self.events:
                m = re.search(r"rig: handoff ([0-9.]+) ", text)
                if m:
                    self.mark("handoff")
                    self.handoff_uptime = float(m.group(1))
            if "reboot: Power down" in text:
                self.mark("powerdown")
            time.sleep(POLL)

    def _watch_tty(self):
        path = os.path.join(self.run, "ttyS1.sock")
        while not self.stop:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except OSError:
                time.sleep(POLL)
        else:
            return
        self.tty = s
        s.settimeout(POLL)
        while not self.stop:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.tty_buf += chunk
                if b"login:" in self.tty_buf:
                    self.events.setdefault("login", time.monotonic())

    def _probe_sshd(self):
        while not self.stop and "handoff" not in self.events:
            time.sleep(POLL)
        while not self.stop:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-"):
                        self.mark("sshd")
                        return
            except OSError:
                pass
            time.sleep(0.05)

    def wait(self, names, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(n in self.events for n in names):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(POLL)
        return False

    def tty_until(self, needle, timeout):
        end = time.monotonic() + timeout
        start = len(self.tty_buf)
        while time.monotonic() < end:
            with self.lock:
                if needle.encode() in self.tty_buf[start:]:
                    return self.tty_buf[start:].decode("utf-8", "replace")
            time.sleep(POLL)
        raise RuntimeError(f"{needle!r} not on ttyS1; it said {self.tty_buf[-400:]!r}")

    def send(self, text):
        self.tty.sendall(text.encode())

    def since_handoff(self, name):
        e = self.events
        return e[name] - e["handoff"] if name in e and "handoff" in e else None

    def close(self):
        self.stop = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def power_off(b, name, spec, out):
    """Types the init's power-off command on ttyS1, times it to "reboot: Power
    down", then checks the disk with e2fsck; adds both to `out`."""
    # Settle: let the boot's stragglers (udev's coldplug, cron's first
    # minute) finish, so power-off measures the stop, not a busy guest.
    time.sleep(3)
    t0 = time.monotonic()
    b.send(spec["poweroff"] + "\r")
    if not b.wait(["powerdown"], 120):
        raise RuntimeError(f"{name}: no 'reboot: Power down' after {spec['poweroff']}")
    out["poweroff"] = b.events["powerdown"] - t0
    b.proc.wait(timeout=60)
    fsck = subprocess.run(["e2fsck", "-n", "-f", os.path.join(b.run, "root.ext4")],
                          capture_output=True, text=True)
    out["fsck_clean"] = fsck.returncode == 0 and "recovery" not in fsck.stdout + fsck.stderr
    return out


def one_boot(image, name, spec, port, smp, disk_cache):
    """Measures of one boot of `name`: dict of seconds / KiB / fsck verdict."""
    b = Boot(image, spec["init"], port, smp, disk_cache)
    try:
        want = spec.get("wait", ["sshd", "login"])
        if not b.wait(["handoff"] + want, BOOT_TIMEOUT):
            raise RuntimeError(f"{name}: {want} not reached; console tail:\n{b.console()[-1500:]}")
        out = {w: b.since_handoff(w) for w in want}
        out["handoff_uptime"] = b.handoff_uptime
        if "poweroff" not in spec:
            return out
        if spec.get("no_login"):
            return power_off(b, name, spec, out)
        # PID 1's VmRSS once every init here has finished booting (systemd,
        # the slowest, is up by about 20 s): the same moment for each.
        while time.monotonic() - b.events["handoff"] < RSS_AT:
            time.sleep(0.1)
        # A root shell on ttyS1 (empty password), quiet, then PID 1's VmRSS.
        b.send("\r")
        b.tty_until("login:", 30)
        b.send("root\r")
        b.send("stty -echo; PS1=''; echo __READY_$((1+1))__\r")
        b.tty_until("__READY_2__", 60)
        b.send("grep VmRSS /proc/1/status; echo __RSS_$((2+2))__\r")
        text = b.tty_until("__RSS_4__", 30)
        m = re.search(r"VmRSS:\s+(\d+) kB", text)
        out["rss_kib"] = int(m.group(1)) if m else None
        # And after an administrator's first look (list, status).
        b.send(f"({spec['use']}) >/dev/null 2>&1; grep VmRSS /proc/1/status; echo __USE_$((3+3))__\r")
        text = b.tty_until("__USE_6__", 60)
        m = re.search(r"VmRSS:\s+(\d+) kB", text)
        out["rss_used_kib"] = int(m.group(1)) if m else None
        return power_off(b, name, spec, out)
    finally:
        b.close()
        subprocess.run(["rm", "-rf", b.run])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def med(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def fmt(stat, unit="s"):
    m, lo, hi = stat
    if m is None:
        return "-"
    if unit == "s":
        return f"{m:.2f} ({lo:.2f}-{hi:.2f})"
    return f"{m / 1024:.2f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image", default=os.path.join(CACHE, "images/debian"))
    ap.add_argument("--inits", default=",".join(n for n in INITS if n != "floor-ifupdown"))
    ap.add_argument("--smp", type=int, default=2,
                    help="guest vCPUs (default 2: one guest at a time on a 2-core machine)")
    ap.add_argument("--disk-cache", default="unsafe",
                    help="qemu cache= of the disk (default unsafe: a guest's flush is not an"
                         " fsync of the image on the host, whose disk here takes ~0.3 s for one)")
    args = ap.parse_args()
    names = args.inits.split(",")
    results = {n: [] for n in names}
    # Interleave the inits run by run, so a slow spell of the machine hits all.
    for r in range(args.runs):
        for n in names:
            res = one_boot(args.image, n, INITS[n], free_port(), args.smp, args.disk_cache)
            print(f"run {r + 1} {n}: " + ", ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()),
                file=sys.stderr, flush=True)
            results[n].append(res)

    def col(n, key):
        return med([r.get(key) for r in results.get(n, [])])

    floor_sshd = col("floor-sshd", "sshd")[0]
    floor_login = col("floor-getty", "login")[0]
    print(f"\nDebian 12 image, {args.runs} boots per init, {args.smp} vCPU(s), disk cache={args.disk_cache},"
          " medians (min-max),"
          " seconds from the init's start (the initramfs hand-off)\n")
    print("| init | sshd accepts | x floor | login on ttyS1 | x floor | hand-off uptime |"
          " PID 1 VmRSS | after list+status | poweroff | e2fsck clean |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        s, l = col(n, "sshd"), col(n, "login")
        rs = f"{s[0] / floor_sshd:.2f}x" if s[0] and floor_sshd and n != "floor-sshd" else "-"
        rl = f"{l[0] / floor_login:.2f}x" if l[0] and floor_login and not n.startswith("floor") else "-"
        clean = [r.get("fsck_clean") for r in results[n] if "fsck_clean" in r]
        print(f"| {n} | {fmt(s)} | {rs} | {fmt(l)} | {rl} | {fmt(col(n, 'handoff_uptime'))} |"
              f" {fmt(col(n, 'rss_kib'), 'kib')} | {fmt(col(n, 'rss_used_kib'), 'kib')} |"
              f" {fmt(col(n, 'poweroff'))} |"
              f" {f'{sum(clean)}/{len(clean)}' if clean else '-'} |")


if __name__ == "__main__":
    main()
