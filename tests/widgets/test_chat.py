"""The Chat widget as a view of its session, driven as a notebook user drives it (tiny-llm, f32).

The session's own behaviour is tested in tests/sessions/test_chat.py; here: traits mirrored both
ways, controls bound to them, the buttons' lifecycle, the panel's turns and its streamed deltas.
"""
from __future__ import annotations

import html
import threading
from pathlib import Path

import pytest
from traitlets import TraitError

import ovnb
from ovnb.widgets.chat import note
from tests.conftest import F32
from tests.widgets.conftest import custom_messages

SHORT = {"max_new_tokens": 12, "repetition_penalty": 1.0}


def test_settings_are_traits_that_move_their_controls(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, **SHORT)
    chat.wait_loaded()
    chat.max_new_tokens = 64
    assert chat.view.controls["max_new_tokens"].value == 64 and chat.session.max_new_tokens == 64
    chat.view.controls["temperature"].value = 1.25
    assert chat.temperature == 1.25 and chat.session.temperature == 1.25
    chat.session.top_p = 0.5  # set on the session from code: the widget follows
    assert chat.top_p == 0.5 and chat.view.controls["top_p"].value == 0.5
    assert chat.view.controls["max_new_tokens"].max == chat.context_length == 2048
    with pytest.raises(TraitError, match="max_new_tokens must be between 1 and 2048, not 5000"):
        chat.max_new_tokens = 5000
    assert chat.max_new_tokens == chat.session.max_new_tokens == 64


def test_an_unknown_setting_is_refused_when_the_widget_is_made(llm: Path) -> None:
    with pytest.raises(TypeError, match="no setting 'temprature'"):
        ovnb.Chat(llm, temprature=0.3)


def test_send_click_fills_the_panel_and_the_buttons_follow(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, **SHORT)
    chat.wait_loaded()
    assert chat.view.controls["stop"].disabled and not chat.view.controls["run"].disabled
    chat.view.controls["prompt"].value = "Hello there"
    chat.view.controls["run"].click()
    assert chat.view.controls["prompt"].value == ""  # taken
    chat.session.join()
    answer = chat.messages[-1]["content"]
    turns = chat.view.panel.turns
    assert [t["role"] for t in turns] == ["user", "assistant"] and answer
    assert turns[1]["note"] == note({"cut": "max_new_tokens"}) != ""
    assert "tokens/s" in chat.view.figures_line.value and not chat.busy
    assert chat.view.controls["stop"].disabled and not chat.view.controls["run"].disabled


def test_markdown_renders_at_chat_scale_and_raw_html_is_text() -> None:
    from ovnb.widgets.chat import _rendered

    shown = _rendered("# Big\n<script>alert(1)</script> costs $5")
    assert "<h1>Big</h1>" in shown and "<script>" not in shown and "&lt;script&gt;" in shown
    assert "$5" in shown  # no math typesetting inside the panel: prices stay prices
    css = (Path(ovnb.__file__).parent / "widgets" / "static" / "chat.css").read_text()
    assert ".ovnb-body h1" in css and "max-height" not in css  # height set per panel (a trait)


def test_streaming_sends_only_what_is_new(front_end: None, llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=1500, min_new_tokens=1500)
    answer = chat.send("Tell me everything")
    live = [m for m in custom_messages(chat.view.panel) if m["kind"] == "live"]
    sent = "".join(m["text"] for m in live if not m["reset"])
    assert live and not any(m["reset"] for m in live)
    assert answer.startswith(sent) and len(sent) <= len(answer)  # deltas: each part sent once
    assert len(live) == chat.view.panel.live_messages < chat.metrics["tokens"]
    assert custom_messages(chat.view.panel)[-1] == {"kind": "end"}


def test_a_view_opened_mid_answer_gets_the_text_so_far(front_end: None, llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=2000, min_new_tokens=2000)
    streaming = threading.Event()
    chat.observe(lambda change: change["new"] and streaming.set(), "live")
    job = chat.session.submit("Tell me everything")
    streaming.wait()
    chat.view.panel._on_front(chat.view.panel, {"kind": "hello"}, [])
    chat.stop()
    job.wait()
    resets = [m for m in custom_messages(chat.view.panel) if m.get("reset")]
    assert resets and resets[0]["text"]


def test_undo_clear_and_errors_show_in_the_view(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=4)
    chat.send("one")
    chat.send("two")
    chat.view.controls["undo"].click()
    assert [t["role"] for t in chat.view.panel.turns] == ["user", "assistant"]
    assert chat.send("   ") == ""
    assert chat.last_error == "empty prompt: type a question first"
    assert chat.last_error in chat.view.error_line.value  # the line shown is the line kept
    chat.view.controls["clear"].click()
    assert chat.messages == [] and chat.view.panel.turns == []


def test_enter_in_the_box_sends_what_it_holds(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=4)
    box = chat.view.controls["prompt"]
    box.value = "typed, not yet synced"
    box.submit("first line\nsecond line")  # what the page sends on Enter: the box's text
    chat.session.join()
    assert chat.messages[0]["content"] == "first line\nsecond line" and box.value == ""
    box.submit("   ")  # an empty box: refused in one line, nothing sent
    chat.session.join()
    assert len(chat.messages) == 2 and chat.last_error == "empty prompt: type a question first"


def test_undo_puts_the_question_back_in_an_empty_box(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=4)
    box = chat.view.controls["prompt"]
    box.value = "What is a fern?"
    chat.view.controls["run"].click()
    chat.session.join()
    assert box.value == "" and len(chat.messages) == 2
    chat.view.controls["undo"].click()
    assert chat.messages == [] and box.value == "What is a fern?"  # to edit and send again
    chat.send("Hello")
    box.value = "half-typed"
    chat.view.controls["undo"].click()
    assert chat.messages == [] and box.value == "half-typed"  # what the learner typed stays
    chat.view.controls["undo"].click()  # nothing left to undo: the box is left alone
    assert box.value == "half-typed"


def test_a_click_while_busy_is_ignored(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=400, min_new_tokens=400)
    chat.view.controls["prompt"].value = "first"
    chat.view.controls["run"].click()
    chat.view.controls["prompt"].value = "second"
    chat.view.controls["run"].click()
    chat.session.join()
    assert [m["content"] for m in chat.messages if m["role"] == "user"] == ["first"]
    assert chat.view.controls["prompt"].value == "second"  # refused: the text stays for the next try


def test_load_errors_show_in_the_widget(cache: Path) -> None:
    chat = ovnb.Chat(ovnb.prepare("tiny-whisper", cache_dir=cache))
    assert chat.send("hello") == ""
    assert "not a chat one" in chat.last_error and chat.last_error in chat.view.error_line.value
    assert chat.status == "not loaded" and "/" not in chat.status


def test_status_names_the_model_not_its_path(llm: Path) -> None:
    chat = ovnb.Chat(llm)
    chat.wait_loaded()
    assert chat.status == "ready: tiny-llm"


def test_speculative_draft_matches_greedy(cache: Path, llm: Path) -> None:
    from tests.sessions.test_chat import bare_greedy

    draft = ovnb.prepare("tiny-llm-draft", cache_dir=cache)
    chat = ovnb.Chat(llm, draft=draft, properties=F32, max_new_tokens=16, repetition_penalty=1.0)
    assert chat.send("Hello there") == bare_greedy(llm, [{"role": "user",
                                                          "content": "Hello there"}])
    assert "accepted" in chat.view.figures_line.value and "estimated" not in chat.view.figures_line.value


# structured answers, tools, thinking ------------------------------------------------------------
def test_turns_show_thinking_folded_json_formatted_and_calls_with_their_results() -> None:
    from ovnb.widgets.chat import body_html

    thought = body_html({"role": "assistant", "content": "Paris.", "thinking": "France's capital"})
    assert thought.startswith("<details class='ovnb-think'><summary>💭 thinking</summary>")
    assert "<p>Paris.</p>" in thought.split("</details>")[1]
    shown = body_html({"role": "assistant", "content": '{"a":1,"b":"<x>"}',
                       "format": "json_schema"})
    assert shown == ("<pre class='ovnb-json'><code>{\n  &quot;a&quot;: 1,\n  &quot;b&quot;: "
                     "&quot;&lt;x&gt;&quot;\n}</code></pre>")
    call = body_html({"role": "assistant", "content": 'Sure. <tool_call>\n{"name": "add"}',
                      "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]})
    assert call == ("<p>Sure.</p>\n<div class='ovnb-call'>🔧 calls <code>add(a=2, b=3)</code>"
                    "</div>")
    tool = {"role": "tool", "name": "add", "arguments": {"a": 2}, "content": "error: no <b>",
            "status": "error"}
    assert "<code>add(a=2)</code>" in body_html(tool) and "error: no &lt;b&gt;" in body_html(tool)
    assert note(tool).startswith("⚠ the call failed") and note({"status": "declined"}) != ""


def test_a_schema_in_settings_makes_the_send_button_answer_json(llm: Path) -> None:
    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=256, repetition_penalty=1.0)
    chat.view.controls["json_schema"].value = '{"type": "object", "properties": {"ok": {"type": "boolean"}}, ' \
                       '"required": ["ok"]}'
    chat.view.controls["prompt"].value = "Is it?"
    chat.view.controls["run"].click()
    chat.session.join()
    assert chat.messages[-1]["format"] == "json_schema"
    assert chat.view.panel.turns[-1]["html"].startswith("<pre class='ovnb-json'>")
    chat.view.controls["json_schema"].value = '{"type": '
    chat.view.controls["prompt"].value = "Again?"
    chat.view.controls["run"].click()
    assert chat.last_error.startswith("the schema is not JSON (Expecting value at line 1")
    assert html.escape(chat.last_error) in chat.view.error_line.value and chat.view.controls["prompt"].value == "Again?"
    assert len(chat.messages) == 2


def test_tool_calls_wait_for_approve_or_deny_in_the_widget(llm: Path) -> None:
    from tests.sessions.test_chat_structured import add, wait_for_call

    chat = ovnb.Chat(llm, properties=F32, max_new_tokens=96, tools=[add],
                     tool_choice="required")
    texts = [getattr(c, "description", "") for c in chat.view.children[-1].children[0].children]
    assert "ask before running each tool call" in texts
    assert chat.view.pending.layout.display == "none"
    chat.view.controls["ask_tools"].value = True
    for button, status in ((chat.view.pending.approve_button, "ok"),
                           (chat.view.pending.deny_button, "declined")):
        pending = threading.Event()

        def asked(change: dict, pending: threading.Event = pending) -> None:
            if change["new"]:
                pending.set()

        chat.observe(asked, "pending_call")
        chat.view.controls["prompt"].value = "2 + 3?"
        chat.view.controls["run"].click()
        wait_for_call(pending, chat.session)
        assert chat.view.pending.layout.display == "flex" and "add(a=" in chat.view.pending.what.value
        button.click()
        chat.session.join()
        chat.unobserve(asked, "pending_call")
        tools = [m for m in chat.messages if m["role"] == "tool"]
        assert tools[-1]["status"] == status and chat.view.pending.layout.display == "none"
    assert "tool call" in chat.view.figures_line.value


def test_a_chat_without_tools_offers_no_tool_settings(llm: Path) -> None:
    chat = ovnb.Chat(llm)
    texts = [getattr(c, "description", "") for c in chat.view.children[-1].children[0].children]
    assert "JSON schema" in texts and "ask before running each tool call" not in texts


def test_sources_show_their_passages_markdown_as_the_retriever_does() -> None:
    from ovnb.widgets.chat import sources_html
    from ovnb.widgets.render import passage_html

    text = "# Wildlife\nSeals rest on the sandbank.\n- herons\n- <b>crabs</b>"
    shown = sources_html([{"n": 1, "source": "wildlife.md", "number": 2, "score": 0.5,
                           "text": text}])
    assert shown.startswith("<div class='ovnb-sources-title'>Sources</div><details><summary>"
                            "[1] wildlife.md #2<span class='ovnb-score'> · 0.50</span></summary>")
    assert f"<div class='ovnb-source-text'>{passage_html(text)}</div>" in shown
    assert "<h1>Wildlife</h1>" in shown and "<li>herons</li>" in shown
    assert "&lt;b&gt;crabs&lt;/b&gt;" in shown and "<b>crabs</b>" not in shown  # raw HTML is text
