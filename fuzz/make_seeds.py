"""Writes the fuzz seeds that need Python libraries: small Parquet logs (pyarrow) and a tiny
BERT model folder (random weights, a 40-word WordPiece tokenizer). Run by make-seeds.sh."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import save
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SEPARATOR = b"\n--next file--\n"


def parquet_seeds(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "int-ids": pa.table({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 30, 20],
                             "timestamp": [1, 2, 1, 2, 3], "rating": [4.0, 5.0, 3.0, 1.0, 2.0]}),
        "string-ids": pa.table({"userId": ["a", "a", "b"], "movieId": ["m1", "m2", "m1"],
                                "timestamp": pa.array([5, 6, 7], pa.int32())}),
        "with-nulls": pa.table({"user": ["a", None, "b"], "item": ["x", "y", None],
                                "rating": pa.array([1.5, None, 2.0], pa.float32())}),
    }
    for name, table in tables.items():
        for compression in ["snappy", "none"]:
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression=compression, row_group_size=2)
            (out / f"{name}-{compression}.parquet").write_bytes(buffer.getvalue())
    dictionary = io.BytesIO()
    pq.write_table(tables["string-ids"], dictionary, use_dictionary=True, compression="zstd")
    (out / "string-ids-dictionary-zstd.parquet").write_bytes(dictionary.getvalue())


def tiny_bert(out: Path, minilm: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "funny", "film", "movie",
             "##s", "the", "of", "love", "horror", "for", "children", "action", "drama",
             "comedy", "story", "toy", "war", "star", "space", "night", "day", "man", "woman",
             "city", "life", "dark", "light", "blue", "red", "old", "new", "big", "little",
             "one", "two"]
    vocab = {w: i for i, w in enumerate(words)}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    hidden, layers, inner, positions = 8, 1, 16, 16
    config = {"model_type": "bert", "vocab_size": len(words), "hidden_size": hidden,
              "num_hidden_layers": layers, "num_attention_heads": 2,
              "intermediate_size": inner, "hidden_act": "gelu",
              "max_position_embeddings": positions, "type_vocab_size": 2,
              "layer_norm_eps": 1e-12}
    rng = np.random.default_rng(1)
    def normal(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)
    tensors = {
        "embeddings.word_embeddings.weight": normal(len(words), hidden),
        "embeddings.position_embeddings.weight": normal(positions, hidden),
        "embeddings.token_type_embeddings.weight": normal(2, hidden),
        "embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
    }
    for layer in range(layers):
        p = f"encoder.layer.{layer}."
        for name in ["query", "key", "value"]:
            tensors[p + f"attention.self.{name}.weight"] = normal(hidden, hidden)
            tensors[p + f"attention.self.{name}.bias"] = normal(hidden)
        tensors[p + "attention.output.dense.weight"] = normal(hidden, hidden)
        tensors[p + "attention.output.dense.bias"] = normal(hidden)
        tensors[p + "attention.output.LayerNorm.weight"] = np.ones(hidden, np.float32)
        tensors[p + "attention.output.LayerNorm.bias"] = np.zeros(hidden, np.float32)
        tensors[p + "intermediate.dense.weight"] = normal(inner, hidden)
        tensors[p + "intermediate.dense.bias"] = normal(inner)
        tensors[p + "output.dense.weight"] = normal(hidden, inner)
        tensors[p + "output.dense.bias"] = normal(hidden)
        tensors[p + "output.LayerNorm.weight"] = np.ones(hidden, np.float32)
        tensors[p + "output.LayerNorm.bias"] = np.zeros(hidden, np.float32)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    sentence = {"max_seq_length": 12, "do_lower_case": False}
    poolings = {"mean": {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True},
                "cls": {"word_embedding_dimension": hidden, "pooling_mode_cls_token": True},
                "max": {"word_embedding_dimension": hidden, "pooling_mode_max_tokens": True}}
    for name, pooling in poolings.items():
        files = [json.dumps(config, indent=1).encode(), json.dumps(modules).encode(),
                 json.dumps(sentence).encode(), json.dumps(pooling).encode(),
                 tokenizer.to_str().encode(), save(tensors)]
        (out / f"tiny-bert-{name}").write_bytes(SEPARATOR.join(files))
    # The real folder's small files (Apache-2.0) with the tiny weights: a config that does not
    # match its weights, the commonest real mistake.
    if minilm is not None:
        names = ["config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"]
        files = [(minilm / n).read_bytes() for n in names]
        files += [tokenizer.to_str().encode(), save(tensors)]
        (out / "minilm-config-tiny-weights").write_bytes(SEPARATOR.join(files))


def tiny_gguf(out):
    """Tiny llama-family GGUF files (needs the `gguf` package): byte-level BPE tokenizer, ChatML
    template, one layer; one with F32/F16/BF16/Q4_0/Q4_1/Q8_0 tensors, one qwen2 with biases."""
    import gguf
    from gguf import GGMLQuantizationType as T

    out.mkdir(parents=True, exist_ok=True)
    # GPT-2's byte-to-unicode alphabet.
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    alphabet, extra = [], 0
    for b in range(256):
        if b in printable:
            alphabet.append(chr(b))
        else:
            alphabet.append(chr(256 + extra))
            extra += 1
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    merges = ["\u0120 t", "\u0120 a", "h e", "i n", "r e", "o n", "\u0120t he", "e r"]
    tokens = specials + alphabet + [m.replace(" ", "") for m in merges]
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    vocab, hidden, ffn, heads, kv_heads = len(tokens), 32, 64, 2, 1
    rng = np.random.default_rng(3)
    chatml = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
              " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

    def write(name, arch, kinds):
        w = gguf.GGUFWriter(str(out / name), arch)
        w.add_block_count(1)
        w.add_context_length(64)
        w.add_embedding_length(hidden)
        w.add_feed_forward_length(ffn)
        w.add_head_count(heads)
        w.add_head_count_kv(kv_heads)
        w.add_rope_freq_base(10000.0)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm" if arch == "llama" else "qwen2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_chat_template(chatml)
        head = hidden // heads

        def add(tname, shape, kind):
            values = (rng.normal(size=shape) * 0.2).astype(np.float32)
            if kind in (T.F32,):
                w.add_tensor(tname, values)
            elif kind == T.F16:
                w.add_tensor(tname, values.astype(np.float16))
            else:
                w.add_tensor(tname, gguf.quants.quantize(values, kind), raw_dtype=kind)

        add("token_embd.weight", (vocab, hidden), kinds[0])
        add("output_norm.weight", (hidden,), T.F32)
        add("blk.0.attn_norm.weight", (hidden,), T.F32)
        add("blk.0.ffn_norm.weight", (hidden,), T.F32)
        add("blk.0.attn_q.weight", (heads * head, hidden), kinds[1])
        add("blk.0.attn_k.weight", (kv_heads * head, hidden), kinds[2])
        add("blk.0.attn_v.weight", (kv_heads * head, hidden), kinds[3])
        add("blk.0.attn_output.weight", (hidden, heads * head), kinds[1])
        add("blk.0.ffn_gate.weight", (ffn, hidden), kinds[2])
        add("blk.0.ffn_up.weight", (ffn, hidden), kinds[3])
        add("blk.0.ffn_down.weight", (hidden, ffn), kinds[4])
        if arch == "qwen2":
            add("blk.0.attn_q.bias", (heads * head,), T.F32)
            add("blk.0.attn_k.bias", (kv_heads * head,), T.F32)
            add("blk.0.attn_v.bias", (kv_heads * head,), T.F32)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    write("tiny-llama-mixed", "llama", [T.Q8_0, T.Q4_0, T.Q4_1, T.F16, T.F32])
    write("tiny-qwen2-biases", "qwen2", [T.F32, T.Q8_0, T.Q4_0, T.Q4_1, T.F16])


if __name__ == "__main__":
    seeds = Path(sys.argv[1])
    minilm = Path(sys.argv[2]) if len(sys.argv) > 2 and Path(sys.argv[2]).is_dir() else None
    parquet_seeds(seeds / "parquet")
    tiny_bert(seeds / "model_folder", minilm)
    tiny_gguf(seeds / "gguf")
