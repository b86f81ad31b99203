"""``Recorder``: record from the browser's microphone, and get the recording in the kernel.

An anywidget of ovnb's own: ``getUserMedia`` and ``MediaRecorder`` run in the page, which keeps
the encoded chunks itself and sends the whole recording once, when it stops, as one custom
message with a binary buffer (the mime type and length in its content). A synced Bytes trait
would do too, but would also be stored in the widget's state and copied to every view opened
later; a recording of a few minutes (a few MB of opus) only needs to reach the kernel once.

The page says in one line why it cannot record (no microphone, refused, an http page), and stops
at ``max_seconds`` with a note, so a forgotten recording never grows past what a model can hear.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

STATIC = Path(__file__).with_name("static")
MAX_SECONDS = 300.0  # ovnb.sessions.omni.MAX_AUDIO_SECONDS: an omni model hears at most 5 min
EMPTY = "the recording came back empty (0 bytes): record again, or upload a file"
SUFFIXES = {"audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a", "audio/wav": "wav"}

Recorded = Callable[[bytes, str], Any]  # (the recording's bytes, its file name)


class Recorder(anywidget.AnyWidget):
    """A Record / Stop button with the seconds recorded so far and one line of notes.

    When a recording stops, ``value`` holds its bytes (as the browser encoded them: webm/opus in
    Chromium and Firefox, mp4 in Safari), ``mime`` their type, ``seconds`` the page's count, and
    every ``on_recorded`` callback is called with the bytes and a file name; ``recordings``
    counts them (observe it to hear of each, even a repeat of the same bytes).
    """

    _esm = STATIC / "recorder.js"
    _css = STATIC / "recorder.css"
    max_seconds = traitlets.Float(MAX_SECONDS, help="a recording stops by itself at this length"
                                  ).tag(sync=True)
    recording = traitlets.Bool(False, help="True while the page records (set by the page)"
                               ).tag(sync=True)
    note = traitlets.Unicode("", help="one line under the button: why the page cannot record, "
                             "or what the last recording was").tag(sync=True)
    disabled = traitlets.Bool(False, help="True: the button cannot start a recording").tag(
        sync=True)
    value = traitlets.Bytes(b"", help="the last recording, as the browser encoded it")
    mime = traitlets.Unicode("", help="the last recording's type, e.g. audio/webm;codecs=opus")
    seconds = traitlets.Float(0.0, help="the last recording's length as the page counted it")
    recordings = traitlets.Int(0, help="recordings received so far")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Recorded] = []
        self.on_msg(self._on_front)

    @property
    def name(self) -> str:
        """A file name for the last recording, its suffix from the mime type (decoders sniff the
        bytes anyway; the name is what the learner reads)."""
        kind = self.mime.split(";")[0].strip().lower()
        return f"recording.{SUFFIXES.get(kind, 'webm')}"

    def on_recorded(self, callback: Recorded) -> None:
        """Call ``callback(bytes, name)`` with every finished recording."""
        self._callbacks.append(callback)

    def _on_front(self, _: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == "recorded":
            self.receive(bytes(buffers[0]) if buffers else b"", str(content.get("mime", "")),
                         float(content.get("seconds", 0.0) or 0.0))

    def receive(self, data: bytes, mime: str, seconds: float) -> None:
        """Take a recording the page made (tests call this as the page would)."""
        if not data:
            self.note = EMPTY
            return
        with self.hold_trait_notifications():
            self.value, self.mime, self.seconds = data, mime, seconds
            self.recordings += 1
            # the page said "sending": this line tells the learner the kernel has it
            self.note = f"the kernel got {seconds:.1f} s ({len(data) / 1024:.0f} KB)"
        for callback in list(self._callbacks):
            callback(data, self.name)

    def __repr__(self) -> str:
        return f"Recorder(recordings={self.recordings}, seconds={self.seconds:.1f})"
