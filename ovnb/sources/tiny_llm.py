"""Tiny random llama-like chat models: ``tiny-llm``, its draft ``tiny-llm-draft``, and LoRA adapters.

Every weight is drawn uniform from numpy's legacy ``RandomState`` (a stream frozen by NEP 19) seeded
by the tensor's name, with exact float steps only, so every machine builds bit-identical files.
The weights are scaled up from the usual init so that greedy output wanders instead of repeating one
token, and the head only writes printable ASCII (special tokens and other bytes get zero logits, below
the best printable one), so text compares cleanly and a notebook never shows broken UTF-8. The end
token is never chosen either: generation stops at ``max_new_tokens`` (64 unless the caller says).

The draft is tiny-llm's first layers with the same embeddings, norm and head (same names, so same
weights), and tiny-llm's later layers write smaller updates: the draft guesses right about half the
time, as a real draft does, so speculative decoding shows accepted tokens.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.progress import say

REVISION = 1  # bump when the built model changes: cached builds of an older revision are rebuilt
LAYERS = {"tiny-llm": 4, "tiny-llm-draft": 2}
DRAFT_LAYERS = LAYERS["tiny-llm-draft"]
HIDDEN = 64
GAIN = 2.0  # times LeCun's uniform init: enough for varied greedy output
LATE_SCALE = 0.5  # layers past the draft's write smaller updates, so the draft agrees often
EMBED_SCALE = 0.3
MAX_NEW_TOKENS = 64  # the model never ends a reply itself: a default stop for callers that set none

# adapter name -> projections it changes, in every layer of tiny-llm
ADAPTERS = {
    "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "feedforward": ("gate_proj", "up_proj", "down_proj"),
}
LORA_RANK = 4
LORA_SCALE = 0.5  # LoRA update size relative to the weight it changes


def build(model_id: str, out: Path) -> None:
    """Write ``model_id`` (tiny-llm or tiny-llm-draft) as a transformers folder into ``out``."""
    if model_id not in LAYERS:
        raise OvnbError(f"ovnb.sources.tiny_llm builds {' and '.join(LAYERS)}, not {model_id!r}: "
                        "fix the catalog entry's module")
    from ovnb.sources.tinytok import make_tokenizer

    say(f"building {model_id}: {LAYERS[model_id]} layers, hidden {HIDDEN}")
    tok = make_tokenizer()
    model = _model(tok, LAYERS[model_id])
    model.save_pretrained(out)
    tok.save_pretrained(out)
    if model_id == "tiny-llm":
        for name, projections in ADAPTERS.items():
            write_adapter(model, projections, out / "adapters" / f"{name}.safetensors", seed=name)


def _model(tok: Any, layers: int) -> Any:
    """A seeded LlamaForCausalLM for ``tok`` with ``layers`` decoder layers, in fp32."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
           "pad_token_id": tok.pad_token_id}
    config = LlamaConfig(vocab_size=len(tok), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=False, **ids)
    model = LlamaForCausalLM(config).eval()
    _fill(model)
    printable_head(model, tok)
    model.generation_config = GenerationConfig(**ids, max_new_tokens=MAX_NEW_TOKENS)
    return model


def _fill(model: Any) -> None:
    """Overwrite every matrix with name-seeded uniform values (norm weights stay ones)."""
    fill_matrices(model, _limit)


def fill_matrices(model: Any, limit: Callable[[str, int], float]) -> None:
    """Overwrite every matrix of ``model`` with uniform values seeded by its name, within
    ``limit(name, fan_in)``; vectors (norms, biases) keep their init. Same on every machine."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() < 2:
                continue
            values = uniform(name, tuple(param.shape), limit(name, param.shape[-1]))
            param.copy_(torch.from_numpy(values))


def _limit(name: str, fan_in: int) -> float:
    """Half-width of the uniform init of weight ``name``."""
    if "embed_tokens" in name:
        return EMBED_SCALE
    limit = GAIN * float(np.sqrt(3.0 / fan_in))
    parts = name.split(".")
    writes_residual = parts[-2] in ("o_proj", "down_proj")
    if writes_residual and int(parts[parts.index("layers") + 1]) >= DRAFT_LAYERS:
        limit *= LATE_SCALE
    return limit


def uniform(seed: str, shape: tuple[int, ...], limit: float) -> np.ndarray:
    """float32 values uniform in [-limit, limit), the same on every machine for the same seed."""
    rng = np.random.RandomState(zlib.crc32(seed.encode()))
    return ((2.0 * rng.random_sample(shape) - 1.0) * limit).astype(np.float32)


def printable_head(model: Any, tok: Any) -> None:
    """Zero the head rows of every token but printable ASCII bytes, so only those are ever chosen."""
    import torch

    keep = torch.zeros(len(tok), dtype=torch.bool)
    keep[printable_ids(tok)] = True
    with torch.no_grad():
        model.lm_head.weight[~keep] = 0.0


def printable_ids(tok: Any) -> list[int]:
    """Ids of the byte tokens that decode to one printable ASCII character."""
    ids = []
    for i in range(256):
        text = tok.decode([i])
        if len(text) == 1 and " " <= text <= "~":
            ids.append(i)
    return ids


def write_adapter(model: Any, projections: tuple[str, ...], path: Path, seed: str) -> None:
    """Save a seeded random LoRA for ``projections`` of every layer, with PEFT tensor names.

    openvino_genai's LLMPipeline strips the PEFT prefix ``base_model.model.`` and adapts each MatMul
    whose name contains the rest (``model.layers.0.self_attn.q_proj``); names without the prefix
    are silently ignored. The update is ``alpha * B @ A`` (no rank scaling), as genai applies it.
    """
    from safetensors.numpy import save_file

    tensors = {}
    for name, param in model.named_parameters():
        parts = name.split(".")
        if len(parts) < 2 or parts[-2] not in projections:
            continue
        out_dim, in_dim = param.shape
        prefix = "base_model.model." + name.removesuffix(".weight")
        tensors[prefix + ".lora_A.weight"] = uniform(f"{seed}:{prefix}:A", (LORA_RANK, in_dim),
                                                     float(np.sqrt(3.0 / in_dim)))
        b_limit = LORA_SCALE * float(param.detach().abs().max()) / np.sqrt(LORA_RANK)
        tensors[prefix + ".lora_B.weight"] = uniform(f"{seed}:{prefix}:B", (out_dim, LORA_RANK),
                                                     b_limit)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt"})
