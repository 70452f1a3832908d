#!/usr/bin/env bash
# Regenerates the README's screenshots (assets/screenshots/) with the real window under Xvfb:
# ML-100K and all-MiniLM-L6-v2 from ../shared (or $RECLAB_DATASETS / $RECLAB_MODELS), with runs
# trained on the spot. Needs xvfb-run and Mesa (.ci/run installs them). Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
cargo build --locked --bin reclab
reclab="$CARGO_TARGET_DIR/debug/reclab"
datasets="$(cd "${RECLAB_DATASETS:-../shared/datasets}" && pwd)"
models="$(cd "${RECLAB_MODELS:-../shared/models}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Short relative paths in the pictures, not this machine's.
ln -s "$datasets" "$work/datasets"
ln -s "$models" "$work/models"
cd "$work"
export XDG_RUNTIME_DIR="$work/xdg"
mkdir -m 700 "$XDG_RUNTIME_DIR"
data=datasets/ml-100k
lm=models/all-MiniLM-L6-v2
llm=models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf

echo "training the runs the pictures show …"
"$reclab" train --data "$data" --epochs 10 --out runs >/dev/null
"$reclab" train --data "$data" --epochs 10 --item-text fused --lm "$lm" --out runs >/dev/null
"$reclab" eval --model itemknn --data "$data" --out runs >/dev/null
sasrec="$(ls -d runs/*-sasrec-* | head -n 1)"

shot() {
  local name="$1"
  shift
  timeout 300 xvfb-run -a -s "-screen 0 1400x900x24" "$reclab" --runs runs --data "$data" \
    --screenshot "$repo/assets/screenshots/$name.png" "$@"
  echo "assets/screenshots/$name.png"
}
shot data --lm "$lm" --search "a space adventure with robots" --screenshot-after 15
shot evaluate --panel evaluate --open-model "$sasrec" --evaluate --screenshot-after 20
shot compare --panel compare --compare-all --screenshot-after 8
shot user --panel user --open-model "$sasrec" --lm "$lm" --llm "$llm" --screenshot-after 30
shot live --panel live --open-model "$sasrec" --lm "$lm" --llm "$llm" --preview-steps 6 \
  --persona "a teenager who loves horror and sci-fi" --ask "something light and funny" \
  --screenshot-after 20
# Last: its training is stopped when the window closes, and listed as cancelled in the runs.
shot train --panel train --start-training --screenshot-after 30
