#!/bin/bash
# Make a bootable Debian 12 disk with vigil installed the way an administrator
# would: the .deb installed with dpkg, the daemons' own systemd units converted
# with `vigilctl import` (no edits to what it writes), getty@ttyS1 enabled
# from Debian's own getty@ template, imported the same way. Plus the small switch_root initramfs that boots it.
#
# usage: rig/debian/build-image.sh [--bin DIR] [--out DIR]
#   --bin DIR  where vigil and vigilctl are (default: the release build)
#   --out DIR  where root.ext4, initramfs.cpio, image.env and the logs go
#              (default .rig-cache/images/debian)
# Needs root, rig/fetch.sh and rig/debian/build-root.sh (run here if missing).
# rig/boot.sh --image OUT boots it; what the disk holds besides the base root:
# rig/debian/system (hostname, fstab, ifupdown's interfaces, a cron job, the
# benchmark's floor inits, finit's and systemd's setup).
set -euo pipefail

DEB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DEB_DIR/../.." && pwd)
CACHE=${RIG_CACHE:-$REPO/.rig-cache}
BIN=$REPO/target/x86_64-unknown-linux-gnu/release
OUT=$CACHE/images/debian
while [ $# -gt 0 ]; do
  case "$1" in
  --bin) BIN=$2; shift 2 ;;
  --out) OUT=$2; shift 2 ;;
  -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "rig/debian/build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "rig/debian/build-image: $*" >&2; }
"$DEB_DIR/build-root.sh"
# shellcheck source=/dev/null
. "$CACHE/kernel.env"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# ---- the root tree: a copy of the base --------------------------------------
ROOT=$OUT/root
rm -rf "$ROOT"
cp -a --reflink=auto "$CACHE/debian/base" "$ROOT"
cp -a --remove-destination "$DEB_DIR/system/." "$ROOT/"

# ---- vigil, as a package ------------------------------------------------------
deb=$("$REPO/pkg/build-deb.sh" --bin "$BIN" --out "$OUT/deb")
cp "$deb" "$ROOT/tmp/vigil.deb"
chroot "$ROOT" dpkg -i /tmp/vigil.deb >"$OUT/dpkg.log" 2>&1 || {
  cat "$OUT/dpkg.log" >&2
  log "dpkg -i vigil.deb failed"
  exit 1
}
rm "$ROOT/tmp/vigil.deb"

# ---- the daemons' own units, converted ------------------------------------------
# getty@ is Debian's template for gettys; getty@ttyS1 is its instance.
IMPORTED=(ssh rsyslog cron networking ifupdown-pre getty@)
files=()
for u in "${IMPORTED[@]}"; do files+=("/lib/systemd/system/$u.service"); done
chroot "$ROOT" vigilctl import --out /etc/vigil/units "${files[@]}" >"$OUT/import.log" 2>&1 || {
  cat "$OUT/import.log" >&2
  log "vigilctl import failed"
  exit 1
}
chroot "$ROOT" vigilctl enable getty@ttyS1 >>"$OUT/import.log" 2>&1
# check exits 1 on warnings too (a unit ordered after one this system does
# not have, like auditd): only errors stop the build.
chroot "$ROOT" vigilctl check >"$OUT/check.log" 2>&1 || true
# The last line is "N units OK" or "E error(s), W warning(s); N units OK".
if grep -q ': error:' "$OUT/check.log" || ! tail -n1 "$OUT/check.log" | grep -q '^\(0 error(s), .*; \)\?[0-9]* units OK$'; then
  cat "$OUT/check.log" >&2
  log "vigilctl check of the imported units found errors"
  exit 1
fi

# ---- every service of the image through import (into a scratch directory) --------
# What import writes must load: all of Debian's /lib/systemd/system is
# converted and checked; tests/debian.rs reads the two logs. (import exits 1:
# some files are refused, each with its reason.)
chroot "$ROOT" sh -c 'mkdir -p /tmp/import-all && vigilctl import --out /tmp/import-all /lib/systemd/system/*.service' \
  >"$OUT/import-all.log" 2>&1 || true
chroot "$ROOT" vigilctl --units /tmp/import-all check >"$OUT/check-all.log" 2>&1 || true
rm -rf "$ROOT/tmp/import-all"

# ---- test fixtures: a key for ssh logins over loopback ----------------------------
mkdir -p -m 700 "$ROOT/root/.ssh"
rm -f "$ROOT/root/.ssh/id_ed25519"*
chroot "$ROOT" ssh-keygen -q -t ed25519 -N '' -C rig -f /root/.ssh/id_ed25519
cp "$ROOT/root/.ssh/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
chmod 600 "$ROOT/root/.ssh/authorized_keys"

# ---- the peers' setup (rig/debian/bench.sh boots the same disk with them) ---------
# systemd: ssh, rsyslog, cron and networking are enabled by their packages;
# a getty on ttyS1 like vigil's.
mkdir -p "$ROOT/etc/systemd/system/getty.target.wants"
ln -sf /lib/systemd/system/serial-getty@.service \
  "$ROOT/etc/systemd/system/getty.target.wants/serial-getty@ttyS1.service"
# finit: rig/debian/system/etc/finit.d/rig.conf, and the getty on ttyS1 only
# (its shipped getty.conf runs six on tty1-6, which the others do not).
rm -f "$ROOT/etc/finit.d/getty.conf"

# ---- disk ---------------------------------------------------------------------
rm -f "$OUT/root.ext4"
truncate -s 2G "$OUT/root.ext4"
mkfs.ext4 -q -F -L debroot -E root_owner=0:0 -d "$ROOT" "$OUT/root.ext4"

# ---- initramfs: busybox, the modules that reach the disk, switch_root ------------
INITRD_ROOT=$OUT/initramfs
rm -rf "$INITRD_ROOT"
mkdir -p "$INITRD_ROOT"/{bin,dev,proc,sys,newroot}
cp /bin/busybox "$INITRD_ROOT/bin/busybox"
KROOT=${KMODDIR%/lib/modules/*}
: >"$INITRD_ROOT/modules"
for m in $(modprobe -d "$KROOT" -S "$KVER" --show-depends -a virtio_pci virtio_blk virtio_net ext4 |
  awk '$1 == "insmod" && !seen[$2]++ {print $2}'); do
  cp "$m" "$INITRD_ROOT/"
  echo "/$(basename "$m")" >>"$INITRD_ROOT/modules"
done
install -m 0755 "$DEB_DIR/initramfs-init" "$INITRD_ROOT/init"
(cd "$INITRD_ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$OUT/initramfs.cpio"

cat >"$OUT/image.env" <<ENV
KVER=$KVER
VMLINUX=$VMLINUX
QBOOT=$QBOOT
INITRD=$OUT/initramfs.cpio
ROOT_IMG=$OUT/root.ext4
KERNEL_ARGS="root=LABEL=debroot rdinit=/init net.ifnames=0"
DEFAULT_INIT=/usr/sbin/vigil
MEM=512M
NET=1
SYSTEM=debian
ENV
rm -rf "$ROOT" "$INITRD_ROOT"
log "built the Debian image in $OUT"
