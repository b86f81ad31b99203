"""Omni, driven as a notebook user drives it (the recording picker, the voice dropdown, the speak
box, Send and the speech player), on tiny-qwen3-omni in f32."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import ovnb
from ovnb.audio import RATE, SAMPLE, load_audio, to_wav
from tests.conftest import F32
from tests.recordings import webm_opus
from tests.sessions.test_omni import GREEDY, bare

pytestmark = pytest.mark.slow  # builds and exports a model on a fresh cache


def omni_widget(folder: Path, **kwargs: object) -> ovnb.Omni:
    widget = ovnb.Omni(folder, properties=F32, **GREEDY, **kwargs)
    widget.wait_loaded()
    return widget


def test_send_with_the_sample_recording_answers_and_plays_its_speech(omni: Path) -> None:
    widget = omni_widget(omni)
    c = widget.view.controls
    c["audio_samples"].value = str(SAMPLE)
    assert SAMPLE.name in widget.view.audio_label.value and widget.audio_clip is not None
    c["prompt"].value = "What do you hear?"
    c["run"].click()
    widget.join()
    answers, wave = bare(omni, ["What do you hear?"], load_audio(SAMPLE))
    assert widget.messages[-1]["content"] == answers[0] and widget.last_error == ""
    # the samples of speech after a recording can depend on what the shared pipeline heard
    # before (tests/sources/test_tiny_qwen3_omni.py): the player holds the session's, as long
    # as the bare pipeline's
    samples, rate = widget.speech
    assert wave is not None and samples.shape == wave.shape and rate == 24000
    assert widget.view.player.value == to_wav(samples, rate)
    assert widget.view.player.layout.display is None  # shown
    assert f"🎤 {SAMPLE.name}" in widget.view.panel.turns[0]["html"]
    assert "no recording" in widget.view.audio_label.value  # sent with that question
    assert "s of speech" in widget.view.figures_line.value


def test_the_voice_dropdown_offers_the_talkers_speakers(omni: Path) -> None:
    widget = omni_widget(omni)
    voice = widget.view.controls["voice"]
    assert [v for _, v in voice.options] == ["", "ada", "ben"]
    voice.value = "ben"
    assert widget.voice == "ben"
    widget.voice = "ada"
    assert voice.value == "ada"
    widget.send("Hello!")
    assert np.array_equal(widget.speech[0], bare(omni, ["Hello!"], speaker="ada")[1])


def test_unticking_speak_answers_in_text_only(omni: Path) -> None:
    widget = omni_widget(omni)
    widget.view.controls["speak"].value = False
    assert widget.speak is False
    assert widget.send("Hello!") == bare(omni, ["Hello!"], speak=False)[0][0]
    assert widget.speech is None and widget.view.player.layout.display == "none"


def test_a_bad_recording_is_one_line_under_the_conversation(omni: Path, tmp_path: Path) -> None:
    widget = omni_widget(omni)
    widget.send("Hello!", speak=False)
    kept = list(widget.messages)
    widget.view.controls["audio_path"].value = str(tmp_path / "missing.wav")
    assert "no such audio file" in widget.view.error_line.value
    assert widget.audio_clip is None and widget.messages == kept
    widget.view.controls["audio_samples"].value = str(SAMPLE)
    widget.remove_audio()
    assert widget.audio_clip is None and "no recording" in widget.view.audio_label.value


def test_a_recording_made_in_the_page_is_the_next_questions(omni: Path) -> None:
    """The Record button's recording, handed over as the page's message does (the message
    itself: test_recorder.py): the session hears it at its length, the status line says so, and the
    next question carries it."""
    widget = omni_widget(omni)
    record = widget.view.controls["record"]
    original = load_audio(SAMPLE)
    data = webm_opus(original, RATE)
    record.receive(data, "audio/webm;codecs=opus", 7.1)  # as the page sends it
    clip = widget.audio_clip
    assert clip is not None and clip.name == "recording.webm"
    assert abs(clip.seconds - len(original) / RATE) < 0.05
    assert f"heard recording.webm: {clip.seconds:.1f} s" in widget.view.status_line.value
    assert "recording.webm" in widget.view.audio_label.value and widget.last_error == ""
    widget.send("What do you hear?", speak=False)
    assert "🎤 recording.webm" in widget.view.panel.turns[0]["html"]
    assert widget.audio_clip is None  # sent with that question


def test_a_recording_that_cannot_be_heard_is_one_line(omni: Path) -> None:
    widget = omni_widget(omni)
    widget.view.controls["record"].receive(b"\x1aE\xdf\xa3 cut short", "audio/webm", 0.1)
    assert "recording.webm is not audio" in widget.view.error_line.value
    assert widget.audio_clip is None
    assert not widget.view.controls["record"].disabled  # record again


def parent_row(view: object, control: object) -> object:
    """The box in ``view``'s tree whose children hold ``control``."""
    boxes = [view]
    while boxes:
        box = boxes.pop()
        children = list(getattr(box, "children", ()))
        if any(child is control for child in children):
            return box
        boxes += children
    raise AssertionError("not shown")


def test_the_pickers_show_what_code_chose_each_in_one_row(omni: Path) -> None:
    from ovnb.images import samples

    widget = omni_widget(omni)
    view, c = widget.view, widget.view.controls
    for upload, sample, remove, path in [("upload", "samples", "remove_image", "image_path"),
                                         ("video_upload", "video_samples", "remove_video",
                                          "video_path"),
                                         ("audio_upload", "audio_samples", "remove_audio",
                                          "audio_path")]:
        row = parent_row(view, c[path])  # the path box beside its buttons, as in VisionChat
        assert list(row.children) == [c[upload], c[sample], c[remove], c[path]]
        assert "ovnb-picker" in row._dom_classes and c[sample].label.endswith("…")  # not blank
    widget.choose_audio(SAMPLE)  # code chooses the bundled recording: the dropdown shows it
    assert c["audio_samples"].label == SAMPLE.name and SAMPLE.name in view.audio_label.value
    widget.choose_audio((load_audio(SAMPLE)[:RATE], RATE))  # samples of one's own
    assert c["audio_samples"].value is None and c["audio_samples"].label == "sample recording…"
    assert "🎤 the recording · 1.0 s" in view.audio_label.value
    widget.choose(samples()["house"])
    assert c["samples"].label == "house"
    widget.remove_audio()
    assert c["audio_samples"].label == "sample recording…" and widget.audio_clip is None


def test_concurrent_sends_queue_each_with_its_own_recording(omni: Path, tmp_path: Path) -> None:
    widget = omni_widget(omni, speak=False)
    hum = tmp_path / "hum.wav"
    hum.write_bytes(to_wav(np.sin(np.arange(RATE // 2) * 0.05).astype(np.float32), RATE))
    recordings = {"q0": SAMPLE, "q1": hum, "q2": SAMPLE}
    answers: list[str] = []
    threads = [threading.Thread(target=lambda q=q, a=a: answers.append(widget.send(q, audio=a)))
               for q, a in recordings.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 3 and widget.last_error == ""
    asked = {m["content"]: m.get("audio") for m in widget.messages if m["role"] == "user"}
    assert asked == {q: a.name for q, a in recordings.items()}  # each question took its own
    assert widget.audio_clip is None
