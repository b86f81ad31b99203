"""Reading audio for Whisper: any file, upload or array -> float32, 16 kHz, mono, in [-1, 1].

WhisperPipeline takes only that one format, while people bring 44.1/48 kHz stereo recordings,
8-bit WAVs and phone uploads. Decoding is soundfile's (wav, flac, ogg, and mp3 with libsndfile
>= 1.1), then PyAV's for what libsndfile cannot open (a browser's webm/opus recording); the rate
conversion is a band-limited polyphase resampler in numpy (scipy is not a dependency), since naive
decimation folds everything above 8 kHz back into the speech band.
Long recordings are read block by block and mixed to mono as they come, so 10 minutes of 48 kHz
stereo costs about its mono float32 size, not four times that.
"""
from __future__ import annotations

import io
import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.files import save_target, write_bytes
from ovnb.progress import say

RATE = 16000  # what Whisper listens at
SILENCE = 1e-3  # peak below this (-60 dBFS) counts as silent
BLOCK_FRAMES = 1 << 16  # frames read (and outputs resampled) at a time
# the resampler's low-pass: Kaiser-windowed sinc, this many zero crossings on each side
ZERO_CROSSINGS = 16
ROLLOFF = 0.9  # cutoff as a fraction of the lower Nyquist frequency
KAISER_BETA = 8.0  # about 80 dB stopband
# integer sample formats and the value of full scale (8-bit WAV is unsigned, centred on 128)
INT_SCALES = {np.dtype(np.uint8): (128.0, 128.0), np.dtype(np.int8): (0.0, 128.0),
              np.dtype(np.int16): (0.0, 32768.0), np.dtype(np.int32): (0.0, 2.0 ** 31)}

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "librivox-sense-and-sensibility-0870.flac"

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | tuple[Any, int] | np.ndarray


def sample() -> tuple[Path, str]:
    """The bundled public-domain LibriVox clip and its reference transcript."""
    return SAMPLE, SAMPLE.with_suffix(".txt").read_text().strip()


def load_audio(source: Source, name: str | None = None) -> np.ndarray:
    """``source`` as float32 mono samples at 16 kHz in [-1, 1].

    ``source`` is a file path, the bytes of an audio file (an upload; ``name`` is used in messages),
    ``(samples, rate)`` with samples shaped (frames,) or (frames, channels) -- channels-first
    arrays of up to 8 channels are recognized -- or a bare 1-D array already at 16 kHz.
    """
    return read_audio(source, name)[0]


def read_audio(source: Source, name: str | None = None) -> tuple[np.ndarray, int]:
    """``load_audio``'s samples and the rate the source had: callers that say when a recording
    was resampled (an omni model hears 16 kHz too) need to know."""
    name, rate, mono = _mono(source, name)
    if mono.size == 0:
        raise OvnbError(f"{name} is empty (no samples): choose a recording with sound")
    samples = resample(mono, rate)
    np.clip(samples, -1.0, 1.0, out=samples)  # ours to change: decoded, converted or resampled
    if is_silent(samples):
        say(f"{name} is silent (peak below -60 dBFS): expect an empty transcript")
    return samples, rate


def _mono(source: Source, name: str | None) -> tuple[str, int, np.ndarray]:
    """(name for messages, sample rate, float32 mono samples) of any supported source."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "the upload"
        if not source:
            raise OvnbError(_EMPTY.format(name=name))
        return (name, *_decode(io.BytesIO(bytes(source)), name))
    if isinstance(source, (str, os.PathLike)):
        name = name or Path(source).name
        return (name, *_decode(_existing_file(source), name))
    if isinstance(source, tuple) and len(source) == 2:
        return name or "the audio", _rate(source[1]), to_mono(np.asarray(source[0]))
    if isinstance(source, np.ndarray) and source.ndim == 1:
        return name or "the audio", RATE, to_mono(source)
    raise TypeError(f"cannot read audio from {type(source).__name__}: give a file path, the bytes "
                    "of an audio file, or (samples, rate)")


def is_silent(samples: np.ndarray) -> bool:
    """True when nothing in ``samples`` rises above -60 dBFS."""
    return samples.size == 0 or max(float(samples.max()), -float(samples.min())) < SILENCE


def to_wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    """16-bit WAV bytes of ``samples``: what every browser's audio player plays."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()



WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}  # what ``write_audio`` saves (16-bit PCM)


def write_audio(path: str | os.PathLike[str], samples: np.ndarray, rate: int) -> Path:
    """Save float samples in [-1, 1] as a 16-bit WAV or FLAC file (by the name's suffix).

    The folder is made if needed (``ovnb.files``); a suffix soundfile should not guess at, or a
    path that cannot be written, is one line naming the fix, and an earlier file of that name is
    kept whole when the save fails.
    """
    import soundfile as sf

    if samples.size == 0:
        raise OvnbError("no audio to save (0 samples)")
    rate = _whole_rate(rate)
    target = save_target(path, tuple(WRITE_FORMATS), what="audio")
    kind = WRITE_FORMATS[target.suffix.lower()]
    buffer = io.BytesIO()
    try:
        sf.write(buffer, np.clip(samples, -1.0, 1.0), rate, format=kind, subtype="PCM_16")
    except (sf.SoundFileError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = re.sub(r"^Error opening .*?: (Error : )?", "", reason)  # names a BytesIO repr
        raise OvnbError(f"cannot encode the audio as {kind} at {rate} Hz ({reason}): check the "
                        "samples and the rate") from None
    return write_bytes(target, buffer.getvalue())


def _whole_rate(rate: Any) -> int:
    """A sample rate to write at: a positive whole number of Hz (22050.0 counts)."""
    whole = isinstance(rate, (int, float, np.integer, np.floating)) and not isinstance(rate, bool)
    if not whole or not math.isfinite(rate) or rate <= 0 or rate != int(rate):
        raise OvnbError(f"sample rate {rate!r} is not a positive whole number of Hz: pass the "
                        "rate the samples were made at")
    return int(rate)


# decoding -----------------------------------------------------------------------------------------
_EMPTY = "{name} is empty (0 bytes): choose another file or upload it again"


def _existing_file(path: str | os.PathLike[str]) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise OvnbError(f"no such audio file: {file}: check the path, or upload the file")
    if not file.is_file():
        raise OvnbError(f"{file} is a folder, not an audio file: give the path of a wav/flac/ogg file")
    if file.stat().st_size == 0:
        raise OvnbError(_EMPTY.format(name=file.name))
    return file


def _decode(file: Path | io.BytesIO, name: str) -> tuple[int, np.ndarray]:
    """(rate, mono float32 samples) of an audio file, read block by block."""
    import soundfile as sf

    try:
        with sf.SoundFile(file) as sound:
            return sound.samplerate, _read_mono(sound, name)
    except sf.SoundFileError as exc:
        decoded = _decode_av(file)  # webm/mp4 (a browser's recording) is no libsndfile format
        if decoded is None:
            raise OvnbError(_not_audio(name, exc)) from exc
        return decoded


def _decode_av(file: Path | io.BytesIO) -> tuple[int, np.ndarray] | None:
    """(rate, mono float32 samples) decoded by FFmpeg (PyAV), or None when it has no audio.

    Browsers record webm/opus (Chromium, Firefox) or mp4/aac (Safari), which libsndfile cannot
    open; PyAV is already a dependency (video) and decodes both. Mixing to mono is FFmpeg's, frame
    by frame, so a long recording never holds every channel at once.
    """
    import av

    if isinstance(file, io.BytesIO):
        file.seek(0)
    try:
        with av.open(file if isinstance(file, io.BytesIO) else str(file)) as container:
            if not container.streams.audio:
                return None
            return _decode_stream(container, container.streams.audio[0])
    except (av.FFmpegError, ValueError, UnicodeDecodeError):
        return None


def _decode_stream(container: Any, stream: Any) -> tuple[int, np.ndarray] | None:
    """All of ``stream`` as mono float32 at its own rate (None when it holds no samples)."""
    import av

    rate = stream.codec_context.sample_rate or stream.rate
    if not rate:
        return None
    mixer = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts = [out.to_ndarray().reshape(-1) for frame in container.decode(stream)
             for out in mixer.resample(frame)]
    parts += [out.to_ndarray().reshape(-1) for out in mixer.resample(None)]
    samples = np.concatenate(parts).astype(np.float32, copy=False) if parts else None
    if samples is None or not np.isfinite(samples).all():
        return None
    return rate, samples


def _not_audio(name: str, exc: Exception) -> str:
    import soundfile as sf

    if name.lower().endswith(".mp3") and "MP3" not in sf.available_formats():
        return (f"{name}: this libsndfile cannot read mp3 (it needs libsndfile 1.1 or newer): "
                "convert it to wav, flac or ogg")
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = re.sub(r"^Error opening .*?: ", "", reason)  # names a path or a BytesIO repr
    return f"{name} is not audio soundfile can read (wav, flac, ogg, mp3): {reason}"


def _read_mono(sound: Any, name: str) -> np.ndarray:
    """All frames of an open SoundFile mixed to mono, without holding every channel at once.

    A float file can hold NaN or infinite samples, which Whisper turns into garbage (one NaN
    gave 446 "!") and clipping would hide: refused here, block by block (a NaN or inf in any
    channel survives the mix).
    """
    out = np.empty(sound.frames if 0 < sound.frames < 2 ** 40 else 0, np.float32)
    extra: list[np.ndarray] = []  # frames beyond the announced count (some formats guess it)
    filled = 0
    for block in sound.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
        if not np.isfinite(mono).all():
            raise OvnbError(f"{name} has NaN or infinite samples (a float recording gone wrong): "
                            "export it again, or as 16-bit PCM")
        fits = max(0, min(len(mono), len(out) - filled))
        out[filled:filled + fits] = mono[:fits]
        filled += fits
        if fits < len(mono):
            extra.append(mono[fits:].copy())
    return np.concatenate([out[:filled], *extra]) if extra else out[:filled]


def _rate(rate: Any) -> int:
    try:
        value = float(rate)
    except (TypeError, ValueError):
        value = 0.0
    if not value > 0 or not math.isfinite(value):
        raise OvnbError(f"sample rate {rate!r} is not a positive number: pass (samples, rate_in_hz)")
    return int(round(value))


def to_mono(samples: np.ndarray) -> np.ndarray:
    """float32 mono in full scale [-1, 1] from integer or float samples, any channel layout."""
    if samples.ndim == 2 and samples.shape[0] <= 8 < samples.shape[1]:
        samples = samples.T  # channels first (torchaudio, librosa)
    if samples.ndim not in (1, 2):
        raise OvnbError(f"audio samples shaped {samples.shape}: give (frames,) or (frames, channels)")
    floats = _as_float(samples)
    return floats.mean(axis=1, dtype=np.float32) if floats.ndim == 2 else floats


def _as_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype in INT_SCALES:
        offset, scale = INT_SCALES[samples.dtype]
        return ((samples.astype(np.float32) - offset) / scale).astype(np.float32)
    if samples.dtype.kind != "f":
        raise OvnbError(f"audio samples of type {samples.dtype}: give float samples in [-1, 1], "
                        "or 8/16/32-bit integer PCM")
    floats = samples.astype(np.float32)  # a copy: the caller's array is never modified
    if not np.isfinite(floats).all():
        raise OvnbError("the audio has NaN or infinite samples: check how it was computed")
    return floats


# resampling ---------------------------------------------------------------------------------------
def resample(samples: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """``samples`` (mono) converted from ``rate`` to ``target`` Hz with a band-limited filter.

    Polyphase rational resampling: output n sits at input position n * rate / target and is a
    Kaiser-windowed-sinc weighted sum of the inputs around it; the low-pass cuts at ROLLOFF times
    the lower Nyquist frequency, so nothing above it aliases into the result. Outputs are computed
    in blocks, so memory stays at the input plus the output plus one block.
    """
    samples = np.asarray(samples, np.float32)
    if rate == target:
        return samples
    common = math.gcd(rate, target)
    up, down = target // common, rate // common
    table, half = _filter_table(up, down)
    n_out = -(-len(samples) * up // down)
    out = np.empty(n_out, np.float32)
    rows = max(1, BLOCK_FRAMES // up)  # outputs per phase in one block
    for first_row in range(0, -(-n_out // up), rows):
        _resample_block(samples, out, table, half, up, down, first_row, rows)
    return out


def _resample_block(x: np.ndarray, out: np.ndarray, table: np.ndarray, half: int, up: int,
                    down: int, first_row: int, rows: int) -> None:
    """Outputs ``first_row*up`` .. ``(first_row+rows)*up - 1``: one strided dot product per phase."""
    from numpy.lib.stride_tricks import sliding_window_view

    taps = table.shape[1]
    n0 = first_row * up
    rows = min(rows, -(-(len(out) - n0) // up))
    base = first_row * down  # input index of output n0's position
    lows = -((half - np.arange(up) * down) // up)  # first input of each phase, relative to base
    start, stop = base + int(lows.min()), base + int(lows.max()) + (rows - 1) * down + taps
    segment = _padded(x, start, stop)
    windows = sliding_window_view(segment, taps)
    block = np.zeros((rows, up), np.float32)
    for phase in range(up):
        offset = int(lows[phase]) + base - start
        rows_view = windows[offset:offset + (rows - 1) * down + 1:down]
        block[:, phase] = np.einsum("ij,j->i", rows_view, table[phase])  # strided: einsum beats @
    flat = block.reshape(-1)
    count = min(len(flat), len(out) - n0)
    out[n0:n0 + count] = flat[:count]


def _padded(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``x[start:stop]`` with zeros where the range runs past either end."""
    if start >= 0 and stop <= len(x):
        return x[start:stop]
    segment = np.zeros(stop - start, np.float32)
    lo, hi = max(start, 0), min(stop, len(x))
    if hi > lo:
        segment[lo - start:hi - start] = x[lo:hi]
    return segment


@lru_cache(maxsize=16)
def _filter_table(up: int, down: int) -> tuple[np.ndarray, int]:
    """Per-phase filter taps (phase, tap) and the filter's half length in upsampled samples.

    Phase r serves outputs n = r (mod up); its taps weight inputs first, first+1, ... where
    ``first = ceil((n*down - half) / up)``.
    """
    cutoff = 0.5 * min(1.0 / up, 1.0 / down) * ROLLOFF  # cycles per upsampled sample
    half = math.ceil(ZERO_CROSSINGS / (2 * cutoff))
    distance = np.arange(-half, half + 1, dtype=np.float64)
    kernel = up * 2 * cutoff * np.sinc(2 * cutoff * distance) * np.kaiser(2 * half + 1, KAISER_BETA)
    taps = 2 * half // up + 1
    table = np.zeros((up, taps), np.float64)
    for phase in range(up):
        j = phase * down
        first = -((half - j) // up)
        dist = j - first * up - np.arange(taps) * up  # distance of each tap's input, newest first
        valid = dist >= -half
        table[phase, valid] = kernel[dist[valid] + half]
    return table.astype(np.float32), half
