#!/usr/bin/env bash
# Starts the real reclab window under Xvfb (software rendering), waits for it to draw the
# synthetic world, saves a screenshot through the app (`--screenshot`) and checks that the
# picture is not blank. With the shared ML-100K and all-MiniLM-L6-v2 beside the checkout (or
# $RECLAB_DATASETS / $RECLAB_MODELS), the language parts too: the item map and a search in the
# Data panel, a persona and a typed request in the Live preview. Needs xvfb-run, Mesa and
# ImageMagick (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
binary="$CARGO_TARGET_DIR/debug/reclab"
[ -x "$binary" ] || cargo build --locked --bin reclab
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# winit wants a runtime dir; CI shells often have none.
export XDG_RUNTIME_DIR="$work/xdg"
mkdir -m 700 "$XDG_RUNTIME_DIR"

# shot NAME EXPECTED ARGS…: a screenshot, not blank, and the app's closing summary line
# containing EXPECTED.
shot() {
  local name="$1" expected="$2"
  shift 2
  local picture="$work/$name.png"
  local summary
  summary="$(timeout 300 xvfb-run -a -s "-screen 0 1400x900x24" \
    "$binary" --runs "$work/runs" --screenshot "$picture" "$@" | tail -n 1)"
  [ -s "$picture" ] || { echo "gui smoke test ($name): no screenshot was written" >&2; exit 1; }
  local size colours
  size="$(identify -format '%w×%h' "$picture")"
  colours="$(identify -format '%k' "$picture")"
  echo "gui smoke test ($name): screenshot $size with $colours distinct colours; $summary"
  # A blank or single-colour window has a handful of colours; a panel with plots has hundreds.
  if [ "$colours" -lt 100 ]; then
    echo "gui smoke test ($name): the screenshot looks blank ($colours colours)" >&2
    exit 1
  fi
  case "$summary" in
    *"$expected"*) ;;
    *) echo "gui smoke test ($name): expected \"$expected\" in: $summary" >&2; exit 1 ;;
  esac
}

shot synthetic "dataset: synthetic" --screenshot-after 5
datasets="${RECLAB_DATASETS:-../shared/datasets}"
models="${RECLAB_MODELS:-../shared/models}"
if [ -d "$datasets/ml-100k" ] && [ -d "$models/all-MiniLM-L6-v2" ]; then
  shot item-map "items embedded: 1682; search results: 10" \
    --data "$datasets/ml-100k" --lm "$models/all-MiniLM-L6-v2" \
    --search "a space adventure with robots" --screenshot-after 20
  shot storefront "request row: yes; persona: a teenager who loves horror" \
    --panel live --data "$datasets/ml-100k" --lm "$models/all-MiniLM-L6-v2" --preview-steps 3 \
    --persona "a teenager who loves horror" --ask "something light and funny" \
    --screenshot-after 20
else
  echo "gui smoke test: no ML-100K and all-MiniLM-L6-v2 beside the checkout; language parts skipped"
fi
