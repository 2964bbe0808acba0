#!/bin/bash
# Boot benchmark (issue 3): a system with N services (default 20), booted under qemu
# with vigil as PID 1 and with a shell-script init (rig/init-sh/sysinit.sh) that starts
# the same N programs. Measured on the guest's monotonic clock (/proc/uptime): from the
# kernel's hand-off to init ("Run /sbin/init" in dmesg) until the default target is up
# (a oneshot ordered after all N services runs; for the shell init, after it started
# them). Also PID 1's RSS at that moment. Prints a table, one row per boot, and the
# medians.
#
# usage: rig/bench-boot.sh [--runs N] [--services N] [--only vigil|sh] [--vigil FILE]
#                          [--ctl FILE]
#   --vigil/--ctl  binaries to boot (default target/x86_64-unknown-linux-gnu/release/vigil{,ctl}, built if missing)
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$RIG_DIR")
RUNS=3
NSVC=20
ONLY=
VIGIL=$REPO/target/x86_64-unknown-linux-gnu/release/vigil
CTL=$REPO/target/x86_64-unknown-linux-gnu/release/vigilctl
while [ $# -gt 0 ]; do
  case "$1" in
  --runs) RUNS=$2; shift 2 ;;
  --services) NSVC=$2; shift 2 ;;
  --only) ONLY=$2; shift 2 ;;
  --vigil) VIGIL=$2; shift 2 ;;
  --ctl) CTL=$2; shift 2 ;;
  -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "rig/bench-boot: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "rig/bench-boot: $*" >&2; }

"$RIG_DIR/fetch.sh"
WORK=$(mktemp -d /tmp/vigil-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# ---- the benchmark system ------------------------------------------------------
SYS=$WORK/system
mkdir -p "$SYS/units" "$SYS/rootfs/usr/local/bin"
echo "WITH_UDEV=0" >"$SYS/disk.env"
cat >"$SYS/vigil.toml" <<'EOF'
hostname = "vigil-bench"
modules = []
udev = "none"   # the shell init runs no device manager either (and busybox has mdev)
EOF
echo vigil-bench >"$SYS/hostname"
after=""
for i in $(seq -w 1 "$NSVC"); do
  cat >"$SYS/units/bench-$i.toml" <<EOF
description = "benchmark service $i"
exec = ["/bin/sleep", "2147483647"]
wanted_by = ["default"]
EOF
  after="$after\"bench-$i\", "
done
cat >"$SYS/units/bench-up.toml" <<EOF
description = "reports the boot time, then powers off"
type = "oneshot"
exec = ["/usr/local/bin/bench-up"]
after = [${after%, }]
wanted_by = ["default"]
EOF
cat >"$SYS/rootfs/usr/local/bin/bench-up" <<'EOF'
#!/bin/sh
# The default target is up: report the guest's clock and PID 1's size, power off.
up=$(cut -d' ' -f1 /proc/uptime)
rss=$(awk '/^VmRSS/ {print $2}' /proc/1/status)
handoff=$(dmesg | sed -n 's/^\[ *\([0-9.]*\)\] Run \/sbin\/init.*/\1/p' | head -n1)
running=$(pidof sleep | wc -w)
echo "BENCH_UP up=$up handoff=$handoff rss_kb=$rss sleepers=$running" >/dev/console
# A full path: busybox sh would run its own poweroff applet (which signals PID 1
# busybox-style) instead of the vigilctl link.
exec /usr/sbin/poweroff
EOF
chmod +x "$SYS/rootfs/usr/local/bin/bench-up"
# The shell init runs the same programs.
SHO=$WORK/sh-overlay
mkdir -p "$SHO/etc/rig/services"
for i in $(seq -w 1 "$NSVC"); do
  printf '#!/bin/sh\nexec /bin/sleep 2147483647\n' >"$SHO/etc/rig/services/bench-$i"
  chmod +x "$SHO/etc/rig/services/bench-$i"
done
ln -s /usr/local/bin/bench-up "$SHO/etc/rig/up"

inits=()
if [ "$ONLY" != sh ]; then
  if [ ! -x "$VIGIL" ] || [ ! -x "$CTL" ]; then
    (cd "$REPO" && cargo build --release --bins)
  fi
  "$RIG_DIR/build-image.sh" --system "$SYS" --init "$VIGIL" --ctl "$CTL" --out "$WORK/img-vigil" 2>/dev/null
  inits+=(vigil)
fi
if [ "$ONLY" != vigil ]; then
  "$RIG_DIR/build-image.sh" --system "$SYS" --init "$RIG_DIR/init-sh/sysinit.sh" --no-ctl \
    --overlay "$SHO" --out "$WORK/img-sh" 2>/dev/null
  inits+=(sh)
fi

# ---- boots ----------------------------------------------------------------------
results=$WORK/results
: >"$results"
printf '%-6s %4s %10s %10s %10s %10s %9s %9s\n' init run handoff_s up_s boot_ms rss_kib services wall_s
for init in "${inits[@]}"; do
  for r in $(seq 1 "$RUNS"); do
    run=$WORK/run-$init-$r
    t0=$(date +%s.%N)
    status=ok
    timeout 180 "$RIG_DIR/boot.sh" --image "$WORK/img-$init" --run "$run" --no-disks 2>/dev/null || status=failed
    t1=$(date +%s.%N)
    line=$(grep -a -m1 BENCH_UP "$run/console.log" || true)
    if [ -z "$line" ]; then
      printf '%-6s %4s  no BENCH_UP line (%s); console tail:\n' "$init" "$r" "$status"
      tail -n 15 "$run/console.log" | sed 's/^/    /'
      continue
    fi
    up=$(sed -n 's/.*up=\([0-9.]*\).*/\1/p' <<<"$line")
    handoff=$(sed -n 's/.*handoff=\([0-9.]*\).*/\1/p' <<<"$line")
    rss=$(sed -n 's/.*rss_kb=\([0-9]*\).*/\1/p' <<<"$line")
    svc=$(sed -n 's/.*sleepers=\([0-9]*\).*/\1/p' <<<"$line")
    ms=$(awk -v u="$up" -v h="${handoff:-0}" 'BEGIN {printf "%.0f", (u - h) * 1000}')
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    printf '%-6s %4s %10s %10s %10s %10s %9s %9s\n' "$init" "$r" "${handoff:-?}" "$up" "$ms" "$rss" "$svc" "$wall"
    echo "$init $ms $rss" >>"$results"
  done
done
echo
for init in "${inits[@]}"; do
  med=$(awk -v i="$init" '$1 == i {print $2}' "$results" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}')
  rss=$(awk -v i="$init" '$1 == i {print $3}' "$results" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}')
  printf 'median %-6s boot %6s ms   PID 1 RSS %6s KiB\n' "$init" "$med" "$rss"
done
