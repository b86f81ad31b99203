"""A front end that records what widgets send it (ipywidgets' own tests do the same)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import comm
import pytest


class RecordingComm:
    """A comm whose kernel is "there": widgets send through it, and it keeps every message."""

    comm_id = "recording"
    kernel = "present"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.messages: list[dict[str, Any]] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, buffers: Any = None, **kwargs: Any) -> None:
        self.messages.append(data)

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture()
def front_end(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Widgets made in the test get a RecordingComm (``widget.comm.messages``)."""
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm())
    yield


def custom_messages(widget: Any) -> list[dict[str, Any]]:
    """The custom messages (``widget.send``) a widget sent its front end."""
    return [m["content"] for m in widget.comm.messages if m.get("method") == "custom"]
