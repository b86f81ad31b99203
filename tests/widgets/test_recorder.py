"""Recorder as its kernel side sees it: a recording arrives as the page sends it (one custom
message with a binary buffer), and lands in ``value`` and every ``on_recorded`` callback."""
from __future__ import annotations

from typing import Any

import numpy as np

from ovnb.audio import RATE, read_audio
from ovnb.widgets.recorder import EMPTY, MAX_SECONDS, STATIC, Recorder
from tests.recordings import webm_opus
from tests.widgets.conftest import RecordingComm


def from_page(widget: Recorder, content: dict[str, Any], buffers: list[Any]) -> None:
    """Deliver a custom message as the comm does when the page calls ``model.send``."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                        "buffers": buffers})


def tone(seconds: float) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE)).astype(
        np.float32)


def test_a_recording_arrives_as_bytes_with_its_type_and_length(front_end: None) -> None:
    recorder = Recorder()
    assert isinstance(recorder.comm, RecordingComm) and recorder.max_seconds == MAX_SECONDS
    heard: list[tuple[bytes, str]] = []
    recorder.on_recorded(lambda data, name: heard.append((data, name)))
    data = webm_opus(tone(1.5), RATE)
    from_page(recorder, {"kind": "recorded", "mime": "audio/webm;codecs=opus", "seconds": 1.5},
              [memoryview(data)])
    assert heard == [(data, "recording.webm")] and recorder.value == data
    assert recorder.mime == "audio/webm;codecs=opus" and recorder.recordings == 1
    assert recorder.note.startswith("the kernel got 1.5 s (")  # the page shows it arrived
    samples, rate = read_audio(recorder.value, recorder.name)
    assert rate == 48000 and abs(len(samples) / RATE - 1.5) < 0.05
    sent = [m for m in recorder.comm.messages if m.get("method") == "update"]
    assert not any("value" in m.get("state", {}) for m in sent)  # the bytes never go back


def test_the_same_bytes_twice_are_two_recordings(front_end: None) -> None:
    recorder = Recorder()
    counts: list[int] = []
    recorder.observe(lambda change: counts.append(change["new"]), "recordings")
    data = webm_opus(tone(0.5), RATE)
    for _ in range(2):
        recorder.receive(data, "audio/webm", 0.5)
    assert counts == [1, 2]


def test_an_empty_recording_is_one_line_and_keeps_the_last(front_end: None) -> None:
    recorder = Recorder()
    data = webm_opus(tone(0.5), RATE)
    recorder.receive(data, "audio/mp4", 0.5)
    assert recorder.name == "recording.m4a"
    called: list[bytes] = []
    recorder.on_recorded(lambda data, name: called.append(data))
    from_page(recorder, {"kind": "recorded", "mime": "audio/webm", "seconds": 0.0}, [])
    assert recorder.note == EMPTY and called == [] and recorder.value == data


def test_the_page_script_names_a_fix_for_every_refusal() -> None:
    """The messages the page shows when it cannot record (it is not run here: the browser test
    runs it) each say what to do instead."""
    script = (STATIC / "recorder.js").read_text()
    for reason in ("allow it in the address bar, or upload a file", "plug one in",
                   "https or localhost", "max_seconds"):
        assert reason in script
