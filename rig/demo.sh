#!/bin/bash
# Quickstart: boot the demo system with vigil as PID 1 under qemu, console on this
# terminal. Fetches what it needs (first run: under a minute), builds vigil (release)
# and the image, then boots. Log in as root (no password); `poweroff` ends the demo,
# Ctrl-A X kills qemu. Other arguments go to rig/boot.sh (e.g. --append vigil.log=debug).
#   --sh-init  boot the same system with rig/init-sh/sysinit.sh instead of vigil
#              (to check the rig itself; no cargo build)
set -euo pipefail
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$RIG_DIR")
IMAGES=${RIG_CACHE:-$REPO/.rig-cache}/images
SH_INIT=0
if [ "${1:-}" = --sh-init ]; then SH_INIT=1; shift; fi
"$RIG_DIR/fetch.sh"
if [ "$SH_INIT" = 1 ]; then
  "$RIG_DIR/build-image.sh" --system "$RIG_DIR/systems/demo" --init "$RIG_DIR/init-sh/sysinit.sh" \
    --no-ctl --overlay "$RIG_DIR/systems/demo-sh-overlay" --out "$IMAGES/demo-sh"
  image=$IMAGES/demo-sh
else
  (cd "$REPO" && cargo build --release --bins)
  "$RIG_DIR/build-image.sh" --system "$RIG_DIR/systems/demo"
  image=$IMAGES/demo
fi
echo "rig/demo: booting (log in as root, no password; 'poweroff' to leave; Ctrl-A X kills qemu)" >&2
exec "$RIG_DIR/boot.sh" --image "$image" --mode demo "$@"
