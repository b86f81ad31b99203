"""Bad input, one table per widget and one for the CLI: each case ends in one line naming the fix,
shown in the widget (``last_error`` and the error line) or on the CLI's stderr, and loses nothing:
the history, the chosen audio or image, the gallery and the model cache stay as they were, and the
widget (or the next command) goes on working.

Cases already covered elsewhere are not repeated here: missing folders, an absent "NPU", the first
wrong-kind pairs and empty prompts (tests/widgets/test_*.py), unreadable and huge images
(tests/test_images.py, test_vision.py), empty/8-bit/48 kHz stereo audio files and silence as an
array (tests/test_audio.py, test_speech.py), a cache path under a regular file (tests/test_cache.py).
"""
from __future__ import annotations

import datetime
import html
import io
import json
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import traitlets

import ovnb
from ovnb.errors import OvnbError
from ovnb import audio, passages
from ovnb.audio import RATE
from ovnb.cache import problem
from ovnb.images import samples
from ovnb.models import cached
from ovnb.video import samples as video_samples
from tests import videos as video_files
from tests.conftest import F32, _prepared
from tests.reliability.conftest import (assert_intact, not_a_model, remount_read_only, tmpfs,
                                        truncated)

HOUSE = samples()["house"]
SAILING = video_samples()["sailboat"]
DAMAGED = "truncated or damaged"
NOT_A_MODEL = "is not an OpenVINO model folder"


def assert_one_line(widget: Any, expect: str) -> None:
    """The widget shows one line holding ``expect`` and is free for the next run."""
    assert expect in widget.last_error, widget.last_error
    assert "\n" not in widget.last_error
    assert html.escape(expect) in widget.view.error_line.value
    assert not widget.busy


def other_tokenizer_draft(models: dict[str, Path], tmp: Path) -> Path:
    """tiny-llm-draft with tiny-vlm's tokenizer (one more token: <image>): a draft that must not fit."""
    copy = tmp / "draft-other-tokenizer"
    shutil.copytree(models["draft"], copy)
    for name in ("openvino_tokenizer", "openvino_detokenizer"):
        for ext in (".xml", ".bin"):
            shutil.copy(models["vlm"] / f"{name}{ext}", copy / f"{name}{ext}")
    (copy / "ovnb.json").unlink()  # hand-made: not a cache entry
    return copy


def hand_copy(folder: Path) -> Path:
    """``folder`` without its ovnb.json, as a folder copied or exported by hand comes."""
    (folder / "ovnb.json").unlink()
    return folder


def bomb_png() -> bytes:
    """A valid PNG header claiming 30000×30000 pixels (a decompression bomb), with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def upload(name: str, data: bytes) -> tuple[dict[str, Any], ...]:
    """A FileUpload value, as the browser sends it."""
    return ({"name": name, "type": "", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


# ------------------------------------------------------------------------------------- Chat
LONG = "hello world " * 200  # ~2400 tokens: tiny-llm's context is 2048 (max_position_embeddings)

CHAT_LOAD: dict[str, tuple[Callable[[dict[str, Path], Path], tuple[Any, dict[str, Any]]], str]] = {
    "not-a-model": (lambda m, tmp: (not_a_model(tmp), {}), NOT_A_MODEL),
    "truncated-bin": (lambda m, tmp: (truncated(m["llm"], "openvino_model.bin", tmp), {}), DAMAGED),
    "truncated-tokenizer": (lambda m, tmp: (truncated(m["llm"], "openvino_tokenizer.bin", tmp), {}),
                            DAMAGED),
    "truncated-xml-no-manifest": (lambda m, tmp: (hand_copy(truncated(m["llm"], "openvino_model.xml",
                                                                      tmp)), {}), DAMAGED),
    "vision-model": (lambda m, tmp: (m["vlm"], {}), "holds a vision chat model, not a chat one"),
    "image-model": (lambda m, tmp: (m["sd"], {}), "holds an image model, not a chat one"),
    "device-GPU.1": (lambda m, tmp: (m["llm"], {"device": "GPU.1"}), "device GPU.1 is not available"),
    "device-empty": (lambda m, tmp: (m["llm"], {"device": ""}), "no device given: choose one of CPU"),
    "device-CPU:0": (lambda m, tmp: (m["llm"], {"device": "CPU:0"}),
                     "device CPU:0 is not a device name: choose one of CPU"),
    "adapter-of-tiny-sd": (lambda m, tmp: (m["llm"], {"adapters": [m["sd"] / "adapters" /
                                                                   "self-attn.safetensors"]}),
                           "self-attn.safetensors does not fit tiny-llm"),
    "draft-other-tokenizer": (lambda m, tmp: (m["llm"], {"draft": other_tokenizer_draft(m, tmp)}),
                              "does not share the tokenizer of tiny-llm"),
}


@pytest.mark.parametrize("case", list(CHAT_LOAD))
def test_chat_refuses_a_bad_model_in_one_line(models: dict[str, Path], tmp_path: Path,
                                              case: str) -> None:
    make, expect = CHAT_LOAD[case]
    model, kwargs = make(models, tmp_path)
    chat = ovnb.Chat(model, properties=F32, max_new_tokens=4, **kwargs)
    assert chat.send("hello") == ""
    assert_one_line(chat, expect)
    assert chat.messages == []
    assert_intact(*models.values())


def test_chat_takes_a_device_name_in_any_case(models: dict[str, Path]) -> None:
    expected = ovnb.Chat(models["llm"], properties=F32, max_new_tokens=4).send("hello")
    for device in ("cpu", " Cpu ", "auto:cpu"):
        chat = ovnb.Chat(models["llm"], device=device, properties=F32, max_new_tokens=4)
        assert chat.send("hello") == expected and chat.last_error == "", (device, chat.last_error)


def test_chat_refuses_a_conversation_longer_than_the_context(models: dict[str, Path]) -> None:
    """genai would run it (seen: 5000 tokens into tiny-llm's 2048, garbage out, no error)."""
    chat = ovnb.Chat(models["llm"], properties=F32, max_new_tokens=4, repetition_penalty=1.0)
    first = chat.send("Hello")
    kept, shown = list(chat.messages), chat.view.panel.turns
    assert chat.send(LONG) == ""
    assert_one_line(chat, "more than this model's context of 2048")
    assert chat.messages == kept and chat.view.panel.turns == shown
    assert chat.send("Hello again") and chat.last_error == "" and len(chat.messages) == 4
    while chat.send("hello world " * 60):  # a conversation growing past the context is refused too
        assert len(chat.messages) < 40
    assert_one_line(chat, "press Clear")
    chat.view.controls["clear"].click()
    assert chat.send("Hello") == first  # a fresh conversation answers as the first one did


# ------------------------------------------------------------------------------- VisionChat
VISION_LOAD = {
    "not-a-model": (lambda m, tmp: not_a_model(tmp), NOT_A_MODEL),
    "truncated-bin": (lambda m, tmp: truncated(m["vlm"], "openvino_language_model.bin", tmp),
                      DAMAGED),
    "truncated-xml-no-manifest": (lambda m, tmp: hand_copy(truncated(
        m["vlm"], "openvino_text_embeddings_model.xml", tmp)), DAMAGED),
    "image-model": (lambda m, tmp: m["sd"], "not a vision chat one"),
    "speech-model": (lambda m, tmp: m["whisper"], "not a vision chat one"),
}


@pytest.mark.parametrize("case", list(VISION_LOAD))
def test_vision_refuses_a_bad_model_in_one_line(models: dict[str, Path], tmp_path: Path,
                                                case: str) -> None:
    make, expect = VISION_LOAD[case]
    vision = ovnb.VisionChat(make(models, tmp_path), properties=F32, max_new_tokens=4)
    assert vision.send("hello", image=HOUSE) == ""
    assert_one_line(vision, expect)
    assert vision.messages == []
    assert_intact(*models.values())


# -------------------------------------------------- folders that would abort the kernel
# openvino_genai ABORTS the process (exit 134) when a streamer meets a folder without a
# detokenizer: only a child process can show that the widget refuses such a folder first.
CHILD = """
import json, sys
import ovnb
widget = getattr(ovnb, sys.argv[1])(sys.argv[2], max_new_tokens=4,
                                    properties={"INFERENCE_PRECISION_HINT": "f32"})
answer = widget.send("hello")
print(json.dumps({"answer": answer, "error": widget.last_error, "status": widget.view.status_line.value}))
"""
NO_TOKENIZER = {
    "chat-no-detokenizer": ("Chat", "llm", "openvino_detokenizer"),
    "vision-no-detokenizer": ("VisionChat", "vlm", "openvino_detokenizer"),
    "chat-no-tokenizer": ("Chat", "llm", "openvino_tokenizer"),
}


@pytest.mark.parametrize("case", list(NO_TOKENIZER))
def test_a_folder_without_a_tokenizer_is_refused_before_it_can_abort(
        models: dict[str, Path], tmp_path: Path, case: str) -> None:
    widget, model, missing = NO_TOKENIZER[case]
    folder = tmp_path / model
    shutil.copytree(models[model], folder)
    for name in (f"{missing}.xml", f"{missing}.bin", "ovnb.json"):
        (folder / name).unlink()
    out = subprocess.run([sys.executable, "-c", CHILD, widget, str(folder)], check=False,
                         capture_output=True, text=True, timeout=600)
    # the abort was returncode -6 (SIGABRT: exit 134 in a shell); a refusal exits normally
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["answer"] == "" and "not loaded" in seen["status"]  # never "ready"
    assert seen["error"].startswith(f"{folder} has no {missing}.xml")
    assert "\n" not in seen["error"] and "convert_tokenizer" in seen["error"]
    assert_intact(*models.values())


def _truncated_png(tmp: Path) -> Path:
    path = tmp / "cut.png"
    path.write_bytes(HOUSE.read_bytes()[:600])
    return path


# how each bad image reaches the widget: send(image=...), the path box, or an upload
VISION_INPUT: dict[str, tuple[str, Callable[[Path], Any], str]] = {
    "truncated-png": ("send", _truncated_png, "cut.png"),
    "audio-as-image": ("send", lambda tmp: audio.SAMPLE, "is not an image"),
    "bomb-png-upload": ("upload", lambda tmp: upload("bomb.png", bomb_png()),
                        "bomb.png is too large to open safely"),
    "text-upload": ("upload", lambda tmp: upload("cat.png", b"hello, I am not a picture\n"),
                    "cat.png is not an image"),
    "folder-in-path-box": ("path", lambda tmp: str(tmp), "is a folder"),
    "long-prompt": ("prompt", lambda tmp: "hello world " * 60, "more than this model's context of 512"),
}


@pytest.mark.parametrize("case", list(VISION_INPUT))
def test_vision_refuses_bad_input_and_keeps_the_conversation(models: dict[str, Path],
                                                             tmp_path: Path, case: str) -> None:
    how, make, expect = VISION_INPUT[case]
    vision = ovnb.VisionChat(models["vlm"], properties=F32, max_new_tokens=6,
                             repetition_penalty=1.0)
    first = vision.send("What is this?", image=HOUSE)
    vision.view.controls["samples"].value = samples()["sailboat"]  # chosen for the next question
    kept = (list(vision.messages), vision.session._history.get_messages(), vision.picture)
    bad = make(tmp_path)
    if how == "send":
        assert vision.send("And this?", image=bad) == ""
    elif how == "upload":
        vision.view.controls["upload"].value = bad
    elif how == "path":
        vision.view.controls["image_path"].value = bad
    else:
        assert vision.send(bad) == ""
    assert_one_line(vision, expect)
    assert (vision.messages, vision.session._history.get_messages(), vision.picture) == kept
    assert vision.send("And this?") and vision.last_error == ""  # the sailboat goes with it
    assert len(vision.messages) == 4
    assert [i for i, m in enumerate(vision.messages) if m.get("image")] == [0, 2]
    assert first == vision.messages[1]["content"]


# ------------------------------------------------------------------------------ Transcriber
TRANSCRIBER_LOAD = {
    "not-a-model": (lambda m, tmp: (not_a_model(tmp), "CPU"), NOT_A_MODEL),
    "truncated-bin": (lambda m, tmp: (truncated(m["whisper"], "openvino_encoder_model.bin", tmp),
                                      "CPU"), DAMAGED),
    "vision-model": (lambda m, tmp: (m["vlm"], "CPU"), "not a speech to text one"),
    "image-model": (lambda m, tmp: (m["sd"], "CPU"), "not a speech to text one"),
    "device-hetero": (lambda m, tmp: (m["whisper"], "HETERO:NPU,CPU"), "device NPU is not available"),
}


@pytest.mark.parametrize("case", list(TRANSCRIBER_LOAD))
def test_transcriber_refuses_a_bad_model_in_one_line(models: dict[str, Path], tmp_path: Path,
                                                     case: str) -> None:
    make, expect = TRANSCRIBER_LOAD[case]
    model, device = make(models, tmp_path)
    widget = ovnb.Transcriber(model, device=device, properties=F32, max_new_tokens=4)
    assert widget.transcribe(audio.SAMPLE) == ""
    assert_one_line(widget, expect)
    assert widget.view.player.value[:4] == b"RIFF"  # the audio itself was taken
    assert_intact(*models.values())


def test_transcriber_refuses_an_unknown_language_before_ready(models: dict[str, Path]) -> None:
    """openvino_genai said "'language' <|xx|> must be provided in 'lang_to_id' map"."""
    widget = ovnb.Transcriber(models["whisper"], language="xx", properties=F32, max_new_tokens=4)
    assert widget.transcribe(audio.SAMPLE) == ""
    assert_one_line(widget, "language 'xx' is not one this model knows")
    assert "not loaded" in widget.view.status_line.value


def _eight_bit_48k_stereo(tmp: Path) -> Path:
    samples_16k = audio.load_audio(audio.SAMPLE)
    t16, t48 = np.arange(len(samples_16k)) / RATE, np.arange(len(samples_16k) * 3) / 48000
    up = np.interp(t48, t16, samples_16k)
    path = tmp / "phone.wav"
    sf.write(path, np.stack([up, 0.5 * up], axis=1), 48000, subtype="PCM_U8")
    return path


def _silent_file(tmp: Path) -> Path:
    path = tmp / "room-tone.flac"
    sf.write(path, np.zeros(3 * RATE, np.int16), RATE)
    return path


def _nan_wav(tmp: Path) -> Path:
    samples = audio.load_audio(audio.SAMPLE)
    samples[RATE] = np.nan  # one NaN gave 446 "!" as the transcript
    path = tmp / "nan.wav"
    sf.write(path, samples, RATE, subtype="FLOAT")
    return path


# bad audio: an error in one line (the chosen audio and transcript stay), or a note and a result
AUDIO_INPUT: dict[str, tuple[Callable[[Path], Any], str | None, str]] = {
    "empty-upload": (lambda tmp: b"", "is empty (0 bytes)", ""),
    "zero-byte-file": (lambda tmp: (tmp / "empty.ogg").write_bytes(b"") or tmp / "empty.ogg",
                       "empty.ogg is empty (0 bytes)", ""),
    "wav-header-only": (lambda tmp: b"RIFF", "is not audio", ""),
    "nan-in-float-wav": (_nan_wav, "nan.wav has NaN or infinite samples", ""),
    "silent-file": (_silent_file, None, "silent"),
    "8-bit-48k-stereo": (_eight_bit_48k_stereo, None, "phone.wav · 0:07.10"),
}


@pytest.mark.parametrize("case", list(AUDIO_INPUT))
def test_transcriber_takes_odd_audio_or_refuses_it_in_one_line(models: dict[str, Path],
                                                               tmp_path: Path, case: str) -> None:
    make, error, label = AUDIO_INPUT[case]
    widget = ovnb.Transcriber(models["whisper"], properties=F32, max_new_tokens=6)
    before = widget.transcribe(audio.SAMPLE)
    chosen = widget.audio
    text = widget.transcribe(make(tmp_path))
    if error is not None:
        assert text == ""
        assert_one_line(widget, error)
        assert widget.audio is chosen and widget.transcript == before  # nothing lost
        assert widget.transcribe() == before and widget.last_error == ""
    else:
        assert isinstance(text, str) and widget.last_error == "" and not widget.busy
        assert label in widget.view.audio_label.value
        assert widget.metrics["audio_s"] == pytest.approx(len(widget.audio.samples) / RATE)


def test_ten_minutes_of_audio_finish_and_reach_the_end(models: dict[str, Path]) -> None:
    """10 minutes of near-silence ending in the LibriVox clip: the clip's words must come out, so
    every 30 s window was heard (~30 s here on 2 busy cores; no test races a clock)."""
    clip = audio.load_audio(audio.SAMPLE)
    hush = np.random.default_rng(0).normal(scale=1e-4, size=600 * RATE - len(clip))
    widget = ovnb.Transcriber(models["whisper_en"], properties=F32)
    text = widget.transcribe((np.concatenate([hush.astype(np.float32), clip]), RATE))
    assert widget.last_error == "" and widget.metrics["audio_s"] == 600
    assert "Dashwood" in text and text.rstrip().endswith("for them."), text[-200:]
    assert "10:00.00" in widget.view.audio_label.value and widget.view.player.value[:4] == b"RIFF"


# ---------------------------------------------------------------------------------- Speaker
# text and voices a learner may give: each refused in one line before anything is spoken
SPEAKER_TEXT = {
    "empty": ("", "nothing to say: type some text first"),
    "only-whitespace": ("  \n\t ", "nothing to say: type some text first"),
    "cyrillic": ("Привет, мир.", "tiny-speecht5 cannot say 7 characters of this text: "
                                 "П р и в е т м (Cyrillic)"),
    "cjk-in-english": ("Hello 世界, again.", "cannot say 2 characters of this text: 世 界 (CJK)"),
    "emoji": ("Great work 👍", "cannot say 1 character of this text: 👍 (thumbs up sign)"),
}
SPEAKER_VOICE: dict[str, tuple[Callable[[Path, Path], Any], str]] = {
    "short-file": (lambda tmp, m: _floats(tmp / "short.bin", 100),
                   "short.bin holds 100 float32 values, but this model's speaker embedding is "
                   "1x512"),
    "kokoro-sized-file": (lambda tmp, m: _floats(tmp / "af_heart.bin", 510 * 256),
                          "af_heart.bin holds 130560 float32 values"),
    "short-array": (lambda tmp, m: np.zeros(256, np.float32),
                    "the array holds 256 float32 values shaped 256, but this model's speaker "
                    "embedding is 1x512"),
    "integer-array": (lambda tmp, m: np.zeros(512, np.int64), "the array holds 512 int64 values"),
    "missing-file": (lambda tmp, m: tmp / "nowhere.bin", "no such speaker embedding file"),
}


def _floats(path: Path, count: int) -> Path:
    np.ones(count, np.float32).tofile(path)
    return path


def _spoken_state(speaker: Any) -> tuple[Any, ...]:
    return speaker.speech, list(speaker.sentences), speaker.voice, list(speaker.voices)


@pytest.mark.parametrize("case", list(SPEAKER_TEXT))
def test_speaker_refuses_text_it_cannot_say_and_keeps_the_speech(tiny_speecht5: Path,
                                                                 case: str) -> None:
    text, expect = SPEAKER_TEXT[case]
    speaker = ovnb.Speaker(tiny_speecht5, properties=F32, voice="ben")
    first = speaker.speak("Good words first.")[0]
    kept = _spoken_state(speaker)
    samples, _ = speaker.speak(text)
    assert samples.size == 0
    assert_one_line(speaker, expect)
    assert _spoken_state(speaker) == kept and len(speaker.view.player.words) == 1
    np.testing.assert_array_equal(speaker.speak("Good words first.")[0], first)
    assert speaker.last_error == "" and speaker.view.error_line.value == ""
    assert_intact(tiny_speecht5)


@pytest.mark.parametrize("case", list(SPEAKER_VOICE))
def test_speaker_refuses_a_voice_that_does_not_fit(tiny_speecht5: Path, tmp_path: Path,
                                                   case: str) -> None:
    make, expect = SPEAKER_VOICE[case]
    speaker = ovnb.Speaker(tiny_speecht5, properties=F32, voice="cleo")
    first = speaker.speak("Good words first.")[0]
    kept = _spoken_state(speaker)
    assert speaker.load_voice(make(tmp_path, tiny_speecht5)) is None
    assert_one_line(speaker, expect)
    assert _spoken_state(speaker) == kept and speaker.view.controls["voice"].value == "cleo"
    np.testing.assert_array_equal(speaker.speak("Good words first.")[0], first)
    assert speaker.last_error == ""


def test_speaker_refuses_a_voice_the_model_does_not_have(tiny_speecht5: Path) -> None:
    speaker = ovnb.Speaker(tiny_speecht5, properties=F32, voice="zed")  # known only once loaded
    samples, _ = speaker.speak("Hello.")
    assert samples.size == 0
    assert_one_line(speaker, "voice 'zed' is not one this model offers: choose ada, ben, cleo "
                             "or '' for its own voice")
    assert speaker.speech is None and speaker.ready
    with pytest.raises(traitlets.TraitError, match="voice 'max' is not one this model offers"):
        speaker.voice = "max"  # once the voices are known, setting one is checked at once
    speaker.view.controls["voice"].value = "ada"
    assert speaker.speak("Hello.")[0].size and speaker.last_error == ""


SPEAKER_LOAD = {
    "not-a-model": (lambda m, tmp: not_a_model(tmp), NOT_A_MODEL),
    "speech-recognition-model": (lambda m, tmp: m["whisper"], "not a text to speech one"),
    "chat-model": (lambda m, tmp: m["llm"], "not a text to speech one"),
}


@pytest.mark.parametrize("case", list(SPEAKER_LOAD))
def test_speaker_refuses_a_bad_model_in_one_line(models: dict[str, Path], tmp_path: Path,
                                                 case: str) -> None:
    make, expect = SPEAKER_LOAD[case]
    speaker = ovnb.Speaker(make(models, tmp_path), properties=F32)
    assert speaker.speak("Hello.")[0].size == 0
    assert_one_line(speaker, expect)
    assert speaker.sentences == [] and speaker.view.player.wav == b""
    assert_intact(*models.values())


# --------------------------------------------------------------------------- ImageGenerator
IMAGE_LOAD = {
    "not-a-model": (lambda m, tmp: (not_a_model(tmp), {}), NOT_A_MODEL),
    "truncated-unet": (lambda m, tmp: (truncated(m["sd"], "unet/openvino_model.bin", tmp), {}),
                       DAMAGED),
    "speech-model": (lambda m, tmp: (m["whisper"], {}), "not an image one"),
    "vision-model": (lambda m, tmp: (m["vlm"], {}), "not an image one"),
    "device-GPU": (lambda m, tmp: (m["sd"], {"device": "GPU"}), "device GPU is not available"),
    "adapter-of-tiny-llm": (lambda m, tmp: (m["sd"], {"adapters": [m["llm"] / "adapters" /
                                                                   "attention.safetensors"]}),
                            "attention.safetensors does not fit tiny-sd"),
}
SMALL = {"width": 32, "height": 32, "num_inference_steps": 2}


@pytest.mark.parametrize("case", list(IMAGE_LOAD))
def test_image_generator_refuses_a_bad_model_in_one_line(models: dict[str, Path], tmp_path: Path,
                                                         case: str) -> None:
    make, expect = IMAGE_LOAD[case]
    model, kwargs = make(models, tmp_path)
    gen = ovnb.ImageGenerator(model, properties=F32, **SMALL, **kwargs)
    assert gen.generate("a red cat") is None
    assert_one_line(gen, expect)
    assert gen.results == [] and gen.view.gallery.value == ""
    assert_intact(*models.values())


def test_image_generator_takes_a_prompt_longer_than_clip_reads(models: dict[str, Path]) -> None:
    """CLIP reads 77 tokens; the rest is dropped (as in diffusers), the run and gallery go on."""
    gen = ovnb.ImageGenerator(models["sd"], properties=F32, **SMALL)
    short = gen.generate("a red cat")
    longer = gen.generate("a red cat " + "on a very long and winding road " * 60)
    assert longer is not None and longer.size == short.size and gen.last_error == ""
    assert len(gen.results) == 2


# ------------------------------------------------------------------------------------ video
@pytest.fixture(scope="module")
def qwen(cache: Path) -> Path:
    return ovnb.prepare("tiny-qwen2-vl", cache_dir=cache)


@pytest.fixture(scope="module")
def ltx(cache: Path) -> Path:
    return ovnb.prepare("tiny-ltx", cache_dir=cache)


def _text_as_video(tmp: Path) -> Path:
    path = tmp / "cat.mp4"
    path.write_bytes(b"hello, I am not a video\n")
    return path


def _big_frames(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A video whose frames exceed what ovnb decodes (the limit lowered to below its size)."""
    from ovnb import video

    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", 64 * 48 - 1)
    return video_files.encode_file(tmp / "big.mp4", 10)


# how each bad video reaches VisionChat: send(video=...), the path box, or an upload
VIDEO_INPUT: dict[str, tuple[str, Callable[[Path, Any], Any], str]] = {
    "text-as-video": ("send", lambda tmp, mp: _text_as_video(tmp),
                      "cat.mp4 is not a video PyAV can read"),
    "zero-frames": ("send", lambda tmp, mp: video_files.zero_frame_avi(tmp / "empty.avi"),
                    "empty.avi has no frames"),
    "cut-short-upload": ("upload", lambda tmp, mp: upload(
        "cut.mp4", video_files.cut_mp4(tmp / "cut.mp4").read_bytes()),
        "cut.mp4 has no frames that decode"),
    "audio-as-video": ("send", lambda tmp, mp: audio.SAMPLE, "has no video in it"),
    "image-in-path-box": ("path", lambda tmp, mp: str(HOUSE), "house.png is a still image"),
    "frames-too-large": ("send", _big_frames, "too large to decode safely"),
    "empty-frame-list": ("send", lambda tmp, mp: [], "holds no frames"),
}


@pytest.mark.parametrize("case", list(VIDEO_INPUT))
def test_vision_refuses_a_bad_video_and_keeps_the_conversation(
        qwen: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    how, make, expect = VIDEO_INPUT[case]
    vision = ovnb.VisionChat(qwen, properties=F32, max_new_tokens=6, repetition_penalty=1.0)
    first = vision.send("What happens?", video=SAILING)
    vision.view.controls["video_samples"].value = SAILING  # chosen again for the next question
    kept = (list(vision.messages), vision.session._history.get_messages(), vision.video_clip)
    bad = make(tmp_path, monkeypatch)
    if how == "send":
        assert vision.send("And this?", video=bad) == ""
    elif how == "upload":
        vision.view.controls["video_upload"].value = bad
    else:
        vision.view.controls["video_path"].value = bad
    assert_one_line(vision, expect)
    assert (vision.messages, vision.session._history.get_messages(), vision.video_clip) == kept
    assert vision.send("And this?") and vision.last_error == ""  # the sample goes with it
    assert [m.get("video") for m in vision.messages[::2]] == ["sailboat.mp4", "sailboat.mp4"]
    assert first == vision.messages[1]["content"]


def test_a_long_video_is_sampled_without_decoding_it_whole(qwen: Path, tmp_path: Path) -> None:
    """Two minutes at 30 fps: 8 frames are picked by seeking; what is decoded is counted."""
    long = video_files.encode_file(tmp_path / "long.mp4", 3600)
    vision = ovnb.VisionChat(qwen, properties=F32, max_new_tokens=6)
    assert vision.send("What happens?", video=long) and vision.last_error == ""
    clip = vision.view._shown_clip
    assert clip.total_frames == 3600 and clip.count == 8 and clip.indices[-1] == 3599
    assert clip.decoded <= 8 * video_files.GOP < 3600 / 16
    assert "8 of 3600 frames" in vision.view.video_label.value


def test_a_video_sent_to_a_model_without_video_is_refused_before_decoding(
        models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from ovnb.sessions import vision as vision_mod

    opened: list[object] = []
    monkeypatch.setattr(vision_mod, "load_video", lambda *a, **k: opened.append(a))
    vision = ovnb.VisionChat(models["vlm"], properties=F32, max_new_tokens=6)
    first = vision.send("What is this?", image=HOUSE)
    assert vision.send("And this?", video=SAILING) == ""
    assert_one_line(vision, "tiny-vlm takes no video")
    assert opened == [] and len(vision.messages) == 2
    assert vision.send("And now?") and vision.messages[1]["content"] == first


VIDEO_SETTINGS = {
    "num_frames=10": ({"num_frames": 10}, "choose 9 or 17"),
    "width=40": ({"width": 40}, "width 40 does not fit LTX-Video: choose a multiple of 32"),
    "height=100": ({"height": 100}, "height 100 does not fit LTX-Video: choose a multiple of 32"),
    "rng-seed-typo": ({"seed": 1}, "unknown setting 'seed'"),
}


@pytest.mark.parametrize("case", list(VIDEO_SETTINGS))
def test_video_generator_refuses_what_ltx_cannot_make_and_keeps_the_clip(
        ltx: Path, case: str) -> None:
    opts, expect = VIDEO_SETTINGS[case]
    gen = ovnb.VideoGenerator(ltx, properties=F32, num_frames=9, **SMALL)
    clip = gen.generate("a red cat")
    shown, progress = gen.view.player.value, gen.progress
    assert gen.generate("a red cat", **opts) == []
    assert_one_line(gen, expect)
    assert gen.frames == clip and gen.view.player.value == shown and gen.progress == progress
    assert len(gen.generate("a red cat")) == 9 and gen.last_error == ""
    assert_intact(ltx)


# ------------------------------------------------- ImageGenerator: image to image, inpainting
def _house(w: int = 48, h: int = 36) -> Any:
    from PIL import Image

    return Image.open(HOUSE).resize((w, h))


def _mask(w: int = 48, h: int = 36, fill: Any = None) -> np.ndarray:
    """A mask array: a white patch on black, or all ``fill``."""
    if fill is not None:
        return np.full((h, w), fill, bool)
    mask = np.zeros((h, w), bool)
    mask[h // 4:h // 2, w // 4:w // 2] = True
    return mask


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array.astype(np.uint8) * 255).save(out, format="PNG")
    return out.getvalue()


# how each bad edit reaches the widget: generate(...) from code, or a mask file uploaded
EDIT_INPUT: dict[str, tuple[str, dict[str, Any], str]] = {
    "mask-of-another-shape": ("code", {"mask": _mask(96, 36)},
                              "the mask array is 96×36 but the image is 48×36, another shape"),
    "mask-of-another-shape-upload": ("upload", {"mask": _mask(96, 36)},
                                     "wide.png is 96×36 but the image is 48×36, another shape"),
    "mask-all-black": ("code", {"mask": _mask(fill=False)}, "is all black, so nothing would be"),
    "mask-all-white": ("code", {"mask": _mask(fill=True)}, "is all white, so the whole image"),
    "mask-all-black-upload": ("upload", {"mask": _mask(fill=False)}, "wide.png is all black"),
    "mask-not-an-image-upload": ("upload", {"mask": b"GIF89a, or so it says"},
                                 "wide.png is not an image Pillow can read"),
    "strength-0": ("code", {"strength": 0}, "strength must be more than 0 and at most 1, not 0"),
    "strength-1.5": ("code", {"strength": 1.5}, "strength must be more than 0 and at most 1"),
    "strength-negative": ("code", {"strength": -0.2, "mask": _mask()}, "not -0.2"),
    "mask-without-image": ("code", {"image": None, "mask": _mask()}, "a mask needs an image"),
    "strength-without-image": ("code", {"image": None, "strength": 0.5},
                               "strength is for image to image and inpainting"),
}


@pytest.mark.parametrize("case", list(EDIT_INPUT))
def test_image_editing_refuses_bad_input_and_keeps_its_state(models: dict[str, Path],
                                                            case: str) -> None:
    how, given, expect = EDIT_INPUT[case]
    gen = ovnb.ImageGenerator(models["sd"], properties=F32, **SMALL)
    gen.choose_image(_house(), "house")
    gen.view.controls["mask_upload"].value = upload("patch.png", _png(_mask()))
    first = gen.generate("a red cat", image=_house(), mask=_mask())
    kept = (gen.input_image, gen.input_mask, list(gen.results), gen.image)
    if how == "upload":
        data = given["mask"]
        gen.view.controls["mask_upload"].value = upload("wide.png", data if isinstance(data, bytes) else _png(data))
    else:
        call = {"image": _house(), **given}
        assert gen.generate("a red cat", **call) is None
    assert_one_line(gen, expect)
    assert (gen.input_image, gen.input_mask, gen.results, gen.image) == kept
    assert first is gen.image and gen.mode == "inpainting"
    gen.view.controls["prompt"].value = "a red cat"
    gen.view.controls["run"].click()  # the chosen image and mask still work
    assert gen.session.join().ok and gen.last_error == ""
    assert len(gen.results) == 2 and gen.results[0].mode == "inpainting"
    assert_intact(models["sd"])


def test_a_strength_setting_out_of_range_is_refused_and_kept(models: dict[str, Path]) -> None:
    from traitlets import TraitError

    gen = ovnb.ImageGenerator(models["sd"], properties=F32, **SMALL, strength=0.5)
    for bad in (0, 1.5):
        with pytest.raises(TraitError) as error:
            gen.strength = bad
        assert "strength must be more than 0 and at most 1" in str(error.value)
        assert "\n" not in str(error.value)
    assert gen.strength == gen.session.strength == gen.view.controls["strength"].value == 0.5
    gen.view.controls["strength"].value = 0.05  # the slider's lowest: fine
    assert gen.session.strength == 0.05
    with pytest.raises(TypeError, match="has no setting 'strenght'"):
        ovnb.ImageGenerator(models["sd"], strenght=0.5)


def test_a_mask_of_another_scale_is_scaled_and_said(models: dict[str, Path]) -> None:
    """Resize or refuse: a mask of the image's shape at another size is scaled (nearest pixel)."""
    gen = ovnb.ImageGenerator(models["sd"], properties=F32, **SMALL)
    image = gen.generate("a red cat", image=_house(), mask=_mask(96, 72))
    assert image is not None and image.size == (48, 36) and gen.last_error == ""
    assert "the mask array scaled from 96×72 to the image's 48×36" in gen.metrics["notes"]
    assert "the mask array scaled from 96×72" in gen.view.status_line.value  # said once, there


# ------------------------------------------------------------------------- Retriever and RAG
tiny_embed = _prepared("tiny-embed")
DOCS = passages.sample()
NOTHING_YET = "nothing to search yet: add documents first (retriever.add(texts or files))"


def _written(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


def _empty_folder(tmp: Path) -> Path:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "scan.png").write_bytes(HOUSE.read_bytes())
    return tmp / "notes"


# bad documents: how each reaches the retriever (add from code, or the upload), and the line
RETRIEVER_INPUT: dict[str, tuple[str, Callable[[Path], Any], str]] = {
    "empty-list": ("add", lambda tmp: [], "no documents given: pass texts (str) or files"),
    "blank-texts": ("add", lambda tmp: ["", "  \n\n "], "the documents hold no text"),
    "image-file": ("add", lambda tmp: [DOCS / "visiting.md", HOUSE],
                   f"tiny-embed embeds texts only, not pictures ({HOUSE.name}): make the "
                   "Retriever with a multimodal Embedder"),
    "pdf-file": ("add", _written("report.pdf", b"%PDF-1.7\n\x00\x01\xff"),
                 "report.pdf is not a text file"),
    "latin-1-file": ("add", _written("notes.txt", "caf\xe9 au lait".encode("latin-1")),
                     "notes.txt is not UTF-8 text (byte 0xe9 at offset 3): save it as UTF-8"),
    "missing-file": ("add", lambda tmp: tmp / "gone.md", "gone.md does not exist"),
    "folder-of-images": ("add", _empty_folder,
                         "tiny-embed embeds texts only, not pictures (scan.png)"),
    "binary-upload": ("upload", lambda tmp: upload("slides.pptx", b"PK\x03\x04\x00\x00"),
                      "slides.pptx is not a text file"),
}


@pytest.mark.parametrize("case", list(RETRIEVER_INPUT))
def test_retriever_refuses_bad_documents_and_keeps_its_index(tiny_embed: Path, tmp_path: Path,
                                                             case: str) -> None:
    how, make, expect = RETRIEVER_INPUT[case]
    retriever = ovnb.Retriever(ovnb.Embedder(tiny_embed, properties=F32))
    assert retriever.add(DOCS) == 9
    found = retriever.search("when does the ferry leave?")
    kept = (retriever.passages, retriever.vectors.copy(), retriever.sources, retriever.results)
    bad = make(tmp_path)
    if how == "add":
        assert retriever.add(bad) == 0
    else:
        retriever.view.controls["upload"].value = bad
    assert_one_line(retriever, expect)
    assert (retriever.passages, retriever.sources, retriever.results) == (kept[0], kept[2],
                                                                          kept[3])
    np.testing.assert_array_equal(retriever.vectors, kept[1])
    assert retriever.search("when does the ferry leave?") == found and retriever.last_error == ""


def test_retriever_says_a_search_needs_documents_first(tiny_embed: Path) -> None:
    retriever = ovnb.Retriever(tiny_embed)
    assert retriever.search("ferns") == []
    assert_one_line(retriever, NOTHING_YET)
    retriever.view.controls["query"].value = "ferns"  # the search box (a run on a worker) says the same
    retriever.session.join()
    assert_one_line(retriever, NOTHING_YET)
    assert retriever.add(DOCS / "fern-house.md") == 2 and len(retriever.search("ferns")) == 2


def test_retriever_cuts_a_query_longer_than_the_embedder_reads_and_says_so(tiny_embed: Path
                                                                          ) -> None:
    """tiny-embed reads 128 tokens; openvino_genai would cut the rest without a word."""
    retriever = ovnb.Retriever(ovnb.Embedder(tiny_embed, properties=F32))
    retriever.add(DOCS)
    long = "when does the river run " * 60  # 302 tokens with [CLS] and [SEP]
    found = retriever.search(long)
    assert len(found) == 3 and retriever.last_error == ""
    expect = ("the query is 302 tokens, more than the 128 this model reads: it was embedded "
              "from its first 128 tokens")
    assert retriever.note == expect and html.escape(expect) in retriever.view.note.value
    first = " ".join(long.split()[:126])  # the 128 tokens it read
    assert [str(p) for p, _ in retriever.search(first)] == [str(p) for p, _ in found]
    assert retriever.note == "" and retriever.view.note.value == ""


def test_embedder_and_reranker_refuse_empty_lists(tiny_embed: Path) -> None:
    embedder = ovnb.Embedder(tiny_embed, properties=F32)
    assert embedder.embed([]) is None
    assert_one_line(embedder, "no texts to embed: pass a list of strings")
    assert embedder.embed(["still works"]).shape == (1, 32) and embedder.last_error == ""


def test_a_grounded_chat_before_any_document_keeps_the_conversation(models: dict[str, Path],
                                                                    tiny_embed: Path) -> None:
    retriever = ovnb.Retriever(ovnb.Embedder(tiny_embed, properties=F32))
    chat = ovnb.Chat(models["llm"], properties=F32, retriever=retriever, max_new_tokens=4)
    assert chat.send("Who founded the station?") == ""
    assert_one_line(chat, NOTHING_YET)
    assert chat.messages == [] and chat.view.panel.turns == []
    retriever.add(DOCS)
    assert chat.send("Who founded the station?") and chat.last_error == ""
    assert len(chat.messages[1]["sources"]) == 3


# ----------------------------------------------------------------- absent devices, early
@pytest.mark.parametrize("widget", ["VisionChat", "Transcriber", "ImageGenerator"])
def test_an_absent_device_is_refused_before_any_export(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        widget: str) -> None:
    """NPU asks VisionChat for int4-npu weights: it exported them (24 s) before refusing NPU."""
    monkeypatch.setenv("OVNB_CACHE", str(tmp_path))
    model = {"VisionChat": "tiny-vlm", "Transcriber": "tiny-whisper", "ImageGenerator": "tiny-sd"}
    made = getattr(ovnb, widget)(model[widget], device="NPU")
    with pytest.raises(OvnbError):
        made.wait_loaded()
    assert_one_line(made, "device NPU is not available here: choose one of CPU, AUTO")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing built, nothing locked


# -------------------------------------------------------------------------- the model cache
def test_a_read_only_cache_is_refused_in_one_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=64k") as root:
        monkeypatch.setenv("OVNB_CACHE", str(root))
        chat = ovnb.Chat("tiny-llm", max_new_tokens=4)
        assert chat.send("hello") == ""
        assert_one_line(chat, "(Read-only file system): set OVNB_CACHE to a writable folder")


def test_a_read_only_cache_still_serves_what_it_holds(models: dict[str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared workshop cache mounted read-only: prepared models open without writing."""
    expected = ovnb.Chat(models["llm"], properties=F32, max_new_tokens=6).send("Hello")
    with tmpfs(tmp_path / "shared", "size=4m") as root:
        shutil.copytree(models["llm"], root / "models" / "tiny-llm" / "fp16")
        remount_read_only(root)
        monkeypatch.setenv("OVNB_CACHE", str(root))
        chat = ovnb.Chat("tiny-llm", properties=F32, max_new_tokens=6)
        assert chat.send("Hello") == expected and chat.last_error == ""


def test_a_full_cache_is_refused_in_one_line_and_keeps_no_partial_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 kB: the tiny-llm source (0.8 MB) does not fit; safetensors says "os error 28"."""
    with tmpfs(tmp_path / "full", "size=64k") as root:
        monkeypatch.setenv("OVNB_CACHE", str(root))
        chat = ovnb.Chat("tiny-llm", max_new_tokens=4)
        assert chat.send("hello") == ""
        assert_one_line(chat, "is out of space")
        assert "OVNB_CACHE" in chat.last_error
        assert cached("tiny-llm", cache_dir=root) is None
        assert not [p for p in root.rglob("*") if ".tmp-" in p.name or ".trash-" in p.name]


# ------------------------------------------------------------------------------------- CLI
def prepare_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ovnb", "prepare", *args], check=False,
                          capture_output=True, text=True, timeout=600)


def _under_a_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("a file, not a folder\n")
    return tmp / "notes.txt" / "cache"


CLI_CACHE = {
    "under-a-file": (None, "Not a directory"),
    "read-only": ("ro,size=64k", "Read-only file system"),
    "full": ("size=64k", "is out of space"),
}


@pytest.mark.parametrize("case", list(CLI_CACHE))
def test_cli_refuses_an_unusable_cache_in_one_line(tmp_path: Path, case: str) -> None:
    options, expect = CLI_CACHE[case]
    if options is None:
        out = prepare_cli("tiny-llm", "--cache-dir", str(_under_a_file(tmp_path)))
    else:
        with tmpfs(tmp_path / "mnt", options) as root:
            out = prepare_cli("tiny-llm", "--cache-dir", str(root))
            assert cached("tiny-llm", cache_dir=root) is None
    assert out.returncode == 1 and out.stdout == ""
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ovnb: error: ") and expect in last and "OVNB_CACHE" in last, out.stderr
    assert "Traceback" not in out.stderr


def test_cli_serves_a_read_only_cache_that_holds_the_model(models: dict[str, Path],
                                                           tmp_path: Path) -> None:
    with tmpfs(tmp_path / "shared", "size=4m") as root:
        folder = root / "models" / "tiny-llm" / "fp16"
        shutil.copytree(models["llm"], folder)
        remount_read_only(root)
        out = prepare_cli("tiny-llm", "--cache-dir", str(root))
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == str(folder) and problem(folder) is None
