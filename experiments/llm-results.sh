#!/usr/bin/env bash
# The re-ranker and llm-profile results of the README ("Results: generative models"):
# leave-one-out, test targets, on an evenly spaced sample of users (an LLM costs seconds per
# user on a CPU), each base model on the same sample beside its re-ranked self.
#
#   bash experiments/llm-results.sh DATASET LLM ENCODER OUT_DIR [USERS]
#
# Writes one JSON report per model into OUT_DIR (and the SASRec base run under OUT_DIR/runs).
# STEPS narrows what runs (default: all of pop uni19 itemknn sasrec profile).
# RECLAB_BIN names the binary (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
data="$1" llm="$2" lm="$3" out="$4" users="${5:-200}"
reclab="${RECLAB_BIN:-$HOME/.cache/reclab-target/release/reclab}"
mkdir -p "$out"
sample=(--users "$users" --k 10 --json --no-save --data "$data")
for step in ${STEPS-pop uni19 itemknn sasrec profile}; do
  case "$step" in
    pop | itemknn)
      "$reclab" eval --model "$step" "${sample[@]}" > "$out/$step.json"
      "$reclab" eval --model rerank --base "$step" --llm "$llm" "${sample[@]}" \
        > "$out/rerank-$step.json"
      ;;
    uni19)
      # Hou et al.'s protocol: the target among 19 random items, all 20 re-ranked.
      "$reclab" eval --model pop --protocol uni19 "${sample[@]}" > "$out/uni19-pop.json"
      "$reclab" eval --model rerank --base pop --protocol uni19 --llm "$llm" "${sample[@]}" \
        > "$out/uni19-rerank.json"
      ;;
    sasrec)
      "$reclab" train --config experiments/sasrec-ml100k.toml --data "$data" \
        --out "$out/runs" > "$out/sasrec-train.log" 2>&1
      run="$(ls -td "$out"/runs/*/ | head -1)"
      "$reclab" eval --model rerank --base "$run" --llm "$llm" "${sample[@]}" \
        > "$out/rerank-sasrec.json"
      # The run's own list on the same users: one candidate leaves any list as it is.
      "$reclab" eval --model rerank --base "$run" --candidates 1 --llm "$llm" "${sample[@]}" \
        > "$out/sasrec.json"
      ;;
    profile)
      for vector in history profile llm-profile; do
        "$reclab" eval --model lm --lm "$lm" --user-vector "$vector" --llm "$llm" \
          "${sample[@]}" > "$out/lm-$vector.json"
      done
      ;;
  esac
done
