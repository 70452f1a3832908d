#!/usr/bin/env bash
# A short fuzz run for CI: every target starts from the committed seeds alone (a fresh corpus
# each time, seed 1) and runs a fixed number of executions or a fixed time, whichever ends
# first (the slow targets, Parquet and GGUF, would take minutes each), one after another, without
# fork mode, so the first crash, hang or runaway allocation fails the script; its input is
# saved under fuzz/artifacts/<target>/ and the end of the fuzzer's log is printed.
#
#   bash fuzz/smoke.sh [executions per target, default 100000] [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")"
runs="${1:-100000}"
seconds="${2:-30}"
source ./build.sh
build_targets

export POLARS_MAX_THREADS=1 RAYON_NUM_THREADS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in "${all_targets[@]}"; do
  mkdir -p "$work/$name" "artifacts/$name"
  start=$SECONDS
  if ! "$binaries/$name" "$work/$name" "seeds/$name" -artifact_prefix="artifacts/$name/" \
    -seed=1 -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 >"$work/$name.log" 2>&1; then
    tail -40 "$work/$name.log"
    echo "fuzz smoke: $name crashed; the input is under fuzz/artifacts/$name/" >&2
    exit 1
  fi
  executed=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/$name.log" | tail -1)
  echo "fuzz smoke: $name, ${executed:-?} executions, no crash ($((SECONDS - start)) s)"
done
