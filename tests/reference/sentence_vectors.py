#!/usr/bin/env python3
"""Reference sentence vectors from sentence-transformers, for reclab's parity test.

Encodes a fixed set of texts (short, longer than 128 and than 256 tokens, accented, emoji,
non-Latin scripts, empty) with sentence-transformers on the CPU and writes them, with each
text's token count after truncation, to a JSON fixture that tests/lm.rs reads. Only this script
needs PyTorch; the tests read the committed fixture.

Usage: sentence_vectors.py MODEL_DIR OUT.json
"""
import json
import sys

from sentence_transformers import SentenceTransformer

LONG = (
    "A quiet science-fiction drama about a lighthouse keeper who receives radio messages "
    "from a ship that sank forty years ago; as the storm season begins she must decide "
    "whether to warn the crew, knowing that changing the past may erase her own family. "
)

TEXTS = [
    "Toy Story (1995). Animation Children's Comedy.",
    "something light and funny for a rainy evening",
    "no horror tonight",
    # More than 128 tokens, fewer than 256: the folder's limit, not tokenizer.json's, applies.
    LONG * 3,
    # More than 256 tokens: truncated at max_seq_length.
    LONG * 6,
    "Amélie: une comédie romantique à Montmartre, très jolie — naïve et pleine de cœur.",
    "Pizza night 🍕🎬 with friends 😂👍",
    "東京物語 小津安二郎 家族のドラマ",
    "Война и мир — экранизация романа Толстого",
    "",
    "   ",
    "Prada Candy By Prada Eau De Parfum Spray 1.7 Oz For Women. Beauty Fragrance. Prada.",
]


def main():
    model_dir, out = sys.argv[1], sys.argv[2]
    model = SentenceTransformer(model_dir, device="cpu")
    vectors = model.encode(TEXTS, batch_size=4, convert_to_numpy=True)
    counts = [int(model.tokenize([t])["attention_mask"].sum()) for t in TEXTS]
    fixture = {
        "model": "all-MiniLM-L6-v2",
        "max_seq_length": model.max_seq_length,
        "texts": [
            {"text": t, "tokens": c, "vector": [round(float(x), 8) for x in v]}
            for t, c, v in zip(TEXTS, counts, vectors)
        ],
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=0)
    print(f"{len(TEXTS)} texts, dim {vectors.shape[1]}, tokens {counts}")


if __name__ == "__main__":
    main()
