"""``ovnb.Chat``: a ChatSession and its view: the conversation panel, a prompt, settings, metrics.

``ConversationView`` is what the Chat and VisionChat views share: the panel (``ChatPanel``: turns
rendered at chat scale, the answer streamed in as deltas), Send/Stop/Undo/Clear, the settings
panel made from the session's setting traits, the metrics line.
"""
from __future__ import annotations

import functools
import html
import json
from typing import Any

import ipywidgets as widgets

from ovnb import speculative, structured
from ovnb import tools as toolkit
from ovnb.sessions.chat import ChatSession
from ovnb.sessions.conversation import ConversationSession, Message
from ovnb.widgets.base import Front, View
from ovnb.widgets.chatpanel import ChatPanel
from ovnb.widgets.lora import LoraMixer, connect
from ovnb.widgets.prompt import PromptBox
from ovnb.widgets.render import (
    LABEL_WIDTH,
    bind,
    markdown_html,
    metrics_line,
    passage_html,
    set_slider_max,
    setting_controls,
    visible,
)
from ovnb.widgets.speculative import AssistantControls

WHO = {"user": "You", "assistant": "Model", "system": "System", "tool": "Tool"}
LABELS = {"description_width": LABEL_WIDTH}  # labelled fields line up with the sliders


class ConversationView(View):
    """The view of a ConversationSession; subclasses add their inputs (an image picker...)."""

    session: ConversationSession

    placeholder = "Ask something, then press Enter (Shift+Enter: a new line)"

    def __init__(self, session: ConversationSession, mixer: LoraMixer | None = None,
                 assistant: str | None = None) -> None:
        super().__init__(session)
        self.mixer = mixer
        connect(mixer, session)
        self.panel = ChatPanel(model_label=WHO["assistant"])
        self.controls.update(
            prompt=PromptBox(placeholder=self.placeholder,
                             layout=widgets.Layout(width="auto", height="4em")),
            run=widgets.Button(description="Send", button_style="primary", icon="paper-plane"),
            stop=widgets.Button(description="Stop", icon="stop"),
            undo=widgets.Button(description="Undo", icon="undo"),
            clear=widgets.Button(description="Clear", icon="trash"),
            **setting_controls(session))
        self.figures_line = widgets.HTML()
        self.assistant = (AssistantControls(session, assistant == "prompt lookup")
                           if assistant else None)
        self._wire()

    def _wire(self) -> None:
        c = self.controls
        c["run"].on_click(self._on_send)
        c["prompt"].on_submit(self._on_send)  # Enter in the box
        c["stop"].on_click(self.press_stop)
        c["undo"].on_click(self._undo)
        c["clear"].on_click(self.clear)
        self.busy_controls([c["run"], c["undo"], c["clear"]], [c["stop"]])
        self.session.observe(self._show_turns, "messages")
        self.session.observe(self._show_live, "live")
        self.session.observe(self._show_metrics, "metrics")
        self.session.observe(self._bound_tokens, "context_length")
        self._bound_tokens()

    def _settings_panel(self, *extra: widgets.Widget) -> widgets.Accordion:
        system = widgets.Textarea(description="System", placeholder="a system prompt (optional)",
                                  style=LABELS, layout=widgets.Layout(width="auto"))
        bind(system, self.session, "system_prompt")
        self.controls["system_prompt"] = system
        settings = [c for n, c in self.controls.items() if self.session.has_trait(n)
                    and self.session.trait_metadata(n, "setting")]
        body = widgets.VBox([system, *settings, *extra, *filter(None, [self.assistant])])
        return widgets.Accordion([body], titles=("Settings",), selected_index=None)

    def _layout(self, *inputs: widgets.Widget) -> None:
        c = self.controls
        buttons = widgets.HBox([c["run"], c["stop"], c["undo"], c["clear"]])
        mixer = [self.mixer] if self.mixer is not None else []
        self.children = [self.panel, *inputs, c["prompt"], buttons, *mixer, self.figures_line,
                         self.status_line, self.error_line, self._settings_panel(*self._extra_settings())]
        self._show_turns()

    # the views -----------------------------------------------------------------------------------
    def _bound_tokens(self, change: Any = None) -> None:
        set_slider_max(self.controls["max_new_tokens"], self.session.context_length)

    def _show_turns(self, change: Any = None) -> None:
        if self.panel.live_text:
            self.panel.end_live()
        self.panel.turns = [self._turn(m) for m in self.session.messages]

    def _extra_settings(self) -> tuple[widgets.Widget, ...]:
        """Controls a subclass adds to the Settings panel."""
        return ()

    def _turn(self, message: Message) -> dict[str, str]:
        """How one message shows: who, its body as HTML, a note (cut, stopped, failed...), and the
        numbered sources it was grounded on (only when it has some)."""
        role = message["role"]
        who = WHO.get(role, role)
        if role == "tool" and message.get("name"):
            who = f"{who} · {message['name']}"
        turn = {"role": role, "who": who, "html": body_html(message), "note": note(message)}
        if message.get("sources"):
            turn["sources"] = sources_html(message["sources"])
        return turn

    def _show_live(self, change: dict[str, Any]) -> None:
        text = change["new"]
        if text:
            self.panel.show_live(text)
        elif self.panel.live_text:  # a run ended without a new turn (an error): drop its text
            self.panel.end_live()

    def _show_metrics(self, change: Any = None) -> None:
        m = self.session.metrics
        self.figures_line.value = metrics_line(self._metric_parts(m)) if m else ""

    def _metric_parts(self, m: dict[str, Any]) -> list[str]:
        return [f"first token {m['ttft_ms']:.0f} ms", f"{m['tokens_per_s']:.1f} tokens/s",
                f"{m['tokens']} tokens"]

    # the buttons ---------------------------------------------------------------------------------
    def _on_send(self, button: Any = None) -> None:
        if self.session.submit(self.controls["prompt"].value, **self._options()) is not None:
            self.controls["prompt"].value = ""

    def _undo(self, button: Any = None) -> None:
        """The Undo button: drop the last exchange and put its question back in the box (unless
        the box holds something new), to be edited and sent again, as chat apps do."""
        messages = self.session.messages
        asked = next((m for m in reversed(messages) if m["role"] == "user"), None)
        self.session.undo()
        box = self.controls["prompt"]
        undone = len(self.session.messages) < len(messages)
        if undone and asked is not None and isinstance(asked.get("content"), str) \
                and not box.value.strip():
            box.value = asked["content"]

    def clear(self, button: Any = None) -> None:
        """Start a new conversation (the Clear button)."""
        self.session.clear()

    def _options(self) -> dict[str, Any]:
        """What the Send button asks besides the text (a subclass's options)."""
        return {}


class ChatView(ConversationView):
    """The view of a ChatSession: a conversation, a schema and tool settings, pending calls."""

    session: ChatSession

    def __init__(self, session: ChatSession, mixer: LoraMixer | None = None) -> None:
        super().__init__(session, mixer, session.assistant)
        self.pending = PendingCall(session)
        self._layout(self.pending)

    def _extra_settings(self) -> tuple[widgets.Widget, ...]:
        schema = widgets.Textarea(
            description="JSON schema", continuous_update=False, style=LABELS,
            placeholder=f"answers follow this JSON schema, e.g. {structured.EXAMPLE}",
            layout=widgets.Layout(width="auto", height="6em"))
        self.controls["json_schema"] = schema
        extra: list[widgets.Widget] = [schema]
        if self.session.tools:
            choice = widgets.ToggleButtons(options=["auto", "required", "none"],
                                           description="tools", tooltip="how the model may call "
                                           f"{', '.join(self.session.tools)}")
            ask = widgets.Checkbox(description="ask before running each tool call", indent=True)
            bind(choice, self.session, "tool_choice")
            self.controls.update(tool_choice=choice, ask_tools=ask)
            extra += [choice, ask]
        return tuple(extra)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.controls["json_schema"].value.strip():
            options["json_schema"] = self.controls["json_schema"].value
        if "ask_tools" in self.controls and self.controls["ask_tools"].value:
            options["approve"] = "ask"
        return options

    def _metric_parts(self, m: dict[str, Any]) -> list[str]:
        plan = self.session.plan
        lookup = plan is not None and plan.prompt_lookup
        drafting = m if "acceptance" in m else {}
        calls = m.get("tool_calls")
        return [*super()._metric_parts(m), speculative.metrics_text(drafting, lookup),
                f"{calls} tool call{'s' * (calls != 1)}" if calls else ""]


class Chat(Front):
    """Chat with a model: ``Chat("tiny-llm").send("Hello") -> str``; its arguments are
    ``ChatSession``'s (model, device, draft, adapters, system_prompt, properties, tools,
    retriever, generation settings...), and ``adapters`` may also be a ``LoraMixer``, whose
    sliders then set each answer's strengths.

    ``send(text, json_schema=...)`` answers under a JSON schema (a dict, JSON text or a pydantic
    class) and returns the parsed value, shown as formatted JSON; the Send button does the same
    with the schema in Settings. Tool calls show in the conversation with their arguments and
    results; in Settings, "ask before running each tool call" shows each call with Approve / Deny
    before it runs. A thinking model's thinking shows folded above its answer.
    """

    session_class = ChatSession
    view_class = ChatView


class PendingCall(widgets.HBox):
    """A tool call waiting for approval: what it would run, with Approve and Deny."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.what = widgets.HTML()
        self.approve_button = widgets.Button(description="Approve", button_style="success",
                                             icon="check")
        self.deny_button = widgets.Button(description="Deny", button_style="danger",
                                          icon="times")
        self.approve_button.on_click(self._approve)
        self.deny_button.on_click(self._deny)
        super().__init__([self.what, self.approve_button, self.deny_button],
                         layout=widgets.Layout(display="none"))
        session.observe(self._show, "pending_call")

    def _approve(self, button: Any = None) -> None:
        self.session.decide(True)

    def _deny(self, button: Any = None) -> None:
        self.session.decide(False)

    def _show(self, change: dict[str, Any]) -> None:
        """Show the call waiting ({} hides the box)."""
        call = change["new"]
        if call:
            self.what.value = f"Run {call_html(call['name'], call.get('arguments'))}?"
        self.layout.display = "flex" if call else "none"


def body_html(message: Message) -> str:
    """A message's body: a tool's result, or an answer (thinking folded, JSON formatted, calls)."""
    if message["role"] == "tool":
        return tool_html(message)
    parts = []
    if message.get("thinking"):
        parts.append("<details class='ovnb-think'><summary>💭 thinking</summary>"
                     f"{_rendered(message['thinking'])}</details>")
    content = message["content"]
    calls = message.get("tool_calls") or []
    if calls:
        content = toolkit.before_calls(content)
    if message.get("format") == "json_schema":
        parts.append(json_html(content))
    elif content:
        parts.append(_rendered(content))
    for call in calls:
        if "name" in call:
            shown = call_html(call["name"], call.get("arguments"))
            parts.append(f"<div class='ovnb-call'>🔧 calls {shown}</div>")
    return "".join(parts)


def json_html(text: str) -> str:
    """A structured answer as formatted JSON (as it came, when it does not parse)."""
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    return f"<pre class='ovnb-json'><code>{html.escape(visible(text))}</code></pre>"


def tool_html(message: Message) -> str:
    """A tool turn: the call, then its result (or why there is none)."""
    call = call_html(message.get("name", ""), message.get("arguments"))
    result = html.escape(visible(message["content"]))
    return (f"<div class='ovnb-call'>{call}</div>"
            f"<pre class='ovnb-result'><code>{result}</code></pre>")


def call_html(name: str, arguments: Any) -> str:
    """``add(a=2, b=3)`` in code type, escaped."""
    if isinstance(arguments, dict):
        shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    else:
        shown = json.dumps(arguments, ensure_ascii=False)
    return f"<code>{html.escape(visible(f'{name}({shown})'))}</code>"


def note(message: Message) -> str:
    """The mark under a turn that did not go as planned ('' for one that did)."""
    status = message.get("status")
    if status == "error":
        return "⚠ the call failed: the model reads why, and goes on"
    if status == "declined":
        return "✋ declined: not run"
    if status == "stopped":
        return "⏹ stopped while the tool ran: its result is dropped"
    if message.get("stopped"):
        return "⏹ stopped: the answer so far is kept"
    cut = message.get("cut")
    if cut == "context":
        return "✂ cut: the model's context is full (press Clear to start again)"
    if cut:
        return "✂ cut at max_new_tokens: raise it in Settings for longer answers"
    return ""


def sources_html(sources: list[dict[str, Any]]) -> str:
    """The numbered sources under a grounded answer: each a fold with its name and score, the
    passage inside rendered as the Retriever renders it (``passage_html``: its markdown shown,
    raw HTML escaped), so a source reads the same wherever it is shown."""
    items = "".join(
        f"<details><summary>[{s['n']}] {html.escape(str(s.get('source', '')))}"
        f"{' #' + str(s['number']) if s.get('number') else ''}"
        f"<span class='ovnb-score'> · {float(s.get('score', 0.0)):.2f}</span></summary>"
        f"<div class='ovnb-source-text'>{passage_html(str(s['text']))}</div></details>"
        for s in sources)
    return f"<div class='ovnb-sources-title'>Sources</div>{items}"


@functools.lru_cache(maxsize=256)
def _rendered(text: str) -> str:
    """Markdown HTML of a turn, rendered once (a turn's text never changes)."""
    return markdown_html(text)
