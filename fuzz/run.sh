#!/usr/bin/env bash
# Builds the fuzz targets (nightly, cargo-fuzz, no sanitizer) and runs each for a number of
# executions, two at a time (one per core), then prints a table: target, executions, seconds,
# executions per second, corpus size, crashes. A crashing input is saved under
# fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ once fixed, where
# tests/fuzz_corpora.rs replays it in CI.
#
#   bash fuzz/run.sh [executions per target, default 1000000] [target ...]
#   RECLAB_FUZZ_TABLE_ONLY=1 bash fuzz/run.sh   # the table of the last runs, nothing run
set -uo pipefail
cd "$(dirname "$0")"
runs="${1:-1000000}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(delimited_log recbole movielens parquet run_file configs model_folder weights)
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
target_dir="${RECLAB_FUZZ_TARGET_DIR:-$HOME/.cache/reclab-fuzz-target}"
corpus="${RECLAB_FUZZ_CORPUS:-$HOME/.cache/reclab-fuzz-corpus}"
logs="${RECLAB_FUZZ_LOGS:-$corpus/logs}"
mkdir -p "$logs"
# Without a sanitizer: twice the executions per second; reclab's code is safe Rust but for one
# allocator setting, and its dependencies' unsafe code still runs (a crash there still shows).
# Built once; the targets then run from the built binaries, so editing the sources during a
# long run does not rebuild anything.
binaries="$target_dir/x86_64-unknown-linux-gnu/release"
if [ -z "${RECLAB_FUZZ_TABLE_ONLY:-}" ]; then
  cargo +nightly fuzz build --sanitizer none --target-dir "$target_dir" || exit 1
fi

# Each target single-threaded (two run at once); a 10 s input is a hang; 4 GiB is the most any
# input may hold.
export POLARS_MAX_THREADS=1 RAYON_NUM_THREADS=1
run_one() {
  local name=$1
  mkdir -p "$corpus/$name" "artifacts/$name"
  local start=$SECONDS
  "$binaries/$name" "$corpus/$name" "seeds/$name" -artifact_prefix="artifacts/$name/" \
    -runs="$runs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$logs/$name.log" 2>&1
  echo "$name $? $((SECONDS - start))" >"$logs/$name.status"
}
if [ -z "${RECLAB_FUZZ_TABLE_ONLY:-}" ]; then
  running=0
  for name in "${targets[@]}"; do
    run_one "$name" &
    running=$((running + 1))
    if [ $running -ge 2 ]; then wait -n; running=$((running - 1)); fi
  done
  wait
fi

printf '\n| target | executions | seconds | exec/s | corpus | result |\n| --- | --- | --- | --- | --- | --- |\n'
for name in "${targets[@]}"; do
  read -r _ status seconds <"$logs/$name.status"
  executions=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$name.log" | grep -o '[0-9]*$' | tail -1)
  [ -n "$executions" ] || executions=$(grep -o '^#[0-9]*' "$logs/$name.log" | tail -1 | tr -d '#')
  rate=$(( ${executions:-0} / (seconds > 0 ? seconds : 1) ))
  size=$(ls "$corpus/$name" | wc -l)
  if [ "$status" = 0 ]; then result="no crash"; else
    result="CRASH (exit $status): $(grep -m1 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$logs/$name.log" | cut -c1-120)"
  fi
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${executions:-?}" "$seconds" "$rate" "$size" "$result"
done
