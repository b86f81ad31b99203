"""``PromptBox``: the question box of the chat views, where Enter sends (Shift+Enter: new line).

ipywidgets' Textarea gives the kernel no key events, so Enter could only ever add a line there;
chat apps send on Enter. This anywidget is a text area with ipywidgets' look (the same classes) and
``value``; Enter sends its text in the message itself, so what the kernel answers is exactly what
the learner saw in the box, never a value update still on its way.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

STATIC = Path(__file__).with_name("static")

Submitted = Callable[["PromptBox"], Any]


class PromptBox(anywidget.AnyWidget):
    """A text area; ``on_submit(callback)`` is called with the box when Enter is pressed in it."""

    _esm = STATIC / "prompt.js"
    value = traitlets.Unicode("", help="the text in the box").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Submitted] = []
        self.on_msg(self._on_front)

    def on_submit(self, callback: Submitted) -> None:
        """Call ``callback(box)`` each time Enter sends the box's text."""
        self._callbacks.append(callback)

    def submit(self, text: str | None = None) -> None:
        """What Enter does: the box holds ``text`` (when given), then every callback runs."""
        if text is not None:
            self.value = text
        for callback in list(self._callbacks):
            callback(self)

    def _on_front(self, _: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == "submit":
            self.submit(str(content.get("value", "")))
