#!/usr/bin/env bash
# Builds and runs the host-kernel crate's tests for aarch64 (its NEON baseline) under qemu's
# user-mode emulation, so kernels that compile only for x86-64, or compute differently on ARM,
# fail here. The crate is pure Rust; what it needs is the target's standard library, a linker
# for it and the emulator, installed here when missing (Debian packages; root).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
target=aarch64-unknown-linux-gnu

# Where the target's standard library or the packages cannot be fetched, say so and skip: the
# x86-64 tests of every kernel path still ran in the test command.
skip() {
  echo "SKIPPED: $1; the aarch64 kernel tests did not run" >&2
  exit 0
}
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target" || skip "rustup could not install the $target standard library"
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq >/dev/null \
    && apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu \
      libc6-dev-arm64-cross qemu-user >/dev/null; } \
    || skip "the aarch64 linker and qemu-user could not be installed (Debian packages, as root)"
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# Clippy sees only the x86-64 build: warnings of the aarch64 one fail here.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-D warnings"
cargo test --locked -p reclab-kernels --target "$target"
