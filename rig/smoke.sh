#!/bin/bash
# Rig self-check without cargo: fetch, build an image whose init is
# rig/init-sh/smoke.sh, boot it, and require a clean "reboot: Power down".
# Prints the wall time of the boot. Exit status 0 means the rig works here.
set -euo pipefail
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$RIG_DIR/fetch.sh"
WORK=$(mktemp -d /tmp/vigil-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$RIG_DIR/build-image.sh" --init "$RIG_DIR/init-sh/smoke.sh" --no-ctl --out "$WORK/img" 2>/dev/null
t0=$(date +%s.%N)
timeout 120 "$RIG_DIR/boot.sh" --image "$WORK/img" --run "$WORK/run" --no-disks 2>/dev/null || true
t1=$(date +%s.%N)
cat "$WORK/run/console.log"
if grep -q 'reboot: Power down' "$WORK/run/console.log"; then
  echo "rig/smoke: ok, boot to power-off in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s wall"
else
  echo "rig/smoke: FAILED: no clean power-off" >&2
  exit 1
fi
