"""Chat, driven as a notebook user drives it, on tiny-llm (and its draft) in f32."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import ovnb
from tests.conftest import F32



def bare_greedy(folder: Path, messages: list[dict], **config) -> str:
    import openvino_genai as ov_genai

    pipe = ov_genai.LLMPipeline(str(folder), "CPU", **F32)
    history = ov_genai.ChatHistory()
    for message in messages:
        history.append(message)
    gen = pipe.get_generation_config()
    for name, value in config.items():
        setattr(gen, name, value)
    return pipe.generate(history, gen).texts[0]


def test_answer_equals_the_bare_pipeline(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=24, repetition_penalty=1.0)
    first = chat.send("Hello there")
    second = chat.send("And again?")
    expected = bare_greedy(llm, [{"role": "user", "content": "Hello there"}], max_new_tokens=24,
                           do_sample=False, repetition_penalty=1.0)
    assert first == expected and first
    assert chat.messages[1] == {"role": "assistant", "content": first}
    assert second == bare_greedy(llm, chat.messages[:3], max_new_tokens=24, do_sample=False,
                                 repetition_penalty=1.0)
    shown = chat._history_view.outputs[0]["data"]["text/plain"]
    assert first in shown and second in shown
    assert chat.metrics["tokens"] == 24 and chat.metrics["tokens_per_s"] > 0
    assert "tokens/s" in chat._metrics_line.value


def test_system_prompt_is_sent(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, system_prompt="You are terse.", max_new_tokens=12)
    answer = chat.send("Hi")
    assert answer == bare_greedy(llm, [{"role": "system", "content": "You are terse."},
                                       {"role": "user", "content": "Hi"}],
                                 max_new_tokens=12, do_sample=False, repetition_penalty=1.1)


def test_undo_and_clear(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=4)
    chat.send("one")
    chat.send("two")
    chat._undo_btn.click()
    assert [m["content"] for m in chat.messages if m["role"] == "user"] == ["one"]
    chat._clear_btn.click()
    assert chat.messages == []


def test_stop_ends_within_a_few_tokens_and_chat_goes_on(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=3000, min_new_tokens=3000)
    chat.wait_loaded()
    chat._prompt.value = "Tell me everything"
    chat._send_btn.click()
    deadline = time.time() + 60
    while not chat._answer.outputs and time.time() < deadline:
        time.sleep(0.01)
    streamed = len(chat._sink.parts)
    chat._stop_btn.click()
    chat._job.wait()
    assert chat.last_error == ""
    assert chat.metrics["tokens"] < 3000
    assert chat.metrics["tokens"] - streamed <= 5 + chat.metrics["tokens_per_s"] * 0.05
    assert chat.messages[-1]["role"] == "assistant"
    chat.config.update(max_new_tokens=4, min_new_tokens=0)
    assert chat.send("Still there?") and not chat.busy


def test_click_while_busy_is_ignored(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=400, min_new_tokens=400)
    chat._prompt.value = "first"
    chat._send_btn.click()
    chat._prompt.value = "second"
    chat._send_btn.click()
    chat._job.wait()
    assert [m["content"] for m in chat.messages if m["role"] == "user"] == ["first"]


def test_concurrent_sends_queue(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=8)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda i=i: answers.append(chat.send(f"q{i}")))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4 and all(answers)
    assert len(chat.messages) == 8 and chat.last_error == ""


def test_empty_prompt_is_refused_politely(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=4)
    chat.send("kept")
    assert chat.send("   ") == ""
    assert "empty prompt" in chat._error.value
    assert len(chat.messages) == 2


@pytest.mark.parametrize("case", ["missing", "wrong-kind", "device"])
def test_load_errors_show_in_the_widget(cache: Path, llm: Path, tmp_path: Path, case: str) -> None:
    model, device, expect = {
        "missing": (tmp_path / "nope", "CPU", "no such folder"),
        "wrong-kind": (ovnb.prepare("tiny-whisper", cache_dir=cache), "CPU", "not one for LLMPipeline"),
        "device": (llm, "NPU", "device NPU is not available"),
    }[case]
    chat = ovnb.Chat(model, device=device)
    assert chat.send("hello") == ""
    assert expect in chat.last_error and "\n" not in chat.last_error
    assert expect in chat._error.value
    assert chat.messages == [] and not chat.busy


def test_speculative_draft_matches_greedy(cache: Path, llm: Path) -> None:
    draft = ovnb.prepare("tiny-llm-draft", cache_dir=cache)
    chat = ovnb.Chat(llm, draft=draft, properties=F32, max_new_tokens=24, repetition_penalty=1.0)
    assert chat.send("Hello there") == bare_greedy(
        llm, [{"role": "user", "content": "Hello there"}], max_new_tokens=24, do_sample=False,
        repetition_penalty=1.0)


def test_adapters_change_the_answer_and_alpha_zero_does_not(cache: Path, llm: Path) -> None:
    adapter = ovnb.adapters("tiny-llm", cache_dir=cache)[0]
    plain = ovnb.Chat(llm, properties=F32, max_new_tokens=16).send("Hello")
    with_adapter = ovnb.Chat(llm, adapters=[adapter], properties=F32, max_new_tokens=16)
    zero = ovnb.Chat(llm, adapters={adapter: 0.0}, properties=F32, max_new_tokens=16)
    assert with_adapter.send("Hello") != plain
    assert zero.send("Hello") == plain


def test_dollars_are_prices_outside_code() -> None:
    from ovnb.widgets.chat import markdown_output

    shown = markdown_output("It costs $5.\n```\necho $HOME\n```")[0]["data"]
    assert shown["text/markdown"] == "It costs \\$5.\n```\necho $HOME\n```"
    assert shown["text/plain"] == "It costs $5.\n```\necho $HOME\n```"
