"""Speaker, driven as a notebook user drives it: tiny-speecht5 in f32, buttons, dropdown, upload."""
from __future__ import annotations

import datetime
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ovnb
from ovnb import voices
from ovnb.sessions.tts import Spoken, join
from ovnb.widgets.tts import due, sentence_times, speech_samples
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


def test_speak_button_lists_each_sentence_as_it_comes_in_one_player(speaker) -> None:
    player = speaker.view.player
    listed: list[list[str]] = []
    sent: list[tuple[int, bool]] = []  # (samples, continues) of each audio the player got
    player.observe(lambda change: listed.append([t for _, _, t in change["new"]]), "words")
    player.observe(lambda change: sent.append((len(sf.read(io.BytesIO(change["new"]))[0]),
                                               player.continues)), "wav")
    other = ovnb.Speaker(speaker.session.wait_loaded().folder, properties=F32)
    expected, rate = other.speak(TEXT)
    assert len(expected), (other.last_error, other.status, other.error_details)
    speaker.view.controls["text"].value = TEXT
    run_button(speaker)
    assert listed == [PARTS[:1], PARTS[:2], PARTS]  # the list fills a sentence at a time
    first = len(speaker.sentences[0].samples)
    assert sent[0] == (first, False)  # the first sentence plays while the rest is made
    assert sent[-1] == (len(expected), len(sent) > 1) and len(sent) <= len(PARTS)
    assert [n for n, _ in sent] == sorted(n for n, _ in sent)  # each the speech so far, grown
    np.testing.assert_allclose(speaker.speech.samples, expected, atol=1e-5)
    heard = sf.read(io.BytesIO(player.wav), dtype="float32")[0]
    np.testing.assert_allclose(heard, expected, atol=1 / 16384)  # the whole speech, as 16-bit WAV
    assert player.words[-1][1] == pytest.approx(len(expected) / rate)
    assert player.layout.display is None
    assert "of speech in" in speaker.view.figures_line.value and "3 of 3 sentences" in \
        speaker.view.figures_line.value and "real-time factor" in speaker.view.figures_line.value
    assert speaker.view.progress.value == speaker.view.progress.max == 3 and not speaker.busy
    assert speaker.view.controls["run"].disabled is False and speaker.view.controls["stop"].disabled is True


def test_a_new_run_starts_the_player_afresh(speaker) -> None:
    speaker.speak(TEXT)
    starts: list[bool] = []
    speaker.view.player.observe(lambda change: starts.append(speaker.view.player.continues), "wav")
    samples, _ = speaker.speak("Hello there.")
    assert [t for _, _, t in speaker.view.player.words] == ["Hello there."]
    assert starts[-1] is False and len(sf.read(io.BytesIO(speaker.view.player.wav))[0]) == len(samples)


def test_sentence_times_follow_the_joined_speech() -> None:
    rate = 16000
    spoken = [Spoken(text, np.full(n, i + 1, np.float32), rate, 0.0)
              for i, (text, n) in enumerate([("One.", 8000), ("Two, longer.", 24000), ("3?", 1)])]
    speech = join(spoken, rate)
    assert speech_samples(spoken) == len(speech)
    for (start, end, text), part in zip(sentence_times(spoken), spoken):
        assert text == part.text
        np.testing.assert_array_equal(speech[round(start * rate):round(end * rate)], part.samples)
    assert sentence_times([]) == [] and speech_samples([]) == 0


def test_the_speech_so_far_is_sent_when_it_has_doubled() -> None:
    assert due(0, 100) and not due(0, 0)  # a run's first sentence at once
    assert not due(100, 150) and due(100, 200) and due(100, 900)


def test_speak_from_code_runs_the_buttons_path(speaker) -> None:
    samples, rate = speaker.speak("Hello there.")
    assert rate == 16000 and len(samples) and speaker.view.controls["text"].value == "Hello there."
    assert len(speaker.view.player.words) == 1
    run_button(speaker)
    np.testing.assert_array_equal(speaker.speech.samples, samples)


def test_the_stop_button_ends_after_the_sentence_being_spoken(speaker) -> None:
    calls = count_calls(speaker.session, after=lambda n: n == 1 and speaker.view.controls["stop"].click())
    speaker.view.controls["text"].value = TEXT
    run_button(speaker)
    assert calls == PARTS[:1] and [t for _, _, t in speaker.view.player.words] == PARTS[:1]
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
