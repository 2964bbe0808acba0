#!/bin/bash
# Boot an image made by rig/build-image.sh under qemu.
#
# usage: rig/boot.sh [--image DIR] [--run DIR] [--mode demo|test] [--append WORDS]
#                    [--mem SIZE] [--smp N] [--no-disks]
#   --image DIR  output of build-image.sh (default .rig-cache/images/test)
#   --run DIR    per-boot directory: fresh disk copies, sockets, console log
#                (default: a new temporary directory, printed on stderr)
#   --mode demo  console (ttyS0) on this terminal; qemu ends when the guest powers off.
#                Ctrl-A X quits qemu, Ctrl-A C toggles its monitor.
#   --mode test  (default) console appended to RUN/console.log, nothing on the terminal.
#   --append     extra kernel command line words (e.g. vigil.log=debug vigil.target=x)
#   --init PATH  init= for an image booted from a root disk (rig/debian: the
#                default is its DEFAULT_INIT, /usr/sbin/vigil)
#   --ssh-port P forward 127.0.0.1:P on the host to the guest's port 22
#   --disk-cache MODE  qemu's cache= for the root disk (default writeback: a
#                guest flush is an fsync of the image file on the host; the
#                benchmark uses unsafe, see docs/benchmarks.md)
#
# An image whose image.env sets ROOT_IMG (rig/debian/build-image.sh) boots from
# that disk (vda = RUN/root.ext4) with its KERNEL_ARGS and a virtio network card
# on qemu's user network, restricted: the guest reaches nothing outside it, and
# only the forwarded port reaches the guest.
#
# In both modes: ttyS1 is a unix socket RUN/ttyS1.sock (a getty for logging in), the
# qemu monitor is RUN/monitor.sock (e.g. `sendkey ctrl-alt-delete`), and the disks are
# virtio: vda = RUN/data.ext4, vdb = RUN/swap.img. qemu exits (status 0) on guest
# power-off, reboot (-no-reboot) and kernel panic (panic=-1 reboots at once); only the
# console tells which ("reboot: Power down", "reboot: Restarting system", "Kernel
# panic"). A halted guest ("reboot: System halted") keeps qemu running.
# With --run, the last step is exec qemu, so the pid of this script is qemu's; without,
# the temporary run directory is removed when qemu exits.
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$RIG_DIR")
CACHE=${RIG_CACHE:-$REPO/.rig-cache}

IMAGE=$CACHE/images/test
RUN=
MODE="test"
APPEND=
MEM=
SMP=1
INIT=
SSH_PORT=
DISK_CACHE=writeback
DISKS=1
while [ $# -gt 0 ]; do
  case "$1" in
  --image) IMAGE=$2; shift 2 ;;
  --run) RUN=$2; shift 2 ;;
  --mode) MODE=$2; shift 2 ;;
  --append) APPEND=$2; shift 2 ;;
  --mem) MEM=$2; shift 2 ;;
  --init) INIT=$2; shift 2 ;;
  --ssh-port) SSH_PORT=$2; shift 2 ;;
  --disk-cache) DISK_CACHE=$2; shift 2 ;;
  --smp) SMP=$2; shift 2 ;;
  --no-disks) DISKS=0; shift ;;
  -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
  *) echo "rig/boot: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "rig/boot: $*" >&2; }
[ -f "$IMAGE/image.env" ] || { log "no image in $IMAGE: run rig/build-image.sh"; exit 1; }
# shellcheck source=/dev/null
. "$IMAGE/image.env"
ROOT_IMG=${ROOT_IMG:-}
MEM=${MEM:-256M}
if [ -n "$ROOT_IMG" ]; then
  BOOT_ARGS="$KERNEL_ARGS init=${INIT:-$DEFAULT_INIT}"
else
  BOOT_ARGS="rdinit=/sbin/init"
fi
TEMP_RUN=0
if [ -z "$RUN" ]; then
  RUN=$(mktemp -d /tmp/vigil-rig.XXXXXX)
  TEMP_RUN=1
  log "run directory $RUN (removed when qemu exits)"
fi
mkdir -p "$RUN"

# KVM only where it can run a stock kernel: real VT-x/AMD-V, not the PVM flavour.
accel=(-accel tcg -cpu max)
if grep -qwE 'vmx|svm' /proc/cpuinfo && ! grep -q '^kvm_pvm ' /proc/modules 2>/dev/null &&
  [ -w /dev/kvm ] && [ "${RIG_NO_KVM:-0}" != 1 ]; then
  accel=(-accel kvm -cpu host)
fi

args=(
  "${accel[@]}"
  -machine q35 -m "$MEM" -smp "$SMP"
  -nodefaults -no-user-config -display none
  -bios "$QBOOT"
  -kernel "$VMLINUX" -initrd "$INITRD"
  -append "console=ttyS0 $BOOT_ARGS panic=-1 quiet loglevel=4 $APPEND"
  -no-reboot -action panic=exit-failure
  -monitor "unix:$RUN/monitor.sock,server=on,wait=off"
)
rm -f "$RUN/ttyS1.sock" "$RUN/monitor.sock"
if [ "$MODE" = demo ]; then
  args+=(-chardev "stdio,id=s0,mux=on,signal=off" -serial chardev:s0 -mon "chardev=s0,mode=readline")
else
  args+=(-chardev "file,id=s0,path=$RUN/console.log" -serial chardev:s0)
fi
args+=(-chardev "socket,id=s1,path=$RUN/ttyS1.sock,server=on,wait=off" -serial chardev:s1)
if [ -n "$ROOT_IMG" ]; then
  cp --sparse=always "$ROOT_IMG" "$RUN/root.ext4"
  fwd=
  [ -z "$SSH_PORT" ] || fwd=",hostfwd=tcp:127.0.0.1:$SSH_PORT-:22"
  args+=(
    -drive "file=$RUN/root.ext4,if=virtio,format=raw,cache=$DISK_CACHE"
    -netdev "user,id=n0,restrict=on$fwd"
    -device virtio-net-pci,netdev=n0
  )
elif [ "$DISKS" = 1 ]; then
  # Fresh copies for every boot: one image must never be booted twice at once.
  cp --sparse=always "$DATA_IMG" "$RUN/data.ext4"
  cp --sparse=always "$SWAP_IMG" "$RUN/swap.img"
  args+=(
    -drive "file=$RUN/data.ext4,if=virtio,format=raw"
    -drive "file=$RUN/swap.img,if=virtio,format=raw"
  )
fi
printf '%q ' qemu-system-x86_64 "${args[@]}" >"$RUN/qemu.cmdline"
if [ "$TEMP_RUN" = 1 ]; then
  status=0
  qemu-system-x86_64 "${args[@]}" || status=$?
  rm -rf "$RUN"
  exit "$status"
fi
exec qemu-system-x86_64 "${args[@]}"
