"""Prefill and decode speed of a GGUF model in Hugging Face transformers (PyTorch, f32) or
llama.cpp (llama-cpp-python), for benches/generate.sh.

    python benches/generate_reference.py transformers|llama.cpp GGUF PROMPT NEW_TOKENS BATCH THREADS [DEVICE]

DEVICE (transformers only; default cpu) is where PyTorch runs, e.g. cuda for scripts/gpu-check.sh.

PROMPT is a user message put through the model's chat template. Prints one JSON object:
prefill and decode tokens/s of one prompt, decode tokens/s of BATCH copies at once (transformers
only: llama-cpp-python's API decodes one sequence), and the peak resident memory.
"""

import json
import os
import resource
import sys
import tempfile
import time

engine, gguf_path, prompt, new_tokens, batch, threads = sys.argv[1:7]
device = sys.argv[7] if len(sys.argv) > 7 else "cpu"
new_tokens, batch, threads = int(new_tokens), int(batch), int(threads)
messages = [{"role": "user", "content": prompt}]
result = {"engine": engine, "threads": threads}

if engine == "transformers":
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        name = os.path.basename(gguf_path)
        os.symlink(os.path.abspath(gguf_path), os.path.join(folder, name))
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32)
    model.to(device).eval()
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]], device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def run(batch_ids, mask):
        with torch.no_grad():
            start = time.perf_counter()
            out = model(batch_ids, attention_mask=mask, use_cache=True)
            sync()
            prefill = time.perf_counter() - start
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            start = time.perf_counter()
            for _ in range(new_tokens - 1):
                mask = torch.cat([mask, torch.ones_like(nxt)], 1)
                out = model(nxt, attention_mask=mask, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            sync()
            return prefill, time.perf_counter() - start

    run(ids, torch.ones_like(ids))  # warm-up
    prefill, decode = run(ids, torch.ones_like(ids))
    result["prompt_tokens"] = ids.shape[1]
    result["prefill_tokens_per_s"] = ids.shape[1] / prefill
    result["decode_tokens_per_s"] = (new_tokens - 1) / decode
    ids_b = ids.repeat(batch, 1)
    _, decode_b = run(ids_b, torch.ones_like(ids_b))
    result["batch"] = batch
    result["batch_decode_tokens_per_s"] = batch * (new_tokens - 1) / decode_b
else:
    from llama_cpp import Llama

    llm = Llama(model_path=gguf_path, n_ctx=1024, n_threads=threads, n_threads_batch=threads,
                n_batch=512, verbose=False)
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    # The template's default system message, as the model's own template writes it.
    system = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    text = system + text + "<|im_start|>assistant\n"
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)

    def run():
        llm.reset()
        start = time.perf_counter()
        llm.eval(ids)
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            token = llm.sample(top_k=1, temp=0.0)
            llm.eval([token])
        return prefill, time.perf_counter() - start

    run()  # warm-up
    prefill, decode = run()
    result["prompt_tokens"] = len(ids)
    result["prefill_tokens_per_s"] = len(ids) / prefill
    result["decode_tokens_per_s"] = (new_tokens - 1) / decode

result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
