#!/usr/bin/env bash
# Builds the fuzz targets (nightly, cargo-fuzz, no sanitizer) and runs each for a number of
# executions, two at a time (one per core), then prints a table: target, executions, seconds,
# executions per second, corpus size, crashes. Crashing inputs are saved under
# fuzz/artifacts/<target>/; copy one to fuzz/regressions/<target>/ once fixed, where
# tests/fuzz_corpora.rs replays it in CI.
#
#   bash fuzz/run.sh [executions per target, default 1000000] [target ...]
#   RECLAB_FUZZ_TABLE_ONLY=1 bash fuzz/run.sh   # the table of the last runs, nothing run
set -uo pipefail
cd "$(dirname "$0")"
runs="${1:-1000000}"
shift || true
targets=("$@")
source ./build.sh
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all_targets[@]}")
fi
corpus="${RECLAB_FUZZ_CORPUS:-$HOME/.cache/reclab-fuzz-corpus}"
logs="${RECLAB_FUZZ_LOGS:-$corpus/logs}"
mkdir -p "$logs"
if [ -z "${RECLAB_FUZZ_TABLE_ONLY:-}" ]; then
  build_targets || exit 1
fi

# Each target single-threaded (two run at once); a 10 s input is a hang; 4 GiB is the most any
# input may hold. Fork mode with crashes ignored: a target that crashes still runs its
# executions, and the crashes are counted; each crashing input is saved under
# artifacts/<target>/.
export POLARS_MAX_THREADS=1 RAYON_NUM_THREADS=1
run_one() {
  local name=$1
  mkdir -p "$corpus/$name" "artifacts/$name"
  local start=$SECONDS
  "$binaries/$name" "$corpus/$name" "seeds/$name" -artifact_prefix="artifacts/$name/" \
    -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -runs="$runs" -timeout=10 -rss_limit_mb=4096 \
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

printf '\n| target | executions | seconds | exec/s | corpus | crashes / timeouts / out of memory |\n| --- | --- | --- | --- | --- | --- |\n'
for name in "${targets[@]}"; do
  read -r _ status seconds <"$logs/$name.status"
  # Fork mode's progress lines: "#N: cov: … oom/timeout/crash: O/T/C time: …".
  last=$(grep -E '^#[0-9]+: ' "$logs/$name.log" | tail -1)
  executions=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  read -r oom timeout crash < <(sed -E 's|.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*|\1 \2 \3|' <<<"$last")
  rate=$(( ${executions:-0} / (seconds > 0 ? seconds : 1) ))
  size=$(ls "$corpus/$name" | wc -l)
  printf '| %s | %s | %s | %s | %s | %s / %s / %s%s |\n' "$name" "${executions:-?}" "$seconds" \
    "$rate" "$size" "${crash:-?}" "${timeout:-?}" "${oom:-?}" "$([ "$status" = 0 ] || echo " (exit $status)")"
done
