"""``ChatPanel``: the conversation panel of Chat and VisionChat (an anywidget).

Finished turns are a synced trait of small HTML fragments (markdown rendered in Python, raw HTML
escaped). The answer being generated travels as custom messages carrying only the new text since
the last one, at most ten a second: a long answer costs the page what it adds, not its whole text
again at every update. A view opened mid-answer asks for the text so far ("hello").
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ovnb.widgets.render import visible

STATIC = Path(__file__).with_name("static")


class ChatPanel(anywidget.AnyWidget):
    """A scrollable panel of bounded height that follows the stream; user and model turns apart."""

    _esm = STATIC / "chat.js"
    _css = STATIC / "chat.css"
    turns = traitlets.List(traitlets.Dict(), help="finished turns: {role, who, html, note} and, "
                           "for a grounded answer, sources (HTML)").tag(sync=True)
    placeholder = traitlets.Unicode("No messages yet: ask something below.").tag(sync=True)
    model_label = traitlets.Unicode("Model", help="who the live answer is from").tag(sync=True)
    height = traitlets.Unicode("420px", help="the panel's largest height (CSS)").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.live_text = ""  # what the page has of the answer being generated
        self.live_messages = 0  # custom messages sent for live text (bounded: tests count them)
        self.on_msg(self._on_front)

    def show_live(self, text: str) -> None:
        """Show the answer so far: sends what is new since the last call (or all, if it changed)."""
        if text == self.live_text:
            return
        reset = not text.startswith(self.live_text)
        delta = text if reset else text[len(self.live_text):]
        self.live_text = text
        self.live_messages += 1
        self.send({"kind": "live", "text": visible(delta), "reset": reset})

    def end_live(self) -> None:
        """The answer is done (its turn follows in ``turns``): drop the live text."""
        self.live_text = ""
        self.send({"kind": "end"})

    def _on_front(self, _: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == "hello" and self.live_text:
            self.send({"kind": "live", "text": visible(self.live_text), "reset": True})
