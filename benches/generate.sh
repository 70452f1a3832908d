#!/usr/bin/env bash
# reclab's generative engine against transformers (PyTorch, f32) and llama.cpp
# (llama-cpp-python, built from source by pip) on the same GGUF, prompt and CPU threads.
#
#   bash benches/generate.sh [GGUF] [NEW_TOKENS] [BATCH]
#
# Default: the shared SmolLM2-135M-Instruct Q4_1 GGUF, 64 new tokens, a batch of 32. Each
# engine runs the same chat prompt, greedy, for exactly NEW_TOKENS tokens (end of sequence
# ignored); two rounds, alternating; the table gives the better round of each. Peak memory
# is each process's maximum resident set.
set -euo pipefail
cd "$(dirname "$0")/.."
gguf="${1:-../shared/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
new="${2:-64}"
batch="${3:-32}"
source benches/common.sh
ensure_python_module transformers torch transformers gguf accelerate
# llama-cpp-python compiles llama.cpp for this CPU (several minutes, once).
ensure_python_module llama_cpp llama-cpp-python || echo "llama-cpp-python could not be built: llama.cpp column left out" >&2

prompt="I watched Toy Story, Babe, The Lion King, Aladdin and Finding Nemo. In one sentence, what do I like?"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chats=()
for _ in $(seq "$batch"); do chats+=(--chat "$prompt"); done

reclab_run() { # dtype, then extra arguments
  local dtype=$1
  shift
  /usr/bin/time -f '%M' -o "$work/rss" env RAYON_NUM_THREADS="$threads" "$reclab" generate \
    --llm "$gguf" --dtype "$dtype" --device cpu --max-new-tokens "$new" --ignore-eos --json "$@" \
    >"$work/out.json"
  python3 - "$work/out.json" "$work/rss" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
out = out[0] if isinstance(out, list) else out
print(json.dumps({k: out[k] for k in ("prompt_tokens", "prefill_tokens_per_s", "decode_tokens_per_s", "cpu_kernels")}
                 | {"peak_rss_mib": int(open(sys.argv[2]).read().split()[-1]) / 1024}))
PY
}

for round in 1 2; do
  for dtype in auto f32; do
    reclab_run "$dtype" --chat "$prompt" >"$work/reclab-$dtype-$round.json"
    # decode_tokens_per_s of a batch counts every row's tokens.
    reclab_run "$dtype" "${chats[@]}" | python3 -c "import json,sys; print(json.load(sys.stdin)['decode_tokens_per_s'])" \
      >"$work/reclab-$dtype-batch-$round.txt"
    echo "round $round reclab $dtype: $(cat "$work/reclab-$dtype-$round.json") batch $(cat "$work/reclab-$dtype-batch-$round.txt")" >&2
  done
  "$venv/bin/python" benches/generate_reference.py transformers "$gguf" "$prompt" "$new" "$batch" "$threads" \
    >"$work/transformers-$round.json"
  echo "round $round transformers: $(cat "$work/transformers-$round.json")" >&2
  if "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    "$venv/bin/python" benches/generate_reference.py llama.cpp "$gguf" "$prompt" "$new" "$batch" "$threads" \
      >"$work/llamacpp-$round.json"
    echo "round $round llama.cpp: $(cat "$work/llamacpp-$round.json")" >&2
  fi
done
python3 - "$work" "$threads" "$batch" "$(reclab_cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"; echo $reclab_cpu)" <<'PY'
import glob, json, os, sys
work, threads, batch, cpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def best(pattern, key):
    values = [json.load(open(f)).get(key) for f in glob.glob(os.path.join(work, pattern))]
    values = [v for v in values if v is not None]
    return max(values) if values else None
def batch_best(dtype):
    values = [float(open(f).read()) for f in glob.glob(os.path.join(work, f"reclab-{dtype}-batch-*.txt"))]
    return max(values) if values else None
rows = [("reclab auto (quantized)", "reclab-auto-[0-9].json", batch_best("auto")),
        ("reclab f32", "reclab-f32-[0-9].json", batch_best("f32")),
        ("transformers f32", "transformers-*.json", None),
        ("llama.cpp", "llamacpp-*.json", None)]
print(f"CPU: {cpu}, {threads} threads")
print(f"| engine | prefill tokens/s | decode tokens/s | batch of {batch}: decode tokens/s | peak memory MiB |")
print("|---|---|---|---|---|")
for name, pattern, batched in rows:
    if not glob.glob(os.path.join(work, pattern)):
        continue
    if batched is None:
        batched = best(pattern, "batch_decode_tokens_per_s")
    fmt = lambda v: "—" if v is None else f"{v:.1f}"
    print(f"| {name} | {fmt(best(pattern, 'prefill_tokens_per_s'))} | {fmt(best(pattern, 'decode_tokens_per_s'))} "
          f"| {fmt(batched)} | {fmt(min(json.load(open(f))['peak_rss_mib'] for f in glob.glob(os.path.join(work, pattern))))} |")
PY
