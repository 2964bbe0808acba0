#!/bin/bash
# The whole test suite of vigil, runnable on a fresh Debian machine as root:
#   1. installs what the tests need (rig/fetch.sh: qemu, busybox, kmod, udev, agetty,
#      Debian's kernel unpacked into .rig-cache; systemd-notify, util-linux and python3
#      for the integration tests),
#   2. checks formatting and lints,
#   3. runs every test: unit tests, integration tests of the real binaries, and the
#      end-to-end boots of Debian's kernel with vigil as PID 1. Those are #[ignore]d
#      (a plain `cargo test` lists them as ignored) and run here with
#      --include-ignored: tests/boot.rs builds its initramfs from the vigil and
#      vigilctl cargo just built; tests/debian.rs installs their .deb in a Debian 12
#      root (rig/debian/build-root.sh runs debootstrap once and caches the root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

step() { printf '\n== %s\n' "$*" >&2; }

step "host packages and kernel"
# systemd-notify for notify tests; util-linux for setpriv, unshare, nsenter;
# Debian's python3 for a test that holds connections as another user.
if ! command -v systemd-notify >/dev/null || ! command -v setpriv >/dev/null \
  || ! command -v nsenter >/dev/null || ! [ -x /usr/bin/python3 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd util-linux python3 >&2
fi
rig/fetch.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

step "tests"
# Benches are built by clippy above but not run here: they are timed runs.
cargo test --lib --bins --tests -- --include-ignored "$@"
