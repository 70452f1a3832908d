#!/usr/bin/env bash
# The CUDA path in one step for a GPU machine without a Rust toolchain. Here: builds the release
# binary with `--features cuda`, strips and compresses it, and packs it with ML-100K and the
# PyTorch reference step into a folder of at most 64 MiB. There: `bash run.sh` in that folder
#   (1) times `reclab bench train --devices cuda` at batch 128 and 256,
#   (2) times the same PyTorch SASRec step on the GPU (PyTorch must be installed there) and
#       prints the ratio, and
#   (3) trains SASRec on ML-100K with `--device cuda` to completion (experiments/sasrec-ml100k.toml)
#       and prints its test metrics and wall time.
#
#   bash scripts/gpu-check.sh [OUT_DIR]      (default: gpu-check/ in the checkout, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
out="${1:-gpu-check}"
data="${RECLAB_DATASETS:-../shared/datasets}/ml-100k"
[ -f "$data/ml-100k.inter" ] || { echo "no ML-100K at $data (set RECLAB_DATASETS)" >&2; exit 1; }

cargo build --release --locked --features cuda --bin reclab
rm -rf "$out"
mkdir -p "$out/ml-100k"
cp "$CARGO_TARGET_DIR/release/reclab" "$out/reclab"
strip "$out/reclab"
xz -9 -T0 "$out/reclab"
cp "$data"/ml-100k.inter "$data"/ml-100k.item "$data"/ml-100k.user "$out/ml-100k/"
cp benches/torch_sasrec_step.py experiments/sasrec-ml100k.toml "$out/"
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine, in this folder: bash run.sh
set -euo pipefail
cd "$(dirname "$0")"
[ -x reclab ] || { xz -dk reclab.xz && chmod +x reclab; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
for batch in 128 256; do
  line="$(./reclab bench train --ml100k ml-100k --devices cuda --batch-size "$batch" --steps 50 | tee /dev/stderr | grep '^cuda')"
  ours="$(echo "$line" | sed -n 's/^cuda *step *\([0-9.]*\) ms.*/\1/p')"
  theirs="$(python3 torch_sasrec_step.py "$batch" "$(nproc)" cuda)"
  python3 -c "print(f'batch $batch on the GPU: reclab $ours ms/step, PyTorch $theirs ms/step, ratio {$theirs / $ours:.2f}')"
done
./reclab train --config sasrec-ml100k.toml --data ml-100k --device cuda --out runs
RUN
size="$(du -sb "$out" | cut -f1)"
if [ "$size" -gt $((64 * 1024 * 1024)) ]; then
  echo "$out is $((size / 1024 / 1024)) MiB: more than the 64 MiB a GPU machine takes" >&2
  exit 1
fi
echo "packed $out ($((size / 1024 / 1024)) MiB). On a machine with an NVIDIA GPU, copy it there and run:"
echo "  bash $out/run.sh"
