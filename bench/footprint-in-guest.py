#!/usr/bin/env python3
"""vigil's footprint as a supervisor of N units on Debian 12's kernel (6.1),
not the build host's: builds the demo image with bench/footprint-in-guest.sh
in it, boots it under qemu (TCG), logs in on the console, runs the script and
prints what it measured, then powers off.

    python3 bench/footprint-in-guest.py [N]     (default 1000; after cargo build --release)

Why: the host's kernel maps the binary's clean page-cache pages back in
large pieces as code runs (docs/benchmarks.md), so a supervisor's RSS there
says more about that kernel than about vigil.
"""
import os, pty, re, select, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("RIG_CACHE", os.path.join(REPO, ".rig-cache"))


def main():
    n = sys.argv[1] if len(sys.argv) > 1 else "1000"
    work = tempfile.mkdtemp(prefix="vigil-footprint-")
    try:
        overlay = os.path.join(work, "overlay", "root")
        os.makedirs(overlay)
        shutil.copy(os.path.join(REPO, "bench/footprint-in-guest.sh"), os.path.join(overlay, "footprint.sh"))
        image = os.path.join(work, "image")
        subprocess.run(["bash", os.path.join(REPO, "rig/fetch.sh")], check=True)
        subprocess.run(["bash", os.path.join(REPO, "rig/build-image.sh"), "--system",
                        os.path.join(REPO, "rig/systems/demo"), "--overlay",
                        os.path.join(work, "overlay"), "--out", image], check=True)
        print(run_guest(image, n))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_guest(image, n):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("bash", ["bash", os.path.join(REPO, "rig/boot.sh"), "--image", image, "--mode", "demo"])
    buf = b""

    def wait(pattern, timeout, since=0):
        nonlocal buf
        end = time.time() + timeout
        while time.time() < end:
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            buf += data
            if re.search(pattern, buf[since:]):
                return True
        return False

    try:
        if not wait(rb"login: ", 900):
            raise SystemExit("no login prompt; console tail:\n" + buf[-2000:].decode(errors="replace"))
        os.write(fd, b"root\n")
        wait(rb"# ", 60)
        time.sleep(15)  # the demo's own boot settles (udev's coldplug)
        mark = len(buf)
        os.write(fd, f"sh /root/footprint.sh {n} 2>&1 | grep -v 'not running'\n".encode())
        if not wait(rb"\nFOOTPRINT-DONE", 1200, mark):
            raise SystemExit("the script did not finish; console tail:\n" + buf[-2000:].decode(errors="replace"))
        out = buf[mark:].decode(errors="replace")
        os.write(fd, b"poweroff\n")
        wait(rb"reboot: Power down", 120)
        lines = out.replace("\r", "").splitlines()
        return "\n".join(lines[1:-1])
    finally:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
