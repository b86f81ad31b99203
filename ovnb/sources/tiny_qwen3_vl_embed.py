"""A tiny random Qwen3-VL embedder (Qwen3-VL-Embedding's layout), built locally for tests and CI.

openvino_genai's ``EmbeddingPipeline`` runs a folder as a multimodal embedder when it holds
``openvino_language_model.xml``: it turns texts, images and videos into input embeddings with the
VLM's inputs embedder (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, ... by config.json's model_type), runs the
language model once over the batch and pools its output (last token, then L2-normalized, unless
told otherwise). The language model must take ``inputs_embeds`` and give an output named
``logits``. optimum-intel's ``feature-extraction`` export of a ``qwen3_vl`` model gives exactly
that, its "logits" being the last hidden state of the bare ``Qwen3VLModel`` (no LM head):

    ovnb.export.export(src, out, "vision-chat", "fp16", {"task": "feature-extraction"})

(``ovnb.exportcli`` lifts optimum-intel's transformers ceiling for qwen3_vl and replaces the
deepstack patch that made every text-only ``embed`` fail; the vision-chat fixups write the
processor files). This module writes the transformers folder:
- vision: 16x16 patches, two frames deep, 2x2 patches merged into one token; an image is resized
  to 1..4 units of 32x32 pixels (MIN_PIXELS..MAX_PIXELS), so it gives 1 to 4 tokens, and a pair
  of video frames the same; a 4x4 grid of learned position embeddings (genai interpolates it from
  the square root of NUM_POSITIONS) and one deepstack layer (Qwen3-VL adds features of chosen
  vision layers to the first text layers' hidden states at the vision tokens);
- text: width 32 (the embedding's dimension), 2 layers, interleaved mrope over head_dim 8;
- weights: torch's initializers under a fixed seed with a large std (INIT_RANGE), else the
  pooled vectors hardly depend on the input;
- tinytok's byte-level tokenizer with Qwen's vision tokens, and a ChatML template taking typed
  parts (genai applies it only when ``embed`` gets ``embedding_prompt=``, as the system turn);
- the image and video processor settings genai reads (``preprocessor_config.json``,
  ``video_preprocessor_config.json``) and sentence-transformers' files saying how the model
  pools (last token, normalized), which ``ovnb.layout.embedding_config`` reads.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ovnb.progress import say
from ovnb.sources.tinytok import (
    IMAGE_TAGS,
    VIDEO_TAGS,
    chatml_with_parts,
    make_tokenizer,
)

REVISION = 1  # bump when the built model changes: cached builds of an older revision are rebuilt
SEED = 2412
HIDDEN = 32  # the embedding's dimension
# Qwen's vision tokens, ids 259-262 after the 256 bytes and tinytok's three specials
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
PATCH_SIZE, MERGE_SIZE, TEMPORAL_PATCH = 16, 2, 2
UNIT = PATCH_SIZE * MERGE_SIZE  # 32: images are resized to multiples of this
MIN_PIXELS, MAX_PIXELS = UNIT * UNIT, 4 * UNIT * UNIT  # 1 to 4 tokens per image (or frame pair)
NUM_POSITIONS = 16  # a 4x4 grid of vision position embeddings (a square: genai takes its root)
# Init std of every weight. At 0.02 (the default) vectors hardly depend on the input.
INIT_RANGE = 1.0
MEAN = STD = [0.5, 0.5, 0.5]  # Qwen3-VL's normalization

# Qwen3-VL's ChatML layout (no default system turn), with its vision tags. Content may be a string
# (openvino_genai passes one, its vision tags already inside) or a list of typed parts.
CHAT_TEMPLATE = chatml_with_parts({"image": IMAGE_TAGS, "video": VIDEO_TAGS})
# sentence-transformers' files for last-token pooling, then normalize (ovnb.layout reads them)
POOLING = {
    "word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
    "pooling_mode_lasttoken": True, "include_prompt": True,
}
MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize",
     "type": "sentence_transformers.models.Normalize"},
]


def build(model_id: str, out: Path) -> None:
    """Write the model, tokenizer, processor and pooling settings (transformers format, fp32)."""
    say(f"building {model_id}: a tiny random Qwen3-VL embedder ({HIDDEN}-d)")
    tokenizer = make_tokenizer(VISION_TOKENS)
    tokenizer.chat_template = CHAT_TEMPLATE
    _model(tokenizer).save_pretrained(out)
    tokenizer.save_pretrained(out)
    _image_processor().save_pretrained(out)
    # transformers' Qwen3-VL video processor needs torchvision (not installed): its settings by hand
    settings = json.dumps(video_settings(), indent=2) + "\n"
    (out / "video_preprocessor_config.json").write_text(settings)
    write_sentence_transformers(out)


def _config(tokenizer: Any) -> Any:
    from transformers import Qwen3VLConfig

    ids = tokenizer.convert_tokens_to_ids(list(VISION_TOKENS))
    text = {
        "vocab_size": len(tokenizer), "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
        "max_position_embeddings": 2048, "initializer_range": INIT_RANGE,
        # head_dim 8: mrope interleaves its 4 rotary frequencies over time, height, width
        "rope_parameters": {"rope_type": "default", "mrope_section": [2, 1, 1],
                            "mrope_interleaved": True, "rope_theta": 1e4},
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {
        "depth": 2, "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN, "num_heads": 2,
        "patch_size": PATCH_SIZE, "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH, "out_hidden_size": HIDDEN,
        "num_position_embeddings": NUM_POSITIONS, "deepstack_visual_indexes": [0],
        "initializer_range": INIT_RANGE,
    }
    return Qwen3VLConfig(
        text_config=text, vision_config=vision, vision_start_token_id=ids[0],
        vision_end_token_id=ids[1], image_token_id=ids[2], video_token_id=ids[3],
        tie_word_embeddings=False, initializer_range=INIT_RANGE)


def _model(tokenizer: Any) -> Any:
    """The seeded bare Qwen3VLModel (no LM head: an embedder's output is its last hidden state)."""
    import torch
    from transformers import Qwen3VLModel

    torch.manual_seed(SEED)
    return Qwen3VLModel(_config(tokenizer)).to(torch.float32).eval()


def _image_processor() -> Any:
    """Qwen3-VL's image processor (the PIL one: torchvision is not installed), sized tiny."""
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}, patch_size=PATCH_SIZE,
        temporal_patch_size=TEMPORAL_PATCH, merge_size=MERGE_SIZE, image_mean=MEAN,
        image_std=STD)


def video_settings() -> dict[str, Any]:
    """What transformers' Qwen3VLVideoProcessor would save, sized like the images. Frames are not
    sampled (``do_sample_frames`` false): the pipeline embeds every frame it is given, so the
    caller (``ovnb.video.load_video``) chooses them."""
    return {
        "video_processor_type": "Qwen3VLVideoProcessor", "processor_class": "Qwen3VLProcessor",
        "size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        "patch_size": PATCH_SIZE, "temporal_patch_size": TEMPORAL_PATCH,
        "merge_size": MERGE_SIZE, "image_mean": MEAN, "image_std": STD, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "do_resize": True,
        "do_convert_rgb": True, "do_sample_frames": False,
    }


def write_sentence_transformers(out: Path) -> None:
    """The files sentence-transformers (and ovnb.layout) read the pooling from."""
    (out / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps(POOLING, indent=2) + "\n")
    (out / "modules.json").write_text(json.dumps(MODULES, indent=2) + "\n")
