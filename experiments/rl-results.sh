#!/usr/bin/env bash
# The README's "Results: reinforcement learning": learned page policies (γ = 0.9, and a myopic
# γ = 0 learner) trained on the training half of the simulated users over Pop's candidates, then
# compared with the myopic policies on the held-out half, every policy meeting the same users
# with the same random numbers. Four worlds: the synthetic one, the same without satiation and
# with four times as much, and ML-100K-like users (when its folder is given).
#
#   bash experiments/rl-results.sh OUT_DIR [ML100K_DIR]
#
# EPISODES (default 2000) and USERS (default 2000) size it; WORLDS narrows it (default: all of
# synthetic no-satiation strong-satiation ml100k); RECLAB_BIN names the binary
# (default: the release build). Writes the tables and logs into OUT_DIR, the runs under
# OUT_DIR/runs.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1" ml="${2:-}"
reclab="${RECLAB_BIN:-$HOME/.cache/reclab-target/release/reclab}"
episodes="${EPISODES:-2000}" users="${USERS:-2000}"
mkdir -p "$out/runs"
latest() { ls -td "$out"/runs/*/ | head -1; }

world() { # NAME DATA [options for both the training and the simulation]
  local name="$1" data="$2"
  shift 2
  local train=(rl train --data "$data" --model pop --episodes "$episodes" --out "$out/runs" "$@")
  "$reclab" "${train[@]}" > "$out/$name-rl.log" 2>&1
  local rl myopic
  rl="$(latest)"
  "$reclab" "${train[@]}" --gamma 0 > "$out/$name-rl-myopic.log" 2>&1
  myopic="$(latest)"
  local ab=(simulate --data "$data" --model pop --users "$users" --out "$out/runs" "$@")
  "$reclab" "${ab[@]}" --policies "static,greedy,mmr,bandit,thompson,rl:$rl" > "$out/$name-ab.txt"
  # The same held-out users and random numbers: greedy's row repeats, the myopic learner joins.
  "$reclab" "${ab[@]}" --policies "greedy,rl:$myopic" > "$out/$name-ab-myopic.txt"
}

for name in ${WORLDS-synthetic no-satiation strong-satiation ml100k}; do
  case "$name" in
    synthetic) world synthetic synthetic ;;
    no-satiation) world synthetic-no-satiation synthetic --satiation 0 ;;
    strong-satiation) world synthetic-strong-satiation synthetic --satiation 2 ;;
    ml100k) if [ -n "$ml" ]; then world ml100k "$ml"; fi ;;
  esac
done
