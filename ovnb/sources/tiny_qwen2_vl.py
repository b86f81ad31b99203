"""A tiny random Qwen2-VL, the video-capable vision-language model built locally for tests and CI.

Qwen2-VL's vision tower cuts frames into 14x14 patches, two frames deep, and merges 2x2 patches into
one token, so a 56x56 image gives 4 image tokens and a 4-frame 56x56 clip 8 video tokens. Weights
are torch's initializers under a fixed seed, scaled up (INIT_RANGE) so that answers depend on the
picture. The language model's head writes printable ASCII only (as tiny-llm's does): a random model
must print garbage, not invalid UTF-8 (byte tokens drawn at random rarely form valid sequences).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ovnb.progress import say
from ovnb.sources.tiny_llm import MAX_NEW_TOKENS, printable_head
from ovnb.sources.tinytok import (
    IMAGE_TAGS,
    VIDEO_TAGS,
    chatml_with_parts,
    make_tokenizer,
)

REVISION = 1  # bump when the built model changes: cached builds of an older revision are rebuilt
SEED = 2411
# Qwen2-VL's vision tokens, ids 259-262 after the 256 bytes and tinytok's three specials
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
PATCH_SIZE, MERGE_SIZE, TEMPORAL_PATCH = 14, 2, 2
UNIT = PATCH_SIZE * MERGE_SIZE  # 28: images are resized to multiples of this
MIN_PIXELS, MAX_PIXELS = UNIT * UNIT, 4 * UNIT * UNIT  # 1 to 4 tokens per image (or frame pair)
# Init std of every weight. At 0.02 (the default) the answer ignores the image; 1.0 was seen working.
INIT_RANGE = 1.0
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# Qwen2-VL's ChatML layout, with its default system turn and its vision tags. Content may be a string
# (openvino_genai passes one, its vision tags already inside) or a list of typed parts.
CHAT_TEMPLATE = chatml_with_parts({"image": IMAGE_TAGS, "video": VIDEO_TAGS},
                                  default_system="You are a helpful assistant.")


def build(model_id: str, out: Path) -> None:
    """Write the model, tokenizer and processor settings (transformers format, fp32) into ``out``."""
    say(f"building {model_id}: a tiny random Qwen2-VL")
    tokenizer = make_tokenizer(VISION_TOKENS)
    tokenizer.chat_template = CHAT_TEMPLATE
    model = _model(tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _image_processor().save_pretrained(out)
    # transformers' Qwen2-VL video processor needs torchvision (not installed): its settings by hand
    (out / "video_preprocessor_config.json").write_text(json.dumps(video_settings(), indent=2) + "\n")


def _config(tokenizer: Any) -> Any:
    from transformers import Qwen2VLConfig

    ids = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
    text = {
        "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 2048, "initializer_range": INIT_RANGE,
        # head_dim 8: mrope splits its 4 rotary frequencies into time, height, width
        "rope_parameters": {"rope_type": "default", "mrope_section": [2, 1, 1], "rope_theta": 1e4},
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2,
        "patch_size": PATCH_SIZE, "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH, "initializer_range": INIT_RANGE,
    }
    return Qwen2VLConfig(
        text_config=text, vision_config=vision, vision_start_token_id=ids[0],
        vision_end_token_id=ids[1], image_token_id=ids[2], video_token_id=ids[3],
        tie_word_embeddings=False, initializer_range=INIT_RANGE)


def _model(tokenizer: Any) -> Any:
    """The seeded model in fp32, its head restricted to printable bytes, greedy by default."""
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    torch.manual_seed(SEED)
    model = Qwen2VLForConditionalGeneration(_config(tokenizer)).to(torch.float32).eval()
    printable_head(model, tokenizer)
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    gen.pad_token_id, gen.do_sample = tokenizer.pad_token_id, False
    gen.max_new_tokens = MAX_NEW_TOKENS  # the head never picks the end token
    return model


def _image_processor() -> Any:
    """Qwen2-VL's PIL image processor (torchvision is not installed), sized for a tiny model."""
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}, patch_size=PATCH_SIZE,
        temporal_patch_size=TEMPORAL_PATCH, merge_size=MERGE_SIZE, image_mean=CLIP_MEAN,
        image_std=CLIP_STD)


def video_settings() -> dict[str, Any]:
    """What transformers' Qwen2VLVideoProcessor would save: the image settings, for frames."""
    return {
        "video_processor_type": "Qwen2VLVideoProcessor", "processor_class": "Qwen2VLProcessor",
        "size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "patch_size": PATCH_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH, "merge_size": MERGE_SIZE,
        "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "do_resize": True,
        "do_convert_rgb": True, "do_sample_frames": False,
    }
