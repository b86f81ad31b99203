"""The sentence splitter text to speech speaks by: where it cuts, where not, and that it loses nothing."""
from __future__ import annotations

import random

import pytest

from ovnb.sentences import MOST, split


@pytest.mark.parametrize("text, expected", [
    ("Hello world. How are you? Fine!", ["Hello world.", "How are you?", "Fine!"]),
    ("Wait... Now go. Then stop…  Next", ["Wait...", "Now go.", "Then stop…", "Next"]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ('"Go!" she said. (It was late.) We went.', ['"Go!" she said.', "(It was late.)", "We went."]),
    ("No end mark at all", ["No end mark at all"]),
    ("", []), ("   \n\n  ", []),
])
def test_sentences_end_at_their_marks(text: str, expected: list[str]) -> None:
    assert split(text) == expected


@pytest.mark.parametrize("text", [
    "Mr. Smith met Dr. Jones and Mrs. Lee at St. Paul's.",
    "Bring fruit, e.g. apples, i.e. something sweet.",
    "J. R. R. Tolkien wrote it.",
    "It costs 3.50 and starts at 10.30 on the dot.",
    "See No. 5 and fig. 3 for the details.",
    "The U.S. economy grew.",  # "U.S." followed by lowercase
])
def test_abbreviations_initials_and_numbers_are_no_ends(text: str) -> None:
    assert split(text) == [text]


def test_a_number_after_no_is_not_an_abbreviation_when_no_number_follows() -> None:
    assert split("I said no. Then I left.") == ["I said no.", "Then I left."]
    assert split("So did I. Then we went.") == ["So did I.", "Then we went."]


def test_a_blank_line_ends_a_sentence_and_a_single_break_does_not() -> None:
    text = "A heading\n\nThis line is\nhard-wrapped here. Next one\n \n\tLast"
    assert split(text) == ["A heading", "This line is hard-wrapped here.", "Next one", "Last"]


def test_long_sentences_are_cut_at_clauses_then_at_spaces() -> None:
    clause = "one two three four five six seven, "
    pieces = split(clause * 10 + "end.", most=80)
    assert all(len(p) <= 80 for p in pieces) and len(pieces) > 4
    assert all(p.endswith(",") for p in pieces[:-1])  # cut after a comma, not inside a clause
    words = "word " * 100
    pieces = split(words, most=50)
    assert all(len(p) <= 50 for p in pieces) and all(p.split() == ["word"] * len(p.split())
                                                       for p in pieces)
    assert split("x" * 130, most=50) == ["x" * 50, "x" * 50, "x" * 30]  # no space: a hard cut


def test_a_dash_is_a_clause_mark() -> None:
    text = "alpha beta gamma delta epsilon zeta — eta theta iota kappa lambda mu nu xi omicron"
    pieces = split(text, most=50)
    assert pieces[0].endswith("—") and all(len(p) <= 50 for p in pieces)


def test_nothing_is_lost_and_no_piece_is_too_long() -> None:
    """Random text of words, marks and breaks: the pieces are the text's words, in order."""
    rng = random.Random(7)
    vocabulary = ["the", "Mr.", "cat", "sat.", "Why?", "No!", "3.5", "e.g.", "J.", "x" * 60,
                  "end...", "done,", "—", "\n", "\n\n", '"Yes."', "(so)."]
    for _ in range(200):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randrange(1, 80)))
        pieces = split(text, most=MOST // 2)
        assert all(0 < len(p) <= MOST // 2 for p in pieces)
        assert "".join("".join(pieces).split()) == "".join(text.split())  # every character


def test_most_must_leave_room_for_a_phrase() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        split("Hello.", most=5)
