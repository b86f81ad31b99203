"""A tiny random LLaVA-1.5-like vision-language model, built locally for tests and CI.

A CLIP vision tower (32x32 images, 8x8 patches: 16 image tokens) feeds a two-layer Llama through
LLaVA's MLP projector. Weights are random but seeded, so every machine builds the same bytes, and
scaled up (INIT_RANGE) so that the greedy answer depends on the image.

The head writes printable ASCII only, as tiny-llm's does: with every byte token allowed, greedy
answers were mostly bytes 0x80-0xFF, which do not form valid UTF-8, and printed as rows of U+FFFD.
The end token is never chosen either, so answers run to max_new_tokens (64 unless the caller says).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ovnb.progress import say
from ovnb.sources.tiny_llm import MAX_NEW_TOKENS, printable_head
from ovnb.sources.tinytok import make_tokenizer

REVISION = 1  # bump when the built model changes: cached builds of an older revision are rebuilt
SEED = 1234
IMAGE_TOKEN = "<image>"
IMAGE_SIZE = 32
PATCH_SIZE = 8
# Init std of both towers. At the default (0.02) 17 test images (noise, solid colours) gave 10
# distinct greedy answers, most starting with the same token; at 0.1 all 17 differed.
INIT_RANGE = 0.1
# CLIP's normalisation, as llava-1.5's image processor uses.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# LLaVA 1.5's conversation layout ("USER: <image>\n... ASSISTANT:"), images before the text.
# Content may be a string (openvino_genai passes one, its image tags already inside) or a list of
# {"type": "image"} / {"type": "text"} parts (transformers' processor.apply_chat_template).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\n' }}"
    "{% else %}{{ message['role'].upper() + ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% else %}{{ ' ' }}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def build(model_id: str, out: Path) -> None:
    """Write the model, tokenizer and processor (transformers format, fp32) into ``out``."""
    say(f"building {model_id}: a tiny random LLaVA-like model")
    tokenizer = make_tokenizer([IMAGE_TOKEN])
    tokenizer.chat_template = CHAT_TEMPLATE
    model = _model(tokenizer)
    model.save_pretrained(out)  # with generation_config.json
    _processor(tokenizer).save_pretrained(out)


def _config(tokenizer: Any) -> Any:
    """A LlavaConfig: tiny CLIP vision tower + tiny Llama, ids taken from the tokenizer."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=32,
        initializer_range=INIT_RANGE,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        initializer_range=INIT_RANGE, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlavaConfig(
        vision_config=vision, text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="default", vision_feature_layer=-2,
    )


def _model(tokenizer: Any) -> Any:
    """The seeded random model in fp32, its head restricted to printable bytes, greedy by default."""
    import torch
    from transformers import LlavaForConditionalGeneration

    config = _config(tokenizer)
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config).to(torch.float32).eval()
    printable_head(model, tokenizer)
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    gen.pad_token_id, gen.do_sample = tokenizer.pad_token_id, False
    gen.max_new_tokens = MAX_NEW_TOKENS
    return model


def _processor(tokenizer: Any) -> Any:
    """LlavaProcessor with CLIP's slow (PIL) image processor: torchvision is not installed."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    images = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=CLIP_MEAN, image_std=CLIP_STD, do_convert_rgb=True,
    )
    return LlavaProcessor(
        image_processor=images, tokenizer=tokenizer, patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default", image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE,
    )
