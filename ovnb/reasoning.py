"""Reasoning models: thinking (``<think>...</think>``) kept apart from the answer.

Reasoning models (Qwen3, DeepSeek-R1 distills...) write their thinking before the answer, between
tags their chat template knows. openvino_genai's ``ReasoningParser`` (in
``GenerationConfig.parsers``) splits it out: ``DecodedResults.parsed`` holds ``content`` (the
answer) and ``reasoning_content`` (the thinking). Which tags, and whether the template already
opens the thinking in the prompt (DeepSeek-R1 style), is read from the chat template.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPEN, CLOSE = "<think>", "</think>"
PROBE = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Thinking:
    """How a model thinks: its tags, and whether the prompt opens the thinking for it."""

    open: str = OPEN
    close: str = CLOSE
    in_prompt: bool = False

    def parser(self) -> Any:
        """The openvino_genai parser that moves the thinking out of the answer."""
        import openvino_genai as ov_genai

        return ov_genai.ReasoningParser(expect_open_tag=not self.in_prompt,
                                        keep_original_content=False, open_tag=self.open,
                                        close_tag=self.close)


def detect(tokenizer: Any) -> Thinking | None:
    """The model's way of thinking, from its chat template (None: it does not think)."""
    try:
        template = tokenizer.chat_template or ""
    except Exception:  # no template: no thinking
        return None
    if OPEN not in template:
        return None
    try:
        prompt = tokenizer.apply_chat_template(PROBE, add_generation_prompt=True)
    except Exception:  # a template that refuses the probe: assume the model opens the tag
        prompt = ""
    return Thinking(in_prompt=prompt.rstrip().endswith(OPEN))


def split(result: Any) -> tuple[str, str] | None:
    """(thinking, answer) of a generation the parser ran on; None when it did not run."""
    parsed = getattr(result, "parsed", None) or []
    first = parsed[0] if parsed else {}
    if "reasoning_content" not in first:
        return None
    return str(first["reasoning_content"]).strip(), str(first.get("content", "")).lstrip()
