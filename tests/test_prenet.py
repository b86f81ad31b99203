"""ovnb.prenet: SpeechT5's decoder runs its prenet on the newest frame and says the same."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset15 as op

from ovnb import prenet


def decoder(folder: Path) -> ov.Model:
    return ov.Core().read_model(folder / prenet.FILE)


def pinned_to_first_position(model: ov.Model) -> ov.Model:
    """``model`` (rewritten) with the newest frame's position read as the first one's."""
    wrong = model.clone()
    (position,) = [n for n in wrong.get_ops()
                   if n.get_type_name() == "Slice" and prenet.POSITIONS in n.get_friendly_name()]
    position.input(1).replace_source_output(op.constant(np.array([0], np.int64)).output(0))
    position.input(2).replace_source_output(op.constant(np.array([1], np.int64)).output(0))
    wrong.validate_nodes_and_infer_types()
    return wrong


def test_the_prepared_tiny_speecht5_decoder_runs_its_prenet_on_the_last_frame(
        tiny_speecht5: Path) -> None:
    model = decoder(tiny_speecht5)
    assert prenet.is_rewritten(tiny_speecht5)  # made only after same_steps agreed at export
    (first,) = [t.get_node() for p in model.get_parameters()
                if "inputs_embeds" in p.output(0).get_names()
                for t in p.output(0).get_target_inputs()
                if t.get_node().get_type_name() == "Slice"]
    assert first.output(0).get_target_inputs()  # the prenet's first layer reads that slice


def test_the_prepared_decoder_says_what_its_prenet_over_every_frame_says(
        tiny_speecht5: Path) -> None:
    model = decoder(tiny_speecht5)
    exported = prenet.every_frame(model)  # the exported layers, fed every frame again
    assert not exported.has_rt_info(prenet.MARK)
    assert prenet.same_steps(exported, model, steps=3 * prenet.STEPS)
    assert prenet.same_steps(exported, prenet.last_frame(exported))


def test_a_folder_is_rewritten_once(tiny_speecht5: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_speecht5, tmp_path / "copy"))
    before = (folder / prenet.FILE).read_bytes()
    assert not prenet.rewrite_decoder(folder)
    assert (folder / prenet.FILE).read_bytes() == before


def test_the_check_refuses_a_rewrite_that_reads_the_wrong_position(tiny_speecht5: Path) -> None:
    model = decoder(tiny_speecht5)
    assert prenet.same_steps(model, model.clone())
    assert not prenet.same_steps(model, pinned_to_first_position(model))


def test_a_decoder_of_another_layout_is_left_as_exported(tmp_path: Path) -> None:
    frames = op.parameter(ov.PartialShape([-1, -1, 4]), ov.Type.f32, name="frames")
    frames.output(0).set_names({"frames"})
    weights = op.constant(np.ones((4, 4), np.float32))
    model = ov.Model([op.result(op.matmul(frames, weights, False, False))], [frames], "other")
    ov.save_model(model, tmp_path / prenet.FILE)
    before = (tmp_path / prenet.FILE).read_bytes()
    assert prenet.last_frame(model) is None
    assert not prenet.rewrite_decoder(tmp_path)
    assert (tmp_path / prenet.FILE).read_bytes() == before
