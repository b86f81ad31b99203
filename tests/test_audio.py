"""ovnb.audio: any file, upload or array -> float32 16 kHz mono, with a band-limited resampler."""
from __future__ import annotations

import io
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ovnb import audio
from ovnb.audio import RATE, SAMPLE, load_audio, read_audio, resample
from ovnb.errors import OvnbError


def tone(hz: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# ----------------------------------------------------------------------------- the resampler

@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 48000, 96000])
def test_a_speech_band_tone_comes_out_as_the_same_tone(rate: int) -> None:
    out = resample(tone(1000, rate, 2.0), rate)
    assert out.dtype == np.float32 and len(out) == -(-2 * rate * RATE // rate)
    ideal = tone(1000, RATE, len(out) / RATE)
    edge = 200  # the filter sees zeros past both ends
    assert np.abs(out - ideal)[edge:-edge].max() < 1e-3  # measured ~1e-5


@pytest.mark.parametrize("rate, hz", [(48000, 12000), (44100, 11000), (22050, 9500), (96000, 30000)])
def test_content_above_8_khz_is_removed_not_folded_back(rate: int, hz: float) -> None:
    high = tone(hz, rate, 1.0)
    naive = high[:: round(rate / RATE)] if rate % RATE == 0 else None
    if naive is not None:  # the premise: plain decimation folds the tone into the speech band
        assert rms(naive) > 0.3
    assert rms(resample(high, rate)[200:-200]) < 1e-3  # measured ~1e-6


def test_blocks_join_seamlessly(monkeypatch: pytest.MonkeyPatch) -> None:
    noise = np.random.default_rng(0).normal(scale=0.1, size=44100 * 3).astype(np.float32)
    whole = resample(noise, 44100)
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 1000)  # many blocks, none aligned with the signal
    np.testing.assert_allclose(resample(noise, 44100), whole, atol=1e-6)


def test_sixteen_khz_passes_through_unchanged() -> None:
    x = tone(440, RATE, 0.5)
    np.testing.assert_array_equal(load_audio((x, RATE)), x)
    np.testing.assert_array_equal(load_audio(x), x)  # a bare 1-D array is taken as 16 kHz


# ----------------------------------------------------------------------------- sample formats

def test_channels_are_mixed_to_mono_in_either_layout() -> None:
    left, right = tone(440, RATE, 0.5, 0.8), tone(440, RATE, 0.5, 0.2)
    frames_first = np.stack([left, right], axis=1)
    expected = (left + right) / 2
    np.testing.assert_allclose(load_audio((frames_first, RATE)), expected, atol=1e-7)
    np.testing.assert_allclose(load_audio((frames_first.T, RATE)), expected, atol=1e-7)


def test_integer_pcm_is_scaled_to_full_scale() -> None:
    u8 = np.array([0, 64, 128, 255], np.uint8)  # 8-bit WAV is unsigned around 128
    np.testing.assert_allclose(load_audio((u8, RATE)), [-1.0, -0.5, 0.0, 127 / 128])
    i16 = np.array([-32768, -16384, 0, 32767], np.int16)
    np.testing.assert_allclose(load_audio((i16, RATE)), [-1.0, -0.5, 0.0, 32767 / 32768])
    i32 = np.array([-2 ** 31, 2 ** 30], np.int32)
    np.testing.assert_allclose(load_audio((i32, RATE)), [-1.0, 0.5])
    loud = np.array([-3.0, 0.25, 2.0], np.float64)
    np.testing.assert_allclose(load_audio((loud, RATE)), [-1.0, 0.25, 1.0])  # clipped
    assert loud[0] == -3.0  # the caller's array is left alone


@pytest.mark.parametrize("fmt, subtype, tolerance", [
    ("WAV", "PCM_16", 1e-3), ("WAV", "PCM_U8", 2e-2), ("FLAC", "PCM_24", 1e-3),
    ("OGG", "VORBIS", 0.05), ("MP3", "MPEG_LAYER_III", 0.1)])
def test_files_and_uploads_of_every_format(tmp_path: Path, fmt: str, subtype: str,
                                           tolerance: float) -> None:
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile has no {fmt}")
    stereo = np.stack([tone(500, 48000, 1.0, 0.6), tone(500, 48000, 1.0, 0.2)], axis=1)
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, stereo, 48000, format=fmt, subtype=subtype)
    from_file = load_audio(path)
    expected = tone(500, RATE, 1.0, 0.4)
    n = min(len(from_file), len(expected))
    assert abs(len(from_file) - RATE) < RATE * 0.1  # mp3 pads a little
    middle = slice(n // 4, 3 * n // 4)
    if fmt == "MP3":  # the encoder delays the signal: compare level and spectrum, not samples
        assert abs(rms(from_file[middle]) - rms(expected[middle])) < tolerance
        spectrum = np.abs(np.fft.rfft(from_file[middle]))
        assert abs(np.argmax(spectrum) * RATE / len(from_file[middle]) - 500) < 5
    else:
        assert np.abs(from_file[middle] - expected[middle]).max() < tolerance
    np.testing.assert_array_equal(load_audio(path.read_bytes(), name=path.name), from_file)


# ----------------------------------------------------------------------------- errors and notes

def test_clear_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a sound\n")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.int16), RATE)
    cases = [
        (tmp_path / "gone.wav", "no such audio file: .*gone.wav"),
        (tmp_path, "is a folder, not an audio file"),
        (text, r"notes.txt is not audio soundfile can read \(wav, flac, ogg, mp3\)"),
        (empty, "empty.wav is empty"),
        ((np.zeros(0, np.float32), 44100), "the audio is empty"),
        ((np.zeros(10, np.float32), 0), "sample rate 0 is not a positive number"),
        ((np.array([0.1, np.nan]), RATE), "NaN or infinite"),
        ((np.zeros(4, np.int64), RATE), "int64"),
    ]
    for source, message in cases:
        with pytest.raises(OvnbError, match=message) as caught:
            load_audio(source)
        assert "\n" not in str(caught.value)
    with pytest.raises(TypeError, match="cannot read audio from float"):  # a wrong type
        load_audio(12.5)  # type: ignore[arg-type]
    with pytest.raises(OvnbError, match="upload.bin is not audio"):
        load_audio(b"\x00\x01 garbage", name="upload.bin")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fmt", ["file", "upload"])
def test_a_file_with_nan_or_infinite_samples_is_refused(tmp_path: Path, bad: float,
                                                        fmt: str) -> None:
    """Float WAVs can hold NaN and inf: one NaN once gave 446 "!" as the transcript, and an
    infinite sample was clipped to full scale without a word."""
    samples = tone(440, 48000, 2.0) * 0.5
    samples[70_000] = bad  # in the second block read, beyond the first BLOCK_FRAMES
    path = tmp_path / "take.wav"
    sf.write(path, np.stack([samples, samples], axis=1), 48000, subtype="FLOAT")
    source = path.read_bytes() if fmt == "upload" else path
    with pytest.raises(OvnbError) as caught:
        load_audio(source, name="take.wav")
    assert str(caught.value) == ("take.wav has NaN or infinite samples (a float recording gone "
                                 "wrong): export it again, or as 16-bit PCM")


def test_silent_audio_is_loaded_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = load_audio((np.full(RATE, 1e-4, np.float32), RATE), name="hush.wav")
    assert len(quiet) == RATE and audio.is_silent(quiet)
    assert "hush.wav is silent" in capsys.readouterr().err
    load_audio((tone(440, RATE, 0.1), RATE))
    assert "silent" not in capsys.readouterr().err


# ----------------------------------------------------------------------------- long recordings

def test_ten_minutes_of_48_khz_stereo_stay_near_their_mono_size(tmp_path: Path) -> None:
    path, rate, seconds = tmp_path / "long.wav", 48000, 600
    left, right = tone(220, rate, 1.0, 0.5), tone(220, rate, 1.0, 0.1)
    second = (np.stack([left, right], axis=1) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", rate, 2, "PCM_16") as out:
        for _ in range(seconds):
            out.write(second)
    tracemalloc.start()
    try:
        samples = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(samples) == seconds * RATE
    mono_48k = seconds * rate * 4  # the float32 mono the reader builds: 115 MB
    # reading the whole file as float64 stereo would take 4x mono_48k before any conversion
    assert peak < mono_48k + len(samples) * 4 + 10e6, f"peak {peak / 1e6:.0f} MB"
    middle = samples[300 * RATE:300 * RATE + RATE]
    assert abs(rms(middle) - 0.3 / np.sqrt(2)) < 1e-3


# ----------------------------------------------------------------------------- bundled sample

def test_the_bundled_sample_is_small_speech_with_its_transcript() -> None:
    path, transcript = audio.sample()
    info = sf.info(path)
    assert path.stat().st_size < 400_000 and path.suffix == ".flac"
    assert (info.samplerate, info.channels) == (RATE, 1) and 5 < info.duration < 10
    assert transcript.split()[:3] == ["and", "mister", "john"] and len(transcript.split()) == 22
    assert "public domain" in (path.parent / "README.md").read_text().lower()
    assert not audio.is_silent(load_audio(path))


def test_wav_bytes_round_trip_for_playback() -> None:
    x = tone(440, RATE, 0.25)
    data = audio.to_wav(x)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    back, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == RATE and np.abs(back - x).max() < 1e-4


def test_messages_name_no_python_objects() -> None:
    with pytest.raises(OvnbError) as err:
        load_audio(b"not audio at all", name="clip.wav")
    assert "BytesIO" not in str(err.value) and "0x" not in str(err.value)


# ----------------------------------------------------------------------------- writing

def test_write_audio_saves_wav_and_flac(tmp_path: Path) -> None:
    x = tone(440, RATE, 0.25)
    for name, kind in (("out/speech.wav", "WAV"), ("speech.FLAC", "FLAC")):
        path = audio.write_audio(tmp_path / name, x, RATE)
        assert path == tmp_path / name and sf.info(path).format == kind
        back, rate = sf.read(path, dtype="float32")
        assert rate == RATE and np.abs(back - x).max() < 2 / 32768


@pytest.mark.parametrize("make, expect", [
    (lambda tmp: tmp / "speech.mp3", "cannot save audio as 'speech.mp3': end the name in .wav or "
     ".flac"),
    (lambda tmp: (tmp / "notes").write_text("x") and tmp / "notes" / "speech.wav",
     "cannot save to {tmp}/notes/speech.wav: {tmp}/notes is a file, not a folder: choose "
     "another path"),
    (lambda tmp: (tmp / "a.wav").mkdir() or tmp / "a.wav",
     "cannot save to {tmp}/a.wav: it is a folder: add a file name, such as {tmp}/a.wav/audio.wav"),
    (lambda tmp: "", "no file name: type one, such as audio.wav"),
])
def test_write_audio_refuses_in_one_line(tmp_path: Path, make: object, expect: str) -> None:
    with pytest.raises(OvnbError) as caught:
        audio.write_audio(make(tmp_path), tone(440, RATE, 0.1), RATE)  # type: ignore[operator]
    assert str(caught.value) == expect.format(tmp=tmp_path)


def test_write_audio_refuses_no_samples_and_bad_rates(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match=re.escape("no audio to save (0 samples)")):
        audio.write_audio(tmp_path / "x.wav", np.zeros(0, np.float32), RATE)
    with pytest.raises(OvnbError, match=re.escape("sample rate 0 is not a positive whole number "
                                                  "of Hz: pass the rate the samples were made at")):
        audio.write_audio(tmp_path / "x.wav", tone(440, RATE, 0.1), 0)
    with pytest.raises(OvnbError, match=re.escape(
            "cannot encode the audio as FLAC at 1000000 Hz (flac does not support this sample "
            "rate.): check the samples and the rate")):
        audio.write_audio(tmp_path / "x.flac", tone(440, RATE, 0.1), 1_000_000)
    assert not list(tmp_path.iterdir())


def test_a_browsers_webm_opus_recording_is_decoded_by_pyav() -> None:
    """Chromium's MediaRecorder gives webm/opus, which libsndfile cannot open: PyAV decodes it,
    at opus's 48 kHz, resampled to 16 kHz like any other upload."""
    from tests.recordings import OPUS_RATE, webm_opus

    original = load_audio(SAMPLE)
    samples, rate = read_audio(webm_opus(original, RATE), name="recording.webm")
    assert rate == OPUS_RATE and samples.dtype == np.float32
    assert abs(len(samples) - len(original)) < RATE // 50  # opus pads by a few ms at most
    assert float(np.abs(samples).max()) > 0.05  # sound, not silence


def test_webm_with_no_audio_stream_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match=r"clip.webm is not audio soundfile can read"):
        load_audio(b"\x1aE\xdf\xa3 not really a webm file", name="clip.webm")
