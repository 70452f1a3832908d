#!/usr/bin/env bash
# The GPU code path without a GPU: tests/wgpu.rs on burn's wgpu backend over Mesa's lavapipe (a
# Vulkan driver that runs on the CPU; Debian's mesa-vulkan-drivers, which .ci/run installs for
# the GUI smoke test). Compares every wgpu branch with the CPU's; timing means nothing here.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
if [ -z "${RECLAB_MODELS:-}" ] && [ -d ../shared/models ]; then
  export RECLAB_MODELS="$(cd ../shared/models && pwd)"
fi
ignored=()
if [ -n "${RECLAB_MODELS:-}" ]; then
  ignored=(--run-ignored all)
else
  echo "RECLAB_MODELS is not set: the encoder and decoder checks are skipped" >&2
fi
if ! ls /usr/share/vulkan/icd.d/lvp_icd* >/dev/null 2>&1; then
  echo "Mesa's lavapipe (mesa-vulkan-drivers) is not installed: no Vulkan device to run wgpu on" >&2
  exit 1
fi
# Vulkan, whose only adapter here is lavapipe's software one (wgpu takes it when nothing else is
# there); one test at a time, as lavapipe already spreads each kernel over the cores.
export WGPU_BACKEND=vulkan
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo nextest run --locked --no-fail-fast --features wgpu --test wgpu --test-threads 1 "${ignored[@]}"
