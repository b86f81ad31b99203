"""OmniSession on tiny-qwen3-omni in f32: the bare OmniPipeline's text and speech for the same
conversation, seed and voice; recordings (resampled, refused); Stop in the text and in the
speech; a model without a talker. Nothing races a clock: outputs are compared, Stop is pressed
from inside the run's own callbacks."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from traitlets import TraitError

from ovnb import images, video
from ovnb.audio import SAMPLE, load_audio, resample
from ovnb.cache import MANIFEST
from ovnb.images import load_image
from ovnb.runtime.jobs import Job
from ovnb.sessions.omni import MAX_AUDIO_SECONDS, SPEECH_RATE, OmniModel, OmniSession
from ovnb.video import load_video
from tests.conftest import F32

pytestmark = pytest.mark.slow  # builds and exports a model on a fresh cache

GREEDY = {"max_new_tokens": 8, "do_sample": False, "repetition_penalty": 1.0}
FRAME_SAMPLES, VOCODER_TRIM = 1920, 555  # code2wav: samples per codec frame; trimmed per call
CHUNK = 4 * FRAME_SAMPLES - VOCODER_TRIM  # one speech chunk (4 codec frames, genai's default)


def bare(folder: Path, turns: list[str], audio: np.ndarray | None = None, speak: bool = True,
         speaker: str = "", **visuals: Any) -> tuple[list[str], np.ndarray | None]:
    """What the bare OmniPipeline answers to ``turns`` (a ChatHistory grown turn by turn, the
    recording and ``visuals`` (images=, videos=...) with the first), greedily; the last answer's speech (seed 0), streamed as the
    session streams it (test_streamed_speech_is_cut_per_chunk: streaming changes the samples)."""
    import openvino
    import openvino_genai as ov_genai

    pipe = ov_genai.OmniPipeline(str(folder), "CPU", **F32)
    history, answers, result = ov_genai.ChatHistory(), [], None
    for index, turn in enumerate(turns):
        history.append({"role": "user", "content": turn})
        text = ov_genai.GenerationConfig(str(folder / "generation_config.json"))
        for name, value in GREEDY.items():
            setattr(text, name, value)
        speech = ov_genai.OmniTalkerSpeechConfig()
        speech.return_audio, speech.rng_seed, speech.speaker = speak, 0, speaker
        sound = audio if audio is not None and index == 0 else np.zeros(0, np.float32)
        shown = visuals if index == 0 else {}
        result = pipe.generate(history, **shown, audios=[openvino.Tensor(sound)], text_config=text,
                               talker_speech_config=speech, speech_streamer=lambda chunk: None)
        answers.append(result.texts[0])
        history.append({"role": "assistant", "content": result.texts[0]})
    waves = result.speech_result.waveforms if result is not None else []
    return answers, (np.array(waves[0].data).reshape(-1) if waves else None)


@pytest.fixture(scope="module")
def session(omni: Path) -> OmniSession:
    made = OmniSession(omni, properties=F32, **GREEDY)
    made.wait_loaded()
    return made


@pytest.fixture(autouse=True)
def fresh(session: OmniSession) -> None:
    session.clear()
    session.remove_audio()
    session.voice, session.speak = "", True


def test_text_and_speech_are_the_bare_pipelines(session: OmniSession, omni: Path) -> None:
    answer = session.send("Hello!")
    answers, wave = bare(omni, ["Hello!"])
    assert answer == answers[0] and len(answer) == 8 and session.last_error == ""
    samples, rate = session.speech
    assert rate == SPEECH_RATE and wave is not None and np.array_equal(samples, wave)
    assert session.metrics["speech_s"] == pytest.approx(len(wave) / SPEECH_RATE)
    assert session.status.startswith("spoke ")


def test_a_conversation_keeps_its_turns_as_the_bare_chat_history(session: OmniSession,
                                                                 omni: Path) -> None:
    turns = ["Hello!", "And then?", "Why?"]
    said = [session.send(turn, speak=False) for turn in turns]
    assert said == bare(omni, turns, speak=False)[0]
    assert [m["role"] for m in session.messages] == ["user", "assistant"] * 3
    assert session.speech is None  # speak=False for these answers: none was made


def test_a_recording_goes_with_its_question_and_stays_in_the_history(session: OmniSession,
                                                                     omni: Path) -> None:
    heard = load_audio(SAMPLE)
    said = [session.send("What do you hear?", audio=str(SAMPLE), speak=False),
            session.send("Again?", speak=False)]
    assert said == bare(omni, ["What do you hear?", "Again?"], heard, speak=False)[0]
    assert session.messages[0]["audio"] == SAMPLE.name
    assert session.messages[0]["audio_s"] == pytest.approx(len(heard) / 16000, abs=0.01)
    assert session.audio_clip is None  # sent: the next question carries none


def test_an_image_and_a_video_go_as_in_vision_chat(session: OmniSession, omni: Path) -> None:
    house, sailboat = images.samples()["house"], video.samples()["sailboat"]
    picture, clip = load_image(house), load_video(sailboat)  # what ovnb reads, for the bare call
    said = session.send("What is this?", image=house, video=sailboat, speak=False)
    expected = bare(omni, ["What is this?"], speak=False, images=[picture.tensor()],
                    videos=[clip.tensor()], videos_metadata=[clip.metadata()])[0]
    assert said == expected[0] and session.last_error == ""
    assert session.messages[0]["image"] == "house.png"
    assert session.messages[0]["video_frames"] == clip.count


def test_the_same_recording_twice_is_spoken_as_the_first_time(omni: Path,
                                                              tmp_path: Path) -> None:
    """openvino_genai speaks a recording sent in two calls in a row differently the second time
    (tests/sources/test_tiny_qwen3_omni.py): the session makes a call without audio between.
    A copy of the folder gets a pipeline of its own, whose first call is a fresh pipeline's."""
    own = tmp_path / "omni"
    shutil.copytree(omni, own, copy_function=os.link)
    (own / MANIFEST).unlink()
    session = OmniSession(own, properties=F32, **GREEDY)
    spoken = []
    for _ in range(2):
        session.clear()
        session.send("What do you hear?", audio=str(SAMPLE))
        spoken.append(session.speech[0])
    assert np.array_equal(spoken[0], spoken[1]) and session.last_error == ""


def test_a_recording_alone_is_a_question(session: OmniSession) -> None:
    assert session.send("", audio=str(SAMPLE), speak=False)
    assert session.last_error == "" and session.messages[0]["audio"] == SAMPLE.name


def test_another_rate_is_resampled_with_a_note(session: OmniSession) -> None:
    rng = np.random.default_rng(0)
    at_8k = (rng.uniform(-0.3, 0.3, 8000)).astype(np.float32)
    answer = session.send("Hi", audio=(at_8k, 8000), speak=False)
    assert "resampled from 8000 Hz to 16000 Hz" in session.status
    session.clear()
    assert session.send("Hi", audio=(resample(at_8k, 8000), 16000), speak=False) == answer


def test_voices_are_the_talkers_speakers_and_change_the_speech(session: OmniSession,
                                                               omni: Path) -> None:
    assert session.voices == ["ada", "ben"] and session.has_talker
    session.voice = "ben"
    session.send("Hello!")
    assert np.array_equal(session.speech[0], bare(omni, ["Hello!"], speaker="ben")[1])
    with pytest.raises(TraitError, match="'zed' is not one this model offers: choose ada, ben"):
        session.voice = "zed"


def test_a_stop_in_the_first_token_ends_text_and_speech(session: OmniSession,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    original = Job.progressed

    def progressed(job: Job[Any]) -> None:  # the first token: Stop pressed right there
        original(job)
        session.stop()

    monkeypatch.setattr(Job, "progressed", progressed)
    answer = session.send("Hello!")
    assert len(answer) < 8 and session.messages[-1].get("stopped") is True
    assert session.last_error == "" and len(session.speech[0]) <= CHUNK


def test_a_stop_in_the_speech_keeps_the_speech_so_far(session: OmniSession,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    generate, chunks = OmniModel.generate, []

    def held(model: OmniModel, *args: Any) -> Any:  # Stop pressed in the first speech chunk
        *rest, speech_streamer = args

        def heard(chunk: Any) -> Any:
            chunks.append(chunk)
            session.stop()
            return speech_streamer(chunk)

        return generate(model, *rest, heard)

    monkeypatch.setattr(OmniModel, "generate", held)
    answer = session.send("Hello!")
    assert len(answer) == 8 and len(chunks) == 1  # the text was whole; the talker heard Stop
    assert session.speech[0].shape == (CHUNK,) and session.last_error == ""


def test_streamed_speech_is_cut_per_chunk(session: OmniSession, omni: Path) -> None:
    """openvino_genai 2026.4.1 decodes a streamed answer chunk by chunk, each call trimming what
    a single decode trims once: N frames whole give 1920 N - 555 samples, streamed in chunks of
    4 they give N / 4 x (4 x 1920 - 555). The session streams (Stop is heard in the speech)."""
    import openvino
    import openvino_genai as ov_genai

    pipe = ov_genai.OmniPipeline(str(omni), "CPU", **F32)
    config = ov_genai.OmniTalkerSpeechConfig()
    config.max_new_tokens = 8
    text = ov_genai.GenerationConfig()
    text.max_new_tokens = 4
    quiet = [openvino.Tensor(np.zeros(0, np.float32))]

    def speech(**streamer: Any) -> int:
        result = pipe.generate("Hi", audios=quiet, text_config=text, talker_speech_config=config,
                               **streamer)
        return int(result.speech_result.waveforms[0].get_shape()[-1])

    assert speech() == 8 * FRAME_SAMPLES - VOCODER_TRIM
    assert speech(speech_streamer=lambda chunk: None) == 2 * CHUNK


# what is refused, in one line, with the conversation intact --------------------------------------
@pytest.fixture
def one_exchange(session: OmniSession) -> list[dict[str, Any]]:
    session.send("Hello!", speak=False)
    return list(session.messages)


@pytest.mark.parametrize("audio, line", [
    ("/no/such/file.wav", "no such audio file"),
    ((np.full(int(16000 * (MAX_AUDIO_SECONDS + 1)), 0.1, np.float32), 16000), "hears at most 300 s"),
    ((np.full(16000 * 170, 0.1, np.float32), 16000), "more tokens than the model's context of 2048"),
])
def test_audio_it_cannot_take_is_one_line(session: OmniSession, one_exchange: list[Any],
                                          audio: Any, line: str) -> None:
    assert session.send("Hi", audio=audio) == ""
    assert line in session.last_error and "\n" not in session.last_error
    assert session.messages == one_exchange
    session.remove_audio()  # one the context cannot hold stays chosen (after Clear it may fit)
    assert session.send("Hi", speak=False) and session.last_error == ""  # still answers


def test_a_file_that_is_no_audio_is_one_line(session: OmniSession, one_exchange: list[Any],
                                             tmp_path: Path) -> None:
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"RIFF not really a wave file")
    assert session.send("Hi", audio=noise) == "" and session.messages == one_exchange
    assert "noise.wav is not audio soundfile can read" in session.last_error


def test_empty_text_with_nothing_else_is_refused(session: OmniSession,
                                                 one_exchange: list[Any]) -> None:
    assert session.send("   ") == "" and session.messages == one_exchange
    assert session.last_error == "empty prompt: type a question first"


def test_wrong_types_are_type_errors(session: OmniSession) -> None:
    for call in (lambda: session.send(3), lambda: session.send("Hi", speak="yes"),
                 lambda: session.send("Hi", audio=[0.0, 0.1]),
                 lambda: session.send("Hi", audio=np.zeros(16000, np.float32))):
        with pytest.raises(TypeError):
            call()
    assert session.messages == []


# a Qwen3-Omni without a talker ----------------------------------------------------------------
@pytest.fixture(scope="module")
def no_talker(omni: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny folder with audio output off in its config (as Qwen3-Omni's Thinking model):
    OmniPipeline refuses it (tests/sources/test_tiny_qwen3_omni.py shows its constructor's
    error for a talker without speakers)."""
    copy = tmp_path_factory.mktemp("no-talker") / "omni"
    shutil.copytree(omni, copy, copy_function=os.link)
    config = json.loads((copy / "config.json").read_text())
    config["enable_audio_output"] = False
    (copy / "config.json").unlink()  # a hard link: write a new file, not into the shared one
    (copy / "config.json").write_text(json.dumps(config))
    (copy / MANIFEST).unlink()  # a folder of one's own now, not the cache's entry
    return copy


def test_without_a_talker_the_thinker_answers_in_text(no_talker: Path, omni: Path) -> None:
    session = OmniSession(no_talker, properties=F32, **GREEDY)
    session.wait_loaded()
    assert not session.has_talker and not session.speak and session.voices == []
    assert session.send("Hello!") == bare(omni, ["Hello!"], speak=False)[0][0]
    assert session.speech is None and session.last_error == ""
    kept = list(session.messages)
    assert session.send("Hello!", speak=True) == ""
    assert "has no talker" in session.last_error and "set speak=False" in session.last_error
    assert session.send("Hi", audio=str(SAMPLE)) == "" and "takes no audio" in session.last_error
    assert session.messages == kept
