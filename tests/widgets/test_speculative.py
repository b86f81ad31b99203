"""Speculative decoding in Chat and the benchmark view, driven as a notebook user does (f32)."""
from __future__ import annotations

import html
from pathlib import Path

import pytest

import ovnb
from ovnb.errors import OvnbError
from tests.conftest import F32
from tests.test_speculative import with_extra_token
from tests.sessions.test_chat import bare_greedy

HELLO = [{"role": "user", "content": "Hello there"}]
GREEDY = {"max_new_tokens": 24, "repetition_penalty": 1.0}




@pytest.fixture(scope="module")
def plain_answer(llm: Path) -> str:
    return bare_greedy(llm, HELLO, GREEDY["max_new_tokens"])


@pytest.fixture(scope="module")
def alien(draft: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_extra_token(draft, tmp_path_factory.mktemp("alien") / "alien-draft")


def test_draft_answer_is_the_greedy_answer_and_acceptance_shows(
        llm: Path, draft: Path, plain_answer: str) -> None:
    chat = ovnb.Chat(llm, draft=draft, properties=F32, **GREEDY)
    assert chat.send("Hello there") == plain_answer
    assert chat.num_assistant_tokens == 5  # the default when nothing is set
    metrics = chat.metrics
    assert 0 < metrics["acceptance"] <= 1 and metrics["accepted"] > 0
    assert metrics["tokens_per_step"] > 1 and metrics["estimated_speedup"] > 0
    line = chat.view.figures_line.value
    assert f"{metrics['acceptance']:.0%} of draft tokens accepted" in line
    assert "speed-up" not in line  # one answer cannot measure it: the benchmark view does


def test_the_confidence_threshold_replaces_the_token_count(
        llm: Path, draft: Path, plain_answer: str) -> None:
    chat = ovnb.Chat(llm, draft=draft, properties=F32, num_assistant_tokens=3, **GREEDY)
    controls = chat.view.assistant
    assert controls.controls["tokens"].value == 3 and controls.controls["threshold"].disabled
    controls.controls["mode"].value = "threshold"
    controls.controls["threshold"].value = 0.25
    assert chat.num_assistant_tokens == 0 == chat.session.num_assistant_tokens
    assert chat.assistant_confidence_threshold == 0.25
    assert controls.controls["tokens"].disabled and not controls.controls["threshold"].disabled
    assert chat.send("Hello there") == plain_answer and chat.last_error == ""
    assert 0 < chat.metrics["acceptance"] <= 1


def test_both_assistant_settings_are_refused(llm: Path, draft: Path) -> None:
    with pytest.raises(OvnbError, match="not both"):
        ovnb.Chat(llm, draft=draft, num_assistant_tokens=3, assistant_confidence_threshold=0.5)
    chat = ovnb.Chat(llm, draft=draft, properties=F32, max_new_tokens=4)
    kept = chat.send("one")
    chat.num_assistant_tokens, chat.assistant_confidence_threshold = 3, 0.5
    assert chat.send("two") == "" and "not both" in chat.last_error
    assert [m["content"] for m in chat.messages] == ["one", kept]  # history intact


def test_a_draft_with_another_tokenizer_is_refused_in_the_widget(llm: Path, alien: Path) -> None:
    chat = ovnb.Chat(llm, draft=alien, properties=F32)
    assert chat.send("Hello") == ""
    assert chat.last_error.startswith("draft alien-draft does not share the tokenizer of tiny-llm")
    assert "\n" not in chat.last_error and "use tiny-llm-draft" in chat.last_error
    assert html.escape("does not share the tokenizer") in chat.view.error_line.value
    assert chat.messages == [] and not chat.busy


def test_a_whisper_draft_is_refused(cache: Path, llm: Path) -> None:
    chat = ovnb.Chat(llm, draft=ovnb.prepare("tiny-whisper", cache_dir=cache))
    assert chat.send("Hello") == "" and "not a chat one" in chat.last_error


def test_prompt_lookup_answer_is_the_greedy_answer(llm: Path, plain_answer: str) -> None:
    chat = ovnb.Chat(llm, prompt_lookup=True, properties=F32, **GREEDY)
    controls = chat.view.assistant
    assert controls.children == (controls.controls["tokens"], controls.controls["ngram"])  # no threshold for lookup
    controls.controls["ngram"].value = 2
    assert chat.send("Hello there") == plain_answer
    assert chat.max_ngram_size == 2 and chat.num_assistant_tokens == 5
    assert chat.plan.prompt_lookup and "prompt lookup" in chat.view.figures_line.value


def test_the_draft_runs_on_its_own_device(llm: Path, draft: Path, plain_answer: str,
                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OVNB_COMPILE_CACHE", str(tmp_path))
    chat = ovnb.Chat(llm, draft=draft, draft_device="AUTO", properties=F32, **GREEDY)
    assert chat.send("Hello there") == plain_answer
    assert (chat.plan.device, chat.plan.draft_device) == ("CPU", "AUTO")
    assert chat.plan.properties == F32
    assert chat.plan.draft_properties == {"CACHE_DIR": str(tmp_path.resolve()), **F32}


def test_the_benchmark_view(llm: Path, draft: Path) -> None:
    bench = ovnb.SpeculativeBench(llm, draft, properties=F32, prompt="Hello there",
                                  max_new_tokens=32, repeats=1)
    result = bench.run()
    assert result is not None and bench.result is result and bench.last_error == ""
    assert result.identical and result.plain_tokens == result.spec_tokens == 32
    shown = bench.view.figures.value
    assert "tiny-llm fp16 alone" in shown
    assert "with tiny-llm-draft fp16 (5 tokens per step)" in shown
    assert f"<td>{result.plain_tps:.1f}</td>" in shown
    assert f"<td>{result.spec_tps:.1f}</td>" in shown
    assert f"measured ratio <b>×{result.ratio:.2f}</b>" in shown and "identical ✓" in shown
    assert f"acceptance {result.figures['acceptance']:.0%}" in shown
    head, _, rest = result.verdict.partition(". ")
    assert f"<b>{html.escape(head)}.</b> {html.escape(rest)}" in bench.view.verdict.value
    assert "word-break:normal" in bench.view.verdict.value  # never broken mid-word
    assert html.escape(result.plain_text) in bench.view.answers.value


def test_the_benchmark_button_reruns_with_new_settings(llm: Path, draft: Path) -> None:
    bench = ovnb.SpeculativeBench(llm, draft, properties=F32, max_new_tokens=16, repeats=1)
    bench.wait_loaded()
    bench.view.assistant.controls["tokens"].value = 2
    bench.view.controls["prompt"].value = "Once more"
    bench.view.controls["run"].click()
    bench.session.join()
    assert bench.result is not None and bench.result.prompt == "Once more"
    assert "(2 tokens per step)" in bench.view.figures.value and not bench.view.controls["run"].disabled


def test_the_benchmark_of_prompt_lookup(llm: Path) -> None:
    bench = ovnb.SpeculativeBench(llm, prompt_lookup=True, properties=F32, max_new_tokens=16,
                                  repeats=1)
    result = bench.run("abc abc abc")
    assert result is not None and result.identical and result.mode == "prompt lookup"
    assert "with prompt lookup (5 tokens per step, n-grams up to 3)" in bench.view.figures.value
    assert "Prompt lookup costs almost nothing" in bench.view.verdict.value


def test_the_benchmark_refuses_what_cannot_be_compared(llm: Path, alien: Path) -> None:
    bench = ovnb.SpeculativeBench(llm, alien, properties=F32)
    assert bench.run() is None and "does not share the tokenizer" in bench.last_error
    assert bench.view.figures.value == "" and not bench.busy
    with pytest.raises(OvnbError, match="give a draft model, or prompt_lookup=True"):
        ovnb.SpeculativeBench(llm)
    empty = ovnb.SpeculativeBench(llm, prompt_lookup=True, properties=F32)
    assert empty.run("   ") is None and empty.last_error.startswith("empty prompt")
