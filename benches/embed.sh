#!/usr/bin/env bash
# reclab's sentence encoder against sentence-transformers on the same texts, same CPU threads.
#
#   bash benches/embed.sh [MODEL_DIR] [DATASET]
#
# Defaults: ../shared/models/all-MiniLM-L6-v2 and ../shared/datasets/ml-100k beside the
# checkout. Both sides embed the dataset's item texts (reclab's default template), batch 32,
# with as many threads as RECLAB_BENCH_THREADS (default: all cores); three rounds, alternating.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-../shared/models/all-MiniLM-L6-v2}"
data="${2:-../shared/datasets/ml-100k}"
source benches/common.sh
ensure_python_module sentence_transformers sentence-transformers

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The exact texts reclab embeds, one JSON string per line.
"$reclab" embed --lm "$model" --data "$data" --device cpu --no-cache --json \
  --texts-out "$work/texts.jsonl" >/dev/null

ours=() theirs=()
for round in 1 2 3; do
  ours+=("$(RAYON_NUM_THREADS=$threads "$reclab" embed --lm "$model" --data "$data" \
    --device cpu --no-cache --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items_per_sec"])')")
  theirs+=("$("$venv/bin/python" benches/sentence_transformers_embed.py "$model" \
    "$work/texts.jsonl" "$threads")")
  echo "round $round: reclab ${ours[-1]} items/s, sentence-transformers ${theirs[-1]} items/s" >&2
done
python3 - "${ours[*]}" "${theirs[*]}" "$threads" <<'PY'
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(ours), statistics.median(theirs)
print(f"{sys.argv[3]} threads: reclab {a:.1f} items/s, sentence-transformers {b:.1f} items/s, "
      f"ratio {a / b:.2f}")
PY
