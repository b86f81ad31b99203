"""SpeakerSession on tiny-speecht5 (in f32): one generate call per sentence, voices, Stop, saving.

Expected speech comes from the bare Text2SpeechPipeline, one sentence per call, so every check
compares with what openvino_genai itself says. Nothing races a clock: Stop is pressed from the
worker after a counted sentence.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import traitlets

from ovnb import voices
from ovnb.sentences import MOST
from ovnb.sessions.tts import PAUSE_SECONDS, Alphabet, SpeakerSession, unsayable
from tests.conftest import F32

TEXT = "The first sentence. A second one, a bit longer! And a third?"
PARTS = ["The first sentence.", "A second one, a bit longer!", "And a third?"]


@pytest.fixture(scope="module")
def pipe(tiny_speecht5: Path) -> Any:  # -> openvino_genai.Text2SpeechPipeline
    import openvino_genai

    return openvino_genai.Text2SpeechPipeline(str(tiny_speecht5), "CPU", **F32)


def bare(pipe: Any, folder: Path, text: str, voice: str | None = "ada", **settings: Any
         ) -> np.ndarray:
    """What the pipeline says for one sentence (None: its built-in voice)."""
    import openvino

    embedding = None
    if voice is not None:
        shape = tuple(pipe.get_speaker_embedding_shape())
        embedding = openvino.Tensor(voices.read_speaker(voices.speakers(folder)[voice], shape))
    return np.array(pipe.generate(text, embedding, **settings).speeches[0].data).reshape(-1)


def joined(pieces: list[np.ndarray], rate: int = 16000) -> np.ndarray:
    pause = np.zeros(int(PAUSE_SECONDS * rate), np.float32)
    out = [pieces[0]]
    for piece in pieces[1:]:
        out += [pause, piece]
    return np.concatenate(out)


def count_calls(session: SpeakerSession, after: Any = None) -> list[str]:
    """Record the text of every generate call the session makes (``after(n)`` runs after call n)."""
    calls: list[str] = []
    say = session._say

    def counted(loaded: Any, part: str, *args: Any) -> Any:
        spoken = say(loaded, part, *args)
        calls.append(part)
        if after is not None:
            after(len(calls))
        return spoken

    session._say = counted  # type: ignore[method-assign]
    return calls


@pytest.fixture()
def session(tiny_speecht5: Path) -> SpeakerSession:
    made = SpeakerSession(tiny_speecht5, properties=F32, voice="ada")
    made.wait_loaded()
    return made


def test_each_sentence_is_one_call_and_the_speech_is_theirs_joined(session, pipe,
                                                                   tiny_speecht5) -> None:
    seen: list[int] = []
    session.observe(lambda change: seen.append(len(change["new"])), "sentences")
    calls = count_calls(session)
    samples, rate = session.speak(TEXT)
    assert calls == PARTS and rate == 16000 and samples.dtype == np.float32
    expected = [bare(pipe, tiny_speecht5, part) for part in PARTS]
    np.testing.assert_allclose(samples, joined(expected), atol=1e-5)
    assert seen == [0, 1, 2, 3]  # reset, then one more sentence with each call
    assert [s.text for s in session.sentences] == PARTS and session.progress == (3, 3)
    for spoken, want in zip(session.sentences, expected):
        np.testing.assert_allclose(spoken.samples, want, atol=1e-5)
    m = session.metrics
    assert m["sentences"] == m["sentences_asked"] == 3
    assert m["audio_s"] == pytest.approx(len(samples) / rate)
    assert m["rtf"] == pytest.approx(m["seconds"] / m["audio_s"]) and session.status == "done"


def test_voices_are_the_models_and_the_builtin_one(session, pipe, tiny_speecht5) -> None:
    assert session.voices == ["ada", "ben", "cleo"] and session.builtin_voice
    for voice in ("ben", ""):
        session.voice = voice
        samples, _ = session.speak("Same words.")
        np.testing.assert_allclose(samples, bare(pipe, tiny_speecht5, "Same words.",
                                                 voice or None), atol=1e-5)
    with pytest.raises(traitlets.TraitError, match="voice 'zed' is not one this model offers: "
                                                   "choose ada, ben, cleo or ''"):
        session.voice = "zed"
    assert session.voice == ""


def test_a_voice_from_a_file_or_an_array(session, pipe, tiny_speecht5, tmp_path) -> None:
    ben = np.fromfile(voices.speakers(tiny_speecht5)["ben"], np.float32)
    ben.tofile(tmp_path / "mine.bin")
    np.save(tmp_path / "also.npy", ben.reshape(1, 512))
    expected = bare(pipe, tiny_speecht5, "Hello.", "ben")
    for source, name in ((tmp_path / "mine.bin", "mine"), (tmp_path / "also.npy", "also"),
                         (ben, "custom")):
        assert session.load_voice(source) == name and session.voice == name
        np.testing.assert_allclose(session.speak("Hello.")[0], expected, atol=1e-5)
    assert session.voices == ["ada", "ben", "cleo", "mine", "also", "custom"]


def test_stop_is_heard_between_sentences_and_keeps_what_was_said(session, pipe,
                                                                 tiny_speecht5) -> None:
    presses: list[int] = []

    def press_once(n: int) -> None:
        if not presses:
            presses.append(n)
            session.stop()

    calls = count_calls(session, after=press_once)
    samples, rate = session.speak(TEXT)
    assert calls == PARTS[:1]  # the sentence being spoken ends; no other begins
    np.testing.assert_allclose(samples, bare(pipe, tiny_speecht5, PARTS[0]), atol=1e-5)
    assert session.status == "stopped after 1 of 3 sentences" and not session.busy
    assert session.metrics["sentences"] == 1 and session.metrics["sentences_asked"] == 3
    calls.clear()
    assert len(session.speak(TEXT)[0]) > len(samples) and calls == PARTS  # the next run is whole


def test_long_text_never_goes_to_one_call(session) -> None:
    calls = count_calls(session)
    words = ("word " * 30).strip()
    text = f"{words}, {words}, {words}, {words}. Short one. " + "no end " * 40
    samples, _ = session.speak(text)
    assert len(calls) >= 5 and all(len(call) <= MOST for call in calls)
    assert "".join("".join(calls).split()) == "".join(text.split())  # every character said
    assert len(samples) > 0


def test_settings_reach_the_pipeline(session, pipe, tiny_speecht5) -> None:
    assert session.maxlenratio == 4.0  # the model's own, adopted
    session.maxlenratio = 2.0
    samples, _ = session.speak("Hi there.")
    np.testing.assert_allclose(samples, bare(pipe, tiny_speecht5, "Hi there.", maxlenratio=2.0),
                               atol=1e-5)
    assert len(samples) < len(bare(pipe, tiny_speecht5, "Hi there."))
    with pytest.raises(traitlets.TraitError, match="threshold must be between 0 and 1"):
        session.threshold = 1.5


def test_speech_saves_as_wav_and_flac(session, tmp_path) -> None:
    samples, rate = session.speak("Save me.")
    for name in ("out/speech.wav", "speech.FLAC"):
        path = session.save(tmp_path / name)
        assert path == tmp_path / name and session.last_error == ""
        read, read_rate = sf.read(path, dtype="float32")
        assert read_rate == rate and read.shape == samples.shape
        np.testing.assert_allclose(read, samples, atol=2 / 32768)  # 16-bit PCM
    assert sf.info(tmp_path / "speech.FLAC").format == "FLAC"
    assert session.save(tmp_path / "speech.mp3") is None
    assert session.last_error == "cannot save audio as 'speech.mp3': end the name in .wav or .flac"


def test_the_alphabet_is_read_from_the_tokenizer(tiny_speecht5, tiny_en) -> None:
    alphabet = Alphabet.of(tiny_speecht5)
    assert alphabet is not None
    assert all(alphabet.sayable(c) for c in "Hello, World! 42 (ok) - 'yes'?")
    assert not any(alphabet.sayable(c) for c in "éПж日€😀")
    assert Alphabet.of(tiny_en) is None  # byte-level BPE spells everything


def test_the_refusal_names_the_characters_and_their_scripts() -> None:
    line = unsayable(list("Привет日本€é"), "tiny-speecht5")
    assert line.startswith("tiny-speecht5 cannot say 10 characters of this text: П р и в е т 日 本 …")
    assert "(Cyrillic, CJK, euro sign, Latin with accents)" in line and "\n" not in line
    assert "1 character of" in unsayable(["ж"], "m")


def test_a_voice_file_of_another_kind_is_refused_and_the_voice_kept(session, tmp_path) -> None:
    """Any file used to load as raw float32 bytes; a .wav of the right size was a voice of noise."""
    wav = tmp_path / "voice.wav"
    np.zeros(512, np.float32).tofile(wav)
    text = tmp_path / "voice.npy"
    text.write_text("not numbers\n")
    before = (session.voice, list(session.voices))
    assert session.load_voice(wav) is None and session.last_error == (
        "cannot read a voice from voice.wav: give a raw float32 .bin file or a NumPy .npy file")
    assert session.load_voice(text) is None and "is not a NumPy array file" in session.last_error
    assert "pickle" not in session.last_error and (session.voice, session.voices) == before


def test_a_save_path_inside_a_file_is_one_line(session, tmp_path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    assert session.speak("Hello.")[0].size
    assert session.save(blocker / "speech.wav") is None
    assert session.last_error == (f"cannot save to {blocker / 'speech.wav'}: {blocker} is a file, "
                                  "not a folder: choose another path")
    assert session.save(tmp_path / "fine" / "speech.flac") == tmp_path / "fine" / "speech.flac"
