"""Documents into passages: text files read safely, text split by paragraphs and sentences.

A retriever finds *passages*, not documents: a passage must be short enough that its one vector
says what it is about, and that a few of them fit in a chat model's prompt. The splitter here is
deliberately simple and predictable:

- paragraphs (separated by a blank line) are the units; short ones are packed together, in order,
  while the passage stays within ``max_chars``;
- a paragraph longer than ``max_chars`` is cut at sentence ends (``.``, ``!``, ``?`` and ``…``,
  maybe followed by a quote or bracket, then a space), and each piece repeats the last sentences
  of the piece before it, up to ``overlap`` characters, so a fact that straddles a cut is whole in
  one of them;
- a sentence longer than ``max_chars`` is cut between words (a word longer than that, by chars).

Abbreviations such as "e.g. this" also count as sentence ends: the pieces get smaller, never
wrong. Whitespace inside a paragraph is collapsed to single spaces, except where a line starts a
markdown block (a list item, a heading, a quote, a table row) or follows a heading: those lines
stay lines, so a tight list ("- a\n- b") keeps its items apart and a heading its body, in the
passage and in every piece cut from it.

What ``add()`` is given is read by ``documents``: a ``str`` is a text unless it is a path. A str is
taken as a path when it looks like one (one line, with a ``/`` or ``\\``, or starting with ``~``
or ``./``, or ending in .txt/.md/...) and names an existing file or folder; one that looks like a
path, has no spaces and names nothing is refused (a typo is not indexed as a passage). Words
such as "hello" or "data" stay texts even where such a file exists; "./data" or "data/" read it.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ovnb.errors import OvnbError
from ovnb.files import expand

MAX_CHARS = 600  # about 120-150 English tokens: well inside any embedder's context
OVERLAP = 120  # characters of the previous piece repeated when a paragraph is cut (at most)
MIN_CHARS = 40  # a smaller limit would cut most sentences between words
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text", ".markdown")  # what a folder is read for
SNIFF_BYTES = 8192  # a NUL byte in the start of a file marks it binary
SAMPLE = Path(__file__).resolve().parent / "data" / "harrow-bay"

_PARAGRAPH = re.compile(r"\n[ \t]*\n")
# a line that starts a markdown block: a list item, a heading, a quote or a table row
_BLOCK_START = re.compile(r"\s*([-*+]\s|\d{1,9}[.)]\s|#{1,6}(\s|$)|>|\|)")
_HEADING = re.compile(r"\s{0,3}#{1,6}(\s|$)")
# a sentence ends after . ! ? or … (maybe with a closing quote or bracket) and before a space
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)\]])\s+")


class Passage(str):
    """A passage's text (a ``str``), with where it comes from: ``source`` (a file name, or
    ``text N`` for the N-th text given) and ``number`` (its place in that source, from 1)."""

    source: str
    number: int

    def __new__(cls, text: str, source: str = "", number: int = 1) -> Passage:
        made = super().__new__(cls, text)
        made.source, made.number = source, number
        return made

    def __reduce__(self) -> tuple[object, ...]:  # copies and pickles keep the source
        return (Passage, (str(self), self.source, self.number))

    @property
    def label(self) -> str:
        """How a source list names it: ``ferns.md #2``."""
        return f"{self.source} #{self.number}" if self.source else f"#{self.number}"


def sample() -> Path:
    """The bundled document set: five short pages about Harrow Bay, a field station invented for
    ovnb, so no model knows its facts beforehand (an answer that holds one took it from a source)."""
    return SAMPLE


def split(text: str, max_chars: int = MAX_CHARS, overlap: int | None = None) -> list[str]:
    """``text`` as passages of at most ``max_chars`` characters (see the module's docstring).

    ``overlap`` None: a fifth of ``max_chars``, at most ``OVERLAP``."""
    overlap = default_overlap(max_chars) if overlap is None else overlap
    check_sizes(max_chars, overlap)
    passages: list[str] = []
    packed = ""
    for paragraph in paragraphs(text):
        if len(paragraph) > max_chars:
            passages += [packed] if packed else []
            passages += pack_sentences(sentences(paragraph, max_chars), max_chars, overlap)
            packed = ""
        elif packed and len(packed) + 2 + len(paragraph) <= max_chars:
            packed = f"{packed}\n\n{paragraph}"
        else:
            passages += [packed] if packed else []
            packed = paragraph
    return passages + ([packed] if packed else [])


def default_overlap(max_chars: int) -> int:
    """The overlap used when none is chosen: a fifth of the passage size, at most ``OVERLAP``."""
    return min(OVERLAP, max_chars // 5) if isinstance(max_chars, int) else 0


def check_sizes(max_chars: int, overlap: int) -> None:
    """Refuse sizes the splitter cannot honour, in one line."""
    if not isinstance(max_chars, int) or max_chars < MIN_CHARS:
        raise OvnbError(f"max_chars must be a whole number of at least {MIN_CHARS}, "
                        f"not {max_chars!r}")
    if not isinstance(overlap, int) or not 0 <= overlap <= max_chars // 2:
        raise OvnbError(f"overlap must be between 0 and half of max_chars ({max_chars // 2}), "
                        f"not {overlap!r}")


def paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of ``text``, each with its whitespace collapsed but its markdown
    block lines (``lines``) kept apart."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return ["\n".join(lines(p)) for p in _PARAGRAPH.split(text) if p.strip()]


def lines(paragraph: str) -> list[str]:
    """The lines of a paragraph as markdown reads them: a line starting a block (list item,
    heading, quote, table row) or following a heading is a line of its own, with its indent
    (a nested item stays nested); other lines continue the one before (soft wraps)."""
    found: list[str] = []
    after_heading = False
    for line in paragraph.split("\n"):
        words = " ".join(line.split())
        if not words:
            continue
        if not found or after_heading or _BLOCK_START.match(line):
            indent = " " * (len(line) - len(line.lstrip())) if found else ""
            found.append(indent + words)
        else:
            found[-1] = f"{found[-1]} {words}"
        after_heading = bool(_HEADING.match(line))
    return found


def sentences(paragraph: str, max_chars: int) -> list[str]:
    """The sentences of ``paragraph``; one longer than ``max_chars`` comes in word-cut pieces.
    A unit that starts a line of the paragraph starts with "\n" (``join_units`` keeps it there)."""
    found: list[str] = []
    for number, line in enumerate(paragraph.split("\n")):
        units: list[str] = []
        for sentence in _SENTENCE_END.split(line.rstrip()):  # a nested item keeps its indent
            if sentence:
                units += [sentence] if len(sentence) <= max_chars else list(
                    cut_words(sentence, max_chars))
        if units and number:
            units[0] = "\n" + units[0]
        found += units
    return found


def cut_words(text: str, max_chars: int) -> Iterator[str]:
    """``text`` in pieces of at most ``max_chars``, cut between words (a longer word by chars)."""
    piece = ""
    for word in text.split(" "):
        while len(word) > max_chars:
            if piece:
                yield piece
                piece = ""
            yield word[:max_chars]
            word = word[max_chars:]
        if piece and len(piece) + 1 + len(word) > max_chars:
            yield piece
            piece = word
        else:
            piece = f"{piece} {word}" if piece else word
    if piece:
        yield piece


def pack_sentences(units: list[str], max_chars: int, overlap: int) -> list[str]:
    """Sentences packed into pieces of at most ``max_chars``; each piece starts with the last
    sentences of the one before, up to ``overlap`` characters (as many as leave room)."""
    pieces: list[str] = []
    current: list[str] = []
    for unit in units:
        if current and _length(current + [unit]) > max_chars:
            pieces.append(join_units(current))
            current = _tail(current, overlap)
            while current and _length(current + [unit]) > max_chars:
                current = current[1:]
        current.append(unit)
    if current:
        pieces.append(join_units(current))
    return pieces


def join_units(units: list[str]) -> str:
    """Sentences as one text: a space between two, a line break before one that starts a line
    (its leading "\n"); a piece never starts with a line break."""
    if not units:
        return ""
    rest = (u if u.startswith("\n") else " " + u for u in units[1:])
    return units[0].lstrip("\n") + "".join(rest)


def _length(units: list[str]) -> int:
    return len(join_units(units))


def _tail(units: list[str], overlap: int) -> list[str]:
    """The last units of ``units`` whose joined length is at most ``overlap``."""
    tail: list[str] = []
    for unit in reversed(units):
        if _length([unit, *tail]) > overlap:
            break
        tail.insert(0, unit)
    return tail


# files ------------------------------------------------------------------------------------------
def read_text(path: str | os.PathLike[str]) -> str:
    """A text file's content (UTF-8, with or without a BOM); one line naming the fix otherwise."""
    path = expand(path)
    if path.is_dir():
        raise OvnbError(f"{path} is a folder, not a text file: give a file, or add() the folder "
                        "to read its text files")
    if path.exists() and not path.is_file():  # reading /dev/zero or a pipe would never end
        raise OvnbError(f"{path} is not a regular file (a device or a pipe): give a text file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise OvnbError(f"{path} does not exist: check the path") from None
    except OSError as exc:
        raise OvnbError(f"cannot read {path} ({exc.strerror}): check its permissions, or copy it "
                        "somewhere you can read") from None
    return decode_text(data, path.name or str(path))


def decode_text(data: bytes, name: str) -> str:
    """``data`` (a file's bytes, an upload's) as text; one line naming the fix if it is not."""
    if b"\x00" in data[:SNIFF_BYTES]:
        raise OvnbError(f"{name} is not a text file (it holds binary data): give .txt or .md "
                        "files, or pass the text itself as a str")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OvnbError(f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start}): save it as UTF-8, or pass the text itself as a str"
                        ) from None


def text_files(folder: Path) -> list[Path]:
    """The text files (by suffix) under ``folder``, sorted; one line when there are none."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not found:
        raise OvnbError(f"{folder.name or folder} holds no text files ({', '.join(TEXT_SUFFIXES)}): "
                        "put some in it, or pass the files themselves")
    return found


def read_path(path: Path) -> list[tuple[str, str]]:
    """(name, text) of a file, or of each text file in a folder (named relative to it)."""
    if path.is_dir():
        return [(str(f.relative_to(path)), read_text(f)) for f in text_files(path)]
    return [(path.name, read_text(path))]


# a str given to add(): a text, or the path of a file or folder
SHOWN_CHARS = 80  # a refused path longer than this is shown cut
_WEB = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_PATH_STARTS = ("~", "/", "\\", "./", "../", ".\\", "..\\")


def looks_like_path(text: str) -> bool:
    """Whether ``text`` has a path's marks: one line with a separator (``/`` or ``\\``), or that
    starts with ``~`` or ``./``, or is ``.`` or ``..``, or ends in a suffix ``TEXT_SUFFIXES``."""
    text = text.strip()
    return bool(text) and "\n" not in text and (
        text in (".", "..") or text.startswith(_PATH_STARTS) or "/" in text or "\\" in text
        or text.lower().endswith(TEXT_SUFFIXES))


def named_path(text: str) -> Path | None:
    """The file or folder a str given to ``add()`` names, or None when it is a text.

    A str is a path when it looks like one (``looks_like_path``) and names an existing file or
    folder. One that looks like a path, is a single word (no spaces) and names nothing is refused
    (a typo must not be indexed as a passage); with spaces, it is a text ("see notes/a.md"). So
    "hello" or "data" are texts even when such a file exists: write "./data" or "data/".
    """
    candidate = text.strip()
    if not looks_like_path(candidate):
        return None
    path = expand(candidate)
    if _exists(path):
        return path
    if any(c.isspace() for c in candidate):
        return None
    shown = candidate if len(candidate) <= SHOWN_CHARS else candidate[:SHOWN_CHARS] + "…"
    if _WEB.match(candidate):
        raise OvnbError(f"{shown} is a web address: ovnb reads local files; download it and pass "
                        "the file")
    raise OvnbError(f"no such file or folder: {shown}: check the path, or pass "
                    f"(\"a name\", \"{shown}\") if it is a passage")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, or with a NUL: nothing is there
        return False


def documents(items: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
              texts_before: int = 0) -> list[tuple[str, str]]:
    """(source name, text) for each item: a ``str`` is a text (named ``text N``, counting on from
    ``texts_before``) unless it is a path (``named_path``: "docs/", "~/notes.md", "./a.txt"), a
    ``Path`` a file or a folder of text files, a ``(name, bytes)`` pair a file's content (an
    upload) and a ``(name, str)`` pair a named text. Reads everything before returning, so one
    bad file refuses the whole call."""
    if isinstance(items, (str, os.PathLike)):
        items = [items]
    elif not isinstance(items, Iterable):
        raise TypeError(f"add() takes texts (str) or files (pathlib.Path), not "
                        f"{type(items).__name__}")
    found: list[tuple[str, str]] = []
    texts = texts_before
    for item in items:
        path = named_path(item) if isinstance(item, str) else None
        if isinstance(item, str) and path is None:
            texts += 1
            found.append((f"text {texts}", item))
        elif path is not None or isinstance(item, os.PathLike):
            found += read_path(path or expand(item))
        elif _is_named(item):
            name, body = item
            found.append((name, body if isinstance(body, str) else decode_text(bytes(body), name)))
        else:
            raise TypeError(f"add() takes texts (str) or files (pathlib.Path), not "
                            f"{type(item).__name__}")
    if not found:
        raise OvnbError("no documents given: pass texts (str) or files (pathlib.Path) to add()")
    return found


def _is_named(item: object) -> bool:
    """Whether ``item`` is a (name, bytes) upload or a (name, str) named text."""
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            and isinstance(item[1], (str, bytes, bytearray, memoryview)))
