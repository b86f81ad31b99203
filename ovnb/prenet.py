"""SpeechT5's decoder with its prenet run on the newest frame only: faster, and lighter per step.

openvino_genai hands SpeechT5's decoder the whole spectrogram spoken so far at every step, and the
decoder as exported runs its prenet (three linear layers, dropout, positions, the speaker) over all
of it, only to keep the last frame. So a sentence of n steps costs O(n^2) prenet work, and each
step meets new shapes: OpenVINO's CPU plugin prepares the prenet's layers again at every step (or,
with its runtime cache, keeps a prepared copy per step count). The prenet works frame by frame
(its dropout mask is drawn at each step, the same for every frame), so its output for the last
frame needs only the last frame and its position: ``last_frame`` rewires the decoder that way.

Measured with a bare pipeline on tiny-speecht5 in f32, a 120-character text (1200 steps):
1.1-1.2 s -> 0.54-0.62 s without the runtime cache; with it, 583 -> 372 MB after that text. The
rewrite is checked when it is made (``same_steps``: both decoders stepped on the same random
inputs must agree), and a decoder whose layout it does not recognise, or that disagrees, is left
as exported.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FILE = "openvino_decoder_model.xml"
MARK = "ovnb_last_frame_prenet"  # rt_info key: this decoder runs its prenet on the last frame
POSITIONS = "encode_positions/aten::slice"  # the positional table's slice to the frames given
STEPS = 12  # decoder steps ``same_steps`` compares
TOLERANCE = 1e-4  # of the largest output value: float rounding, not a different network


def last_frame(model: Any) -> Any | None:
    """A copy of a SpeechT5 decoder IR whose prenet sees only the newest frame of
    ``inputs_embeds`` at its position; None when the layout is not the one this expects."""
    import openvino.opset15 as op

    new = model.clone()
    frames = [p for p in new.get_parameters() if "inputs_embeds" in p.output(0).get_names()]
    if len(frames) != 1:
        return None
    first = [t for t in frames[0].output(0).get_target_inputs()
             if t.get_node().get_type_name() == "MatMul"]
    table = [n for n in new.get_ops()
             if n.get_type_name() == "Slice" and POSITIONS in n.get_friendly_name()]
    if len(first) != 1 or len(table) != 1:
        return None
    count = op.gather(op.shape_of(frames[0], "i64"), _i64(1), _i64(0))  # [1]: frames given
    newest = op.slice(frames[0], _i64(-1), _i64(np.iinfo(np.int64).max), _i64(1), _i64(1))
    first[0].replace_source_output(newest.output(0))
    position = op.slice(table[0].input_value(0), op.subtract(count, _i64(1)), count, _i64(1),
                        _i64(1))
    position.set_friendly_name(table[0].get_friendly_name())  # found again by ``every_frame``
    for target in list(table[0].output(0).get_target_inputs()):
        target.replace_source_output(position.output(0))
    new.validate_nodes_and_infer_types()
    new.set_rt_info(True, MARK)
    return new


def every_frame(model: Any) -> Any:
    """A copy of a rewritten decoder IR whose prenet runs over every frame again, as exported
    (for comparisons: its positions and layers are the exported ones, fed the whole input)."""
    import openvino.opset15 as op

    old = model.clone()
    (frames,) = [p for p in old.get_parameters() if "inputs_embeds" in p.output(0).get_names()]
    (newest,) = [t.get_node() for t in frames.output(0).get_target_inputs()
                 if t.get_node().get_type_name() == "Slice"]
    for target in list(newest.output(0).get_target_inputs()):
        target.replace_source_output(frames.output(0))
    (position,) = [n for n in old.get_ops()
                   if n.get_type_name() == "Slice" and POSITIONS in n.get_friendly_name()]
    position.input(1).replace_source_output(_i64(0).output(0))  # the table from the first frame
    old.validate_nodes_and_infer_types()
    if old.has_rt_info(MARK):
        del old.get_rt_info()[MARK]
    return old


def same_steps(before: Any, after: Any, steps: int = STEPS, seed: int = 0) -> bool:
    """Whether two SpeechT5 decoder IRs give the same outputs over ``steps`` steps of random
    frames, speaker and encoder states (each step fed the first one's sequence, as genai does,
    with a new random frame last); one that fails to run disagrees."""
    import openvino as ov

    core = ov.Core()
    requests = [core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
                .create_infer_request() for m in (before, after)]
    rng = np.random.default_rng(seed)
    shapes = {p.get_any_name(): p.get_partial_shape() for p in before.inputs}
    size = {name: shape[-1].get_length() for name, shape in shapes.items()
            if shape.rank.get_length() > 1 and shape[-1].is_static}
    words = 7
    inputs: dict[str, np.ndarray] = {
        "inputs_embeds": np.zeros((1, 1, size["inputs_embeds"]), np.float32),
        "speaker_embeddings": rng.standard_normal(
            (1, size["speaker_embeddings"])).astype(np.float32),
        "encoder_hidden_states": rng.standard_normal(
            (1, words, size["encoder_hidden_states"])).astype(np.float32),
        "encoder_attention_mask": np.ones((1, words), np.int64),
        "beam_idx": np.zeros(1, np.int32)}
    for request in requests:
        request.reset_state()
    for _ in range(steps):
        given = {name: value.astype(_dtype(before, name)) for name, value in inputs.items()
                 if name in shapes}
        try:
            outputs = [_outputs(request, given) for request in requests]
        except RuntimeError:  # a rewrite that cannot run disagrees
            return False
        for name, value in outputs[0].items():
            scale = max(float(np.abs(value).max()), 1e-30)
            if not np.allclose(outputs[1][name], value, rtol=0, atol=TOLERANCE * scale):
                return False
        sequence = outputs[0]["output_sequence_out"]
        noise = rng.standard_normal((1, 1, sequence.shape[-1])).astype(np.float32)
        inputs["inputs_embeds"] = np.concatenate([sequence[:, :-1], noise], axis=1)
    return True


def _dtype(model: Any, name: str) -> Any:
    port = next(p for p in model.inputs if p.get_any_name() == name)
    return port.get_element_type().to_dtype()


def _outputs(request: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    request.infer(inputs)
    return {port.get_any_name(): np.array(request.get_tensor(port).data)
            for port in request.model_outputs}


def is_rewritten(folder: Path) -> bool:
    """Whether ``folder``'s decoder runs its prenet on the last frame already."""
    import openvino as ov

    return bool(ov.Core().read_model(Path(folder) / FILE).has_rt_info(MARK))


def rewrite_decoder(folder: Path) -> bool:
    """Rewrite ``folder``'s SpeechT5 decoder IR (once) so its prenet sees the newest frame only;
    whether it changed. Left as exported when its layout is unknown or the rewrite disagrees."""
    import openvino as ov

    path = Path(folder) / FILE
    model = ov.Core().read_model(path)
    if model.has_rt_info(MARK):
        return False
    new = last_frame(model)
    if new is None or not same_steps(model, new):
        return False
    temp = path.with_name("openvino_decoder_model.last_frame.xml")
    ov.save_model(new, temp, compress_to_fp16=False)
    del model, new
    temp.replace(path)
    temp.with_suffix(".bin").replace(path.with_suffix(".bin"))
    return True


def _i64(*values: int) -> Any:
    import openvino.opset15 as op

    return op.constant(np.array(values, dtype=np.int64))
