"""The splitter and the file reader behind Retriever.add: sizes, overlap, order, and bad files."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ovnb.errors import OvnbError
from ovnb.passages import (Passage, check_sizes, cut_words, documents, pack_sentences, paragraphs,
                           read_text, sample, sentences, split)

DATA = sample()


def words_of(texts: list[str]) -> list[str]:
    return " ".join(texts).split()


def test_short_paragraphs_are_packed_in_order_within_the_limit() -> None:
    text = "One two.\n\nThree four.\n\n\n  Five   six.  \n"
    assert paragraphs(text) == ["One two.", "Three four.", "Five six."]
    assert split(text, max_chars=60) == ["One two.\n\nThree four.\n\nFive six."]
    assert split(text, max_chars=40) == ["One two.\n\nThree four.\n\nFive six."]
    assert split(text, max_chars=50, overlap=0) == ["One two.\n\nThree four.\n\nFive six."]
    packed = split("\n\n".join(["x" * 30] * 3), max_chars=64, overlap=0)
    assert packed == ["x" * 30 + "\n\n" + "x" * 30, "x" * 30]


def test_a_long_paragraph_is_cut_at_sentence_ends_with_overlap() -> None:
    paragraph = " ".join(f"Sentence {i} is here." for i in range(30))
    pieces = split(paragraph, max_chars=100, overlap=40)
    assert len(pieces) > 1 and all(len(p) <= 100 for p in pieces)
    assert all(p.endswith(".") and p[0].isupper() for p in pieces)  # whole sentences only
    for before, after in zip(pieces, pieces[1:]):
        said = re.findall(r"Sentence \d+ is here\.", before)
        tails = [" ".join(said[-n:]) for n in range(1, len(said))]
        repeated = [t for t in tails if len(t) <= 40][-1]  # as many sentences as fit in 40
        assert after.startswith(repeated + " ")
        assert not after.startswith(tails[tails.index(repeated) + 1])
    every = [s for p in pieces for s in re.findall(r"Sentence \d+", p)]
    assert sorted(set(every), key=lambda s: int(s.split()[1])) == [f"Sentence {i}"
                                                                   for i in range(30)]


def test_without_overlap_no_sentence_repeats() -> None:
    paragraph = " ".join(f"Sentence {i} is here." for i in range(30))
    pieces = split(paragraph, max_chars=100, overlap=0)
    assert words_of(pieces) == paragraph.split()


def test_the_overlap_never_exceeds_its_size() -> None:
    units = ["a" * 30, "b" * 30, "c" * 30, "d" * 30]
    assert pack_sentences(units, 70, 25) == ["a" * 30 + " " + "b" * 30,
                                             "c" * 30 + " " + "d" * 30]  # 30 > 25: none repeated
    assert pack_sentences(units, 70, 35) == [f"{'a' * 30} {'b' * 30}", f"{'b' * 30} {'c' * 30}",
                                             f"{'c' * 30} {'d' * 30}"]


def test_sentence_ends_include_quotes_and_brackets() -> None:
    found = sentences('He said "stop." Then he left. (It was late.) Why? Because… it rained.', 200)
    assert found == ['He said "stop."', "Then he left.", "(It was late.)", "Why?", "Because…",
                     "it rained."]


def test_a_sentence_longer_than_the_limit_is_cut_between_words() -> None:
    sentence = " ".join(["word"] * 40)  # 199 chars, no sentence end
    pieces = split(sentence, max_chars=50, overlap=10)
    assert all(len(p) <= 50 for p in pieces) and words_of(pieces) == sentence.split()
    assert list(cut_words("a" * 120, 50)) == ["a" * 50, "a" * 50, "a" * 20]  # one huge word
    assert list(cut_words("x " + "a" * 60 + " y", 50)) == ["x", "a" * 50, "a" * 10 + " y"]


def test_nothing_is_lost_on_a_real_document() -> None:
    text = (DATA / "wildlife.md").read_text()
    for size, overlap in ((600, 120), (200, 60), (80, 0)):
        pieces = split(text, size, overlap)
        assert all(len(p) <= size for p in pieces)
        if overlap == 0:
            assert words_of(pieces) == text.split()
        else:  # every word of the text appears, in order, once overlaps are removed
            assert set(text.split()) <= set(words_of(pieces))


def test_the_default_overlap_follows_the_passage_size() -> None:
    paragraph = " ".join(f"Sentence {i} is here." for i in range(30))
    assert split(paragraph, 100) == split(paragraph, 100, 20)  # a fifth of 100
    assert split(paragraph, 2000) == split(paragraph, 2000, 120)  # at most 120


def test_empty_text_has_no_passages() -> None:
    assert split("") == [] and split("  \n\n \n") == []


@pytest.mark.parametrize("max_chars, overlap, expect", [
    (10, 0, "max_chars must be a whole number of at least 40"),
    (100.5, 0, "max_chars must be a whole number"),
    (100, 60, "overlap must be between 0 and half of max_chars (50)"),
    (100, -1, "overlap must be between 0"),
])
def test_sizes_the_splitter_cannot_honour_are_refused(max_chars: object, overlap: object,
                                                      expect: str) -> None:
    with pytest.raises(OvnbError, match=re.escape(expect)):
        check_sizes(max_chars, overlap)  # type: ignore[arg-type]


def test_passages_are_strings_that_know_their_source() -> None:
    import copy
    import pickle

    passage = Passage("Ferns have spores.", "fern-house.md", 2)
    assert passage == "Ferns have spores." and isinstance(passage, str)
    assert passage.label == "fern-house.md #2"
    for again in (copy.copy(passage), pickle.loads(pickle.dumps(passage))):
        assert again.source == "fern-house.md" and again.number == 2


def test_documents_read_texts_files_folders_and_uploads(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first file")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("\ufeffsecond file")  # a BOM is dropped
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # skipped in a folder
    got = documents(["a text", tmp_path, tmp_path / "a.txt", ("up.txt", b"uploaded"), "more"],
                    texts_before=2)
    assert got == [("text 3", "a text"), ("a.txt", "first file"), ("sub/b.md", "second file"),
                   ("a.txt", "first file"), ("up.txt", "uploaded"), ("text 4", "more")]
    assert documents("just one") == [("text 1", "just one")]


@pytest.mark.parametrize("make, expect", [
    (lambda tmp: [], "no documents given: pass texts (str) or files (pathlib.Path) to add()"),
    (lambda tmp: [tmp / "missing.txt"], "missing.txt does not exist: check the path"),
    (lambda tmp: [(tmp / "x.pdf", (tmp / "x.pdf").write_bytes(b"%PDF-1.4\x00\x01\x02"))[0]],
     "x.pdf is not a text file (it holds binary data): give .txt or .md files"),
    (lambda tmp: [(tmp / "l.txt", (tmp / "l.txt").write_bytes("café".encode("latin-1")))[0]],
     "l.txt is not UTF-8 text (byte 0xe9 at offset 3): save it as UTF-8"),
    (lambda tmp: [("up.bin", b"\x00\x00")], "up.bin is not a text file"),
    (lambda tmp: [(tmp / "empty", (tmp / "empty").mkdir())[0]],
     "empty holds no text files (.txt, .md"),
])
def test_bad_documents_are_one_line(tmp_path: Path, make: object, expect: str) -> None:
    with pytest.raises(OvnbError, match=re.escape(expect)) as caught:
        documents(make(tmp_path))  # type: ignore[operator]
    assert "\n" not in str(caught.value)


def test_other_types_are_type_errors() -> None:
    with pytest.raises(TypeError, match="texts \\(str\\) or files \\(pathlib.Path\\), not int"):
        documents([3])
    with pytest.raises(TypeError, match="not NoneType"):
        documents(None)  # type: ignore[arg-type]


def test_read_text_reads_utf8(tmp_path: Path) -> None:
    path = tmp_path / "u.md"
    path.write_text("naïve café ✓", encoding="utf-8")
    assert read_text(path) == "naïve café ✓"
