#!/usr/bin/env bash
# The CUDA path in one step for a GPU machine without a Rust toolchain. Here: builds the release
# binary with `--features cuda`, strips and compresses it, and packs it with ML-100K and the
# PyTorch references into a folder. There: `bash run.sh` in that folder
#   (1) compares the GPU with the CPU (`reclab check-device --device cuda`): one training step
#       of SASRec, BERT4Rec and text-aware SASRec from the same weights, and the encoder's
#       vectors and the decoder's greedy tokens when the models were packed;
#   (2) times `reclab bench train --devices cuda` at batch 128 and 256 against the same PyTorch
#       SASRec step on the GPU (the ratio);
#   (3) trains SASRec on ML-100K with `--device cuda` to completion (experiments/sasrec-ml100k.toml)
#       and prints its test metrics, best epoch and wall time;
#   (4) with the models: `reclab embed` on ML-100K's item texts against sentence-transformers on
#       the GPU, and the decoder's tokens/s against transformers (f32) on the GPU.
# Every failing part is reported and the others still run; the exit status says whether any
# failed.
#
#   bash scripts/gpu-check.sh [OUT_DIR] [--with-models]
#
# OUT_DIR defaults to gpu-check/ in the checkout (git-ignored). Without --with-models the folder
# stays under 64 MiB (what a borrowed GPU machine takes in one call here); the models
# (all-MiniLM-L6-v2 and the SmolLM2 GGUF, about 180 MB) make it larger: copy it to a GPU
# machine you reach with scp, or put the models in OUT_DIR/models/ there by other means.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
out=gpu-check
with_models=0
for arg in "$@"; do
  case "$arg" in
    --with-models) with_models=1 ;;
    *) out="$arg" ;;
  esac
done
data="${RECLAB_DATASETS:-../shared/datasets}/ml-100k"
models="${RECLAB_MODELS:-../shared/models}"
[ -f "$data/ml-100k.inter" ] || { echo "no ML-100K at $data (set RECLAB_DATASETS)" >&2; exit 1; }

cargo build --release --locked --features cuda --bin reclab
rm -rf "$out"
mkdir -p "$out/ml-100k"
cp "$CARGO_TARGET_DIR/release/reclab" "$out/reclab"
strip "$out/reclab"
xz -9 -T0 "$out/reclab"
cp "$data"/ml-100k.inter "$data"/ml-100k.item "$data"/ml-100k.user "$out/ml-100k/"
cp benches/torch_sasrec_step.py benches/sentence_transformers_embed.py \
  benches/generate_reference.py experiments/sasrec-ml100k.toml "$out/"
if [ "$with_models" = 1 ]; then
  mkdir -p "$out/models/SmolLM2-135M-Instruct"
  cp -r "$models/all-MiniLM-L6-v2" "$out/models/"
  cp "$models"/SmolLM2-135M-Instruct/*.gguf "$models"/SmolLM2-135M-Instruct/tokenizer.json \
    "$out/models/SmolLM2-135M-Instruct/"
fi
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine, in this folder: bash run.sh   (figures go to stdout; see scripts/gpu-check.sh)
set -uo pipefail
cd "$(dirname "$0")"
[ -x reclab ] || { xz -dk reclab.xz && chmod +x reclab; } || exit 1
failed=()
part() { printf '\n== %s\n' "$1"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
minilm=models/all-MiniLM-L6-v2
gguf="$(ls models/SmolLM2-135M-Instruct/*.gguf 2>/dev/null | head -1)"

part "the GPU against the CPU: same seed, same inputs"
args=()
[ -d "$minilm" ] && args+=(--lm "$minilm")
[ -n "$gguf" ] && args+=(--llm "$gguf")
./reclab check-device --device cuda "${args[@]}" || failed+=(check-device)

part "training step against PyTorch on the GPU"
for batch in 128 256; do
  line="$(./reclab bench train --ml100k ml-100k --devices cuda --batch-size "$batch" --steps 50 | tee /dev/stderr | grep '^cuda')" \
    || { failed+=("bench train $batch"); continue; }
  ours="$(echo "$line" | sed -n 's/^cuda *step *\([0-9.]*\) ms.*/\1/p')"
  theirs="$(python3 torch_sasrec_step.py "$batch" "$(nproc)" cuda)" || { failed+=("torch step $batch"); continue; }
  python3 -c "print(f'batch $batch on the GPU: reclab $ours ms/step, PyTorch $theirs ms/step, ratio {$theirs / $ours:.2f}')"
done

part "SASRec on ML-100K to completion"
start=$SECONDS
./reclab train --config sasrec-ml100k.toml --data ml-100k --device cuda --out runs || failed+=(train)
echo "wall time: $((SECONDS - start)) s"

if [ -d "$minilm" ]; then
  part "sentence encoder on ML-100K's item texts, against sentence-transformers on the GPU"
  if ./reclab embed --lm "$minilm" --data ml-100k --device cuda --no-cache --json \
      --texts-out texts.jsonl >embed.json; then
    ours="$(python3 -c 'import json; print(json.load(open("embed.json"))["items_per_sec"])')"
    theirs="$(python3 sentence_transformers_embed.py "$minilm" texts.jsonl "$(nproc)" cuda)" \
      && python3 -c "print(f'reclab $ours items/s, sentence-transformers $theirs items/s, ratio {$ours / $theirs:.2f}')" \
      || failed+=(sentence-transformers)
  else
    failed+=(embed)
  fi
fi

if [ -n "$gguf" ]; then
  part "decoder tokens/s against transformers (f32) on the GPU"
  prompt="I watched Toy Story, Babe, The Lion King, Aladdin and Finding Nemo. In one sentence, what do I like?"
  ./reclab generate --llm "$gguf" --dtype f32 --device cuda --max-new-tokens 64 --ignore-eos \
    --json --chat "$prompt" || failed+=(generate)
  echo
  # transformers reads GGUF through the gguf package; bring its wheel if the machine lacks it.
  python3 generate_reference.py transformers "$gguf" "$prompt" 64 32 "$(nproc)" cuda \
    || failed+=("transformers reference")
fi

if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nfailed: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nevery part ran\n'
RUN
size="$(du -sb "$out" | cut -f1)"
echo "packed $out ($((size / 1024 / 1024)) MiB). On a machine with an NVIDIA GPU, copy it there and run:"
echo "  bash $out/run.sh"
if [ "$size" -gt $((64 * 1024 * 1024)) ]; then
  echo "($out is over the 64 MiB a borrowed GPU machine takes in one call here: copy it by scp)" >&2
fi
