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
# Built with the wgpu backend compiled in, as scripts/wgpu-suite.sh builds, so that one build
# serves both (CI runs the two one after the other). The wgpu suite itself needs a Vulkan device
# and runs from that script, not here.
features=(--features wgpu)
filter='not binary(wgpu)'
# The same exclusions by test name, for the fallback without nextest below (libtest filters
# names only): every wgpu suite test has `on_wgpu` in its name.
skips=(--skip on_wgpu)
# The Slurm integration test runs on a one-node cluster of this machine (scripts/slurm-local.sh,
# which needs root to install and start it) unless SLURM_CONF names a cluster already.
if [ -n "${ignored[*]}" ] && [ -z "${SLURM_CONF:-}" ]; then
  slurm_dir="$CARGO_TARGET_DIR/slurm-local"
  if [ "$(id -u)" = 0 ] && started="$(bash scripts/slurm-local.sh start "$slurm_dir")"; then
    eval "$started"
    trap 'bash scripts/slurm-local.sh stop "$slurm_dir"' EXIT
  else
    echo "no Slurm cluster (SLURM_CONF unset, and none could be started here): the Slurm test is skipped" >&2
    filter="$filter and not binary(slurm)"
    skips+=(--skip a_sweep_runs_as_a_job_array)
  fi
fi
# nextest runs each test in a process of its own, so the tests that seed the backend's
# process-wide random generator cannot interleave their draws. Installed here when missing.
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest \
  || echo "cargo-nextest could not be installed: the tests run on one thread instead" >&2
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast "${features[@]}" "${ignored[@]}" -E "$filter"
  # nextest does not run doctests.
  cargo test --workspace --locked --doc "${features[@]}"
else
  # One thread, for the same reason as above.
  cargo test --workspace --locked "${features[@]}" -- --test-threads=1 "${skips[@]}" \
    ${ignored:+--include-ignored}
fi
