"""``ovnb.Chat``: a view of a ChatSession: the conversation panel, a prompt, settings, metrics.

``ConversationWidget`` is what Chat and VisionChat share: the panel (``ChatView``: turns rendered
at chat scale, the answer streamed in as deltas), Send/Stop/Undo/Clear, the settings panel made
from the session's setting traits, the metrics line.
"""
from __future__ import annotations

import functools
import html
import json
import os
from typing import Any

import ipywidgets as widgets
import traitlets

from ovnb import speculative, structured
from ovnb import tools as toolkit
from ovnb.sessions.agent import ToolState
from ovnb.sessions.chat import ChatSession, ChatState, ConversationSession, LLMSettings, Message
from ovnb.widgets.base import PipelineWidget
from ovnb.widgets.chatview import ChatView
from ovnb.widgets.lora import LoraMixer, connect, mixer_for
from ovnb.widgets.render import (
    bind, markdown_html, metrics_line, set_slider_max, setting_controls, visible)
from ovnb.widgets.speculative import AssistantControls

WHO = {"user": "You", "assistant": "Model", "system": "System", "tool": "Tool"}


class ConversationWidget(PipelineWidget, ChatState, LLMSettings):
    """The view of a ConversationSession; subclasses add their inputs (an image picker...)."""

    adapters = traitlets.Dict(help="LoRA adapter file -> strength for the next answers (0: off)")
    placeholder = "Ask something, then press Send"

    def __init__(self, session: ConversationSession, mixer: LoraMixer | None = None,
                 assistant: str | None = None) -> None:
        super().__init__(session)
        self.mixer = mixer
        connect(mixer, self)
        self._view = ChatView(model_label=WHO["assistant"])
        self._prompt = widgets.Textarea(placeholder=self.placeholder, continuous_update=False,
                                        layout=widgets.Layout(width="100%", height="4em"))
        self._send_btn = widgets.Button(description="Send", button_style="primary",
                                        icon="paper-plane")
        self._stop_btn = widgets.Button(description="Stop", icon="stop")
        self._undo_btn = widgets.Button(description="Undo", icon="undo")
        self._clear_btn = widgets.Button(description="Clear", icon="trash")
        self._metrics_line = widgets.HTML()
        self._controls = setting_controls(self)
        self._assistant = (AssistantControls(self, assistant == "prompt lookup")
                           if assistant else None)
        self._wire()

    def _wire(self) -> None:
        self._send_btn.on_click(lambda _: self._submit_from_view())
        self._stop_btn.on_click(lambda _: self.stop())
        self._undo_btn.on_click(lambda _: self.undo())
        self._clear_btn.on_click(lambda _: self.clear())
        self._busy_controls([self._send_btn, self._undo_btn, self._clear_btn], [self._stop_btn])
        self.observe(lambda _: self._show_turns(), "messages")
        self.observe(lambda change: self._show_live(change["new"]), "live")
        self.observe(lambda _: self._show_metrics(), "metrics")
        self.observe(lambda change: set_slider_max(self._controls["max_new_tokens"],
                                                   change["new"]), "context_length")
        set_slider_max(self._controls["max_new_tokens"], self.context_length)

    def _settings_panel(self, *extra: widgets.Widget) -> widgets.Accordion:
        self._system = widgets.Textarea(description="System",
                                        placeholder="a system prompt (optional)",
                                        layout=widgets.Layout(width="100%"))
        bind(self._system, self, "system_prompt")
        body = widgets.VBox([self._system, *self._controls.values(), *extra,
                             *filter(None, [self._assistant])])
        return widgets.Accordion([body], titles=("Settings",), selected_index=None)

    def _layout(self, *inputs: widgets.Widget) -> None:
        buttons = widgets.HBox([self._send_btn, self._stop_btn, self._undo_btn, self._clear_btn])
        mixer = [self.mixer] if self.mixer is not None else []
        self.children = [self._view, *inputs, self._prompt, buttons, *mixer, self._metrics_line,
                         self._status, self._error, self._settings_panel(*self._extra_settings())]
        self._show_turns()

    # the views -----------------------------------------------------------------------------------
    def _show_turns(self) -> None:
        if self._view.live_text:
            self._view.end_live()
        self._view.turns = [self._turn(m) for m in self.messages]

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

    def _show_live(self, text: str) -> None:
        if text:
            self._view.show_live(text)
        elif self._view.live_text:  # a run ended without a new turn (an error): drop its text
            self._view.end_live()

    def _show_metrics(self) -> None:
        self._metrics_line.value = metrics_line(self._metric_parts(self.metrics)) if self.metrics \
            else ""

    def _metric_parts(self, m: dict[str, Any]) -> list[str]:
        return [f"first token {m['ttft_ms']:.0f} ms", f"{m['tokens_per_s']:.1f} tokens/s",
                f"{m['tokens']} tokens"]

    # actions -------------------------------------------------------------------------------------
    def send(self, text: str, buffers: Any = None, **request: Any) -> str:  # type: ignore[override]
        """Send ``text`` the way the Send button does; blocks; the answer ('' on error)."""
        if isinstance(text, dict):  # ipywidgets' own custom message (focus/blur use it)
            return super().send(text, buffers)
        return self.session.send(text, **request)

    def undo(self) -> None:
        """Drop the last exchange (question and answer)."""
        self.session.undo()

    def clear(self) -> None:
        """Start a new conversation."""
        self.session.clear()

    def _submit_from_view(self) -> None:
        if self.session.submit(self._prompt.value, **self._view_request()) is not None:
            self._prompt.value = ""

    def _view_request(self) -> dict[str, Any]:
        """What the Send button asks besides the text (a subclass's options)."""
        return {}


class Chat(ConversationWidget, ToolState):
    """Chat with a model: ``Chat("tiny-llm").send("Hello") -> str`` (a view of ``ChatSession``).

    ``model`` is a catalog id or a prepared folder; ``device`` a name (CPU, GPU, NPU, AUTO...) or a
    DevicePicker: the device's own settings are applied (on NPU: int4-npu weights, prompt and answer
    limits). ``draft`` a smaller model with the same tokenizer for speculative decoding (checked at
    load), run on ``draft_device``; ``prompt_lookup=True`` drafts from the prompt instead. The
    assistant drafts ``num_assistant_tokens`` per step (default 5) or as long as it is confident
    (``assistant_confidence_threshold``), never both; prompt lookup also takes ``max_ngram_size``.
    ``adapters`` LoRA files (a list, a dict file -> strength, or a ``LoraMixer`` whose sliders set
    each answer's strengths; all are registered once, at build); ``properties`` OpenVINO properties
    (e.g. ``INFERENCE_PRECISION_HINT="f32"``); ``retriever`` an ``ovnb.Retriever``: each answer is
    grounded on the passages it finds, shown as numbered sources under the answer and kept in its
    message (``sources``); ``**settings`` generation settings by openvino_genai's names
    (``max_new_tokens``, ``temperature``...): each is a trait of the widget.

    ``send(text, json_schema=...)`` answers under a JSON schema (a dict, JSON text or a pydantic
    class) and returns the parsed value, shown as formatted JSON; the Send button does the same
    with the schema in Settings (``json_schema``, JSON text). ``tools`` are functions the model
    may call (``tool_choice``: auto, required, none); each call shows in the conversation with its
    arguments and result. ``approve`` decides from code whether calls run (True, False, a function
    call -> bool); in the widget, ``ask_tools`` (Settings) shows each call with Approve / Deny
    before it runs. A thinking model's thinking shows folded above its answer.
    """

    json_schema = traitlets.Unicode("", help="a JSON schema (JSON text) the Send button's answers "
                                             "follow ('' for free text)")
    ask_tools = traitlets.Bool(False, help="the Send button asks (Approve / Deny) before each "
                                           "tool call runs")

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", draft: Any = None,
                 adapters: Any = None, system_prompt: str = "",
                 properties: dict[str, Any] | None = None, draft_device: Any = None,
                 prompt_lookup: bool = False, tools: Any = None, tool_choice: str = "auto",
                 approve: Any = True, reasoning: bool | None = None, retriever: Any = None,
                 **settings: Any) -> None:
        mixer = mixer_for(adapters)
        session = ChatSession(model, device, draft, mixer.strengths if mixer else None,
                              system_prompt, properties, draft_device, prompt_lookup, tools=tools,
                              tool_choice=tool_choice, approve=approve, reasoning=reasoning,
                              retriever=retriever, **settings)
        assistant = "draft" if draft is not None else "prompt lookup" if prompt_lookup else None
        super().__init__(session, mixer, assistant)
        self._pending = PendingCall(self.session)
        self.observe(lambda change: self._pending.show(change["new"]), "pending_call")
        self._layout(self._pending)

    def _extra_settings(self) -> tuple[widgets.Widget, ...]:
        schema = widgets.Textarea(
            description="JSON schema", continuous_update=False,
            placeholder=f"answers follow this JSON schema, e.g. {structured.EXAMPLE}",
            layout=widgets.Layout(width="100%", height="6em"))
        bind(schema, self, "json_schema")
        controls: list[widgets.Widget] = [schema]
        if self.session.tools:
            choice = widgets.ToggleButtons(options=["auto", "required", "none"],
                                           description="tools", tooltip="how the model may call "
                                           f"{', '.join(self.session.tools)}")
            ask = widgets.Checkbox(description="ask before running each tool call", indent=True)
            bind(choice, self, "tool_choice")
            bind(ask, self, "ask_tools")
            controls += [choice, ask]
        return tuple(controls)

    def _view_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {}
        if self.json_schema.strip():
            request["json_schema"] = self.json_schema
        if self.ask_tools:
            request["approve"] = "ask"
        return request

    @property
    def device(self) -> str:
        """The device asked for (a DevicePicker's value when one was given)."""
        return self.session.device

    @property
    def plan(self) -> speculative.LLMPlan | None:
        """How the pipeline was built (devices, properties, assistant), once loaded."""
        return self.session.plan

    def _metric_parts(self, m: dict[str, Any]) -> list[str]:
        lookup = self.plan is not None and self.plan.prompt_lookup
        drafting = m if "acceptance" in m else {}
        calls = m.get("tool_calls")
        return [*super()._metric_parts(m), speculative.metrics_text(drafting, lookup),
                f"{calls} tool call{'s' * (calls != 1)}" if calls else ""]


class PendingCall(widgets.HBox):
    """A tool call waiting for approval: what it would run, with Approve and Deny."""

    def __init__(self, session: ChatSession) -> None:
        self._what = widgets.HTML()
        approve = widgets.Button(description="Approve", button_style="success", icon="check")
        deny = widgets.Button(description="Deny", button_style="danger", icon="times")
        approve.on_click(lambda _: session.decide(True))
        deny.on_click(lambda _: session.decide(False))
        self.approve_button, self.deny_button = approve, deny
        super().__init__([self._what, approve, deny], layout=widgets.Layout(display="none"))

    def show(self, call: dict[str, Any]) -> None:
        """Show ``call`` ({} hides the box)."""
        if call:
            self._what.value = f"Run {call_html(call['name'], call.get('arguments'))}?"
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
    passage inside (escaped)."""
    items = "".join(
        f"<details><summary>[{s['n']}] {html.escape(str(s.get('source', '')))}"
        f"{' #' + str(s['number']) if s.get('number') else ''}"
        f"<span class='ovnb-score'> · {float(s.get('score', 0.0)):.2f}</span></summary>"
        f"<div class='ovnb-source-text'>{html.escape(visible(str(s['text'])))}</div></details>"
        for s in sources)
    return f"<div class='ovnb-sources-title'>Sources</div>{items}"


@functools.lru_cache(maxsize=256)
def _rendered(text: str) -> str:
    """Markdown HTML of a turn, rendered once (a turn's text never changes)."""
    return markdown_html(text)
