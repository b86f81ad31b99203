"""Batch, driven as a notebook user drives it: prompts typed one per line, buttons, cards."""
from __future__ import annotations

from pathlib import Path

import ovnb
from tests.conftest import F32
from tests.sessions.test_batch import GREEDY, PROMPTS, bare


def test_the_button_answers_every_line_in_its_own_card(llm: Path) -> None:
    widget = ovnb.Batch(llm, properties=F32, **GREEDY)
    widget.view.controls["prompts"].value = "\n".join(PROMPTS)
    widget.view.controls["run"].click()
    widget.join()
    answers = bare(llm, PROMPTS)
    assert widget.answers == answers and len(widget.view.cards.children) == 4
    for card, prompt, answer in zip(widget.view.cards.children, PROMPTS, answers):
        assert prompt in card.value and "✓" in card.value
    assert "4 answers together" in widget.view.figures_line.value
    widget.view.controls["compare"].click()
    widget.join()
    assert "one by one" in widget.view.comparison_line.value and widget.last_error == ""


def test_a_call_from_code_shows_its_prompts_in_the_box(llm: Path) -> None:
    widget = ovnb.Batch(llm, properties=F32, **GREEDY)
    assert widget.generate(PROMPTS[:2]) == bare(llm, PROMPTS[:2])
    assert widget.view.controls["prompts"].value == "\n".join(PROMPTS[:2])
    assert len(widget.view.cards.children) == 2


def test_an_empty_prompt_has_a_card_saying_so(llm: Path) -> None:
    widget = ovnb.Batch(llm, properties=F32, **GREEDY)
    assert widget.generate(["Hello!", ""])[1] == ""
    cards = widget.view.cards.children
    assert "an empty prompt: not asked" in cards[1].value and "Hello!" in cards[0].value
    assert widget.view.error_line.value and "prompt 2 is empty" in widget.last_error
