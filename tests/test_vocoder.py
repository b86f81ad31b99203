"""ovnb.vocoder: a vocoder run in windows of frames says what the whole vocoder says."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset15 as op
import pytest

from ovnb import vocoder

MELS = 8


def conv_vocoder(kernel: int = 5, seed: int = 0) -> ov.Model:
    """A small HiFi-GAN-like vocoder: [1, frames, MELS] -> [1, frames * 16] through a conv of
    ``kernel`` frames, two 4x transposed-conv upsamplers, a dilated conv and PReLUs."""
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> ov.Node:
        return op.constant((rng.standard_normal(shape) * 0.3).astype(np.float32))

    spectrogram = op.parameter(ov.PartialShape([-1, -1, MELS]), ov.Type.f32, name="spectrogram")
    spectrogram.output(0).set_names({"spectrogram"})
    x = op.transpose(spectrogram, op.constant(np.array([0, 2, 1], dtype=np.int64)))
    half = kernel // 2
    x = op.convolution(x, weights(6, MELS, kernel), [1], [half], [half], [1])
    for _ in range(2):
        x = op.prelu(x, op.constant(np.array([0.1], dtype=np.float32)))
        x = op.convolution_backprop_data(x, weights(6, 6, 8), [4], pads_begin=[2], pads_end=[2])
        x = op.convolution(x, weights(6, 6, 3), [1], [3], [3], [3])
    x = op.tanh(op.convolution(x, weights(1, 6, 3), [1], [1], [1], [1]))
    audio = op.squeeze(x, op.constant(np.array([1], dtype=np.int64)))
    result = op.result(audio)
    result.output(0).set_names({"waveform"})
    return ov.Model([result], [spectrogram], "conv_vocoder")


def speak(model: ov.Model, frames: int, seed: int = 1) -> np.ndarray:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = np.random.default_rng(seed).standard_normal((1, frames, MELS)).astype(np.float32)
    return compiled([x])[0]


def test_hop_and_reach_are_read_from_the_network() -> None:
    model = conv_vocoder(kernel=9)
    assert vocoder.hop(model) == 16
    assert 4 <= vocoder.reach(model) <= 6  # the 9-frame conv: 4, the upsampled convs: a frame


@pytest.mark.parametrize("frames", [1, 5, 23, 24, 25, 40, 41, 97])
def test_windows_make_the_same_audio_as_the_whole(frames: int) -> None:
    model = conv_vocoder()
    context = vocoder.reach(model) + 1
    whole, parts = speak(model, frames), speak(vocoder.windowed(conv_vocoder(), 24, context),
                                               frames)
    assert parts.shape == whole.shape == (1, frames * 16)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-5)


def test_too_little_context_is_seen_in_the_audio() -> None:
    """The check above is not vacuous: windows without enough context change the audio."""
    model = conv_vocoder(kernel=9)
    assert not np.allclose(speak(vocoder.windowed(conv_vocoder(kernel=9), 24, 1), 97),
                           speak(model, 97), rtol=0, atol=1e-5)


def test_a_window_size_with_nothing_to_speak_is_refused() -> None:
    with pytest.raises(ValueError, match="leaves nothing"):
        vocoder.windowed(conv_vocoder(), 10, 5)


def write(model: ov.Model, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, folder / vocoder.FILE, compress_to_fp16=False)
    return folder


def test_a_folder_is_windowed_once_and_keeps_its_audio(tmp_path: Path) -> None:
    folder = write(conv_vocoder(), tmp_path)
    assert not vocoder.is_windowed(folder)
    assert vocoder.window_vocoder(folder)
    assert vocoder.is_windowed(folder)
    assert not vocoder.window_vocoder(folder)  # once
    read = ov.Core().read_model(folder / vocoder.FILE)
    frames = 2 * vocoder.WINDOW + 3
    np.testing.assert_allclose(speak(read, frames), speak(conv_vocoder(), frames), rtol=0,
                               atol=1e-5)
    assert [p.get_any_name() for p in read.inputs] == ["spectrogram"]
    assert [r.get_any_name() for r in read.outputs] == ["waveform"]


def test_a_vocoder_that_reaches_too_far_is_left_whole(tmp_path: Path) -> None:
    folder = write(conv_vocoder(kernel=2 * vocoder.WINDOW // 4 + 1), tmp_path)
    before = (folder / vocoder.FILE).read_bytes()
    assert not vocoder.window_vocoder(folder)
    assert (folder / vocoder.FILE).read_bytes() == before


def test_the_prepared_tiny_speecht5_vocoder_is_windowed_and_says_the_same(
        tiny_speecht5: Path) -> None:
    windowed = ov.Core().read_model(tiny_speecht5 / vocoder.FILE)
    assert vocoder.is_windowed(tiny_speecht5)
    inside = vocoder.whole(ov.Core().read_model(tiny_speecht5 / vocoder.FILE))
    assert [p.get_any_name() for p in inside.inputs] == ["spectrogram"]
    frames = 3 * vocoder.WINDOW + 17
    compiled = [ov.Core().compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
                for m in (windowed, inside)]
    x = np.random.default_rng(0).standard_normal((1, frames, 80)).astype(np.float32)
    parts, whole = (c([x])[0] for c in compiled)
    assert parts.shape == whole.shape == (1, frames * 256)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-5 * float(np.abs(whole).max()))
