#!/usr/bin/env python3
"""sentence-transformers' side of benches/embed.sh: embeds the texts of a JSON-lines file on
the CPU with the given number of threads (or on DEVICE, e.g. cuda, for scripts/gpu-check.sh),
batch 32, and prints items per second (the model's loading excluded, as reclab's figure
excludes it; neither side warms up, so on a GPU both include their first kernels' setup).

    python benches/sentence_transformers_embed.py MODEL_DIR TEXTS.jsonl THREADS [DEVICE]
"""
import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main():
    model_dir, texts_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    torch.set_num_threads(threads)
    texts = [json.loads(line) for line in open(texts_path, encoding="utf-8")]
    model = SentenceTransformer(model_dir, device=device)
    start = time.perf_counter()
    with torch.inference_mode():
        model.encode(texts, batch_size=32, convert_to_numpy=True)
    print(f"{len(texts) / (time.perf_counter() - start):.1f}")


if __name__ == "__main__":
    main()
