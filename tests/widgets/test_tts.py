"""Speaker, driven as a notebook user drives it: tiny-speecht5 in f32, buttons, dropdown, upload."""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ovnb
from ovnb import voices
from tests.conftest import F32
from tests.sessions.test_tts import PARTS, TEXT, count_calls


@pytest.fixture()
def speaker(tiny_speecht5: Path) -> ovnb.Speaker:
    made = ovnb.Speaker(tiny_speecht5, properties=F32)
    made.wait_loaded()
    return made


def run_button(widget: ovnb.Speaker) -> None:
    widget.view.controls["run"].click()
    widget.session.join()


def test_speak_button_shows_each_sentence_as_it_comes_then_the_whole(speaker) -> None:
    rows: list[int] = []
    speaker.view.sentence_list.observe(lambda change: rows.append(len(change["new"])), "children")
    other = ovnb.Speaker(speaker.session.wait_loaded().folder, properties=F32)
    expected, rate = other.speak(TEXT)
    assert len(expected), (other.last_error, other.status, other.error_details)
    speaker.view.controls["text"].value = TEXT
    run_button(speaker)
    assert rows == [1, 2, 3]  # a player per sentence, one at a time
    for row, part in zip(speaker.view.sentence_list.children, PARTS):
        player, label = row.children
        assert bytes(player.value)[:4] == b"RIFF" and part in label.value
    np.testing.assert_allclose(speaker.speech.samples, expected, atol=1e-5)
    assert bytes(speaker.view.player.value)[:4] == b"RIFF" and speaker.view.player.layout.display is None
    assert "of speech in" in speaker.view.figures_line.value and "3 of 3 sentences" in \
        speaker.view.figures_line.value and "real-time factor" in speaker.view.figures_line.value
    assert speaker.view.progress.value == speaker.view.progress.max == 3 and not speaker.busy
    assert speaker.view.controls["run"].disabled is False and speaker.view.controls["stop"].disabled is True


def test_speak_from_code_runs_the_buttons_path(speaker) -> None:
    samples, rate = speaker.speak("Hello there.")
    assert rate == 16000 and len(samples) and speaker.view.controls["text"].value == "Hello there."
    assert len(speaker.view.sentence_list.children) == 1
    run_button(speaker)
    np.testing.assert_array_equal(speaker.speech.samples, samples)


def test_the_stop_button_ends_after_the_sentence_being_spoken(speaker) -> None:
    calls = count_calls(speaker.session, after=lambda n: n == 1 and speaker.view.controls["stop"].click())
    speaker.view.controls["text"].value = TEXT
    run_button(speaker)
    assert calls == PARTS[:1] and len(speaker.view.sentence_list.children) == 1
    assert "stopped after 1 of 3 sentences" in speaker.view.status_line.value
    assert "1 of 3 sentences" in speaker.view.figures_line.value


def test_the_voice_dropdown_and_the_trait_move_together(speaker, tiny_speecht5) -> None:
    options = [value for _, value in speaker.view.controls["voice"].options]
    assert options == ["", "ada", "ben", "cleo"] and speaker.view.controls["voice"].value == ""
    speaker.view.controls["voice"].value = "cleo"
    assert speaker.voice == speaker.session.voice == "cleo"
    speaker.voice = "ben"
    assert speaker.view.controls["voice"].value == "ben"
    cleo = np.fromfile(voices.speakers(tiny_speecht5)["cleo"], np.float32).tobytes()
    speaker.view.controls["voice_upload"].value = ({"name": "mine.bin", "type": "", "size": len(cleo),
                                    "content": memoryview(cleo),
                                    "last_modified": datetime.datetime.now()},)
    assert speaker.voice == "mine" and speaker.view.controls["voice"].value == "mine"
    assert speaker.view.controls["voice"].options[-1] == ("mine", "mine")
    mine = speaker.speak("Hi.")[0]
    speaker.voice = "cleo"
    np.testing.assert_array_equal(speaker.speak("Hi.")[0], mine)


def test_save_writes_the_file_box_name(speaker, tmp_path) -> None:
    speaker.view.controls["save"].click()
    assert speaker.last_error == "no speech yet: press Speak first"
    samples, rate = speaker.speak("Keep this.")
    speaker.view.controls["filename"].value = str(tmp_path / "kept.flac")
    speaker.view.controls["save"].click()
    assert speaker.last_error == "" and "saved kept.flac" in speaker.view.status_line.value
    assert sf.read(tmp_path / "kept.flac")[0].shape == samples.shape
