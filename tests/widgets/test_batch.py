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
    # the comparison answers the prompts again, together and one by one: the cards stay as they were
    assert widget.answers == answers and widget.done == [True] * 4
    for card, prompt in zip(widget.view.cards.children, PROMPTS):
        assert prompt in card.value and "✓" in card.value


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


def test_a_card_is_drawn_again_only_when_its_answer_or_state_changed(llm: Path,
                                                                      monkeypatch) -> None:
    """Answers stream in four times a second and each draw renders markdown on the CPU the model
    runs on: an unchanged card is not drawn again (a count of draws, whatever the timing)."""
    from ovnb.widgets import batch

    draws: list[tuple[str, str, bool]] = []
    draw = batch.card_html

    def counted(prompt: str, answer: str, done: bool) -> str:
        draws.append((prompt, answer, done))
        return draw(prompt, answer, done)

    monkeypatch.setattr(batch, "card_html", counted)
    widget = ovnb.Batch(llm, properties=F32, **GREEDY)
    for _ in range(2):  # the second run: the same prompts, cards drawn afresh
        draws.clear()
        assert widget.generate(PROMPTS) == bare(llm, PROMPTS)
        for prompt in PROMPTS:
            states = [(answer, done) for p, answer, done in draws if p == prompt]
            assert states[-1][1] and len(states) == len(set(states))  # no state drawn twice
