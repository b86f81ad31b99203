"""A tiny random Stable Diffusion 1.x pipeline (diffusers layout) with two LoRA adapters.

The VAE is narrow but has Stable Diffusion's four levels, so it shrinks 8x a side as SD's does:
the UNet then works on the latent sizes a real SD model sees (a 2x VAE made 512x512 a 256x256
latent, and one step took minutes). Weights come from numpy's PCG64 generator, seeded per tensor
name, rather than from torch's initializers: PCG64 streams are specified bit for bit, so every
machine builds the same files. Init scales are chosen so the image stays away from saturation and
follows the seed and the prompt.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.progress import say

REVISION = 2  # bump when the built model changes: cached builds of an older revision are rebuilt
SEED = 20240611
VAE_WIDTHS = (16, 16, 32, 32)  # SD's four VAE levels (128, 256, 512, 512), narrow: 8x a side
SAMPLE_SIZE = 64  # the UNet's latent side, as in SD 1.5: pipelines default to 64 * 8 = 512 pixels
RANK = 4
# adapter name -> (UNet attention projections it targets, text-encoder projections it targets)
ADAPTERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "self-attn": (("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0"), ()),
    "cross-attn": (("attn2.to_q", "attn2.to_k", "attn2.to_v"), ("self_attn.q_proj", "self_attn.v_proj")),
}
# words the tokenizer merges into single tokens (others fall back to one token per byte)
WORDS = ("a", "an", "the", "of", "and", "in", "on", "with", "cat", "dog", "red", "blue", "green",
         "photo", "painting", "house", "tree", "sky", "sunset", "portrait", "city", "sea", "cloud")
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def build(model_id: str, out: Path) -> None:
    """Write the diffusers folder of the tiny pipeline and its adapters into ``out``."""
    from diffusers import StableDiffusionPipeline

    say(f"building {model_id}: tiny random Stable Diffusion 1.x")
    tokenizer = _tokenizer(out / "tokenizer")
    text_encoder = _text_encoder(len(tokenizer))
    pipe = StableDiffusionPipeline(
        vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer, unet=_unet(),
        scheduler=_scheduler(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    pipe.save_pretrained(out, safe_serialization=True)
    for name in ADAPTERS:
        _save_adapter(name, pipe, out / "adapters" / f"{name}.safetensors")


def _rng(name: str) -> np.random.Generator:
    """A generator of its own for each tensor, so adding a tensor never shifts the others."""
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def _fill(module: Any, prefix: str, gains: dict[str, float] | None = None) -> None:
    """Overwrite every parameter of ``module`` with seeded values (fan-in scaled normals).

    ``gains`` multiplies the weights of parameters whose name starts with a key: the knob that
    keeps activations in range.
    """
    import torch

    state = {}
    for name, param in module.state_dict().items():
        shape = tuple(param.shape)
        if not param.is_floating_point():  # index buffers (position ids) stay as they are
            state[name] = param
            continue
        if name.endswith("weight") and len(shape) == 1:  # GroupNorm / LayerNorm scale
            values = np.ones(shape)
        elif len(shape) <= 1:  # biases
            values = _rng(prefix + name).standard_normal(shape) * 0.02
        else:
            fan_in = int(np.prod(shape[1:]))
            gain = next((g for key, g in (gains or {}).items() if name.startswith(key)), 1.0)
            values = _rng(prefix + name).standard_normal(shape) * (gain / np.sqrt(fan_in))
        state[name] = torch.from_numpy(values.astype(np.float32))
    module.load_state_dict(state)


def _unet() -> Any:
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(
        sample_size=SAMPLE_SIZE, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=8)
    _fill(unet, "unet.")
    return unet


def _vae() -> Any:
    from diffusers import AutoencoderKL

    levels = len(VAE_WIDTHS)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=VAE_WIDTHS, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels, latent_channels=4, norm_num_groups=8,
        sample_size=SAMPLE_SIZE * 2 ** (levels - 1))
    _fill(vae, "vae.", {"decoder.conv_out": 0.5})
    return vae


def _text_encoder(vocab_size: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1)
    model = CLIPTextModel(config)
    _fill(model, "text_encoder.")
    return model


def _scheduler() -> Any:
    """PNDM with the configuration Stable Diffusion 1.5 ships."""
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
        beta_schedule="scaled_linear", skip_prk_steps=True, set_alpha_to_one=False,
        steps_offset=1)


def _tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer read from the vocab.json/merges.txt that ``_write_vocab`` puts in ``folder``.

    The files stay there beside the tokenizer.json that saving the pipeline adds, as in SD repos.
    """
    from transformers import CLIPTokenizer

    _write_vocab(folder)
    vocab = json.loads((folder / "vocab.json").read_text())
    pairs = [tuple(line.split()) for line in (folder / "merges.txt").read_text().splitlines()[1:]]
    # 77 tokens as in SD: the export and the pipeline pad to model_max_length (GENAI-FACTS)
    return CLIPTokenizer(vocab=vocab, merges=pairs, model_max_length=77)


def _write_vocab(folder: Path) -> None:
    """CLIP's vocabulary layout, tiny: bytes, bytes ending a word (``</w>``), merges, BOS, EOS."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [*alphabet, *(ch + "</w>" for ch in alphabet)]
    merges = _merges()
    tokens += [left + right for left, right in merges if left + right not in tokens]
    tokens += [BOS, EOS]
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    lines = ["#version: 0.2", *(f"{left} {right}" for left, right in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n")


def _merges() -> list[tuple[str, str]]:
    """Left-to-right merges that turn each of WORDS into one token."""
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            if pair not in merges:
                merges.append(pair)
            parts = [parts[0] + parts[1], *parts[2:]]
    return merges


def _save_adapter(name: str, pipe: Any, path: Path) -> None:
    """A kohya-style LoRA (``lora_unet_*`` / ``lora_te_*``), the naming openvino_genai maps for SD."""
    import torch
    from safetensors.torch import save_file

    unet_targets, te_targets = ADAPTERS[name]
    tensors: dict[str, torch.Tensor] = {}
    for prefix, model, targets in (("lora_unet", pipe.unet, unet_targets),
                                   ("lora_te", pipe.text_encoder, te_targets)):
        for module_name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and module_name.endswith(targets):
                key = f"{prefix}_{module_name.replace('.', '_')}"
                tensors.update(_lora_pair(f"{name}/{key}", key, module))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"ovnb": f"tiny random LoRA {name}, rank {RANK}"})


def _lora_pair(seed_name: str, key: str, layer: Any) -> dict[str, Any]:
    """down (rank x in), up (out x rank) and alpha for one Linear; delta ~ the base weight's scale."""
    import torch

    out_features, in_features = layer.weight.shape
    rng = _rng(seed_name)
    down = rng.standard_normal((RANK, in_features)) / np.sqrt(in_features)
    up = rng.standard_normal((out_features, RANK)) * (2.0 / np.sqrt(RANK))
    return {f"{key}.lora_down.weight": torch.from_numpy(down.astype(np.float32)),
            f"{key}.lora_up.weight": torch.from_numpy(up.astype(np.float32)),
            f"{key}.alpha": torch.tensor(float(RANK))}
