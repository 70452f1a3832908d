#!/usr/bin/env bash
# The language-model results tables of the README: leave-one-out and cold-items:0.1, full
# ranking, test targets, on one dataset.
#
#   bash experiments/lm-results.sh DATASET MODEL_DIR OUT_DIR [EPOCHS]
#
# Writes one JSON report per model into OUT_DIR (and runs under OUT_DIR/runs), then prints the
# table. SASRec runs use experiments/sasrec-ml100k.toml's settings (patience 20) with at most
# EPOCHS epochs (default 200). Environment variables narrow or change the runs: SPLITS,
# BASELINES (pop itemknn), USER_VECTORS (the lm's: history profile), TEXT_MODES (SASRec's
# item_text modes: none init fused frozen), each empty for none, and TRAIN_ARGS (extra
# `reclab train` flags). RECLAB_BIN names the binary (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
data="$1" lm="$2" out="$3" epochs="${4:-200}"
reclab="${RECLAB_BIN:-$HOME/.cache/reclab-target/release/reclab}"
mkdir -p "$out"
for split in ${SPLITS-loo cold-items:0.1}; do
  tag="${split/:/-}"
  for model in ${BASELINES-pop itemknn}; do
    "$reclab" eval --model "$model" --data "$data" --split "$split" --k 10 --json --no-save \
      > "$out/$tag-$model.json"
  done
  for user in ${USER_VECTORS-history profile}; do
    "$reclab" eval --model lm --lm "$lm" --user-vector "$user" --data "$data" --split "$split" \
      --k 10 --json --no-save > "$out/$tag-lm-$user.json"
  done
  for text in ${TEXT_MODES-none init fused frozen}; do
    # shellcheck disable=SC2086 # TRAIN_ARGS is a list of flags
    "$reclab" train --config experiments/sasrec-ml100k.toml --data "$data" --split "$split" \
      --epochs "$epochs" --item-text "$text" --lm "$lm" --device cpu --json ${TRAIN_ARGS:-} \
      --out "$out/runs" | tail -n 1 > "$out/$tag-sasrec-$text.json"
  done
done
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for split in ["loo", "cold-items-0.1"]:
    print(f"\n{split}: test, full ranking")
    print("| model | HR@10 | NDCG@10 | cold HR@10 | cold NDCG@10 | warm HR@10 | warm NDCG@10 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(out.glob(f"{split}-*.json")):
        r = json.loads(path.read_text())
        m = r.get("metrics") or r.get("test")
        g = r.get("by_target") or {}
        cells = [m.get("hit@10"), m.get("ndcg@10")]
        for group in ["cold", "warm"]:
            cells += [g.get(group, {}).get("hit@10"), g.get(group, {}).get("ndcg@10")]
        text = " | ".join("-" if c is None else f"{c:.4f}" for c in cells)
        print(f"| {path.stem[len(split) + 1:]} | {text} |")
PY
