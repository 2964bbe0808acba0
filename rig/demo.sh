#!/bin/bash
# Quickstart: boot the demo system with vigil as PID 1 under qemu, console on this
# terminal. Fetches what it needs (first run: a minute), builds vigil (release) and
# the image, then boots. Log in as root (no password); `poweroff` ends the demo,
# Ctrl-A X kills qemu. Extra arguments go to rig/boot.sh (e.g. --append vigil.log=debug).
set -euo pipefail
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$RIG_DIR")
"$RIG_DIR/fetch.sh"
(cd "$REPO" && cargo build --release --bins)
"$RIG_DIR/build-image.sh" --system "$RIG_DIR/systems/demo"
echo "rig/demo: booting (log in as root, no password; 'poweroff' to leave; Ctrl-A X kills qemu)" >&2
exec "$RIG_DIR/boot.sh" --image "${RIG_CACHE:-$REPO/.rig-cache}/images/demo" --mode demo "$@"
