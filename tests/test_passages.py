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


# a str given to add(): a text, or a file or folder named by its path ------------------------------
TEXTS = ["hello", "Hello world.", "A paragraph.\n\nAnother one.", "e.g.", "...", ".NET", "x",
         "# Notes\n\nSee [the guide](docs/guide.md) and ~/notes.", "see notes/a.md for more",
         "50 km/h is fast", "~ a tilde ~", "It ends in notes.md", "data"]


@pytest.mark.parametrize("text", TEXTS)
def test_texts_stay_texts_even_when_a_file_of_that_name_exists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("hello", "x", "data", ".NET"):
        (tmp_path / name).write_text("a file's content")
    (tmp_path / "data.d").mkdir()
    assert documents(text) == [("text 1", text)]
    assert documents([text]) == [("text 1", text)]


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "my docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("first file")
    (folder / "sub" / "b.md").write_text("second file")
    return folder


def test_a_str_naming_a_folder_or_file_is_read_as_a_path_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _docs(tmp_path)
    assert documents(str(folder)) == documents(folder) == [("a.txt", "first file"),
                                                           ("sub/b.md", "second file")]
    assert documents(str(folder) + "/") == documents(folder)
    assert documents(str(folder / "a.txt")) == [("a.txt", "first file")]
    assert documents([str(folder / "a.txt"), "a text"]) == [("a.txt", "first file"),
                                                            ("text 1", "a text")]
    monkeypatch.chdir(folder)
    assert documents("a.txt") == documents("./a.txt") == [("a.txt", "first file")]
    assert documents("sub/") == [("b.md", "second file")]
    monkeypatch.setenv("HOME", str(tmp_path))
    assert documents("~/my docs/sub/b.md") == [("b.md", "second file")]


@pytest.mark.parametrize("given", ["docs/missing", "missing.md", "notes.TXT", "./nope", "~/nope",
                                   "/no/such/place/", "C:\\Users\\me\\notes", "../nope", "and/or",
                                   "~nosuchuser-ovnb/notes"])
def test_a_str_that_looks_like_a_path_but_names_nothing_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for items in (given, ["a text", given]):
        with pytest.raises(OvnbError) as caught:
            documents(items)
        assert str(caught.value) == (f"no such file or folder: {given}: check the path, or pass "
                                     f"(\"a name\", \"{given}\") if it is a passage")


def test_a_text_that_looks_like_a_path_goes_in_as_a_named_text() -> None:
    assert documents([("units", "km/h")]) == [("units", "km/h")]


def test_a_web_address_is_refused_in_one_line() -> None:
    with pytest.raises(OvnbError, match=re.escape(
            "https://example.com/a.md is a web address: ovnb reads local files; download it and "
            "pass the file")):
        documents("https://example.com/a.md")


def test_a_very_long_path_like_str_is_refused_not_crashed(tmp_path: Path) -> None:
    long = "/".join(["part"] * 2000)
    with pytest.raises(OvnbError, match="^no such file or folder: part/part/.*…: check the path"):
        documents(long)


def test_the_current_folder_with_no_text_files_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    for given in (Path("."), "."):
        with pytest.raises(OvnbError, match=re.escape(
                ". holds no text files (.txt, .md, .rst, .text, .markdown): put some in it, or "
                "pass the files themselves")):
            documents(given)


def test_what_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match=re.escape(
            "/dev/null is not a regular file (a device or a pipe): give a text file")):
        documents(Path("/dev/null"))


def test_an_unreadable_file_says_why_and_what_to_do(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("hidden")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(OvnbError, match=re.escape(
            f"cannot read {path} (Permission denied): check its permissions, or copy it somewhere "
            "you can read")):
        documents(path)


def test_read_text_of_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match=re.escape(f"{tmp_path} is a folder, not a text file")):
        read_text(tmp_path)


def test_a_tight_list_keeps_its_items_on_lines_of_their_own() -> None:
    text = ("Bring:\n- water\n- a hat,\n  wrapped over two lines\n  - a nested item\n"
            "1. first\n2) second\n\n> a quote\n> goes on")
    listed = ("Bring:\n- water\n- a hat, wrapped over two lines\n  - a nested item\n"
              "1. first\n2) second")
    assert paragraphs(text) == [listed, "> a quote\n> goes on"]
    assert split(text) == ["\n\n".join(paragraphs(text))]


def test_a_heading_stays_apart_from_the_body_under_it() -> None:
    assert paragraphs("# Seals\nThey rest on the\nsandbank.\n## When\nIn winter.") == [
        "# Seals\nThey rest on the sandbank.\n## When\nIn winter."]
    assert paragraphs("Plain text\nwrapped # not a heading") == ["Plain text wrapped # not a heading"]


def test_a_long_list_is_cut_between_items_and_keeps_its_lines() -> None:
    items = [f"- item {i} says one thing. And another" for i in range(12)]
    pieces = split("\n".join(items), max_chars=100, overlap=0)
    assert len(pieces) > 1 and all(len(p) <= 100 for p in pieces)
    assert all(not p.startswith("\n") for p in pieces)
    assert "\n".join(pieces).replace(" And", "\nAnd").split("\n") == [
        part for item in items for part in item.replace(" And", "\nAnd").split("\n")]
    assert all(line.startswith(("- item", "And")) for p in pieces for line in p.split("\n"))


def test_sentence_units_mark_where_a_line_starts() -> None:
    units = sentences("Intro. More\n- one. Two", 100)
    assert units == ["Intro.", "More", "\n- one.", "Two"]
    assert pack_sentences(units, 100, 0) == ["Intro. More\n- one. Two"]
