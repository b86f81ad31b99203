"""Subtitles: cues grouped from words, and SRT / WebVTT text that strict parsers of the specs accept."""
from __future__ import annotations

import re

import pytest

from ovnb.subtitles import MOST_CHARS, cues_from_words, srt, stamp, tidy, vtt

SRT_TIME = r"(\d{2}):([0-5]\d):([0-5]\d),(\d{3})"
VTT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"
WORDS = [(0.0, 0.48, " And"), (0.48, 0.7, " Mr."), (0.86, 1.1, " John"), (1.1, 1.68, " Dashwood"),
         (1.68, 1.96, " had"), (1.96, 2.36, " then"), (2.36, 2.72, " leisure"), (2.72, 3.2, " to"),
         (3.2, 3.48, " consider."), (4.6, 4.9, " How"), (4.9, 5.2, " much?")]


def seconds(groups: tuple[str, ...]) -> float:
    h, m, s, ms = (int(g) for g in groups)
    return h * 3600 + m * 60 + s + ms / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """SubRip as players read it: blocks split by one blank line, each number / times / text."""
    assert text.endswith("\n") and "\r" not in text and not text.endswith("\n\n\n")
    cues = []
    for n, block in enumerate(text.rstrip("\n").split("\n\n"), 1):
        lines = block.split("\n")
        assert lines[0] == str(n), block
        times = re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", lines[1])
        assert times, lines[1]
        assert len(lines) >= 3 and all(line.strip() for line in lines[2:]), block
        cues.append((seconds(times.groups()[:4]), seconds(times.groups()[4:]), "\n".join(lines[2:])))
    return cues


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """WebVTT: the header, a blank line, then cues of times and text (no '-->', '&' escaped)."""
    assert text.startswith("WEBVTT\n\n") and text.endswith("\n")
    cues = []
    for block in text[len("WEBVTT\n\n"):].rstrip("\n").split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        times = re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}", lines[0])
        assert times, lines[0]
        body = "\n".join(lines[1:])
        assert body.strip() and "-->" not in body and not re.search(r"&(?!amp;|lt;|gt;)", body)
        assert "<" not in body and ">" not in body.replace("&gt;", "")
        cues.append((seconds(times.groups()[:4]), seconds(times.groups()[4:]), body))
    return cues


def well_timed(cues: list[tuple[float, float, str]]) -> None:
    starts = [a for a, _, _ in cues]
    assert starts == sorted(starts) and all(b > a >= 0 for a, b, _ in cues)


def test_words_group_into_cues_at_sentence_ends_and_pauses() -> None:
    cues = cues_from_words(WORDS)
    assert [text for _, _, text in cues] == [
        "And Mr. John Dashwood had then leisure to", "consider.", "How much?"]
    assert cues[0][:2] == (0.0, 3.2) and cues[-1][:2] == (4.6, 5.2)
    assert all(len(text) <= MOST_CHARS for _, _, text in cues)


def test_a_pause_and_the_time_on_screen_start_new_cues() -> None:
    words = [(0.0, 0.2, "a"), (0.2, 0.4, "b"), (2.0, 2.2, "c")]
    assert [t for _, _, t in cues_from_words(words)] == ["a b", "c"]
    slow = [(i * 1.0, i * 1.0 + 0.9, "w") for i in range(10)]
    assert all(b - a <= 6.0 for a, b, _ in cues_from_words(slow, pause=5.0))


def test_srt_is_well_formed() -> None:
    text = srt(cues_from_words(WORDS))
    assert text.startswith("1\n00:00:00,000 --> 00:00:03,200\nAnd Mr. John Dashwood had then "
                           "leisure to\n\n2\n")
    cues = parse_srt(text)
    assert len(cues) == 3 and cues[2] == (4.6, 5.2, "How much?")
    well_timed(cues)


def test_vtt_is_well_formed_and_escaped() -> None:
    cues = [(0.0, 1.0, "Tom & Jerry <3"), (1.0, 2.0, "a --> b"), (3723.5, 3724.25, "late")]
    text = vtt(cues)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nTom &amp; Jerry &lt;3\n")
    parsed = parse_vtt(text)
    assert parsed[2] == (3723.5, 3724.25, "late") and "01:02:03.500" in text
    assert parsed[1][2] == "a -&gt; b"
    well_timed(parsed)


def test_odd_cues_are_tidied_for_both_formats() -> None:
    odd = [(1.0, 1.0, "zero length"), (0.5, 2.0, "goes back"), (2.0, 3.0, "two\n\nparagraphs"),
           (3.0, 4.0, "   "), (4.0, float("nan"), "no end"), (-1.0, 0.2, "before zero")]
    for parse, text in ((parse_srt, srt(odd)), (parse_vtt, vtt(odd))):
        cues = parse(text)
        well_timed(cues)
        assert [t for _, _, t in cues] == ["zero length", "goes back", "two paragraphs", "no end",
                                           "before zero"]
    assert tidy([(1.0, 1.0, "x")]) == [(1.0, 1.05, "x")]


def test_no_cues_give_empty_but_valid_files() -> None:
    assert srt([]) == "" and vtt([]) == "WEBVTT\n"
    assert parse_vtt(vtt([]) + "\n") == []


@pytest.mark.parametrize("value, mark, expected", [
    (0.0, ",", "00:00:00,000"), (59.9996, ".", "00:01:00.000"), (3600 * 12 + 0.001, ",",
                                                                  "12:00:00,001")])
def test_stamps_round_to_the_millisecond(value: float, mark: str, expected: str) -> None:
    assert stamp(value, mark) == expected
