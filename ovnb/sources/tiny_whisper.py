"""A tiny random multilingual Whisper, laid out like the real ones, for tests and CI.

The weights are random (it transcribes garbage), but everything a pipeline reads is real-shaped:
80 mel bins, 30 s windows (1500 encoder positions), the multilingual special tokens in Whisper's
order, 1501 timestamp tokens, and a generation config with language/task maps. So language, task
and timestamp options exercise the same code paths as on openai/whisper-*.

The base vocabulary is the 256 byte-level tokens without merges. Sorted, they get the same ids as
the first 256 tokens of GPT-2/Whisper (so the space token is 220, as in ``begin_suppress_tokens``);
the special tokens follow at 256 instead of 50257, in the real order.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError
from ovnb.progress import say

REVISION = 1  # bump when the built model changes: cached builds of an older revision are rebuilt
SEED = 20240531

# Whisper's 99 languages (v1/v2), in token order: <|en|> comes right after <|startoftranscript|>.
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su"
).split()

# Control tokens between the languages and the timestamps, in Whisper's order.
CONTROL = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
           "<|nospeech|>", "<|notimestamps|>")

TIME_PRECISION = 0.02  # seconds per timestamp token
N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>

# Punctuation Whisper never emits (its suppress_tokens list starts with these byte tokens).
SUPPRESSED_CHARS = '"#()*+/:;<=>@[\\]^_`{|}~'

# Small enough to export in seconds, shaped like whisper-tiny where the pipeline cares.
ARCH = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128,
        "num_mel_bins": 80, "max_source_positions": 1500, "max_target_positions": 448}


def special_tokens() -> list[str]:
    """Whisper's special tokens in id order: end of text, start, languages, then controls."""
    return ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES), *CONTROL]


def timestamp_tokens() -> list[str]:
    """``<|0.00|>`` .. ``<|30.00|>``: one token per 20 ms."""
    return [f"<|{i * TIME_PRECISION:.2f}|>" for i in range(N_TIMESTAMPS)]


def build(model_id: str, out: Path) -> None:
    """Write a seeded tiny Whisper (model, tokenizer, feature extractor, generation config) to ``out``."""
    say(f"building {model_id}: random multilingual Whisper, d_model {ARCH['d_model']}")
    tokenizer = make_tokenizer()
    ids = token_ids(tokenizer)
    model = make_model(len(tokenizer), ids)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    make_feature_extractor().save_pretrained(out)
    (out / "generation_config.json").write_text(json.dumps(generation_config(ids), indent=2) + "\n")


def make_tokenizer() -> Any:
    """A ``WhisperTokenizer``: 256 byte tokens, then the specials, then the timestamps (not special)."""
    from tokenizers import AddedToken, pre_tokenizers
    from transformers import WhisperTokenizer

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for token in (*special_tokens(), *timestamp_tokens()):
        vocab[token] = len(vocab)
    tok = WhisperTokenizer(vocab=vocab, merges=[], model_max_length=448)
    tok.add_special_tokens({"additional_special_tokens": special_tokens()})
    # Real Whisper tokenizers keep timestamps non-special: decoders find them as ids above the specials.
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in timestamp_tokens()])
    return tok


def token_ids(tokenizer: Any) -> dict[str, int]:
    """The ids the configs need, read back from the tokenizer and checked against Whisper's layout."""
    names = (*special_tokens(), timestamp_tokens()[0], "Ġ", *SUPPRESSED_CHARS)
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in names}
    layout = [ids[name] for name in (*special_tokens(), timestamp_tokens()[0])]
    if layout != list(range(256, 256 + len(layout))) or len(tokenizer) != layout[-1] + N_TIMESTAMPS:
        raise OvnbError("this transformers version lays out the tiny-whisper tokenizer differently "
                        f"(ids {layout[:2]}, vocab {len(tokenizer)}): install the pinned transformers")
    return ids


def make_model(vocab_size: int, ids: dict[str, int]) -> Any:
    """A ``WhisperForConditionalGeneration`` whose weights come from a fixed-seed PCG64.

    numpy's PCG64 stream is specified bit for bit, so the weights do not depend on torch's RNG
    (nor on torch's float32 sin for the encoder positions).
    """
    import numpy as np
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    eot = ids["<|endoftext|>"]
    config = WhisperConfig(vocab_size=vocab_size, **ARCH, pad_token_id=eot, bos_token_id=eot,
                           eos_token_id=eot, decoder_start_token_id=ids["<|startoftranscript|>"],
                           begin_suppress_tokens=[ids["Ġ"], eot], suppress_tokens=suppress_list(ids),
                           tie_word_embeddings=True)
    model = WhisperForConditionalGeneration(config).eval()
    rng = np.random.Generator(np.random.PCG64(SEED))
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            param.copy_(torch.from_numpy(_init(name, tuple(param.shape), rng)))
    return model


def _init(name: str, shape: tuple[int, ...], rng: Any) -> Any:
    """Whisper-like init: fixed sinusoids for encoder positions, N(0, 0.02) matrices, unit norm scales."""
    import numpy as np

    if name == "model.encoder.embed_positions.weight":
        return sinusoids(*shape)
    if "layer_norm" in name and name.endswith("weight"):
        return np.ones(shape, dtype=np.float32)
    std = 0.02 if len(shape) > 1 else 0.01
    return (rng.standard_normal(shape) * std).astype(np.float32)


def sinusoids(length: int, channels: int) -> Any:
    """Whisper's fixed encoder positions, computed in float64 so every machine rounds them alike."""
    import numpy as np

    half = channels // 2
    inv_timescales = np.exp(-np.log(10000.0) / (half - 1) * np.arange(half))
    scaled = np.arange(length)[:, None] * inv_timescales[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1).astype(np.float32)


def suppress_list(ids: dict[str, int]) -> list[int]:
    """Like the real list: rare punctuation plus the control tokens that never belong in text."""
    controls = ["<|startoftranscript|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                "<|startofprev|>", "<|nospeech|>"]
    return sorted(ids[name] for name in (*SUPPRESSED_CHARS, *controls))


def make_feature_extractor() -> Any:
    """Whisper's 80-bin log-mel front end over 30 s windows at 16 kHz."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160,
                                   chunk_length=30, n_fft=400, padding_value=0.0)


def generation_config(ids: dict[str, int]) -> dict[str, Any]:
    """What openvino_genai's WhisperGenerationConfig and transformers' generate read."""
    eot = ids["<|endoftext|>"]
    decoder_layers, heads = ARCH["decoder_layers"], ARCH["decoder_attention_heads"]
    return {
        "decoder_start_token_id": ids["<|startoftranscript|>"],
        "bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot,
        "max_length": ARCH["max_target_positions"],
        "is_multilingual": True,
        "lang_to_id": {f"<|{code}|>": ids[f"<|{code}|>"] for code in LANGUAGES},
        "task_to_id": {"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]},
        "no_timestamps_token_id": ids["<|notimestamps|>"],
        "prev_sot_token_id": ids["<|startofprev|>"],
        "begin_suppress_tokens": [ids["Ġ"], eot],
        "suppress_tokens": suppress_list(ids),
        "max_initial_timestamp_index": 50,
        # word timestamps read cross-attention of these heads: the upper half of the decoder, as in tiny
        "alignment_heads": [[layer, h] for layer in range(decoder_layers // 2, decoder_layers)
                            for h in range(heads)],
        "return_timestamps": False,
    }
