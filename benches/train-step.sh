#!/usr/bin/env bash
# reclab's SASRec training step against a minimal PyTorch SASRec with the same shapes
# (benches/torch_sasrec_step.py), on this machine's CPU with the same threads, alternating the
# two three times per batch size; prints each median and the ratio (above 1: reclab is faster).
#
#   bash benches/train-step.sh [ML100K_DIR]
#
# PyTorch comes from pip into a virtual environment of the benchmarks' own
# ($RECLAB_BENCH_VENV, default ~/.cache/reclab-bench-venv) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/datasets/ml-100k}"
source benches/common.sh
ensure_python_module torch torch --index-url https://download.pytorch.org/whl/cpu \
  || ensure_python_module torch torch

for batch in 128 256; do
  ours=() theirs=()
  for round in 1 2 3; do
    ours+=("$(RAYON_NUM_THREADS=$threads "$reclab" bench train --ml100k "$data" \
      --batch-size "$batch" --steps 10 | sed -n 's/^cpu *step *\([0-9.]*\) ms.*/\1/p')")
    theirs+=("$("$venv/bin/python" benches/torch_sasrec_step.py "$batch" "$threads")")
    echo "batch $batch round $round: reclab ${ours[-1]} ms, PyTorch ${theirs[-1]} ms" >&2
  done
  python3 - "$batch" "${ours[*]}" "${theirs[*]}" "$threads" <<'PY'
import statistics, sys
batch, threads = sys.argv[1], sys.argv[4]
ours = statistics.median(float(x) for x in sys.argv[2].split())
theirs = statistics.median(float(x) for x in sys.argv[3].split())
print(f"batch {batch}, {threads} threads: reclab {ours:.1f} ms/step, PyTorch {theirs:.1f} ms/step, "
      f"ratio {theirs / ours:.2f}")
PY
done
