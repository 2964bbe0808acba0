#!/bin/bash
# Draft of .ci/run (the lead owns .ci/run): everything CI needs for the boot tests.
# CI runs as root on a fresh clone with no standard input; rig/fetch.sh installs the
# host packages (apt-get update + install when missing) and the kernel on its own.
set -euo pipefail
cd "$(dirname "$0")/.."   # in .ci/run this is the repo root as well
export CARGO_TERM_COLOR=never

rig/fetch.sh                                    # ~20 s cold, <1 s warm
rig/smoke.sh                                    # ~6 s: the rig itself boots and powers off
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# VIGIL_BOOT_TESTS=1 turns tests/boot.rs on and makes missing rig artifacts a failure.
# The boot tests build their image from this build's vigil/vigilctl and run at most two
# guests at a time (TCG: one core each).
VIGIL_BOOT_TESTS=1 cargo test --all-targets
