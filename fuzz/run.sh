#!/bin/bash
# Runs every fuzz target for SECONDS (default 60) each with the nightly
# toolchain and cargo-fuzz, starting from the seed corpus in fuzz/corpus/
# (copied to fuzz/.work/, where new finds go; a crash lands in
# fuzz/artifacts/TARGET/), and prints executions per target.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^vigil-fuzz$')
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
printf '%-18s %12s %10s\n' target executions exec/s
for t in "${targets[@]}"; do
  work=".work/corpus/$t"
  mkdir -p "$work"
  cp -n "corpus/$t"/* "$work"/
  log=$(mktemp)
  # A small ASan quarantine: freed memory it holds back counts against the
  # RSS limit, and systemd_unit frees a lot (it writes and parses TOML).
  ASAN_OPTIONS="quarantine_size_mb=32${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
  cargo +nightly fuzz run "$t" "$work" -- -max_total_time="$secs" -rss_limit_mb=512 -max_len=65536 \
    >"$log" 2>&1 || { cat "$log"; echo "fuzz target $t failed" >&2; exit 1; }
  line=$(grep -E '^#[0-9]+.*(DONE|exec/s)' "$log" | tail -1)
  execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$line")
  rate=$(sed -E 's/.*exec\/s: ([0-9]+).*/\1/' <<<"$line")
  printf '%-18s %12s %10s\n' "$t" "$execs" "$rate"
  rm -f "$log"
done
