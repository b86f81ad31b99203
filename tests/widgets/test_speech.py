"""Transcriber, driven as a notebook user drives it: real Whisper tiny.en and tiny-whisper, in f32.

The bundled LibriVox clip says "and mister john dashwood had then leisure to consider ...".
"""
from __future__ import annotations

import datetime
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import ovnb
from ovnb import audio
from ovnb.audio import RATE
from tests.conftest import F32
from tests.recordings import webm_opus
from tests.wer import wer, words




@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, str]:
    """The bundled clip as 16 kHz float32, and its reference transcript."""
    path, transcript = audio.sample()
    return audio.load_audio(path), transcript


@pytest.fixture(scope="module")
def long_clip(clip: tuple[np.ndarray, str]) -> tuple[np.ndarray, str]:
    """Six copies with half-second gaps: 45.6 s, so two 30 s windows."""
    samples, transcript = clip
    gap = np.zeros(RATE // 2, np.float32)
    return np.concatenate([samples, gap] * 6), " ".join([transcript] * 6)


def bare(folder: Path, samples: np.ndarray, **config: Any) -> Any:
    """What the pipeline itself returns for these samples and settings (no streamer)."""
    import openvino_genai as ov_genai

    return ov_genai.WhisperPipeline(str(folder), "CPU", **F32).generate(samples, **config)


def record_text(widget: ovnb.Transcriber) -> list[str]:
    """Every value the transcript box takes, live ones included."""
    seen: list[str] = []
    widget.view.transcript_box.observe(lambda change: seen.append(change["new"]), "value")
    return seen


def test_sample_button_streams_and_ends_with_the_pipelines_text(tiny_en: Path, clip) -> None:
    samples, reference = clip
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    widget.wait_loaded()
    assert widget.languages == [] and widget.view.choices.layout.display == "none"
    assert widget.view.controls["language"].disabled and widget.view.controls["task"].disabled  # .en: no language, no task
    widget.view.controls["sample"].click()
    assert widget.view.player.value[:4] == b"RIFF" and "0:07.10" in widget.view.audio_label.value
    assert reference in widget.view.audio_label.value and widget.view.player.layout.display is None
    seen = record_text(widget)
    widget.view.controls["run"].click()
    widget.session.join()
    text = widget.transcript
    assert text == bare(tiny_en, samples).texts[0]
    assert wer([reference], [text]) <= 0.2, text  # measured 1/22: "Mr." for "mister"
    assert widget.view.transcript_box.value == text and widget.last_error == "" and not widget.busy
    live = [value[:-2] for value in seen if value.endswith(" ▌")]
    assert live and all(text.startswith(part) for part in live)
    assert len(live[0]) < len(text)  # it streamed: the first text shown was partial
    assert widget.metrics["tokens"] > 0 and "real time" in widget.view.figures_line.value
    assert widget.view.chunk_table.value == ""  # no timestamps asked


def test_paths_bytes_uploads_and_arrays_give_the_same_text(tiny_en: Path, clip) -> None:
    samples, _ = clip
    path = audio.SAMPLE
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    from_path = widget.transcribe(path)
    assert from_path and widget.transcribe(str(path)) == from_path
    assert widget.transcribe(path.read_bytes()) == from_path
    assert widget.transcribe((samples, RATE)) == from_path
    data = path.read_bytes()
    widget.view.controls["upload"].value = ({"name": "clip.flac", "type": "audio/flac", "size": len(data),
                             "content": memoryview(data), "last_modified": datetime.datetime.now()},)
    assert "clip.flac" in widget.view.audio_label.value
    widget.transcript = ""
    widget.view.controls["run"].click()
    widget.session.join()
    assert widget.transcript == from_path


def test_a_recording_made_in_the_page_transcribes_like_the_file(tiny_en: Path, clip) -> None:
    """The Record button's webm/opus, handed over as the page's message does (the message
    itself: test_recorder.py), is the audio to transcribe: the text is nearly the sample's."""
    samples, reference = clip
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    widget.wait_loaded()
    data = webm_opus(samples, RATE)
    widget.view.controls["record"].receive(data, "audio/webm;codecs=opus", 7.1)  # as the page
    assert widget.session.audio is not None and abs(widget.session.audio.seconds - 7.1) < 0.05
    assert "recording.webm · 0:07" in widget.view.audio_label.value and widget.last_error == ""
    widget.view.controls["run"].click()
    widget.session.join()
    assert wer([reference], [widget.transcript]) <= 0.2, widget.transcript


def test_48_khz_stereo_and_8_bit_files_read_nearly_the_same(tiny_en: Path, clip,
                                                              tmp_path: Path) -> None:
    samples, reference = clip
    t16 = np.arange(len(samples)) / RATE
    t48 = np.arange(len(samples) * 3) / 48000
    upsampled = np.interp(t48, t16, samples)  # linear interpolation: independent of ovnb's resampler
    stereo_48k = tmp_path / "stereo48k.wav"
    sf.write(stereo_48k, np.stack([0.9 * upsampled, 0.5 * upsampled], axis=1), 48000, subtype="PCM_16")
    eight_bit = tmp_path / "eightbit.wav"
    sf.write(eight_bit, samples, RATE, subtype="PCM_U8")
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    original = widget.transcribe((samples, RATE))
    for path in (stereo_48k, eight_bit):
        text = widget.transcribe(path)
        assert wer([reference], [text]) <= 0.2, (path.name, text)
        assert wer([original], [text]) <= 0.15, (path.name, text, original)


def test_long_audio_transcribes_with_a_chunk_table(tiny_en: Path, long_clip) -> None:
    samples, reference = long_clip
    seconds = len(samples) / RATE
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    seen = record_text(widget)
    plain = widget.transcribe((samples, RATE))
    assert plain == bare(tiny_en, samples).texts[0]
    assert wer([reference], [plain]) <= 0.2
    widget.view.controls["return_timestamps"].value = True
    timed = widget.transcribe((samples, RATE))
    expected = bare(tiny_en, samples, return_timestamps=True)
    assert timed == expected.texts[0]
    assert widget.chunks == [(c.start_ts, c.end_ts, c.text) for c in expected.chunks]
    starts = [start for start, _, _ in widget.chunks]
    assert len(widget.chunks) >= 4 and starts == sorted(starts)
    assert all(start < end <= seconds + 0.5 for start, end, _ in widget.chunks)
    assert widget.view.chunk_table.value.count("<tr>") == len(widget.chunks) + 1  # + the header
    assert words(widget.chunks[1][2])[0] in widget.view.chunk_table.value.lower()
    assert not any(value.endswith("▌") for value in seen)  # over 30 s: no live text


def test_stop_keeps_the_text_so_far_and_the_widget_goes_on(tiny_en: Path, clip) -> None:
    samples, _ = clip
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    full = widget.transcribe((samples, RATE))
    # stop as soon as the first words show (the streamer hears it on the same token)
    widget.view.transcript_box.observe(lambda change: change["new"].endswith("▌") and widget.view.controls["stop"].click(),
                         "value")
    widget.view.controls["run"].click()
    widget.session.join()
    stopped = widget.transcript
    assert stopped and len(words(stopped)) < len(words(full)) / 2
    assert full.startswith(stopped) and "stopped" in widget.view.status_line.value
    widget.view.transcript_box.unobserve_all("value")
    assert widget.transcribe((samples, RATE)) == full and not widget.busy


def test_concurrent_calls_each_get_their_own_audio(tiny_en: Path, clip) -> None:
    samples, _ = clip
    head = samples[: 3 * RATE]
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    expected = {"full": widget.transcribe((samples, RATE)), "head": widget.transcribe((head, RATE))}
    assert expected["full"] != expected["head"]
    got: dict[str, str] = {}
    def run(key: str, x: np.ndarray) -> None:
        got[key] = widget.transcribe((x, RATE))

    threads = [threading.Thread(target=run, args=item)
               for item in (("full", samples), ("head", head), ("full2", samples))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == {**expected, "full2": expected["full"]}


def test_audio_errors_show_as_one_line_and_the_widget_stays_usable(tiny_en: Path, clip,
                                                                  tmp_path: Path) -> None:
    samples, _ = clip
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not audio\n")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.int16), RATE)
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    good = widget.transcribe((samples, RATE))
    widget.view.controls["run"].click()  # the chosen audio stays chosen
    widget.session.join()
    assert widget.transcript == good
    for source, message in [(tmp_path / "missing.wav", "no such audio file"),
                            (text_file, "notes.txt is not audio"),
                            (empty, "empty.wav is empty"),
                            ((np.zeros(0, np.float32), RATE), "the audio is empty")]:
        assert widget.transcribe(source) == ""
        assert message in widget.last_error and "\n" not in widget.last_error
        assert message in widget.view.error_line.value and not widget.busy
    assert widget.transcribe((samples, RATE)) == good and widget.last_error == ""
    assert widget.view.error_line.value == ""


def test_silence_transcribes_with_a_note(tiny_en: Path) -> None:
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    text = widget.transcribe((np.zeros(2 * RATE, np.float32), RATE))
    assert isinstance(text, str) and widget.last_error == ""
    assert "silent" in widget.view.audio_label.value


def test_transcribe_button_without_audio_asks_for_some(tiny_en: Path) -> None:
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    widget.view.controls["run"].click()
    assert "no audio yet" in widget.last_error and not widget.busy


@pytest.mark.parametrize("case", ["wrong-kind", "device"])
def test_load_errors_show_in_the_widget(cache: Path, tiny_en: Path, clip, case: str) -> None:
    samples, _ = clip
    model, device, expect = {
        "wrong-kind": (ovnb.prepare("tiny-llm", cache_dir=cache), "CPU",
                       "not a speech to text one"),
        "device": (tiny_en, "NPU", "device NPU is not available"),
    }[case]
    widget = ovnb.Transcriber(model, device=device)
    assert widget.transcribe((samples, RATE)) == ""
    assert expect in widget.last_error and "\n" not in widget.last_error
    assert expect in widget.view.error_line.value and not widget.busy
    assert widget.view.player.value[:4] == b"RIFF"  # the audio itself was fine


def test_english_only_model_ignores_language_and_task_settings(tiny_en: Path, clip) -> None:
    samples, _ = clip
    widget = ovnb.Transcriber(tiny_en, properties=F32, language="fr", task="translate")
    assert widget.transcribe((samples, RATE)) == bare(tiny_en, samples).texts[0]
    assert widget.last_error == ""


def test_multilingual_language_and_task_reach_the_pipeline(tiny_whisper: Path, clip) -> None:
    samples, _ = clip
    widget = ovnb.Transcriber(tiny_whisper, properties=F32, language="de", task="translate",
                              max_new_tokens=16)
    widget.wait_loaded()
    assert len(widget.languages) == 99 and widget.view.choices.layout.display == "flex"
    assert ("French (fr)", "<|fr|>") in widget.view.controls["language"].options
    assert (widget.view.controls["language"].value, widget.view.controls["task"].value) == ("<|de|>", "translate")
    assert widget.view.controls["task"].options == ("transcribe", "translate")
    results = {}
    for language, task in (("<|fr|>", "transcribe"), ("<|fr|>", "translate"),
                           ("<|en|>", "transcribe")):
        widget.view.controls["language"].value, widget.view.controls["task"].value = language, task
        results[language, task] = widget.transcribe((samples, RATE))
        assert results[language, task] == bare(tiny_whisper, samples, language=language, task=task,
                                              max_new_tokens=16).texts[0]
        assert widget.metrics["language"] == language.strip("<|>")
    assert len(set(results.values())) == 3  # each choice changed the decoder's prompt
    widget.view.controls["language"].value = "auto"
    detected = bare(tiny_whisper, samples, max_new_tokens=16).texts[0]
    assert widget.transcribe((samples, RATE)) == detected


# word timestamps and subtitles ---------------------------------------------------------------------
def bare_words(folder: Path, samples: np.ndarray) -> Any:
    """What ASRPipeline built for word timestamps returns (the way openvino.genai's sample asks)."""
    import openvino_genai as ov_genai

    pipe = ov_genai.ASRPipeline(str(folder), "CPU", word_timestamps=True, **F32)
    return pipe.generate(samples, word_timestamps=True)


def test_word_timestamps_list_each_word_and_play_along(tiny_en: Path, clip) -> None:
    from tests.test_subtitles import parse_srt, parse_vtt

    samples, _ = clip
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    plain = widget.transcribe((samples, RATE))
    assert widget.words == [] and widget.view.word_player.layout.display == "none"
    seen = record_text(widget)
    text = widget.transcribe((samples, RATE), word_timestamps=True)
    expected = bare_words(tiny_en, samples)
    assert text == plain == expected.texts[0]
    live = [value[:-2] for value in seen if value.endswith(" ▌")]  # streamed as it was made
    assert live and len(live[0]) < len(text) and all(text.startswith(part) for part in live)
    assert widget.words == [(w.start_ts, w.end_ts, w.text) for w in expected.words[0]]
    assert "".join(word for _, _, word in widget.words) == text  # every word, in order
    starts = [start for start, _, _ in widget.words]
    assert len(starts) == 22 and starts == sorted(starts)
    assert all(start <= end <= len(samples) / RATE + 0.05 for start, end, _ in widget.words)
    assert widget.view.word_player.layout.display is None and widget.view.player.layout.display == "none"
    assert widget.view.word_player.wav[:4] == b"RIFF" and len(widget.view.word_player.words) == 22
    assert widget.view.word_list.value.count("<tr>") == 22 + 1 and "Dashwood" in widget.view.word_list.value
    cues = parse_srt(widget.srt())
    assert " ".join(t for _, _, t in cues) == " ".join(text.split())
    assert cues[0][0] == 0.0 and cues[-1][1] == pytest.approx(widget.words[-1][1], abs=1e-3)
    assert [c[:2] for c in parse_vtt(widget.vtt())] == [c[:2] for c in cues]
    assert widget.word_timestamps is False  # the call's choice, not the setting
    assert widget.transcribe((samples, RATE)) == plain and widget.words == []
    assert widget.view.word_player.layout.display == "none" and widget.view.player.layout.display is None


def test_the_word_player_gets_the_audio_once_per_clip(tiny_en: Path, clip) -> None:
    """Each message of the audio is the whole WAV: runs on the same clip must not send it again."""
    samples, _ = clip
    widget = ovnb.Transcriber(tiny_en, properties=F32, word_timestamps=True)
    widget.choose((samples, RATE))
    sent: list[int] = []
    widget.view.word_player.observe(lambda change: sent.append(len(change["new"])), "wav")
    widget.transcribe()
    widget.transcribe()
    assert len(sent) == 1 and sent[0] > 0 and widget.view.word_player.layout.display is None

def test_the_word_pipeline_is_built_once_and_shared(tiny_en: Path, clip) -> None:
    samples, _ = clip
    first = ovnb.Transcriber(tiny_en, properties=F32)
    first.wait_loaded()  # loaded without word timestamps (the setting is read while it loads)
    second = ovnb.Transcriber(tiny_en, properties=F32, word_timestamps=True)
    assert second.wait_loaded() is second.session._with_words  # built with them from the start
    assert first.session._with_words is None
    first.view.controls["word_timestamps"].value = True  # the checkbox is the setting
    assert first.word_timestamps and first.session.word_timestamps
    assert first.transcribe((samples, RATE)) and len(first.words) == 22
    assert first.session._with_words is second.session._with_words  # one pipeline for both
    assert first.wait_loaded() is not first.session._with_words  # the plain one stays for plain runs


def test_word_timestamps_on_a_model_that_has_none_is_one_line(tiny_en: Path, clip) -> None:
    """Only Whisper gives word timestamps in genai; no other ASR model prepares offline, so the
    refusal is checked by telling the session its model is another (its pipeline is Whisper's)."""
    samples, _ = clip
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    text = widget.transcribe((samples, RATE))
    widget.session.model_type = "qwen3_asr"
    assert widget.transcribe(word_timestamps=True) == ""
    assert widget.last_error.startswith("word timestamps come from Whisper models only; "
                                        "openai/whisper-tiny.en is a qwen3_asr model")
    assert widget.transcript == text and widget.session._with_words is None  # nothing lost
    assert widget.transcribe() == text and widget.last_error == ""


def test_subtitles_without_word_timestamps(tiny_en: Path, long_clip, tmp_path: Path) -> None:
    from tests.test_subtitles import parse_srt, parse_vtt

    samples, _ = long_clip
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    assert widget.srt() == "" and widget.vtt() == "WEBVTT\n"
    assert widget.save_subtitles(tmp_path / "none.srt") is None
    assert widget.last_error == "no transcript yet: press Transcribe first"
    text = widget.transcribe((samples[: 3 * RATE], RATE))
    assert parse_srt(widget.srt()) == [(0.0, 3.0, " ".join(text.split()))]  # one cue, the clip
    widget.transcribe((samples, RATE), word_timestamps=False)
    widget.return_timestamps = True
    widget.transcribe()
    cues = parse_vtt(widget.vtt())
    assert len(cues) == len(widget.chunks) and cues[0][2] == widget.chunks[0][2].strip()
    path = widget.save_subtitles(tmp_path / "talk.vtt")
    assert path.read_text(encoding="utf-8") == widget.vtt() and "saved talk.vtt" in \
        widget.view.status_line.value
    assert widget.save_subtitles(tmp_path / "talk.txt") is None
    assert "end the name in .srt or .vtt" in widget.last_error


def test_subtitles_to_a_path_inside_a_file_are_one_line(tiny_en: Path, tmp_path: Path) -> None:
    widget = ovnb.Transcriber(tiny_en, properties=F32)
    assert widget.transcribe(audio.SAMPLE)
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    assert widget.save_subtitles(blocker / "talk.srt") is None
    assert widget.last_error == (f"cannot save to {blocker / 'talk.srt'}: {blocker} is a file, "
                                 "not a folder: choose another path")
    assert widget.save_subtitles(tmp_path / "talk.vtt").read_text().startswith("WEBVTT")
    assert widget.status == "saved talk.vtt" and widget.last_error == ""
