#!/bin/bash
# Where vigil's resident pages go: vigil (supervisor mode) with N `sleep`
# units, 1 s after its target is up; prints RSS per mapping from
# /proc/PID/smaps and the smaps_rollup totals; then, with LISTS > 0, the
# same again after that many `vigilctl list`s (as the supervisor bench
# does before its "at the end" figure). Root not needed.
#   bench/rss.sh [N] [VIGIL] [LISTS]   (defaults: 1000, the release build, 0)
set -euo pipefail
N=${1:-1000}
V=${2:-$(dirname "$0")/../target/x86_64-unknown-linux-gnu/release/vigil}
LISTS=${3:-0}
[ -x "$V" ] || cargo build --release >&2
CTL=$(dirname "$V")/vigilctl
D=$(mktemp -d)
trap 'kill "$P" 2>/dev/null; wait "$P" 2>/dev/null; rm -rf "$D"' EXIT
mkdir "$D/units"
for i in $(seq -w 0 $((N - 1))); do
  printf 'exec = ["/bin/sleep", "1000000"]\nrestart = "on-failure"\nrestart_delay = "0"\nwanted_by = ["default"]\n' >"$D/units/s$i.toml"
done
"$V" --units "$D/units" --socket "$D/control" --config "$D/vigil.toml" >"$D/out" 2>&1 &
P=$!
for _ in $(seq 300); do grep -q "is up after" "$D/out" && break; sleep 0.1; done
sleep 1
report() {
  awk '/^[0-9a-f]+-/{name=$6; if(name=="")name="[anon]"} /^Rss:/{rss[name]+=$2}
       END{for(n in rss) if(rss[n]>0) printf "%7d KiB %s\n", rss[n], n}' "/proc/$P/smaps" | sort -rn
  grep -E "^(Rss|Pss|Anonymous)" "/proc/$P/smaps_rollup"
}
report
if [ "$LISTS" -gt 0 ]; then
  for _ in $(seq "$LISTS"); do "$CTL" --socket "$D/control" list >/dev/null; done
  echo "-- after $LISTS lists"
  report
fi
