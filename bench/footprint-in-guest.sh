#!/bin/sh
# Run inside the demo guest by bench/footprint-in-guest.py: a second vigil (a
# supervisor, the guest's PID 1 binary) with N `sleep` units; its
# smaps_rollup after the target is up and after 30 `vigilctl list`s, then
# RSS per mapping.
N=${1:-1000}
mkdir -p /tmp/u
i=0
while [ $i -lt "$N" ]; do
  printf 'exec = ["/bin/sleep", "1000000"]\nrestart = "on-failure"\nrestart_delay = "0"\nwanted_by = ["default"]\n' >/tmp/u/s$i.toml
  i=$((i + 1))
done
V=$(readlink -f /proc/1/exe)
echo "kernel $(uname -r), $N units, vigil is $V"
"$V" --units /tmp/u --socket /tmp/c --config /tmp/v.toml >/tmp/o 2>&1 &
P=$!
n=0
while ! grep -q "is up after" /tmp/o; do
  sleep 1
  n=$((n + 1))
  [ $n -gt 300 ] && { tail -5 /tmp/o; break; }
done
grep "is up after" /tmp/o
sleep 3
echo "-- after boot"
grep -E '^(Rss|Anonymous)' /proc/$P/smaps_rollup
i=0
while [ $i -lt 30 ]; do vigilctl --socket /tmp/c list >/dev/null; i=$((i + 1)); done
echo "-- after 30 lists"
grep -E '^(Rss|Anonymous)' /proc/$P/smaps_rollup
awk '/^[0-9a-f]+-/{name=$6; if(name=="")name="[anon]"} /^Rss:/{rss[name]+=$2}
     END{for(n in rss) if(rss[n]>0) printf "%7d KiB %s\n", rss[n], n}' /proc/$P/smaps
kill -TERM $P
wait $P
echo FOOTPRINT-DONE
