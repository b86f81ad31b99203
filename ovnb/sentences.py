"""Split text into sentences for text to speech, each short enough to speak in one call.

openvino_genai's speech loop grows with what one call says (~70 MB per second of SpeechT5 speech,
GENAI-FACTS), and nothing can be heard before a call ends: long text is spoken one sentence per
call, so memory stays at one sentence's and the first sentence plays while the next is made.

A boundary is ``.``, ``!``, ``?`` or ``…`` (with closing quotes or brackets after it), then space,
then something that is not a lowercase letter; a blank line always ends a sentence. Not
boundaries: common abbreviations ("Mr.", "e.g."), initials ("J. R. R. Tolkien"), decimals and
times ("3.14", "10.30"), and a single line break inside a paragraph (hard-wrapped text). A
sentence longer than ``most`` characters is cut at its last clause mark (``,;:`` or a dash)
that fits, else at its last space, so no call gets more than ``most`` characters.
"""
from __future__ import annotations

import re

MOST = 200  # characters per call: ~14 s of speech, ~1 GB of genai's SpeechT5 working set

# lowercase, without the final period; a sentence may still end in one ("etc." is left out)
# (words that often end a sentence, "no", "co", "mar", are left out: a missed end only makes a
# longer call, a false one a pause inside a phrase)
ABBREVIATIONS = frozenset(
    "mr mrs ms mx dr prof sr jr st mt vs approx dept lt sgt capt rev inc ltd corp "
    "jan feb apr jun jul aug sep sept oct nov e.g i.e cf al".split())
NUMBERED = frozenset("no nos p pp fig vol ch sec".split())  # abbreviations only before a number
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_END = re.compile(r"(?:[.!?]+|…)[\"'”’»)\]]*(?=\s+|$)")
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")
_CLAUSE = re.compile(r"[,;:]\s|\s[-–—]+\s")


def split(text: str, most: int = MOST) -> list[str]:
    """The sentences of ``text``, in order, with whitespace tidied; none longer than ``most``."""
    if most < 20:
        raise ValueError(f"most must be at least 20 characters, not {most}")
    out: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        for sentence in _sentences(" ".join(paragraph.split())):
            out.extend(_fit(sentence, most))
    return out


def _sentences(paragraph: str) -> list[str]:
    """One paragraph (single-spaced) cut at its sentence ends."""
    found, start = [], 0
    for match in _END.finditer(paragraph):
        end = match.end()
        if _boundary(paragraph, match.start(), end):
            found.append(paragraph[start:end].strip())
            start = end
    found.append(paragraph[start:].strip())
    return [s for s in found if s]


def _boundary(text: str, mark: int, end: int) -> bool:
    """Whether the end mark at ``text[mark:end]`` ends a sentence."""
    after = text[end:].lstrip()
    if not after:
        return True
    if after[0].islower():
        return False
    if text[mark] != ".":
        return True
    before = _WORD_BEFORE.search(text[:mark + 1])
    word = before.group(1).lower() if before else ""
    if word in ABBREVIATIONS or (word in NUMBERED and after[0].isdigit()):
        return False
    initial = len(word) == 1 and word.isalpha() and text[mark - 1].isupper() and word != "i"
    return not initial


def _fit(sentence: str, most: int) -> list[str]:
    """``sentence`` in pieces of at most ``most`` characters, cut at clauses, else at spaces."""
    pieces = []
    while len(sentence) > most:
        cut = _cut(sentence, most)
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    return [*pieces, sentence] if sentence else pieces


def _cut(sentence: str, most: int) -> int:
    """Where to cut: after the last clause mark within ``most``, else the last space, else hard."""
    head = sentence[:most + 1]
    clauses = [m.end() - 1 for m in _CLAUSE.finditer(head) if m.end() - 1 >= most // 3]
    if clauses:
        return clauses[-1]
    space = head.rfind(" ")
    return space if space > 0 else most
