"""Reference values for reclab's generative decoder, from Hugging Face transformers (PyTorch, f32).

    python tests/reference/decoder_parity.py GGUF_FILE OUT_DIR

needs `transformers`, `gguf`, `accelerate`, `torch` (not in requirements.txt: the tests read the
fixtures this writes and never need PyTorch). It writes into OUT_DIR:

- `smollm2-gguf.json`: for a few chat prompts, the prompt transformers renders with the GGUF's own
  chat template, its token ids, the last position's logits (top 10 and the first 32 values) and a
  32-token greedy continuation, with the GGUF loaded by transformers (every tensor dequantized to f32);
- `tiny-llama/`, `tiny-qwen2/`, `tiny-qwen3/`: tiny random Hugging Face folders (bf16, f16 and bf16
  weights; the llama one sharded, with Llama 3 rope scaling and a separate output layer; qwen2 with
  q/k/v biases; qwen3 with q/k norms), and `tiny-decoders.json`: for fixed token ids, the last
  position's logits of each and a 12-token greedy continuation;
- `gguf-dequant.json`: blocks of every tensor type reclab reads, as bytes, with the values gguf-py's
  own numpy dequantization gives.
"""

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import gguf
from transformers import AutoModelForCausalLM, AutoTokenizer

torch.manual_seed(0)
torch.set_num_threads(2)

CHATS = [
    {"name": "capital", "messages": [{"role": "user", "content": "What is the capital of France?"}]},
    {
        "name": "taste",
        "messages": [
            {"role": "system", "content": "You summarise film tastes in one sentence."},
            {
                "role": "user",
                "content": "I watched Toy Story, Babe, The Lion King, Aladdin and Finding Nemo. What do I like?",
            },
        ],
    },
    {
        "name": "accents_emoji",
        "messages": [{"role": "user", "content": "Café crème à Zürich 🎬 — résumé, s'il vous plaît!"}],
    },
]


def top10(logits):
    values, ids = torch.topk(logits, 10)
    return {"ids": ids.tolist(), "values": values.tolist()}


def greedy(model, ids, n):
    out = model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=n,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=0,
    )
    return out[0, len(ids):].tolist()


def gguf_fixture(gguf_path, out_dir):
    # transformers must see the GGUF alone: a tokenizer.json beside it would replace the GGUF's own.
    with tempfile.TemporaryDirectory() as folder:
        name = os.path.basename(gguf_path)
        os.symlink(os.path.abspath(gguf_path), os.path.join(folder, name))
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32)
    model.eval()
    cases = []
    for chat in CHATS:
        prompt = tokenizer.apply_chat_template(chat["messages"], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        cases.append(
            {
                "name": chat["name"],
                "messages": chat["messages"],
                "prompt": prompt,
                "prompt_ids": ids,
                "last_logits_top10": top10(logits),
                "last_logits_first32": logits[:32].tolist(),
                "greedy_32": greedy(model, ids, 32),
            }
        )
    with open(os.path.join(out_dir, "smollm2-gguf.json"), "w") as f:
        json.dump({"model": os.path.basename(gguf_path), "cases": cases}, f, indent=1, ensure_ascii=False)


def tiny_fixture(out_dir):
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    common = dict(
        vocab_size=320,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        bos_token_id=1,
        eos_token_id=2,
    )
    models = {
        "tiny-llama": (
            LlamaConfig(
                **common,
                rope_theta=50000.0,
                tie_word_embeddings=False,
                rope_scaling={
                    "rope_type": "llama3",
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 16,
                },
            ),
            torch.bfloat16,
            "60KB",
        ),
        "tiny-qwen2": (Qwen2Config(**common, rope_theta=10000.0, tie_word_embeddings=True), torch.float16, None),
        "tiny-qwen3": (
            Qwen3Config(**common, head_dim=32, rope_theta=1000000.0, tie_word_embeddings=True),
            torch.bfloat16,
            None,
        ),
    }
    ids = [1, 17, 250, 3, 99, 42, 42, 7, 311, 5, 64, 128]
    results = {}
    for name, (config, dtype, shard) in models.items():
        torch.manual_seed(len(name))
        model = AutoModelForCausalLM.from_config(config)
        # Random init draws tiny norms and biases as ones/zeros; perturb them so they matter.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn_like(p) * 0.2)
        folder = os.path.join(out_dir, name)
        shutil.rmtree(folder, ignore_errors=True)
        model.to(dtype).save_pretrained(folder, max_shard_size=shard or "10GB")
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
        model.eval()
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        results[name] = {
            "prompt_ids": ids,
            "last_logits": logits.tolist(),
            "greedy_12": greedy(model, ids, 12),
        }
    with open(os.path.join(out_dir, "tiny-decoders.json"), "w") as f:
        json.dump(results, f, indent=1)


def dequant_fixture(out_dir):
    rng = np.random.default_rng(7)
    cases = []
    for qtype in ["F16", "BF16", "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q6_K"]:
        t = gguf.GGMLQuantizationType[qtype]
        block_len, block_bytes = gguf.GGML_QUANT_SIZES[t]
        n_blocks = max(2, 64 // block_len)
        raw = rng.integers(0, 256, size=n_blocks * block_bytes, dtype=np.uint8)
        # Keep every f16/bf16 scale finite and modest: rewrite the bytes that hold one.
        blocks = raw.reshape(n_blocks, block_bytes)
        scale_at = {"Q4_0": [0], "Q4_1": [0, 2], "Q8_0": [0], "Q4_K": [0, 2], "Q6_K": [208]}.get(qtype, [])
        for at in scale_at:
            scales = rng.uniform(-0.1, 0.1, size=n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
            blocks[:, at : at + 2] = scales
        if qtype == "F16":
            raw = rng.normal(size=n_blocks).astype(np.float16).view(np.uint8)
        if qtype == "BF16":
            raw = (rng.normal(size=n_blocks).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
        values = gguf.quants.dequantize(raw.reshape(-1), t).reshape(-1)
        cases.append({"type": qtype, "bytes": raw.tobytes().hex(), "values": values.astype(np.float32).tolist()})
    with open(os.path.join(out_dir, "gguf-dequant.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    dequant_fixture(out_dir)
    tiny_fixture(out_dir)
    gguf_fixture(gguf_path, out_dir)
