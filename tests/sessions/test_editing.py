"""What an edit takes, without a model: the mode of the inputs, masks fitted or refused, sizes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ovnb.errors import OvnbError
from ovnb.images import Mask, load_image, load_mask
from ovnb.sessions import editing
from ovnb.sessions.editing import (IMAGE, INPAINT, TEXT, check_strength, edit_for, fit_mask,
                                   overlay, root_mode, tensors, work_size)


def picture(w: int = 40, h: int = 30) -> object:
    return load_image(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))


def box(w: int = 40, h: int = 30, x: slice = slice(10, 20), y: slice = slice(5, 15)) -> Mask:
    pixels = np.zeros((h, w), bool)
    pixels[y, x] = True
    return load_mask(pixels)


def test_the_inputs_choose_the_mode() -> None:
    assert edit_for(None, None).mode == TEXT
    image = edit_for(picture(), None)
    assert image.mode == IMAGE and image.picture.size == (40, 30) and image.mask is None
    inpaint = edit_for(picture(), box())
    assert inpaint.mode == INPAINT and inpaint.mask.size == (40, 30) and inpaint.notes == []
    with pytest.raises(OvnbError, match="a mask needs an image: give image= too"):
        edit_for(None, box())


def test_a_mask_of_another_scale_is_scaled_and_said_another_shape_refused() -> None:
    half = box(20, 15, slice(5, 10), slice(2, 8))
    fitted, note = fit_mask(half, picture())
    assert fitted.size == (40, 30) and fitted.pixels[4:16, 10:20].all()
    assert note == "the mask array scaled from 20×15 to the image's 40×30"
    assert edit_for(picture(), half).notes == [note]
    with pytest.raises(OvnbError) as error:
        fit_mask(box(40, 20, y=slice(2, 8)), picture())
    assert str(error.value).startswith("the mask array is 40×20 but the image is 40×30, another "
                                       "shape: give a mask of the image's shape")


@pytest.mark.parametrize("fill, words", [(False, "is all black, so nothing would be repainted"),
                                         (True, "is all white, so the whole image would be")])
def test_a_mask_that_repaints_nothing_or_everything_is_refused(fill: bool, words: str) -> None:
    with pytest.raises(OvnbError, match=words):
        fit_mask(load_mask(np.full((30, 40), fill)), picture())


@pytest.mark.parametrize("value", [0, 0.0, -0.1, 1.01, 2, float("nan"), True, "0.5", None])
def test_strength_is_more_than_0_and_at_most_1(value: object) -> None:
    with pytest.raises(OvnbError, match="strength must be more than 0 and at most 1"):
        check_strength(value)


def test_strengths_in_range_pass() -> None:
    assert [check_strength(v) for v in (0.01, 0.5, 1, 1.0)] == [0.01, 0.5, 1.0, 1.0]


def test_an_edit_runs_at_its_size_within_the_limit_in_steps() -> None:
    assert work_size((48, 32), (64, 64), 2) == (48, 32)  # fits: its own size
    assert work_size((45, 31), (64, 64), 2) == (44, 30)  # odd: down to the step
    assert work_size((320, 240), (64, 64), 8) == (64, 48)  # too big: shrunk, aspect kept
    assert work_size((3, 1000), (512, 512), 8) == (8, 512)  # at least one step a side


def test_tensors_keep_every_stroke_when_shrunk() -> None:
    edit = edit_for(picture(80, 60), box(80, 60, slice(30, 31), slice(10, 50)))  # 1 px wide
    image, mask = tensors(edit, (40, 30))
    assert list(image.shape) == [1, 30, 40, 3] and list(mask.shape) == [1, 30, 40, 1]
    column = mask.data[0, :, :, 0]
    assert set(np.unique(column)) == {0, 255} and column[5:25, 15].all()  # still there
    (alone,) = tensors(edit_for(picture(), None), (40, 30))
    assert np.array_equal(alone.data[0], edit_for(picture(), None).picture.pixels)


def test_the_before_view_tints_only_the_masked_part() -> None:
    source, mask = picture(), box()
    tinted = np.asarray(overlay(source, mask))
    assert np.array_equal(tinted[~(mask.pixels > 0)], source.pixels[~(mask.pixels > 0)])
    assert (tinted[mask.pixels > 0] != source.pixels[mask.pixels > 0]).any()
    assert np.array_equal(np.asarray(overlay(source, None)), source.pixels)


def test_the_root_is_inpainting_where_genai_can(tmp_path: Path) -> None:
    (tmp_path / "vae_encoder").mkdir()
    (tmp_path / "vae_encoder" / "openvino_model.xml").write_text("<net/>")
    for name, mode in (("StableDiffusionPipeline", INPAINT), ("StableDiffusionXLPipeline", INPAINT),
                       ("SanaPipeline", TEXT)):
        (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": name}))
        assert root_mode(tmp_path) == mode, name
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (tmp_path / "vae_encoder" / "openvino_model.xml").unlink()
    assert root_mode(tmp_path) == TEXT  # no VAE encoder: text to image only


def test_a_text_only_root_refuses_the_edits_in_one_line(tmp_path: Path) -> None:
    pipes = editing.ImagePipelines(root=object(), root_mode=TEXT, folder=tmp_path / "sd")
    with pytest.raises(OvnbError) as error:
        pipes.get(IMAGE)
    assert str(error.value).startswith("sd has no VAE encoder (vae_encoder/), which image to image")
    assert pipes.made == (TEXT,) and pipes.builds == 1
