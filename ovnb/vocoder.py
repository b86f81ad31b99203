"""A HiFi-GAN vocoder that works through a spectrogram in windows, so its memory is bounded.

OpenVINO's CPU plugin keeps a model's intermediate buffers at the largest input it has met: a
vocoder of microsoft/speecht5_hifigan's size (f32) that once spoke 688 mel frames (11 s) kept
478 MB, 2000 frames 1123 MB, whatever ``CPU_RUNTIME_CACHE_CAPACITY`` says. openvino_genai hands
the vocoder a whole sentence at once, so ``windowed`` rewrites the vocoder's IR: the same network
inside a TensorIterator that runs it on windows of ``WINDOW`` frames, each giving the audio of the
frames in its middle, joined in order. The plugin then meets one window size (or one shorter
spectrogram, run whole), and memory stays at a window's: 247 MB at any length, measured as above.

HiFi-GAN is convolutional: a frame changes the audio only within its reach (24 frames each way
for speecht5_hifigan's layout, measured by ``reach``), so a window that keeps ``reach + 1``
frames of real input (or the spectrogram's true edge) on each side of the frames it speaks for
makes the same audio as the whole spectrogram, up to float rounding (tests/test_vocoder.py).
The price is that context, computed twice: 688 frames took 1.65 s whole and ~2.5 s in windows
(the sentence's other models took ~9 s more).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

WINDOW = 256  # mel frames a window holds (4 s of audio at 16 kHz and 256 samples a frame)
PROBE = 160  # frames of the spectrogram that measures a vocoder's reach
MARK = "ovnb_windowed_vocoder"  # rt_info key: this IR is windowed already
FILE = "openvino_vocoder.xml"


def hop(model: object) -> int:
    """Audio samples per mel frame: the product of the upsampling (transposed conv) strides."""
    samples = 1
    for op in model.get_ordered_ops():  # type: ignore[attr-defined]
        if op.get_type_name() == "ConvolutionBackpropData":
            samples *= int(np.prod(op.get_attributes()["strides"]))
    return samples


def reach(model: object) -> int:
    """How many frames on each side of a mel frame change the audio made for it: measured by
    changing the middle frame of a random spectrogram and seeing which samples move."""
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    mels = model.get_parameters()[0].get_partial_shape()[2].get_length()  # type: ignore
    before = np.random.default_rng(0).standard_normal((1, PROBE, mels)).astype(np.float32)
    after = before.copy()
    after[0, PROBE // 2] += 5.0
    moved = np.flatnonzero(compiled([after])[0] != compiled([before])[0])
    step = hop(model)
    if not moved.size:
        return 0
    return int(max(PROBE // 2 - moved[0] // step, moved[-1] // step - PROBE // 2))


def windowed(model: object, window: int, context: int) -> object:
    """``model`` (spectrogram [1, frames, mels] -> waveform [1, samples]) run on windows of
    ``window`` frames with ``context`` frames either side of what each one speaks for."""
    import openvino as ov
    import openvino.opset15 as op

    if window - 2 * context < 1:
        raise ValueError(f"a window of {window} frames leaves nothing between {context} frames "
                         "of context on each side")
    step = hop(model)
    body = model.clone()  # type: ignore[attr-defined]
    (inner,) = body.get_parameters()
    mels = inner.get_partial_shape()[2]
    inner.set_partial_shape(ov.PartialShape([1, -1, mels]))
    spectrogram = op.parameter(ov.PartialShape([1, -1, mels]), ov.Type.f32, name="spectrogram")
    spectrogram.output(0).set_names({"spectrogram"})
    frames = op.gather(op.shape_of(spectrogram, "i64"), _i64(1), _i64(0))  # [1]
    windows, offsets, part, count = _cut(spectrogram, frames, window, context)

    at = op.parameter(ov.PartialShape([1]), ov.Type.i64, name="offset")
    length = op.parameter(ov.PartialShape([1]), ov.Type.i64, name="length")
    begin = op.multiply(at, _i64(step))
    audio = op.slice(body.get_results()[0].input_value(0), begin, op.add(begin, length),
                     _i64(1), _i64(1))  # the samples of the frames this window speaks for
    body = ov.Model([op.result(audio)], [inner, at, length], "vocoder_window")
    loop = op.tensor_iterator()
    loop.set_body(body)
    loop.set_sliced_input(inner, windows.output(0), 0, 1, 1, -1, 0)
    loop.set_sliced_input(at, offsets.output(0), 0, 1, 1, -1, 0)
    loop.set_invariant_input(length, op.multiply(part, _i64(step)).output(0))
    joined = op.reshape(loop.get_concatenated_slices(body.get_results()[0].output(0),
                                                     0, 1, 1, -1, 0), _i64(1, -1), False)
    result = op.result(_unrepeat(joined, frames, part, count, step))
    result.output(0).set_names({"waveform"})
    out = ov.Model([result], [spectrogram], "vocoder_windowed")
    out.set_rt_info(f"{window}/{context}", MARK)
    return out


def _i64(*values: int) -> object:
    import openvino.opset15 as op

    return op.constant(np.array(values, dtype=np.int64))


def _cut(spectrogram: object, frames: object, window: int, context: int
         ) -> tuple[object, object, object, object]:
    """(the windows [n, size, mels], where each one's spoken frames begin inside it [n], the
    frames each speaks for [1], n [1]). A spectrogram of at most ``window`` frames is one window;
    the last window speaks for the last frames, so it may repeat some its neighbour spoke for."""
    import openvino.opset15 as op

    def counting(upto: object) -> object:  # 0, 1, ... upto - 1
        return op.range(op.constant(np.int64(0)), op.squeeze(upto, _i64(0)),
                        op.constant(np.int64(1)), "i64")

    size = op.minimum(frames, _i64(window))
    part = op.select(op.less_equal(frames, _i64(window)), frames, _i64(window - 2 * context))
    count = op.divide(op.add(frames, op.subtract(part, _i64(1))), part)  # ceil
    first = op.minimum(op.multiply(counting(count), part),
                       op.subtract(frames, part))  # each window's first spoken frame
    start = op.minimum(op.maximum(op.subtract(first, _i64(context)), _i64(0)),
                       op.subtract(frames, size))  # each window's first frame
    positions = op.add(op.unsqueeze(start, _i64(1)), op.unsqueeze(counting(size), _i64(0)))
    windows = op.squeeze(op.gather(spectrogram, positions, _i64(1)), _i64(0))
    return windows, op.subtract(first, start), part, count


def _unrepeat(joined: object, frames: object, part: object, count: object, step: int) -> object:
    """The joined audio [1, count * part * step] without what the last window repeated."""
    import openvino.opset15 as op

    kept = op.multiply(op.multiply(op.subtract(count, _i64(1)), part), _i64(step))
    ends = op.multiply(op.multiply(count, part), _i64(step))
    skip = op.add(kept, op.multiply(op.subtract(op.multiply(count, part), frames), _i64(step)))
    return op.concat([op.slice(joined, _i64(0), kept, _i64(1), _i64(1)),
                      op.slice(joined, skip, ends, _i64(1), _i64(1))], 1)


def whole(model: object) -> object:
    """The vocoder a windowed IR runs on each window, as a model of its own (for comparisons)."""
    import openvino as ov
    import openvino.opset15 as op

    (loop,) = [n for n in model.get_ordered_ops()  # type: ignore[attr-defined]
               if n.get_type_name() == "TensorIterator"]
    body = loop.get_function().clone()  # its own copy: reshaping it must not change ``model``
    inner = body.get_parameters()[0]
    inner.set_partial_shape(ov.PartialShape([-1, -1, inner.get_partial_shape()[2]]))
    inner.output(0).set_names({"spectrogram"})
    audio = body.get_results()[0].input_value(0).get_node().input_value(0)  # before its Slice
    result = op.result(audio)
    result.output(0).set_names({"waveform"})
    out = ov.Model([result], [inner], "vocoder")
    out.validate_nodes_and_infer_types()  # the input's batch and length free again, as exported
    return out


def is_windowed(folder: Path) -> bool:
    """Whether ``folder``'s vocoder IR is windowed already."""
    import openvino as ov

    model = ov.Core().read_model(Path(folder) / FILE)
    return model.has_rt_info(MARK)


def window_vocoder(folder: Path) -> bool:
    """Rewrite ``folder``'s SpeechT5 vocoder IR as a windowed one (once); whether it changed.

    A vocoder whose reach leaves a window less than half its frames to speak for is left whole.
    """
    import openvino as ov

    path = Path(folder) / FILE
    model = ov.Core().read_model(path)
    if model.has_rt_info(MARK):
        return False
    context = reach(model) + 1
    if context >= min(WINDOW // 4, PROBE // 2 - 1):
        return False
    new = windowed(model, WINDOW, context)
    temp = path.with_name("openvino_vocoder.windowed.xml")
    ov.save_model(new, temp, compress_to_fp16=False)
    del model
    temp.replace(path)
    temp.with_suffix(".bin").replace(path.with_suffix(".bin"))
    return True
