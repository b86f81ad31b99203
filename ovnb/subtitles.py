"""Subtitles from timed words or chunks: SubRip (.srt) and WebVTT (.vtt) text.

Words are grouped into cues the way subtitle guidelines ask: at most ``MOST_CHARS`` characters
and ``MOST_SECONDS`` on screen, a new cue after a sentence end or a pause of ``PAUSE`` seconds.
Both formats are written to their specs: SRT numbers its cues and uses ``HH:MM:SS,mmm``; WebVTT
starts with ``WEBVTT``, uses ``HH:MM:SS.mmm`` and escapes ``&``, ``<`` and ``>`` in cue text. In
both, a cue's text never holds a blank line (it would end the cue) nor ``-->``, times never go
backwards and every cue lasts at least ``SHORTEST`` seconds.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ovnb.sentences import ABBREVIATIONS

Cue = tuple[float, float, str]  # (start s, end s, text)

MOST_CHARS = 42  # characters per cue (two short lines' worth, as broadcasters use)
MOST_SECONDS = 6.0
PAUSE = 0.8  # a silence this long between two words starts a new cue
SHORTEST = 0.05  # a cue lasts at least this long (zero-length words happen at window edges)
SENTENCE_ENDS = (".", "!", "?", "…")


def cues_from_words(words: Iterable[Sequence], most_chars: int = MOST_CHARS,
                    most_seconds: float = MOST_SECONDS, pause: float = PAUSE) -> list[Cue]:
    """Timed words ``(start, end, word)`` grouped into cues."""
    cues: list[Cue] = []
    start = end = 0.0
    text = ""
    for w_start, w_end, word in words:
        word = " ".join(str(word).split())
        if not word:
            continue
        if text and (len(f"{text} {word}") > most_chars or w_end - start > most_seconds
                     or w_start - end >= pause or _ends_sentence(text)):
            cues.append((start, end, text))
            text = ""
        if text:
            text, end = f"{text} {word}", max(end, float(w_end))
        else:
            text, start, end = word, float(w_start), float(w_end)
    if text:
        cues.append((start, end, text))
    return cues


def _ends_sentence(text: str) -> bool:
    """Whether the last word of ``text`` ends a sentence ("Mr." does not)."""
    last = text.rsplit(" ", 1)[-1]
    return last.endswith(SENTENCE_ENDS) and last.rstrip(".").lower() not in ABBREVIATIONS


def tidy(cues: Iterable[Cue]) -> list[Cue]:
    """Cues as both formats need them: text on one line, without ``-->``; in time order; none
    shorter than ``SHORTEST``; none empty."""
    out: list[Cue] = []
    last = 0.0
    for start, end, text in cues:
        line = " ".join(str(text).replace("-->", "->").split())
        if not line:
            continue
        start = max(float(start), 0.0) if math.isfinite(start) else last
        start = max(start, last if out else 0.0)
        end = float(end) if math.isfinite(end) else start
        end = max(end, start + SHORTEST)
        out.append((start, end, line))
        last = start
    return out


def srt(cues: Iterable[Cue]) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each."""
    blocks = [f"{i}\n{stamp(a, ',')} --> {stamp(b, ',')}\n{text}\n"
              for i, (a, b, text) in enumerate(tidy(cues), 1)]
    return "\n".join(blocks)


def vtt(cues: Iterable[Cue]) -> str:
    """WebVTT text: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    blocks = [f"{stamp(a, '.')} --> {stamp(b, '.')}\n{_escape(text)}\n" for a, b, text in tidy(cues)]
    return "\n".join(["WEBVTT\n", *blocks])


def stamp(seconds: float, mark: str) -> str:
    """``HH:MM:SS<mark>mmm`` (rounded to the millisecond)."""
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{mark}{millis:03d}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
