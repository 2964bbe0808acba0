#!/bin/bash
# Build the rig's guest: an initramfs that IS the root filesystem (merged /usr,
# busybox-static, agetty, kmod, systemd-udevd, a handful of Debian kernel modules,
# /etc from a system directory, and the init under test at /sbin/init), plus the
# disk images the boot tests use (an ext4 data disk with a known LABEL/UUID and a
# swap disk). rig/boot.sh copies the disks fresh for every boot.
#
# usage: rig/build-image.sh [--system DIR] [--out DIR] [--init FILE] [--ctl FILE|--no-ctl]
#                           [--gzip] [--upgrade FILE]
#   --system DIR  system configuration (default rig/systems/test); see rig/systems/README.md
#   --out DIR     where initramfs.cpio, data.ext4, swap.img and image.env go
#                 (default .rig-cache/images/<system name>)
#   --init FILE   the program installed as /sbin/init (default target/x86_64-unknown-linux-gnu/release/vigil);
#                 a shell script works too (rig/init-sh/*) for validating the rig itself
#   --ctl FILE    installed as /usr/bin/vigilctl with poweroff/reboot/halt/shutdown linked
#                 to it (default target/x86_64-unknown-linux-gnu/release/vigilctl when --init is the default).
#                 --no-ctl keeps busybox's power applets instead.
#   --overlay DIR copied over the root last (repeatable), e.g. /etc/rig for a shell init
#   --gzip        compress the initramfs (smaller file, slower boot under TCG)
#   --upgrade FILE  put FILE at /usr/sbin/init.upgrade as it is (the daemon-reexec test)
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$RIG_DIR")
CACHE=${RIG_CACHE:-$REPO/.rig-cache}

SYSTEM=$RIG_DIR/systems/test
OUT=
INIT=
CTL=
NO_CTL=0
GZIP=0
OVERLAYS=()
UPGRADE=
while [ $# -gt 0 ]; do
  case "$1" in
  --system) SYSTEM=$2; shift 2 ;;
  --out) OUT=$2; shift 2 ;;
  --init) INIT=$2; shift 2 ;;
  --ctl) CTL=$2; shift 2 ;;
  --no-ctl) NO_CTL=1; shift ;;
  --overlay) OVERLAYS+=("$2"); shift 2 ;;
  --upgrade) UPGRADE=$2; shift 2 ;;
  --gzip) GZIP=1; shift ;;
  -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
  *) echo "rig/build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "rig/build-image: $*" >&2; }
die() { log "$*"; exit 1; }

SYSTEM=$(cd "$SYSTEM" && pwd)
NAME=$(basename "$SYSTEM")
OUT=${OUT:-$CACHE/images/$NAME}
if [ -z "$INIT" ]; then
  INIT=$REPO/target/x86_64-unknown-linux-gnu/release/vigil
  [ -n "$CTL" ] || [ "$NO_CTL" = 1 ] || CTL=$REPO/target/x86_64-unknown-linux-gnu/release/vigilctl
fi
[ -f "$INIT" ] || die "no init program at $INIT (build it: cargo build --release)"
[ -z "$CTL" ] || [ -f "$CTL" ] || die "no vigilctl at $CTL"
[ -f "$CACHE/kernel.env" ] || die "no $CACHE/kernel.env: run rig/fetch.sh first"
# shellcheck source=/dev/null
. "$CACHE/kernel.env"

# Per-system disk identities (fstab refers to them); defaults if the system has none.
DATA_UUID=5a1e0000-0000-4000-8000-00000000da7a
DATA_LABEL=vigildata
DATA_SIZE=32M
SWAP_UUID=5a1e0000-0000-4000-8000-00000000543a
SWAP_SIZE=32M
EXTRA_MODULES=
WITH_UDEV=1 # 0: no systemd-udevd in the image (the boot benchmark)
# shellcheck source=/dev/null
[ -f "$SYSTEM/disk.env" ] && . "$SYSTEM/disk.env"

# Modules the image carries (their dependencies are added); which ones get loaded is
# the system configuration's business.
MODULES="virtio_pci virtio_blk virtio_console virtio_rng ext4 crc32c_generic loop $EXTRA_MODULES"

mkdir -p "$OUT"
ROOT=$(mktemp -d "$OUT/.root.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

# ---- skeleton (merged /usr, like Debian) ----------------------------------------
mkdir -p "$ROOT"/usr/{bin,sbin,lib,lib64} "$ROOT"/{dev,proc,sys,run,tmp,root,etc,var/log,data,mnt}
ln -s usr/bin "$ROOT/bin"
ln -s usr/sbin "$ROOT/sbin"
ln -s usr/lib "$ROOT/lib"
ln -s usr/lib64 "$ROOT/lib64"
chmod 1777 "$ROOT/tmp"
chmod 700 "$ROOT/root"
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || log "warning: cannot mknod /dev/console"
mknod -m 666 "$ROOT/dev/null" c 1 3 2>/dev/null || true

# ---- programs -------------------------------------------------------------------
ELFS=()
put() { # put SRC DEST-in-image [mode]: copy a file (following links), remember ELFs
  local src=$1 dst=$ROOT$2
  mkdir -p "$(dirname "$dst")"
  # Never write through a link: links in the image are absolute and would point
  # at the host's files.
  rm -f "$dst"
  cp -L "$src" "$dst"
  chmod "${3:-755}" "$dst"
  if [ "$(head -c4 "$dst" | od -An -c | tr -d ' ')" = '177ELF' ]; then ELFS+=("$dst"); fi
}
link() { # link TARGET NAME-in-image: symlink, replacing what is there
  mkdir -p "$(dirname "$ROOT$2")"
  ln -sfn "$1" "$ROOT$2"
}

put /bin/busybox /usr/bin/busybox
for applet in $(/bin/busybox --list-full); do
  applet=${applet#usr/}
  [ -e "$ROOT/usr/$applet" ] || [ -L "$ROOT/usr/$applet" ] || link /usr/bin/busybox "/usr/$applet"
done
put /sbin/agetty /usr/sbin/agetty
# root logs in to Debian's bash: busybox's ash runs its own poweroff/reboot/halt
# applets (which signal PID 1 busybox-style) instead of the vigilctl links on PATH.
put /bin/bash /usr/bin/bash
put /bin/kmod /usr/bin/kmod
for t in modprobe insmod rmmod lsmod depmod modinfo; do link /usr/bin/kmod "/usr/sbin/$t"; done
rm -f "$ROOT/usr/bin/lsmod" # busybox puts lsmod in /bin, kmod's is in /sbin
if [ "${WITH_UDEV:-1}" = 1 ]; then
  put /bin/udevadm /usr/bin/udevadm
  link /usr/bin/udevadm /usr/lib/systemd/systemd-udevd
  link /usr/lib/systemd/systemd-udevd /usr/sbin/udevd
  mkdir -p "$ROOT/usr/lib/udev" "$ROOT/etc/udev/rules.d"
  # Rules and helpers; hwdb.bin (~10 MB of vendor names) is left out on purpose.
  (cd /usr/lib/udev && find . ! -name hwdb.bin ! -path './hwdb.d*' | cpio -pdm --quiet "$ROOT/usr/lib/udev")
  for f in "$ROOT"/usr/lib/udev/*; do
    if [ -f "$f" ] && [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then ELFS+=("$f"); fi
  done
  printf 'udev_log=info\n' >"$ROOT/etc/udev/udev.conf"
fi
# systemd-notify drags in libsystemd-shared (3 MB): only for systems that ask.
if [ "${WANT_SYSTEMD_NOTIFY:-0}" = 1 ]; then put /bin/systemd-notify /usr/bin/systemd-notify; fi

# ---- the init under test --------------------------------------------------------
put "$INIT" /usr/sbin/init
if [ -n "$CTL" ]; then
  put "$CTL" /usr/bin/vigilctl
  for t in poweroff reboot halt shutdown; do
    rm -f "$ROOT/usr/bin/$t" "$ROOT/usr/sbin/$t"
    link /usr/bin/vigilctl "/usr/sbin/$t"
  done
fi
# A second vigil for the re-exec test, installed over /usr/sbin/init in the
# guest as an upgrade would (tests/boot.rs).
[ -z "$UPGRADE" ] || put "$UPGRADE" /usr/sbin/init.upgrade
# A debug build is mostly symbols: strip copies so the initramfs stays small.
if command -v strip >/dev/null; then
  strip "$ROOT/usr/sbin/init" 2>/dev/null || true
  [ -z "$CTL" ] || strip "$ROOT/usr/bin/vigilctl" 2>/dev/null || true
fi

# ---- shared libraries (ldd of every dynamic ELF we copied) ----------------------
declare -A LIBS=()
for elf in "${ELFS[@]}"; do
  while read -r lib; do
    [ -n "$lib" ] && LIBS[$lib]=1
  done < <(ldd "$elf" 2>/dev/null | awk '/=> \// {print $3} /^[ \t]*\/[^ ]+ \(/ {print $1}')
done
for lib in "${!LIBS[@]}"; do
  [ -e "$ROOT$lib" ] || [ -L "$ROOT$lib" ] || put "$lib" "$lib" 755
done

# ---- kernel modules ---------------------------------------------------------------
KROOT=${KMODDIR%/lib/modules/*}
mods=$(modprobe -d "$KROOT" -S "$KVER" --show-depends -a $MODULES | awk '$1 == "insmod" {print $2}' | sort -u)
for m in $mods; do
  rel=${m#"$KMODDIR"/}
  mkdir -p "$ROOT/usr/lib/modules/$KVER/$(dirname "$rel")"
  cp "$m" "$ROOT/usr/lib/modules/$KVER/$rel"
done
cp "$KMODDIR"/modules.{order,builtin,builtin.modinfo} "$ROOT/usr/lib/modules/$KVER/"
depmod -b "$ROOT" "$KVER"

# ---- /etc -------------------------------------------------------------------------
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
# Groups udev's rules name, so systemd-udevd does not complain about them.
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
tty:x:5:
disk:x:6:
lp:x:7:
kmem:x:15:
dialout:x:20:
cdrom:x:24:
floppy:x:25:
tape:x:26:
audio:x:29:
video:x:44:
input:x:101:
kvm:x:102:
render:x:103:
sgx:x:104:
wheel:x:10:
nogroup:x:65534:
EOF
cat >"$ROOT/etc/shadow" <<'EOF'
root::19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
chmod 640 "$ROOT/etc/shadow"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$ROOT/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"
printf 'PRETTY_NAME="vigil rig (%s)"\nID=vigil-rig\n' "$NAME" >"$ROOT/etc/os-release"
printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\n' >"$ROOT/etc/profile"
ln -s /proc/self/mounts "$ROOT/etc/mtab"
[ -f "$SYSTEM/hostname" ] && cp "$SYSTEM/hostname" "$ROOT/etc/hostname"
[ -f "$SYSTEM/fstab" ] && cp "$SYSTEM/fstab" "$ROOT/etc/fstab"
mkdir -p "$ROOT/etc/vigil/units"
[ -f "$SYSTEM/vigil.toml" ] && cp "$SYSTEM/vigil.toml" "$ROOT/etc/vigil/vigil.toml"
if [ -d "$SYSTEM/units" ]; then cp -r "$SYSTEM/units/." "$ROOT/etc/vigil/units/"; fi
# Free-form overlay (scripts, modules-load.d, mount points...).
if [ -d "$SYSTEM/rootfs" ]; then cp -a --remove-destination "$SYSTEM/rootfs/." "$ROOT/"; fi
for o in "${OVERLAYS[@]}"; do cp -a --remove-destination "$o/." "$ROOT/"; done
# Mount points named in fstab exist in the image.
if [ -f "$ROOT/etc/fstab" ]; then
  awk '$1 !~ /^#/ && $2 ~ /^\// {print $2}' "$ROOT/etc/fstab" | while read -r mp; do mkdir -p "$ROOT$mp"; done
fi

# ---- initramfs ------------------------------------------------------------------
tmp=$OUT/.initramfs.tmp
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$tmp"
rm -f "$OUT/initramfs.cpio" "$OUT/initramfs.cpio.gz"
if [ "$GZIP" = 1 ]; then
  gzip -1 -c "$tmp" >"$OUT/initramfs.cpio.gz"
  rm -f "$tmp"
  INITRD=$OUT/initramfs.cpio.gz
else
  mv "$tmp" "$OUT/initramfs.cpio"
  INITRD=$OUT/initramfs.cpio
fi

# ---- disks (templates; rig/boot.sh copies them per boot) ------------------------
datadir=$ROOT/.data-disk
rm -rf "$datadir"
mkdir -p "$datadir"
if [ -d "$SYSTEM/data" ]; then cp -a "$SYSTEM/data/." "$datadir/"; fi
rm -f "$OUT/data.ext4" "$OUT/swap.img"
mkfs.ext4 -q -F -L "$DATA_LABEL" -U "$DATA_UUID" -E root_owner=0:0 -d "$datadir" "$OUT/data.ext4" "$DATA_SIZE" >/dev/null
truncate -s "$SWAP_SIZE" "$OUT/swap.img"
mkswap -q -L vigilswap -U "$SWAP_UUID" "$OUT/swap.img" >/dev/null

cat >"$OUT/image.env" <<EOF
KVER=$KVER
VMLINUX=$VMLINUX
QBOOT=$QBOOT
INITRD=$INITRD
DATA_IMG=$OUT/data.ext4
DATA_UUID=$DATA_UUID
DATA_LABEL=$DATA_LABEL
SWAP_IMG=$OUT/swap.img
SWAP_UUID=$SWAP_UUID
SYSTEM=$NAME
EOF
log "built $NAME image in $OUT ($(du -h "$INITRD" | cut -f1) initramfs)"
