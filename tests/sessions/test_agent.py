"""A chat's tools (``ovnb.sessions.agent``): Stop and Ctrl-C while a tool runs, a schema after
tools. On tiny-llm (random weights, f32): every verdict is about what happened to the calls and
turns, never about what a random model said."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest

from ovnb.sessions.chat import ChatSession
from tests.conftest import F32
from tests.threads import interrupt_when_waiting

Digit = Annotated[int, pydantic.Field(ge=0, le=9)]


class City(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=12)
    capital: bool


class SlowTool:
    """A tool that runs until the test lets it finish (``release``), and says when it began."""

    def __init__(self) -> None:
        self.began, self.release, self.ended = (threading.Event(), threading.Event(),
                                                threading.Event())

        def add(a: Digit, b: Digit) -> int:
            """Add two digits (slowly)."""
            self.began.set()
            self.release.wait()
            self.ended.set()
            return a + b

        self.fn = add


def agent(llm: Path, *functions: Any, **options: Any) -> ChatSession:
    return ChatSession(llm, properties=F32, tools=list(functions), tool_choice="required",
                       max_new_tokens=96, repetition_penalty=1.0, **options)


def test_stop_while_a_tool_runs_ends_the_turn_at_once_and_drops_the_late_result(llm: Path
                                                                               ) -> None:
    slow = SlowTool()
    chat = agent(llm, slow.fn)
    job = chat.submit("2 + 3?", queue=True)
    slow.began.wait()
    chat.stop()
    outcome = job.wait()  # returns while the tool still runs: it is not waited for
    assert outcome.ok and not slow.ended.is_set() and not chat.busy
    turn = chat.messages[-1]
    assert turn["role"] == "tool" and turn["status"] == "stopped" and chat.last_error == ""
    assert "result is dropped" in turn["content"]
    assert chat.send("and now?", tool_choice="none") and chat.last_error == ""  # goes on at once
    slow.release.set()
    slow.ended.wait()
    assert chat.messages[2] == turn  # the late result never replaces what the turn says


def test_ctrl_c_while_a_tool_runs_stops_the_turn_and_the_next_send_works(llm: Path) -> None:
    slow = SlowTool()
    chat = agent(llm, slow.fn)
    main = threading.get_ident()

    def press() -> None:  # Ctrl-C once the tool runs (and the main thread waits for the turn)
        slow.began.wait()
        interrupt_when_waiting(main)

    threading.Thread(target=press, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        chat.send("2 + 3?")
    assert not chat.running and chat.messages[-1]["status"] == "stopped"
    slow.release.set()
    chat.tool_choice = "none"
    assert chat.send("still there?") and chat.last_error == ""


def test_a_schema_with_tools_runs_the_tools_first_and_answers_under_the_schema(llm: Path
                                                                              ) -> None:
    def add(a: Digit, b: Digit) -> int:
        """Add two digits."""
        return a + b

    chat = agent(llm, add)
    value = chat.send("2 + 3 as a city?", json_schema=City)
    roles = [m["role"] for m in chat.messages]
    assert chat.last_error == "" and isinstance(value, City)
    assert roles[:3] == ["user", "assistant", "tool"] and roles[-1] == "assistant"
    assert chat.messages[2]["status"] == "ok"  # the required call ran before the answer
    assert chat.messages[-1]["format"] == "json_schema"
    assert City.model_validate_json(chat.messages[-1]["content"]) == value
