#!/usr/bin/env bash
# Runs every test, including the ones that need the real datasets when RECLAB_DATASETS is set
# (or ../shared/datasets exists beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
if [ -z "${RECLAB_DATASETS:-}" ] && [ -d ../shared/datasets ]; then
  export RECLAB_DATASETS="$(cd ../shared/datasets && pwd)"
fi
# Tests of the language-model engine read the real all-MiniLM-L6-v2 from here.
if [ -z "${RECLAB_MODELS:-}" ] && [ -d ../shared/models ]; then
  export RECLAB_MODELS="$(cd ../shared/models && pwd)"
fi
# The reference checks (tests/reference/) run Python with the packages they import.
source scripts/python-deps.sh
if [ -n "${RECLAB_DATASETS:-}" ]; then
  ignored=(--run-ignored all)
else
  echo "RECLAB_DATASETS is not set: tests on real data are skipped" >&2
  ignored=()
fi
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --locked --no-fail-fast "${ignored[@]}"
  # nextest does not run doctests.
  cargo test --locked --doc
else
  cargo test --locked -- ${ignored:+--include-ignored}
fi
