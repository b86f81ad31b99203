"""ChatSession on tiny-llm in f32, from plain code (no widget): answers, history, settings, Stop.

References are bare LLMPipelines; every check counts events, none races a clock.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from traitlets import TraitError

from ovnb.runtime.views import in_view_thread
from ovnb.sessions.chat import ChatSession
from tests.conftest import F32
from tests.threads import ctrl_c_at_the_first_token

GREEDY = {"max_new_tokens": 16, "repetition_penalty": 1.0}


def bare_greedy(folder: Path, messages: list[dict], max_new_tokens: int = 16) -> str:
    import openvino_genai as ov_genai

    pipe = ov_genai.LLMPipeline(str(folder), "CPU", **F32)
    history = ov_genai.ChatHistory()
    for message in messages:
        history.append({"role": message["role"], "content": message["content"]})
    config = pipe.get_generation_config()
    config.max_new_tokens, config.do_sample, config.repetition_penalty = max_new_tokens, False, 1.0
    return pipe.generate(history, config).texts[0]


@pytest.fixture()
def chat(llm: Path) -> ChatSession:
    return ChatSession(llm, properties=F32, **GREEDY)


def test_the_session_imports_no_widgets() -> None:
    code = ("import sys, ovnb.sessions.chat, ovnb.sessions.vision, ovnb.sessions.speech, "
            "ovnb.sessions.image, ovnb.sessions.speculative; print('ipywidgets' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_answers_equal_the_bare_pipeline_turn_after_turn(chat: ChatSession, llm: Path) -> None:
    first = chat.send("Hello there")
    second = chat.send("And again?")
    assert first and first == bare_greedy(llm, [{"role": "user", "content": "Hello there"}])
    assert second == bare_greedy(llm, chat.messages[:3])
    assert [m["role"] for m in chat.messages] == ["user", "assistant"] * 2
    assert chat.messages[1]["content"] == first and chat.messages[1]["cut"] == "max_new_tokens"
    assert chat.metrics["tokens"] == 16 and chat.metrics["tokens_per_s"] > 0


def test_system_prompt_is_sent(llm: Path) -> None:
    chat = ChatSession(llm, properties=F32, system_prompt="You are terse.", **GREEDY)
    assert chat.send("Hi") == bare_greedy(llm, [{"role": "system", "content": "You are terse."},
                                                {"role": "user", "content": "Hi"}])


def test_undo_and_clear(chat: ChatSession) -> None:
    chat.send("one")
    chat.send("two")
    chat.undo()
    assert [m["content"] for m in chat.messages if m["role"] == "user"] == ["one"]
    chat.clear()
    assert chat.messages == [] and chat.metrics == {}


def test_settings_are_validated_traits_with_their_range(chat: ChatSession) -> None:
    chat.wait_loaded()
    assert chat.context_length == 2048
    with pytest.raises(TraitError, match="max_new_tokens must be between 1 and 2048"):
        chat.max_new_tokens = 5000
    with pytest.raises(TraitError, match="top_p must be between 0.05 and 1"):
        chat.top_p = 1.5
    with pytest.raises(TraitError, match="'temperature' trait .* expected a float"):
        chat.temperature = "hot"
    chat.max_new_tokens = 3
    assert len(chat.send("Hi").strip()) > 0 and chat.metrics["tokens"] == 3


def test_an_unknown_setting_is_refused_when_the_session_is_made(llm: Path) -> None:
    with pytest.raises(TypeError, match="no setting 'max_tokens'.*max_new_tokens"):
        ChatSession(llm, max_tokens=10)


def test_max_new_tokens_is_bounded_by_the_context(llm: Path) -> None:
    chat = ChatSession(llm, properties=F32, max_new_tokens=4000)  # unknown context: accepted
    chat.wait_loaded()
    assert chat.max_new_tokens == 2048  # clamped to the context once it is known


def test_an_answer_cut_by_the_context_says_so(llm: Path) -> None:
    chat = ChatSession(llm, properties=F32, max_new_tokens=2048, min_new_tokens=2048)
    chat.wait_loaded()
    prompt = "word " * 380  # tiny-llm's tokenizer is byte-level: about 1900 tokens
    answer = chat.send(prompt)
    assert answer and chat.messages[-1]["cut"] == "context"
    assert chat.metrics["tokens"] < 2048 - 1000


def test_wrong_argument_types_are_type_errors(chat: ChatSession) -> None:
    with pytest.raises(TypeError, match="the message must be a str, not NoneType"):
        chat.send(None)
    with pytest.raises(TypeError, match="unexpected argument 'images'"):
        chat.send("hi", images=[])


def test_an_empty_prompt_is_refused_in_one_line(chat: ChatSession) -> None:
    chat.send("kept")
    assert chat.send("   ") == "" and chat.last_error == "empty prompt: type a question first"
    assert len(chat.messages) == 2


def test_results_and_live_text_arrive_on_the_view_thread(llm: Path) -> None:
    chat = ChatSession(llm, properties=F32, max_new_tokens=1500, min_new_tokens=1500)
    seen: dict[str, list[bool]] = {"messages": [], "live": []}
    chat.observe(lambda change: seen[change["name"]].append(in_view_thread()), ["messages", "live"])
    chat.send("Tell me everything")
    assert seen["messages"] == [True] and seen["live"] and all(seen["live"])
    assert 1 <= chat.updates < chat.metrics["tokens"]  # bounded: far fewer updates than tokens


def test_a_queued_call_sees_the_finished_turn(chat: ChatSession, llm: Path) -> None:
    answers: dict[str, str] = {}
    threads = [threading.Thread(target=lambda q=q: answers.__setitem__(q, chat.send(q)))
               for q in ("first", "second", "third")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    users = [m["content"] for m in chat.messages if m["role"] == "user"]
    assert sorted(users) == ["first", "second", "third"] and len(chat.messages) == 6
    last = users[-1]
    assert answers[last] == bare_greedy(llm, chat.messages[:5])  # it saw both earlier turns


def test_a_send_from_an_observer_does_not_deadlock(chat: ChatSession) -> None:
    done = threading.Event()
    inner: list[str] = []

    def on_messages(change: dict) -> None:
        if len(change["new"]) == 2 and not inner:
            inner.append(chat.send("and from the observer"))
            done.set()

    chat.observe(on_messages, "messages")
    chat.send("from code")
    done.wait()
    assert inner[0] and len(chat.messages) == 4


def test_stop_keeps_the_answer_so_far_and_the_chat_goes_on(llm: Path) -> None:
    chat = ChatSession(llm, properties=F32, max_new_tokens=2000, min_new_tokens=2000,
                       repetition_penalty=1.0)
    streaming = threading.Event()
    chat.observe(lambda change: change["new"] and streaming.set(), "live")
    job = chat.submit("Tell me everything")
    streaming.wait()
    chat.stop()
    assert job.wait().ok and chat.last_error == ""
    assert chat.messages[-1]["stopped"] and chat.metrics["tokens"] < 2000
    chat.min_new_tokens, chat.max_new_tokens = 0, 6
    assert chat.send("Still there?") == bare_greedy(llm, chat.messages[:3], 6)


def test_ctrl_c_stops_the_answer_and_the_next_call_works(llm: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    chat = ChatSession(llm, properties=F32, max_new_tokens=2000, min_new_tokens=2000)
    chat.wait_loaded()
    with pytest.raises(KeyboardInterrupt):
        ctrl_c_at_the_first_token(monkeypatch)
        chat.send("Tell me everything")
    assert not chat.running and chat.messages[-1].get("stopped")
    assert chat.metrics["tokens"] < 2000  # stopped, not run to its end
    monkeypatch.undo()
    chat.min_new_tokens, chat.max_new_tokens = 0, 4
    assert chat.send("Still there?") and chat.last_error == ""


def test_load_errors_are_one_line(cache: Path, tmp_path: Path) -> None:
    import ovnb

    for model, device, expect in (
            (tmp_path / "nope", "CPU", "no such folder"),
            (ovnb.prepare("tiny-whisper", cache_dir=cache), "CPU", "not a chat one"),
            ("tiny-llm", "NPU", "device NPU is not available")):
        chat = ChatSession(model, device=device)
        assert chat.send("hello") == ""
        assert expect in chat.last_error and "\n" not in chat.last_error
        assert chat.messages == [] and not chat.busy and chat.status == "not loaded"
