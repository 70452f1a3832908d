# Shared by the side-by-side benchmarks (sourced, from the repository root): the benchmarks'
# own Python environment and the reclab binary under test.
#
# $venv: RECLAB_BENCH_VENV, default ~/.cache/reclab-bench-venv. $reclab: the binary built in
# RECLAB_BENCH_PROFILE (default release; dev measures the test build, dependencies optimised)
# with the features in RECLAB_BENCH_FEATURES (the test build has `wgpu`: set it to reuse that
# build instead of relinking); RECLAB_BENCH_GEMM_AVX512=0 leaves out gemm's AVX-512 kernels.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reclab-target}"
threads="${RECLAB_BENCH_THREADS:-$(nproc)}"
venv="${RECLAB_BENCH_VENV:-$HOME/.cache/reclab-bench-venv}"

# ensure_python_module MODULE PIP_ARGS...: installs with pip into $venv (once) when MODULE
# does not import there.
ensure_python_module() {
  local module=$1
  shift
  if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
    echo "installing $* into $venv (once)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "$@"
  fi
}

profile="${RECLAB_BENCH_PROFILE:-release}"
features="${RECLAB_BENCH_FEATURES:-}"
# RECLAB_BENCH_GEMM_AVX512=0 builds without gemm's AVX-512 kernels (benches/avx2-proxy.sh).
if [ "${RECLAB_BENCH_GEMM_AVX512:-1}" = 0 ]; then
  feature_args=(--no-default-features --features "gui${features:+,$features}")
else
  feature_args=(${features:+--features "$features"})
fi
cargo build --profile "$profile" --locked --quiet --bin reclab "${feature_args[@]}"
reclab="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")/reclab"
