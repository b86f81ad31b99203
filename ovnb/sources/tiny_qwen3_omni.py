"""A tiny random Qwen3-Omni (thinker, talker, code2wav), built locally for tests and CI.

Qwen3-Omni is three models in one folder: the *thinker* (a Qwen3-VL-style MoE language model with a
vision tower and an audio encoder) answers in text; the *talker* (a second MoE decoder) turns the
thinker's hidden states into codec tokens, a *code predictor* adds the other codebooks of each
frame, and *code2wav* turns codec frames into 24 kHz audio. openvino_genai's OmniPipeline reads
every part; the sizes below are small ones that satisfy what it assumes
(``tests/sources/test_tiny_qwen3_omni.py`` pins each assumption, with where it comes from):

- the talker's vocabulary is ``CODEBOOK + 1024``: the pipeline never samples its top 1024 ids but
  the end id, so the codec specials and speakers live there and the frame codes below;
- the talker finds the reply by ``<|im_start|>`` followed by the *single token* ``assistant``
  (``user``, ``system`` likewise): the tokenizer has those three words as tokens of their own;
- code2wav reads ``num_code_groups`` codebooks of ``CODEBOOK`` codes; the code predictor samples
  with top-k 50 inside its graph, so a codebook has at least 50 codes;
- ``talker_config.speaker_id`` names at least one voice, else the talker reports itself missing;
- the talker's cap on speech length comes from ``generation_config.json``.

Export (optimum-intel 2.2.0 under transformers 5.5.4; no version ceiling to lift): ovnb's
vision-chat path, ``ovnb.export.export(src, out, "vision-chat", "fp16", {})``, i.e.
``optimum-cli export openvino -m SRC --task image-text-to-text --weight-format fp16 OUT`` (the task
writes all ten IRs), then ``ovnb.fixups.talker_settings(src, out)``: optimum rewrites
generation_config.json without the talker's settings.

Weights are drawn from name-seeded streams (``tiny_llm.uniform``): every machine builds the same
files, and every matrix is set (transformers leaves the talker's experts uninitialized). The
thinker's head writes printable ASCII only (as tiny-llm's does), so greedy text compares cleanly.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.progress import say
from ovnb.sources.tiny_llm import MAX_NEW_TOKENS, printable_ids, uniform
from ovnb.sources.tinytok import (
    AUDIO_TAGS,
    IMAGE_TAGS,
    VIDEO_TAGS,
    chatml_with_parts,
    make_tokenizer,
)

REVISION = 1  # bump when the built model changes: cached builds of an older revision are rebuilt

# Qwen3-Omni's special tokens (ids 259-268, after the 256 bytes and tinytok's three specials) and
# its role words (269-271: plain added tokens, as "user" is one token of Qwen's vocabulary)
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
AUDIO_TOKENS = ("<|audio_start|>", "<|audio_end|>", "<|audio_pad|>")
TTS_TOKENS = ("<tts_pad>", "<tts_text_bos>", "<tts_text_eod>")
ROLE_WORDS = ("system", "user", "assistant")

# thinker: 4 heads of 8 (2 key/value heads); head_dim 8 gives 4 rotary frequencies, which mrope
# splits into time, height, width as [2, 1, 1] (interleaved, as Qwen3-Omni does)
HIDDEN, HEADS, KV_HEADS, HEAD_DIM = 32, 4, 2, 8
MROPE_SECTION = [2, 1, 1]
# two layers: the talker reads the first one's output (accept_hidden_layer 1), deepstack adds the
# vision tower's first layer to it; 4 experts, 2 per token, so the routing is exercised
LAYERS, ACCEPT_HIDDEN_LAYER, EXPERTS, EXPERTS_PER_TOKEN = 2, 1, 4, 2
PATCH_SIZE, MERGE_SIZE, TEMPORAL_PATCH = 16, 2, 2  # Qwen3-Omni's; genai asserts temporal 2
UNIT = PATCH_SIZE * MERGE_SIZE  # 32: images are resized to multiples of this
MIN_PIXELS, MAX_PIXELS = UNIT * UNIT, 4 * UNIT * UNIT  # 1 to 4 tokens per image (or frame pair)
POSITION_GRID = 8  # the vision tower's learned positions: 8 x 8 (genai takes the square root)
IMAGE_MEAN = IMAGE_STD = [0.5, 0.5, 0.5]  # Qwen3-VL's normalization
# audio: the real model's Whisper features and windows. genai 2026.4.1 runs the encoder over
# chunks of 2 x N_WINDOW_INFER frames (16 s) starting every N_WINDOW_INFER frames (audio up to
# 8 s is one chunk), and needs N_WINDOW_INFER >= 2 x N_WINDOW
MEL_BINS, N_WINDOW, N_WINDOW_INFER = 128, 50, 800
# talker, code predictor and code2wav: the predictor adds CODE_GROUPS - 1 codes to the talker's
# first code of each frame, at the talker's width; code2wav reads CODE_GROUPS codebooks
TALKER_HIDDEN = 32
CODEBOOK = 64  # codes per codebook; >= 50, the code predictor's top-k (at export and at run time)
CODE_GROUPS = 4  # the real model has 16: 4 keeps the predictor's loop, at a quarter of its steps
SPECIAL_CODES = 1024  # the talker's top ids, never sampled but the end id: specials and speakers
SPEAKERS = {"ada": CODEBOOK + 253, "ben": CODEBOOK + 254}  # codec ids, in the top 1024 too
# code2wav keeps the real upsampling, (8, 5, 4, 3) then (2, 2): 1920 samples per 80 ms frame,
# 24 kHz; its decoder halves its channels at each of the 4 stages, 32 down to 2
SAMPLE_RATE = 24000  # of the speech out (OmniPipeline does not say it)
VOCODER_CHANNELS = 32
TALKER_MAX_FRAMES = 64  # at most ~5 s of speech per reply (talker_max_new_tokens)

GAIN = 2.0  # times LeCun's uniform init: enough that answers depend on the input
EMBED_SCALE = 0.5
LOUDNESS = 0.01  # scales the vocoder's last conv: waveforms around 0.1 RMS instead of clipped noise
LAST_VOCODER_CONV = "code2wav.decoder.6.conv.weight"  # after a conv, 4 stages and a SnakeBeta

# ChatML as Qwen3-Omni's template lays it out (no default system turn), with vision and audio tags.
# Content may be a string (openvino_genai passes one, its tags already inside) or typed parts.
CHAT_TEMPLATE = chatml_with_parts({"image": IMAGE_TAGS, "video": VIDEO_TAGS,
                                   "audio": AUDIO_TAGS})


def build(model_id: str, out: Path) -> None:
    """Write the model, tokenizer and processor settings (transformers format, fp32) to ``out``."""
    if model_id != "tiny-qwen3-omni":
        raise OvnbError(f"ovnb.sources.tiny_qwen3_omni builds tiny-qwen3-omni, not {model_id!r}: "
                        "fix the catalog entry's module")
    say(f"building {model_id}: a tiny random Qwen3-Omni (thinker, talker, code2wav)")
    tokenizer = make_omni_tokenizer()
    model = _model(tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_processor_settings(out)


def make_omni_tokenizer() -> Any:
    """tinytok's byte tokenizer with Qwen3-Omni's special tokens, role words and chat template."""
    tokenizer = make_tokenizer((*VISION_TOKENS, *AUDIO_TOKENS, *TTS_TOKENS))
    tokenizer.add_tokens(list(ROLE_WORDS))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def token_ids(tokenizer: Any) -> dict[str, int]:
    """The token ids config.json names (the keys without their ``_token_id``)."""
    names = ("vision_start", "vision_end", "image", "video", "audio_start", "audio_end", "audio",
             "tts_pad", "tts_bos", "tts_eos", "system", "user", "assistant", "im_start", "im_end")
    tokens = (*VISION_TOKENS, *AUDIO_TOKENS, *TTS_TOKENS, *ROLE_WORDS, "<|im_start|>", "<|im_end|>")
    return dict(zip(names, tokenizer.convert_tokens_to_ids(list(tokens))))


def codec_ids() -> dict[str, int]:
    """The talker's special codec ids: in its top 1024 ids, just above the codebook."""
    return {"codec_pad_id": CODEBOOK + 100, "codec_bos_id": CODEBOOK + 101,
            "codec_eos_token_id": CODEBOOK + 102, "codec_nothink_id": CODEBOOK + 107,
            "codec_think_bos_id": CODEBOOK + 108, "codec_think_eos_id": CODEBOOK + 109}


def _config(tokenizer: Any) -> Any:
    """Qwen3-Omni's configuration at the sizes above, its token ids from ``tokenizer``."""
    from transformers import Qwen3OmniMoeConfig

    ids = token_ids(tokenizer)
    mrope = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": MROPE_SECTION,
             "interleaved": True, "mrope_interleaved": True}
    attention = {"num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
                 "head_dim": HEAD_DIM}
    moe = {"num_experts": EXPERTS, "num_experts_per_tok": EXPERTS_PER_TOKEN}
    text = {
        "vocab_size": len(tokenizer), "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN,
        "num_hidden_layers": LAYERS, **attention, **moe, "moe_intermediate_size": HIDDEN,
        "max_position_embeddings": 2048, "rope_parameters": mrope,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
        "patch_size": PATCH_SIZE, "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH, "out_hidden_size": HIDDEN,
        "num_position_embeddings": POSITION_GRID ** 2, "deepstack_visual_indexes": [0],
    }
    audio = {
        "num_mel_bins": MEL_BINS, "encoder_layers": 1, "encoder_attention_heads": 2,
        "encoder_ffn_dim": 64, "d_model": 32, "output_dim": HIDDEN, "n_window": N_WINDOW,
        "n_window_infer": N_WINDOW_INFER, "downsample_hidden_size": 16, "conv_chunksize": 500,
        "max_source_positions": 1500,
    }
    media = {"audio_token_id": ids["audio"], "image_token_id": ids["image"],
             "video_token_id": ids["video"], "audio_start_token_id": ids["audio_start"],
             "vision_start_token_id": ids["vision_start"], "position_id_per_seconds": 25}
    thinker = {"text_config": text, "vision_config": vision, "audio_config": audio, **media,
               "user_token_id": ids["user"]}
    talker_text = {
        "vocab_size": CODEBOOK + SPECIAL_CODES, "hidden_size": TALKER_HIDDEN,
        "intermediate_size": 2 * TALKER_HIDDEN, "num_hidden_layers": 1, **attention, **moe,
        "moe_intermediate_size": TALKER_HIDDEN, "shared_expert_intermediate_size": TALKER_HIDDEN,
        "max_position_embeddings": 2048, "rope_parameters": mrope,
    }
    predictor = {
        "vocab_size": CODEBOOK, "hidden_size": TALKER_HIDDEN,
        "intermediate_size": 2 * TALKER_HIDDEN, "num_hidden_layers": 1, **attention,
        "num_code_groups": CODE_GROUPS, "max_position_embeddings": 64,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6},
    }
    talker = {
        "text_config": talker_text, "code_predictor_config": predictor,
        "num_code_groups": CODE_GROUPS, "thinker_hidden_size": HIDDEN,
        "accept_hidden_layer": ACCEPT_HIDDEN_LAYER, **codec_ids(), "speaker_id": SPEAKERS,
        "spatial_merge_size": MERGE_SIZE, **media,
    }
    code2wav = {
        "codebook_size": CODEBOOK, "num_quantizers": CODE_GROUPS, "hidden_size": 32,
        "num_attention_heads": 2, "num_key_value_heads": 2, "intermediate_size": 64,
        "num_hidden_layers": 1, "sliding_window": 72, "decoder_dim": VOCODER_CHANNELS,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e4},
    }
    return Qwen3OmniMoeConfig(
        thinker_config=thinker, talker_config=talker, code2wav_config=code2wav,
        enable_audio_output=True, im_start_token_id=ids["im_start"], im_end_token_id=ids["im_end"],
        tts_pad_token_id=ids["tts_pad"], tts_bos_token_id=ids["tts_bos"],
        tts_eos_token_id=ids["tts_eos"], system_token_id=ids["system"],
        user_token_id=ids["user"], assistant_token_id=ids["assistant"])


def _model(tokenizer: Any) -> Any:
    """The model in fp32, every tensor name-seeded, the thinker's head restricted to printable
    bytes, greedy by default."""
    import torch
    from transformers import Qwen3OmniMoeForConditionalGeneration

    torch.manual_seed(0)  # only for any buffer transformers draws; every parameter is set below
    model = Qwen3OmniMoeForConditionalGeneration(_config(tokenizer)).to(torch.float32).eval()
    _fill(model)
    keep = torch.zeros(len(tokenizer), dtype=torch.bool)
    keep[printable_ids(tokenizer)] = True
    with torch.no_grad():
        model.thinker.lm_head.weight[~keep] = 0.0
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    gen.pad_token_id, gen.do_sample = tokenizer.pad_token_id, False
    gen.max_new_tokens = MAX_NEW_TOKENS  # the head never picks the end token
    # OmniPipeline's talker reads this cap from generation_config.json (default 4096 frames): the
    # random talker seldom ends speech itself (replies of 40 s to 2 min were seen without a cap)
    gen.talker_max_new_tokens = TALKER_MAX_FRAMES
    return model


def _fill(model: Any) -> None:
    """Overwrite every matrix with name-seeded uniform values (``_limit``); vectors (norms, biases,
    SnakeBeta's log-scales) keep their constructor values. Same on every machine."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                values = uniform(name, tuple(param.shape), _limit(name, tuple(param.shape)))
                param.copy_(torch.from_numpy(values))


def _limit(name: str, shape: tuple[int, ...]) -> float:
    """Half-width of the uniform init of weight ``name``: LeCun's limit times GAIN, fan-in over
    every axis but the first (a conv's channels x kernel); a fused expert tensor [experts, out, in]
    has fan-in ``in``. The vocoder stacks some forty convolutions with residual sums: at GAIN its
    output reached 1e9 (then clipped to +-1), so it keeps LeCun's limit, its last conv LOUDNESS
    times smaller."""
    if any(part in name for part in ("embed", "codec_embedding", "code_embedding")):
        return EMBED_SCALE
    fan_in = shape[-1] if "experts" in name else int(np.prod(shape[1:]))
    limit = float(np.sqrt(3.0 / fan_in))
    if not name.startswith("code2wav."):
        return GAIN * limit
    return limit * LOUDNESS if name == LAST_VOCODER_CONV else limit


def write_processor_settings(out: Path) -> None:
    """Qwen3-Omni's processor files: image, video (frames) and audio (Whisper features) settings."""
    image = {
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen3OmniMoeProcessor",
        "size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "patch_size": PATCH_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH, "merge_size": MERGE_SIZE,
        "image_mean": IMAGE_MEAN, "image_std": IMAGE_STD, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "do_resize": True, "do_convert_rgb": True,
        # Whisper features, in the same file as the real model keeps them
        "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": MEL_BINS,
        "sampling_rate": 16000, "hop_length": 160, "n_fft": 400, "chunk_length": 300,
        "padding_value": 0.0, "return_attention_mask": True, "dither": 0.0,
    }
    video = {k: v for k, v in image.items() if not k.startswith("feature") and k not in (
        "sampling_rate", "hop_length", "n_fft", "chunk_length", "padding_value",
        "return_attention_mask", "dither", "image_processor_type")}
    video.update({"video_processor_type": "Qwen2VLVideoProcessor", "do_sample_frames": False})
    (out / "preprocessor_config.json").write_text(json.dumps(image, indent=2) + "\n")
    (out / "video_preprocessor_config.json").write_text(json.dumps(video, indent=2) + "\n")
    (out / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2)
                                            + "\n")
