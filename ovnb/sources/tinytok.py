"""A small deterministic byte-level BPE tokenizer for the tiny random models.

It has no merges: every byte is one token, so it is built (not trained) identically everywhere,
and it converts to OpenVINO tokenizer/detokenizer IRs like a GPT-2-style tokenizer.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# ChatML, as SmolLM2 and Qwen use: a learner sees the same prompt layout as on a real model.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

IMAGE_TAGS = "<|vision_start|><|image_pad|><|vision_end|>"
VIDEO_TAGS = "<|vision_start|><|video_pad|><|vision_end|>"
AUDIO_TAGS = "<|audio_start|><|audio_pad|><|audio_end|>"


def chatml_with_parts(parts: dict[str, str], default_system: str = "") -> str:
    """ChatML as the Qwen VLMs lay it out: content is a string (openvino_genai passes one, its
    tags already inside) or typed parts, each ``parts[type]`` (a picture's or a sound's tags) or
    its text; ``default_system`` opens a conversation that has no system turn (Qwen2-VL's)."""
    opening = ("{% if loop.first and message['role'] != 'system' %}"
               f"{{{{ '<|im_start|>system\n{default_system}<|im_end|>\n' }}}}{{% endif %}}"
               if default_system else "")
    tests = [f"{{% {'if' if i == 0 else 'elif'} part['type'] == '{kind}' %}}{{{{ '{tags}' }}}}"
             for i, (kind, tags) in enumerate(parts.items())]
    return ("{% for message in messages %}" + opening
            + "{{ '<|im_start|>' + message['role'] + '\n' }}"
            "{% if message['content'] is string %}{{ message['content'] }}"
            "{% else %}{% for part in message['content'] %}" + "".join(tests)
            + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
            "{% endfor %}{% endif %}"
            "{{ '<|im_end|>\n' }}"
            "{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def make_tokenizer(extra_special_tokens: Sequence[str] = ()) -> Any:
    """A ``PreTrainedTokenizerFast`` of 256 byte tokens + special tokens, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for token in (*SPECIALS, *extra_special_tokens):
        vocab[token] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = [*SPECIALS, *extra_special_tokens]
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>",
        model_max_length=2048,
    )
    tok.add_special_tokens({"additional_special_tokens": specials})
    tok.chat_template = CHAT_TEMPLATE
    return tok
