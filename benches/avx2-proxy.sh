#!/usr/bin/env bash
# The side-by-side benchmarks (train-step.sh, embed.sh) as an AVX2-only machine runs them, on a
# machine with AVX-512: both sides held to AVX2+FMA code.
#
#   bash benches/avx2-proxy.sh
#
# reclab is built without gemm's AVX-512 kernels (the `gemm-avx512` feature) and its host
# kernels are capped with RECLAB_ISA=avx2; PyTorch's own kernels, MKL's and oneDNN's are capped
# through their documented variables. What this measures is the AVX2 code of both on these
# cores, caches and clocks, not what an AVX2 machine's own cores would give: a figure from it is
# labelled so, never passed off as one from such a machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! grep -qw avx512f /proc/cpuinfo; then
  echo "this CPU has no AVX-512: run benches/train-step.sh and benches/embed.sh as they are" >&2
  exit 2
fi
export RECLAB_BENCH_GEMM_AVX512=0 RECLAB_ISA=avx2
export ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
source benches/common.sh
ensure_python_module torch torch --index-url https://download.pytorch.org/whl/cpu \
  || ensure_python_module torch torch
"$reclab" bench kernels
echo "PyTorch's CPU capability: $("$venv/bin/python" -c \
  'import torch; print(torch.backends.cpu.get_cpu_capability())')"
bash benches/train-step.sh
bash benches/embed.sh
