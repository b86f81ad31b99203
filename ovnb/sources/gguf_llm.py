"""A Llama-architecture GGUF file (llama.cpp's format) turned into a transformers folder.

Offline packages ship real chat models as GGUF. We read it with the ``gguf`` package and write
the transformers layout ourselves (transformers' own GGUF loader needs ``accelerate`` and rebuilds
a wrong, SentencePiece-style tokenizer for byte-level BPE vocabularies):
- weights: dequantized, with llama.cpp's rotary permutation of q/k undone, saved as fp16;
- tokenizer: byte-level BPE from the GGUF vocabulary and merges, with the pre-tokenizer llama.cpp
  names in ``tokenizer.ggml.pre``, the GGUF chat template and its control tokens as special tokens;
- generation_config.json: bos/eos/pad from the GGUF ids (eos also takes the end-of-turn token).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError
from ovnb.progress import say

# llama.cpp pre-tokenizers (``tokenizer.ggml.pre``) that split digits one by one before the GPT-2
# regex; "gpt2"-like ones use the GPT-2 regex alone (llama-vocab.cpp, regex_exprs).
DIGIT_SPLIT_PRE = ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva")
GPT2_PRE = ("gpt2", "mpt", "olmo", "jais", "default")

CONTROL = 3  # llama.cpp token type of control tokens (<|im_end|>...): special, never split

# GGUF tensor name (after "blk.N.") -> transformers name (after "model.layers.N.")
LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def build(model_id: str, out: Path, packages: list[Path]) -> None:
    """Write the transformers folder of the one GGUF file found in ``packages`` into ``out``."""
    from gguf import GGUFReader

    path = find_gguf(packages)
    say(f"{model_id}: converting {path.name} to a transformers folder (fp16)")
    reader = GGUFReader(path)
    meta = metadata(reader)
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise OvnbError(f"{path.name} is a {arch!r} GGUF; ovnb.sources.gguf_llm converts only "
                        "llama-architecture files: pick another source for this model")
    config = llama_config(meta, tied="output.weight" not in {t.name for t in reader.tensors})
    (out / "config.json").write_text(json.dumps(config, indent=2))
    write_weights(reader, config, out / "model.safetensors")
    tokenizer = make_tokenizer(meta)
    tokenizer.save_pretrained(out)
    (out / "generation_config.json").write_text(json.dumps(generation_config(meta), indent=2))


def find_gguf(packages: list[Path]) -> Path:
    """The single ``.gguf`` file inside the unpacked packages."""
    found = sorted(p for folder in packages for p in folder.rglob("*.gguf"))
    if len(found) != 1:
        raise OvnbError(f"expected one .gguf file in {', '.join(map(str, packages))}, found "
                        f"{len(found)}: the pinned package's layout changed; fix the catalog pin")
    return found[0]


def metadata(reader: Any) -> dict[str, Any]:
    """GGUF key-value metadata as plain Python values (strings, numbers, lists)."""
    return {key: field.contents() for key, field in reader.fields.items()
            if not key.startswith("GGUF.")}


def llama_config(meta: dict[str, Any], tied: bool) -> dict[str, Any]:
    """A transformers LlamaConfig dict from the ``llama.*`` GGUF keys."""
    hidden = meta["llama.embedding_length"]
    heads = meta["llama.attention.head_count"]
    head_dim = meta.get("llama.rope.dimension_count", hidden // heads)
    if head_dim != hidden // heads:
        raise OvnbError("this GGUF uses partial rotary embeddings, which gguf_llm does not convert")
    vocab = meta.get("llama.vocab_size", len(meta["tokenizer.ggml.tokens"]))
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "float16",
        "vocab_size": vocab, "hidden_size": hidden,
        "intermediate_size": meta["llama.feed_forward_length"],
        "num_hidden_layers": meta["llama.block_count"], "num_attention_heads": heads,
        "num_key_value_heads": meta.get("llama.attention.head_count_kv", heads),
        "head_dim": head_dim, "hidden_act": "silu",
        "max_position_embeddings": meta["llama.context_length"],
        "rms_norm_eps": meta["llama.attention.layer_norm_rms_epsilon"],
        "rope_parameters": {"rope_type": "default",
                            "rope_theta": meta.get("llama.rope.freq_base", 10000.0)},
        "tie_word_embeddings": tied, "attention_bias": False, "mlp_bias": False,
        **special_ids(meta),
    }


def special_ids(meta: dict[str, Any]) -> dict[str, Any]:
    """bos/eos/pad ids; eos is a list when the end-of-turn token differs from end-of-text."""
    eos = meta["tokenizer.ggml.eos_token_id"]
    eot = meta.get("tokenizer.ggml.eot_token_id", eos)
    return {"bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
            "eos_token_id": eos if eot == eos else [eot, eos],
            "pad_token_id": meta.get("tokenizer.ggml.padding_token_id", eos)}


def generation_config(meta: dict[str, Any]) -> dict[str, Any]:
    """generation_config.json: generation stops at the chat turn's end, not at max length."""
    return {**special_ids(meta), "do_sample": False}


def hf_name(gguf_name: str) -> str:
    """The transformers parameter name of a GGUF tensor name."""
    stem, _, suffix = gguf_name.rpartition(".")
    parts = stem.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in LAYER_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}.{suffix}"
    if stem in TOP_NAMES:
        return f"{TOP_NAMES[stem]}.{suffix}"
    raise OvnbError(f"unexpected GGUF tensor {gguf_name}: not a plain llama model; "
                    "gguf_llm cannot convert it")


def unpermute(weight: Any, heads: int) -> Any:
    """Undo llama.cpp's q/k row permutation (its rotary layout differs from transformers')."""
    rows = weight.shape[0]
    return (weight.reshape(heads, rows // heads // 2, 2, -1)
            .swapaxes(1, 2).reshape(rows, -1))


def write_weights(reader: Any, config: dict[str, Any], path: Path) -> None:
    """Dequantize every tensor to fp16 (never bf16: bf16 weights garble text) and save them."""
    import numpy as np
    from gguf.quants import dequantize
    from safetensors.numpy import save_file

    heads = {"attn_q": config["num_attention_heads"], "attn_k": config["num_key_value_heads"]}
    tensors = {}
    for tensor in reader.tensors:
        weight = dequantize(tensor.data, tensor.tensor_type)
        kind = tensor.name.split(".")[-2]
        if kind in heads:
            weight = unpermute(weight, heads[kind])
        tensors[hf_name(tensor.name)] = np.ascontiguousarray(weight, dtype=np.float16)
    save_file(tensors, str(path), metadata={"format": "pt"})


def make_tokenizer(meta: dict[str, Any]) -> Any:
    """A ``PreTrainedTokenizerFast`` equal to llama.cpp's byte-level BPE for this vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise OvnbError(f"the GGUF tokenizer is {meta.get('tokenizer.ggml.model')!r}; gguf_llm "
                        "builds only byte-level BPE ('gpt2') tokenizers")
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    core = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges,
                                fuse_unk=False, byte_fallback=False))
    core.pre_tokenizer = pre_tokenizer(meta.get("tokenizer.ggml.pre", "default"))
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    types = meta.get("tokenizer.ggml.token_type", [])
    core.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                             for i, kind in enumerate(types) if kind == CONTROL])
    name = {key: tokens[meta[f"tokenizer.ggml.{key}_id"]]
            for key in ("bos_token", "eos_token", "unknown_token", "padding_token")
            if f"tokenizer.ggml.{key}_id" in meta}
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=name.get("bos_token"), eos_token=name["eos_token"],
        unk_token=name.get("unknown_token"), pad_token=name.get("padding_token", name["eos_token"]),
        model_max_length=meta.get("llama.context_length", 2048),
        clean_up_tokenization_spaces=False, add_prefix_space=False,
    )
    if "tokenizer.chat_template" in meta:
        tok.chat_template = meta["tokenizer.chat_template"]
    return tok


def pre_tokenizer(pre: str) -> Any:
    """The ``tokenizers`` pre-tokenizer matching llama.cpp's ``tokenizer.ggml.pre`` type."""
    from tokenizers import pre_tokenizers

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre in DIGIT_SPLIT_PRE:
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    if pre in GPT2_PRE:
        return byte_level
    raise OvnbError(f"GGUF pre-tokenizer {pre!r} is not known to gguf_llm: its text would be "
                    "split wrongly; pick another source for this model")
