# Sourced by run.sh and smoke.sh (from fuzz/): installs what the fuzz build needs, builds every
# target once (nightly, cargo-fuzz, no sanitizer) and sets $binaries to where they are.
#
# Without a sanitizer: twice the executions per second; reclab's code is safe Rust but for one
# allocator setting, and its dependencies' unsafe code still runs (a crash there still shows).
# The targets then run from the built binaries, so editing the sources during a long run does
# not rebuild anything.
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
target_dir="${RECLAB_FUZZ_TARGET_DIR:-$HOME/.cache/reclab-fuzz-target}"
binaries="$target_dir/x86_64-unknown-linux-gnu/release"
all_targets=(delimited_log recbole movielens parquet run_file configs model_folder weights gguf)
build_targets() {
  cargo +nightly fuzz build --sanitizer none --target-dir "$target_dir"
}
