"""Word error rate, for checking real speech models against reference transcripts.

Case and punctuation are normalized away (references are often lower-case and unpunctuated, Whisper
writes "Cold-hearted."); words are otherwise compared as they are, so "Mr." against "mister" counts.
"""
from __future__ import annotations

import re
from collections.abc import Sequence


def words(text: str) -> list[str]:
    """Lower-case words; hyphens and dashes split words, other punctuation is dropped."""
    text = re.sub(r"[-\u2010-\u2015]", " ", text.lower())
    text = re.sub(r"[^\w\s]", "", text)
    return text.split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Fewest substitutions, deletions and insertions turning ``ref`` into ``hyp``."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1]


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate: all edits over all reference words."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    ref_words = [words(r) for r in refs]
    total = sum(len(r) for r in ref_words)
    if total == 0:
        raise ValueError("the references have no words")
    return sum(edit_distance(r, words(h)) for r, h in zip(ref_words, hyps)) / total
