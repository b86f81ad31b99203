"""A tiny random LTX-Video pipeline (diffusers layout) for Text2VideoPipeline, built offline.

The parts follow the recipe seen working with openvino_genai (GENAI-FACTS): a one-layer LTX
transformer on 8 latent channels, a one-layer T5 encoder and a Unigram T5 tokenizer built from a
word list. The video VAE is narrow (8 channels, one layer per block) but compresses exactly as
LTX-Video's does (diffusers' ``AutoencoderKLLTXVideo`` defaults): 4x4 patches, then three blocks
that halve height, width and time, so 32x32 pixels and 8 frames make one latent pixel. The sizes the
pipeline works at (latent sequence length, hence the scheduler's resolution-dependent shift) are the
real model's: a VAE that shrank less made a 512x320, 25-frame clip so long a sequence that the shift
rounded every float32 sigma to 1 and the latents went NaN (all-black frames).
Weights come from ``tiny_llm.uniform`` (numpy's frozen legacy stream, seeded by tensor name), so
every machine builds the same bytes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ovnb.progress import say
from ovnb.sources.tiny_llm import uniform

REVISION = 2  # bump when the built model changes: cached builds of an older revision are rebuilt
CHANNELS = 8  # latent channels, and the VAE's width
PATCH = 4  # the VAE's pixel patches (LTX-Video: 4)
SCALINGS = (True, True, True, False)  # blocks that halve height, width and time (LTX-Video: 3 of 4)
SPATIAL = PATCH * 2 ** sum(SCALINGS)  # 32 pixels a side per latent pixel
TEMPORAL = 2 ** sum(SCALINGS)  # 8 frames per latent frame (after the first)
TEXT_DIM = 32  # T5 d_model = the transformer's caption channels
MAX_TOKENS = 128  # what LTX pads prompts to (openvino_genai's default max_sequence_length)
# Unigram pieces: a few whole words (high score) over single characters, so any prompt encodes
WORDS = ("a", "an", "the", "of", "and", "in", "on", "with", "cat", "dog", "red", "blue", "green",
         "wave", "waves", "sea", "sky", "tree", "city", "car", "bird", "fire", "snow", "running",
         "flying", "walking", "sunset", "river", "forest", "night", "day", "slow", "fast")
SPECIALS = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2 as in T5


def build(model_id: str, out: Path) -> None:
    """Write the diffusers folder of the tiny LTX-Video pipeline into ``out``."""
    from diffusers import LTXPipeline

    say(f"building {model_id}: tiny random LTX-Video")
    tokenizer = _tokenizer()
    pipe = LTXPipeline(scheduler=_scheduler(), vae=_vae(), text_encoder=_text_encoder(len(tokenizer)),
                       tokenizer=tokenizer, transformer=_transformer())
    pipe.save_pretrained(out, safe_serialization=True)


def fill(module: Any, prefix: str, gain: float = 1.0) -> None:
    """Overwrite every parameter with name-seeded values: matrices uniform with LeCun's scale
    times ``gain``, biases small, norm scales one. Buffers (the VAE's latent mean and std) keep
    their defaults, 0 and 1: random ones would squash the latents the decoder sees."""
    import torch

    with torch.no_grad():
        for name, param in module.named_parameters():
            shape = tuple(param.shape)
            if len(shape) >= 2:
                limit = gain * math.sqrt(3 / math.prod(shape[1:]))
            elif "norm" in name and name.endswith("weight"):
                param.fill_(1.0)
                continue
            else:  # biases and LTX's scale-shift tables
                limit = 0.02
            param.copy_(torch.from_numpy(uniform(prefix + name, shape, limit)))


def _transformer() -> Any:
    from diffusers import LTXVideoTransformer3DModel

    model = LTXVideoTransformer3DModel(
        in_channels=CHANNELS, out_channels=CHANNELS, patch_size=1, patch_size_t=1,
        num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32, num_layers=1,
        caption_channels=TEXT_DIM)
    fill(model, "transformer.")
    return model


def _vae() -> Any:
    from diffusers import AutoencoderKLLTXVideo

    model = AutoencoderKLLTXVideo(
        latent_channels=CHANNELS, block_out_channels=(CHANNELS,) * 4,
        decoder_block_out_channels=(CHANNELS,) * 4, layers_per_block=(1,) * 5,
        decoder_layers_per_block=(1,) * 5, spatio_temporal_scaling=SCALINGS,
        decoder_spatio_temporal_scaling=SCALINGS, decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=False,
        patch_size=PATCH, patch_size_t=1)
    fill(model, "vae.")
    return model


def _text_encoder(vocab_size: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=1,
                      num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    model = T5EncoderModel(config).eval()
    fill(model, "text_encoder.")
    return model


def _tokenizer() -> Any:
    """A T5 (Unigram, metaspace) tokenizer: specials, then whole words, then printable characters."""
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [(token, 0.0) for token in SPECIALS]
    pieces += [("\u2581" + word, -2.0) for word in WORDS]
    pieces += [("\u2581", -3.0)]
    pieces += [(chr(c), -5.0) for c in range(33, 127)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=MAX_TOKENS)


def _scheduler() -> Any:
    """Flow matching with the resolution-dependent shift LTX-Video ships."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.95,
        max_shift=2.05, base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
