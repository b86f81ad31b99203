"""Generation defaults per model, and a detector for answers that loop.

A small model decoded greedily with a mild repetition penalty soon loops ("Europe, Europe, ..."), so
the widgets start from each model's own recommendation: the sampling fields of the prepared
folder's ``generation_config.json``, overridden by the catalog entry's ``generation`` field (values
from the model card, and a repetition guard measured on the notebooks' questions). Names are
openvino_genai ``GenerationConfig`` fields, so the result goes straight into
``config.update_generation_config(**defaults(folder))``.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the fields a model's recommendation may set: how to pick tokens and how to avoid repeating them
# (lengths stay the caller's choice: a generation_config.json's max_length is the model's limit)
FIELDS = ("do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
          "presence_penalty", "frequency_penalty", "no_repeat_ngram_size")


def defaults(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Generation settings a model should start with: its folder's generation_config.json, then
    its catalog entry's ``generation`` on top. ``folder`` is a prepared folder, or a catalog id
    (not prepared yet: the catalog's values alone). Unknown models give their file's values."""
    from ovnb import catalogs
    from ovnb.cache import read_manifest
    from ovnb.models import cached

    path = Path(folder).expanduser()
    model_id = None if path.is_dir() else str(folder)
    if model_id is not None:  # an id: its cached folder, if it has one
        path = cached(model_id) or path
    found = _file_settings(path / "generation_config.json") if path.is_dir() else {}
    model_id = (read_manifest(path) or {}).get("id") if path.is_dir() else model_id
    entry = catalogs.find(model_id) if model_id else None
    return {**found, **((entry or {}).get("generation") or {})}


def _file_settings(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if k in FIELDS and v is not None} \
        if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Loop:
    """A phrase an answer keeps repeating, and how many times it came."""

    phrase: str
    times: int

    def __str__(self) -> str:
        return f"{self.phrase!r} {self.times} times"


WORD = re.compile(r"[\w']+")
SENTENCE_END = re.compile(r"[.!?\n]+")
LONGEST = 30  # words: a loop of a longer phrase is caught by the sentence rule
BACK_TO_BACK_WORDS = 8  # a phrase said back to back this many words' worth is a loop (min 3 times)
SENTENCE_WORDS, SENTENCE_TIMES = 4, 3  # one sentence of 4+ words three times is a loop


def repetition(text: str) -> Loop | None:
    """The loop in ``text``, else None. Two rules, on lower-cased words without punctuation:

    - a phrase of n words said back to back at least max(3, ceil(8 / n)) times
      ("europe europe ..." 8 times, "thank you" 4 times, longer phrases 3 times);
    - one sentence of at least 4 words said 3 times or more anywhere in the answer.
    Prose, lists and steps that share words ("Practice daily. Practice speaking.") pass.
    """
    return _back_to_back(WORD.findall(text.lower())) or _same_sentence(text)


def _back_to_back(words: list[str]) -> Loop | None:
    best: Loop | None = None
    for n in range(1, LONGEST + 1):
        need = max(3, math.ceil(BACK_TO_BACK_WORDS / n))
        start = 0
        while start + n * need <= len(words):
            times = 1
            while words[start + times * n:start + (times + 1) * n] == words[start:start + n]:
                times += 1
            if times >= need and (best is None or times * n > best.times * len(best.phrase.split())):
                best = Loop(" ".join(words[start:start + n]), times)
            start += max(1, (times - 1) * n) if times > 1 else 1
    return best


def _same_sentence(text: str) -> Loop | None:
    counts: dict[str, int] = {}
    for sentence in SENTENCE_END.split(text.lower()):
        words = WORD.findall(sentence)
        if len(words) >= SENTENCE_WORDS:
            key = " ".join(words)
            counts[key] = counts.get(key, 0) + 1
    phrase, times = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    return Loop(phrase, times) if times >= SENTENCE_TIMES else None
