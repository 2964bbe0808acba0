#!/bin/bash
# Fetch everything the qemu boot rig needs, idempotently:
#  - host packages (qemu, qboot firmware, busybox-static, kmod, udev, agetty, cpio, e2fsprogs)
#    installed with apt-get when missing;
#  - Debian's kernel package downloaded (never installed) and unpacked into the cache;
#  - the uncompressed ELF vmlinux extracted from its bzImage, so qemu can enter through PVH.
# Writes $RIG_CACHE/kernel.env (KVER, VMLINUX, KMODDIR) for the other scripts.
# A second run only checks and exits (well under a second).
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$RIG_DIR")
CACHE=${RIG_CACHE:-$REPO/.rig-cache}
mkdir -p "$CACHE"

log() { echo "rig/fetch: $*" >&2; }

# ---- host packages -------------------------------------------------------------
# package -> a file that proves it is installed (cheaper than dpkg -s per run).
declare -A NEED=(
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [qemu-system-data]=/usr/share/qemu/qboot.rom
  [busybox-static]=/bin/busybox
  [cpio]=/usr/bin/cpio
  [e2fsprogs]=/sbin/mkfs.ext4
  [xz-utils]=/usr/bin/xz
  [zstd]=/usr/bin/zstd
  [kmod]=/sbin/depmod
  [util-linux]=/sbin/agetty
  [udev]=/bin/udevadm
  [gzip]=/bin/gzip
)
missing=()
for pkg in "${!NEED[@]}"; do
  [ -e "${NEED[$pkg]}" ] || missing+=("$pkg")
done
apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
}
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# ---- kernel package ------------------------------------------------------------
# Which versioned image does linux-image-amd64 point at? Ask apt; fall back to the
# cached one when apt has no lists (offline re-run).
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true)
if [ -z "$kpkg" ]; then
  apt_update
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true)
fi
if [ -z "$kpkg" ] && [ -f "$CACHE/kernel.env" ]; then
  log "apt knows no linux-image-amd64; using the cached kernel"
  exit 0
fi
[ -n "$kpkg" ] || { log "cannot resolve linux-image-amd64 to a versioned package"; exit 1; }
KVER=${kpkg#linux-image-}

KROOT=$CACHE/kernel-$KVER
VMLINUX=$CACHE/vmlinux-$KVER
if [ -f "$KROOT/.done" ] && [ -f "$VMLINUX" ]; then
  : # cached
else
  mkdir -p "$CACHE/debs"
  if ! ls "$CACHE/debs/${kpkg}"_*.deb >/dev/null 2>&1; then
    log "downloading $kpkg"
    (cd "$CACHE/debs" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg" >&2) || {
      apt_update
      (cd "$CACHE/debs" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg" >&2)
    }
  fi
  deb=$(ls "$CACHE/debs/${kpkg}"_*.deb | tail -n1)
  log "unpacking $(basename "$deb")"
  rm -rf "$KROOT"
  mkdir -p "$KROOT"
  dpkg -x "$deb" "$KROOT"
  # The package ships no modules.dep (its postinst makes it): make it here, so the
  # image builder can resolve module dependencies with modprobe --show-depends.
  depmod -b "$KROOT" "$KVER"
  touch "$KROOT/.done"

  # ---- vmlinux out of the bzImage (the kernel's scripts/extract-vmlinux) ----
  bz=$KROOT/boot/vmlinuz-$KVER
  [ -f "$bz" ] || { log "no $bz in $deb"; exit 1; }
  tmp=$(mktemp "$CACHE/vmlinux.XXXXXX")
  is_elf() { [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
  found=0
  # try MAGIC(tr escapes) PLACEHOLDER(one char shorter than MAGIC) DECOMPRESSOR...
  # tr turns the magic into "\n"+PLACEHOLDER so grep -b reports the line start,
  # which is the 1-based offset of the magic (exactly as extract-vmlinux does).
  try() {
    local magic=$1 ph=$2; shift 2
    local pos
    for pos in $(tr "$magic\n$ph" "\n$ph=" <"$bz" | grep -abo "^$ph" | cut -d: -f1); do
      tail -c+"$pos" "$bz" | "$@" >"$tmp" 2>/dev/null || true
      if [ -s "$tmp" ] && is_elf "$tmp"; then found=1; return 0; fi
    done
    return 1
  }
  try '\3757zXZ\000' abcde xz -dc ||
    try '(\265/\375' xyz zstd -dc ||
    try '\037\213\010' xy gzip -dc || true
  if [ "$found" != 1 ]; then
    rm -f "$tmp"
    log "could not find a compressed ELF vmlinux in $bz"
    exit 1
  fi
  mv "$tmp" "$VMLINUX"
  log "extracted $VMLINUX ($(du -h "$VMLINUX" | cut -f1))"
fi

cat >"$CACHE/kernel.env.tmp" <<EOF
KVER=$KVER
VMLINUX=$VMLINUX
KMODDIR=$KROOT/lib/modules/$KVER
QBOOT=/usr/share/qemu/qboot.rom
EOF
mv "$CACHE/kernel.env.tmp" "$CACHE/kernel.env"
log "ready: kernel $KVER"
