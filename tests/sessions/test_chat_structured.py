"""ChatSession answering under schemas, calling tools and thinking, on tiny-llm (random, f32).

A random model is the hard case for constrained decoding: whatever it "wants", every answer
made under a schema parses, and every call is well formed. Bounded schemas (maxLength, integer
ranges, enums) let a random model finish within max_new_tokens. The real SmolLM2 test is last.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Annotated, Any

import pydantic
import pytest

from ovnb import tools
from ovnb.sessions.chat import ChatSession
from tests.conftest import F32

SMALL = {"max_new_tokens": 256, "repetition_penalty": 1.0}  # JSON whitespace costs a random
# model 90-130 tokens per answer here
CITY = {"type": "object", "additionalProperties": False,
        "required": ["name", "country", "population", "capital"],
        "properties": {"name": {"type": "string", "maxLength": 12},
                       "country": {"type": "string", "enum": ["France", "Japan", "Peru"]},
                       "population": {"type": "integer", "minimum": 0, "maximum": 50},
                       "capital": {"type": "boolean"}}}
Digit = Annotated[int, pydantic.Field(ge=0, le=9)]


class City(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=12)
    capital: bool


def add(a: Digit, b: Digit) -> int:
    """Add two digits."""
    return a + b


def fail(a: Digit) -> int:
    """Always fails."""
    raise ValueError(f"no luck with {a}")


@pytest.fixture()
def chat(llm: Path) -> ChatSession:
    return ChatSession(llm, properties=F32, **SMALL)


def agent(llm: Path, *functions: Any, **options: Any) -> ChatSession:
    return ChatSession(llm, properties=F32, tools=list(functions), tool_choice="required",
                       **{**SMALL, "max_new_tokens": 96, **options})


def test_every_schema_constrained_answer_parses(chat: ChatSession) -> None:
    prompts = ["Describe a city", "Tell me about Lima", "What is Tokyo like?", "Paris?", "A town"]
    values = [chat.send(p, json_schema=CITY) for p in prompts]
    assert chat.last_error == "" and all(isinstance(v, dict) for v in values)
    assert all(set(v) == set(CITY["required"]) and v["country"] in ("France", "Japan", "Peru")
               and 0 <= v["population"] <= 50 for v in values)
    answers = [m for m in chat.messages if m["role"] == "assistant"]
    assert len(answers) == 5 and all(m["format"] == "json_schema" for m in answers)
    assert chat.send("Free text now") and "format" not in chat.messages[-1]  # no lasting constraint


def test_a_pydantic_class_returns_an_instance_and_regex_returns_text(chat: ChatSession) -> None:
    city = chat.send("A city, please", json_schema=City)
    assert isinstance(city, City) and len(city.name) <= 12
    date = chat.send("When?", regex=r"20[0-9]{2}-[01][0-9]-[0-3][0-9]")
    assert len(date) == 10 and date[:2] == "20" and chat.messages[-1]["format"] == "regex"
    assert chat.send("Yes or no?", grammar='root ::= "yes" | "no"') in ("yes", "no")


def test_schema_answers_have_no_whitespace_between_json_tokens(chat: ChatSession) -> None:
    """genai's own JSON grammar lets a model spend its tokens on whitespace between tokens."""
    for prompt in ("A city, please", "Another one", "Paris?"):
        assert isinstance(chat.send(prompt, json_schema=City), City), chat.last_error
        outside_strings = re.sub(r'"(?:\\.|[^"\\])*"', '""', chat.messages[-1]["content"])
        assert not re.search(r"\s", outside_strings), chat.messages[-1]["content"]


def test_bad_schemas_are_one_line_and_change_nothing(chat: ChatSession) -> None:
    chat.send("kept")
    kept = list(chat.messages)
    assert chat.send("x", json_schema={"type": "strin"}) is None
    assert chat.last_error == ("the schema is not valid JSON Schema: 'strin' is not valid under "
                               "any of the given schemas (at type)")
    assert chat.send("x", json_schema="{nope") is None and "the schema is not JSON" in chat.last_error
    assert chat.send("x", regex="((") == ""  # compiled only by XGrammar, on the worker
    assert chat.last_error == ("the regex cannot be used for constrained decoding: Regex parsing "
                               "error at position 3: The parenthesis is not closed.")
    assert chat.messages == kept and not chat.busy
    assert chat.send("still fine") and chat.last_error == ""


def test_an_answer_cut_before_its_json_closes_says_how_to_fix_it(chat: ChatSession) -> None:
    chat.send("kept")
    kept = list(chat.messages)
    chat.max_new_tokens = 3
    assert chat.send("A city", json_schema=CITY) is None
    assert chat.last_error.startswith("the answer's JSON is incomplete (cut at max_new_tokens")
    assert chat.messages == kept  # a failed turn is taken out: the history stays as it was


def test_a_required_call_runs_and_its_result_goes_back_to_the_model(llm: Path) -> None:
    chat = agent(llm, add)
    answer = chat.send("What is 2 plus 3?")
    roles = [m["role"] for m in chat.messages]
    assert roles == ["user", "assistant", "tool", "assistant"] and chat.last_error == ""
    call, result = chat.messages[1]["tool_calls"][0], chat.messages[2]
    assert call["name"] == "add" and set(call["arguments"]) == {"a", "b"}
    assert result == {"role": "tool", "name": "add", "arguments": call["arguments"],
                      "status": "ok", "content": str(call["arguments"]["a"] +
                                                     call["arguments"]["b"])}
    assert answer == chat.messages[3]["content"] and chat.metrics["tool_calls"] == 1


def test_a_failing_tool_or_wrong_arguments_are_one_line_and_the_chat_goes_on(llm: Path) -> None:
    wrong = tools.Tool(add, "add", "Add.", {  # a schema that does not fit the signature
        "type": "object", "properties": {"c": {"type": "integer", "minimum": 0, "maximum": 9}},
        "required": ["c"], "additionalProperties": False})
    for chat, expected in ((agent(llm, fail), "error: fail raised ValueError: no luck with "),
                           (agent(llm, wrong), "error: the arguments do not match add(a: ")):
        chat.send("Go")
        turn = chat.messages[2]
        assert turn["status"] == "error" and turn["content"].startswith(expected)
        assert "\n" not in turn["content"] and chat.messages[-1]["role"] == "assistant"
        assert chat.last_error == ""


def test_approve_false_or_a_function_decides(llm: Path) -> None:
    seen: list[dict] = []
    denied = agent(llm, add, approve=False)
    denied.send("2 + 3?")
    assert denied.messages[2]["status"] == "declined"
    judged = agent(llm, add, approve=lambda call: seen.append(call) or True)
    judged.send("2 + 3?")
    assert judged.messages[2]["status"] == "ok" and seen[0]["name"] == "add"
    per_call = agent(llm, add)
    per_call.send("2 + 3?", approve=False)
    assert per_call.messages[2]["status"] == "declined"


def wait_for_call(pending: threading.Event, session: Any) -> None:
    """Wait until a call is pending, or the run ended without one (which fails the test)."""
    while not pending.wait(0.05):
        assert session.running, "the run ended without asking for a call"


def test_ask_waits_for_decide_and_stop_declines(llm: Path) -> None:
    chat = agent(llm, add, approve="ask")
    pending = threading.Event()
    chat.observe(lambda change: change["new"] and pending.set(), "pending_call")
    job = chat.submit("2 + 3?", queue=True)
    wait_for_call(pending, chat)
    assert chat.pending_call["name"] == "add" and chat.running
    chat.decide(True)
    assert job.wait().ok and chat.messages[2]["status"] == "ok" and chat.pending_call == {}
    pending.clear()
    job = chat.submit("again", queue=True)
    wait_for_call(pending, chat)
    chat.stop()
    assert job.wait().ok and chat.messages[-1]["status"] == "declined"
    assert len(chat.messages) == 7  # question, call, declined: no answer after Stop


def test_tool_choice_none_offers_no_tools(llm: Path) -> None:
    chat = agent(llm, add)
    chat.send("No tools", tool_choice="none")
    assert [m["role"] for m in chat.messages] == ["user", "assistant"]
    assert isinstance(chat.send("JSON", json_schema=City, tool_choice="none"), City)
    assert not any(m["role"] == "tool" for m in chat.messages)
    assert chat.send("x", tool_choice="sometimes") == ""
    assert chat.last_error == "tool_choice must be one of auto, required, none, not 'sometimes'"
    plain = ChatSession(llm)
    assert plain.send("x", tool_choice="required") == "" and "has no tools" in plain.last_error


def test_a_step_that_fails_takes_the_whole_question_back(llm: Path, monkeypatch) -> None:
    chat = agent(llm, add)
    chat.send("first")
    kept = list(chat.messages)
    real = chat._reply
    steps: list[int] = []

    def second_step_fails(*args: Any) -> Any:
        steps.append(1)
        if len(steps) == 2:
            raise RuntimeError("the device went away")
        return real(*args)

    monkeypatch.setattr(chat, "_reply", second_step_fails)
    assert chat.send("second") == "" and chat.last_error == "RuntimeError: the device went away"
    assert chat.messages == kept


def test_thinking_is_kept_apart_from_the_answer(llm: Path) -> None:
    chat = ChatSession(llm, properties=F32, reasoning=True, **SMALL)
    answer = chat.send("Think first", regex=r"<think>[a-z ]{1,20}</think>[a-z]{1,12}")
    reply = chat.messages[-1]
    assert reply["thinking"] and "<think>" not in answer and answer == reply["content"]
    assert answer.isalpha()
    plain = ChatSession(llm, properties=F32, **SMALL)  # tiny-llm's template has no <think>
    assert plain.send("Think first", regex=r"<think>[a-z]{1,8}</think>[a-z]{1,8}").startswith(
        "<think>")


def test_tools_without_type_hints_or_with_one_name_are_refused_at_once(llm: Path) -> None:
    def untyped(a):  # noqa: ANN001, ANN202
        return a

    with pytest.raises(Exception, match="tool untyped has no type hint for a"):
        ChatSession(llm, tools=[untyped])
    with pytest.raises(Exception, match="two tools are named 'add'"):
        ChatSession(llm, tools=[add, add])


@pytest.mark.slow
def test_real_smollm2_always_parses_and_calls_tools(cache: Path) -> None:
    """SmolLM2-135M-Instruct (offline, int4): schema answers parse; a required call runs."""
    import ovnb

    folder = ovnb.prepare("HuggingFaceTB/SmolLM2-135M-Instruct", cache_dir=cache)
    chat = ChatSession(folder, max_new_tokens=96)
    schema = {"type": "object", "required": ["city", "country"],
              "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}
    for city in ("Paris", "Tokyo", "Lima"):
        value = chat.send(f"Describe {city} as JSON with keys city and country.",
                          json_schema=schema)
        assert isinstance(value, dict) and set(value) >= {"city", "country"}, chat.last_error
        chat.clear()

    def plus(a: float, b: float) -> float:
        """Add two numbers."""
        return a + b

    agentic = ChatSession(folder, max_new_tokens=64, tools=[plus], tool_choice="required")
    agentic.send("What is 12.5 plus 30?")
    call = agentic.messages[1]["tool_calls"][0]
    assert call == {"name": "plus", "arguments": {"a": 12.5, "b": 30}}
    assert agentic.messages[2]["content"] == "42.5" and agentic.messages[2]["status"] == "ok"
