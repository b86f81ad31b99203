"""Speaker, driven as a notebook user drives it: tiny-speecht5 in f32, buttons, dropdown, upload."""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ovnb
from ovnb import layout
from tests.conftest import F32
from tests.sessions.test_tts import PARTS, TEXT, count_calls


@pytest.fixture()
def speaker(tiny_speecht5: Path) -> ovnb.Speaker:
    made = ovnb.Speaker(tiny_speecht5, properties=F32)
    made.wait_loaded()
    return made


def run_button(widget: ovnb.Speaker) -> None:
    widget._speak_btn.click()
    widget.session.call(widget.session._job)


def test_speak_button_shows_each_sentence_as_it_comes_then_the_whole(speaker) -> None:
    rows: list[int] = []
    speaker._sentence_list.observe(lambda change: rows.append(len(change["new"])), "children")
    expected, rate = ovnb.Speaker(speaker.session.wait_loaded().folder,
                                  properties=F32).speak(TEXT)
    speaker._text.value = TEXT
    run_button(speaker)
    assert rows == [1, 2, 3]  # a player per sentence, one at a time
    for row, part in zip(speaker._sentence_list.children, PARTS):
        player, label = row.children
        assert bytes(player.value)[:4] == b"RIFF" and part in label.value
    np.testing.assert_allclose(speaker.speech.samples, expected, atol=1e-5)
    assert bytes(speaker._player.value)[:4] == b"RIFF" and speaker._player.layout.display is None
    assert "of speech in" in speaker._metrics_line.value and "3 of 3 sentences" in \
        speaker._metrics_line.value and "real-time factor" in speaker._metrics_line.value
    assert speaker._progress.value == speaker._progress.max == 3 and not speaker.busy
    assert speaker._speak_btn.disabled is False and speaker._stop_btn.disabled is True


def test_speak_from_code_runs_the_buttons_path(speaker) -> None:
    samples, rate = speaker.speak("Hello there.")
    assert rate == 16000 and len(samples) and speaker._text.value == "Hello there."
    assert len(speaker._sentence_list.children) == 1
    run_button(speaker)
    np.testing.assert_array_equal(speaker.speech.samples, samples)


def test_the_stop_button_ends_after_the_sentence_being_spoken(speaker) -> None:
    calls = count_calls(speaker.session, after=lambda n: n == 1 and speaker._stop_btn.click())
    speaker._text.value = TEXT
    run_button(speaker)
    assert calls == PARTS[:1] and len(speaker._sentence_list.children) == 1
    assert "stopped after 1 of 3 sentences" in speaker._status.value
    assert "1 of 3 sentences" in speaker._metrics_line.value


def test_the_voice_dropdown_and_the_trait_move_together(speaker, tiny_speecht5) -> None:
    options = [value for _, value in speaker._voice.options]
    assert options == ["", "ada", "ben", "cleo"] and speaker._voice.value == ""
    speaker._voice.value = "cleo"
    assert speaker.voice == speaker.session.voice == "cleo"
    speaker.voice = "ben"
    assert speaker._voice.value == "ben"
    cleo = np.fromfile(layout.speakers(tiny_speecht5)["cleo"], np.float32).tobytes()
    speaker._voice_upload.value = ({"name": "mine.bin", "type": "", "size": len(cleo),
                                    "content": memoryview(cleo),
                                    "last_modified": datetime.datetime.now()},)
    assert speaker.voice == "mine" and speaker._voice.value == "mine"
    assert speaker._voice.options[-1] == ("mine", "mine")
    mine = speaker.speak("Hi.")[0]
    speaker.voice = "cleo"
    np.testing.assert_array_equal(speaker.speak("Hi.")[0], mine)


def test_save_writes_the_file_box_name(speaker, tmp_path) -> None:
    speaker._save_btn.click()
    assert speaker.last_error == "no speech yet: press Speak first"
    samples, rate = speaker.speak("Keep this.")
    speaker._filename.value = str(tmp_path / "kept.flac")
    speaker._save_btn.click()
    assert speaker.last_error == "" and "saved kept.flac" in speaker._status.value
    assert sf.read(tmp_path / "kept.flac")[0].shape == samples.shape
