#!/bin/sh
# Smallest init that proves the rig: mount /proc, say when it ran, power off.
# Used by `rig/smoke.sh` and as the rig's self-test before vigil can boot.
mount -t proc proc /proc
echo "rig-smoke: init running at uptime $(cut -d' ' -f1 /proc/uptime)"
poweroff -f
