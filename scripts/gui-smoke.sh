#!/usr/bin/env bash
# Starts the real reclab window under Xvfb (software rendering), waits for it to draw the
# synthetic world, saves a screenshot through the app (`--screenshot`) and checks that the
# picture is not blank. Needs xvfb-run, Mesa and ImageMagick (.ci/run installs them).
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
shot="$work/window.png"
timeout 180 xvfb-run -a -s "-screen 0 1400x900x24" \
  "$binary" --runs "$work/runs" --screenshot "$shot" --screenshot-after 5
[ -s "$shot" ] || { echo "gui smoke test: no screenshot was written" >&2; exit 1; }
size="$(identify -format '%w×%h' "$shot")"
colours="$(identify -format '%k' "$shot")"
echo "gui smoke test: screenshot $size with $colours distinct colours"
# A blank or single-colour window has a handful of colours; the Data panel with its plots has
# hundreds.
if [ "$colours" -lt 100 ]; then
  echo "gui smoke test: the screenshot looks blank ($colours colours)" >&2
  exit 1
fi
