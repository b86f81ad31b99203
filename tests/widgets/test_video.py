"""VideoGenerator, driven as a notebook user drives it, on tiny-ltx in f32."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ovnb
from ovnb import catalogs
from ovnb.sessions import video as video_mod
from ovnb.video import load_video
from tests.conftest import F32

pytestmark = pytest.mark.slow  # builds tiny-ltx on first use

CLIP = {"num_frames": 9, "width": 32, "height": 32, "num_inference_steps": 2}
PROMPT = "a red cat running on the sea"


@pytest.fixture(scope="module")
def ltx(cache: Path) -> Path:
    return ovnb.prepare("tiny-ltx", cache_dir=cache)


def generator(folder: Path, **settings: Any) -> ovnb.VideoGenerator:
    return ovnb.VideoGenerator(folder, properties=F32, **{**CLIP, **settings})


def pixels(frames: list[Any]) -> np.ndarray:
    return np.stack([np.asarray(f) for f in frames])


def test_the_button_reads_the_controls_and_the_clip_plays(ltx: Path) -> None:
    gen = generator(ltx)
    gen.wait_loaded()
    gen.view.controls["prompt"].value = PROMPT
    gen.view.controls["num_frames"].value = 17
    gen.view.controls["rng_seed"].value = 3
    gen.view.controls["run"].click()
    outcome = gen.session.join()
    assert outcome.ok and len(outcome.value) == 17 and gen.frames == outcome.value
    assert np.array_equal(pixels(outcome.value), pixels(gen.generate(PROMPT)))  # same settings
    assert gen.view.player.value == gen.video and gen.view.player.format == "mp4"
    assert gen.view.player.layout.display == "block" and gen.view.player.width == "256"  # 32 px, scaled
    assert load_video(gen.view.player.value, max_frames=100).count == 17
    assert gen.view.progress.value == gen.view.progress.max == 2 and gen.view.progress.bar_style == "success"
    assert "seed 3" in gen.view.caption.value and "17 frames" in gen.view.caption.value
    assert "2 steps in" in gen.view.figures_line.value and "done" in gen.view.status_line.value


def test_sliders_step_as_the_model_needs_and_settings_are_traits(ltx: Path) -> None:
    gen = generator(ltx)
    frames, width = gen.view.controls["num_frames"], gen.view.controls["width"]
    assert (frames.min, frames.step, width.min, width.step) == (1, 8, 32, 32)
    gen.num_frames = 25
    assert frames.value == 25 and gen.session.num_frames == 25
    assert "25 frames = 1.00 s at 25 fps" in gen.view.length.value
    with pytest.raises(Exception, match="choose 25 or 33"):
        gen.num_frames = 26
    assert gen.num_frames == 25 and gen.session.num_frames == 25


def test_a_refused_setting_shows_one_line_and_keeps_the_clip(ltx: Path) -> None:
    gen = generator(ltx)
    clip = gen.generate(PROMPT)
    shown = gen.view.player.value
    assert gen.generate(PROMPT, num_frames=10) == []
    assert "choose 9 or 17" in gen.last_error and html.escape("choose 9 or 17") in gen.view.error_line.value
    assert gen.view.player.value == shown and gen.frames == clip and not gen.busy
    assert len(gen.generate(PROMPT)) == 9 and gen.view.error_line.value == ""


def test_stop_from_the_button_keeps_the_widget_usable(ltx: Path) -> None:
    gen = generator(ltx, num_inference_steps=100)
    gen.wait_loaded()
    gen.observe(lambda change: change["new"][0] >= 1 and gen.view.controls["stop"].click(), "progress")
    gen.view.controls["prompt"].value = PROMPT
    gen.view.controls["run"].click()
    assert gen.session.join().value is None
    assert gen.outcome == "stopped" and gen.view.progress.bar_style == "warning"
    assert gen.view.progress.value < 100 and not gen.view.controls["run"].disabled
    assert gen.view.player.layout.display == "none"  # no clip was made


def test_save_button_writes_the_named_file(ltx: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    gen = generator(ltx)
    gen.view.controls["save"].click()
    assert "no clip yet" in gen.last_error
    gen.generate(PROMPT)
    gen.view.controls["filename"].value = "boat"
    gen.view.controls["save"].click()
    assert (tmp_path / "boat.mp4").read_bytes() == gen.video and gen.last_error == ""
    assert gen.save(tmp_path / "other.mp4") == tmp_path / "other.mp4"


def test_the_memory_warning_shows_before_a_run(ltx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator(ltx)
    gen.wait_loaded()
    assert gen.view.warning_line.value == ""
    # tiny-ltx needs under a megabyte: stand in the real model's estimate, on a machine with 1 GB
    gen.session._entry = (catalogs.find("Lightricks/LTX-Video"), "int8")
    monkeypatch.setattr(video_mod.devices, "free_ram_gb", lambda: 1.0)
    gen.view.controls["num_frames"].value = 17
    assert gen.warning == ""  # 17 small frames fit
    gen.view.controls["width"].value = 1280
    gen.view.controls["height"].value = 1280
    assert "17 frames at 1280×1280 need about" in gen.warning
    assert "choose fewer frames or a smaller size" in gen.view.warning_line.value
