#!/bin/bash
# Build, or reuse, the Debian 12 root the Debian rig boots (tests/debian.rs,
# rig/debian/bench.sh): debootstrap minbase plus the daemons a small server runs
# (udev, openssh-server, rsyslog, cron, ifupdown, agetty) and, for the benchmark's
# peers, systemd and finit installed beside each other. None of them owns
# /sbin/init: which init runs is chosen with init= on the kernel command line.
#
# usage: rig/debian/build-root.sh      (after rig/fetch.sh; needs root)
# Writes $RIG_CACHE/debian/base (the tree) and keeps the downloaded .debs in
# $RIG_CACHE/debian/debs, so a rebuild downloads nothing. A second run with the
# same package list and kernel only checks the stamp and exits.
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(dirname "$RIG_DIR")
CACHE=${RIG_CACHE:-$REPO/.rig-cache}
D=$CACHE/debian
log() { echo "rig/debian/build-root: $*" >&2; }

[ -f "$CACHE/kernel.env" ] || { log "no $CACHE/kernel.env: run rig/fetch.sh first"; exit 1; }
# shellcheck source=/dev/null
. "$CACHE/kernel.env"

PACKAGES=udev,kmod,util-linux,procps,iproute2,openssh-server,rsyslog,cron,e2fsprogs,ifupdown,systemd,finit
# Bump the last word when this script changes what it puts into the tree.
STAMP="$PACKAGES $KVER 1"
BASE=$D/base
if [ -f "$BASE/.rig-stamp" ] && [ "$(cat "$BASE/.rig-stamp")" = "$STAMP" ]; then
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

# The Debian mirror this machine's apt already uses (never a host written here).
mirror=$(awk '
  /^URIs:/ { uri = $2 }
  /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") found = uri }
  /^$/ { uri = "" }
  END { print found }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { log "no bookworm mirror in this machine's apt configuration"; exit 1; }

mkdir -p "$D/debs"
tmp=$D/base.tmp
rm -rf "$tmp"
log "debootstrap bookworm from $mirror (packages cached in $D/debs)"
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$D/debs" \
  bookworm "$tmp" "$mirror" >"$D/debootstrap.log" 2>&1 || {
  tail -n 30 "$D/debootstrap.log" >&2
  log "debootstrap failed (whole log: $D/debootstrap.log)"
  exit 1
}

# The kernel's modules, so udev can load what qemu's hardware needs.
mkdir -p "$tmp/usr/lib/modules"
cp -a "$KMODDIR" "$tmp/usr/lib/modules/"
chroot "$tmp" depmod "$KVER"
# Root logs in on a serial line with an empty password (pam_unix's nullok);
# sshd refuses empty passwords, so the tests log in there with a key.
chroot "$tmp" passwd -dq root
rm -f "$tmp/var/cache/apt/archives/"*.deb
rm -rf "$BASE"
mv "$tmp" "$BASE"
echo "$STAMP" >"$BASE/.rig-stamp"
log "built $BASE ($(du -sh "$BASE" | cut -f1))"
