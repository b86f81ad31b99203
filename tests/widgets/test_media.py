"""The media pickers' shared parts (ovnb.widgets.media): a sample dropdown that is never blank and
shows the sample a choice is, and which choices are bundled samples (no model needed)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ovnb.audio import SAMPLE, read_audio
from ovnb.images import load_image, samples
from ovnb.sessions.omni import Sound
from ovnb.video import load_video
from ovnb.video import samples as video_samples
from ovnb.widgets.media import (
    SampleDropdown,
    audio_sample,
    image_sample,
    path_box,
    picker_row,
    show_choice,
    video_sample,
)

HOUSE, BOAT = samples()["house"], samples()["sailboat"]
SAILING = video_samples()["sailboat"]


def test_the_dropdown_shows_its_first_line_and_the_sample_shown_without_choosing_it() -> None:
    picked: list[object] = []
    dropdown = SampleDropdown("sample image…", samples())
    dropdown.on_pick(picked.append)
    assert dropdown.label == "sample image…" and dropdown.value is None  # not blank
    dropdown.show(HOUSE)
    assert dropdown.label == "house" and picked == []  # shown, not a learner's pick
    dropdown.show(None)
    assert dropdown.index == 0 and dropdown.label == "sample image…" and picked == []
    dropdown.value = BOAT  # the learner picks one
    assert picked == [BOAT] and dropdown.label == "sailboat"
    dropdown.show(Path("/elsewhere/house.png"))  # no option of it: the first line
    assert dropdown.label == "sample image…"


def test_a_choice_is_a_sample_by_name_and_content(tmp_path: Path) -> None:
    assert image_sample(load_image(HOUSE)) == HOUSE
    copy = tmp_path / "house.png"
    shutil.copyfile(HOUSE, copy)
    assert image_sample(load_image(copy)) == HOUSE  # the same picture, wherever it lies
    Image.open(BOAT).save(copy)
    assert image_sample(load_image(copy)) is None  # another picture named like a sample
    assert image_sample(load_image(np.asarray(Image.open(HOUSE).convert("RGB")))) is None
    assert image_sample(load_image(HOUSE.read_bytes(), "my house.png")) is None  # an upload
    assert image_sample(None) is None
    assert video_sample(load_video(SAILING, max_frames=4)) == SAILING
    assert video_sample(load_video(SAILING, "mine.mp4")) is None
    sound = Sound(read_audio(SAMPLE)[0], SAMPLE.name)
    assert audio_sample(sound) == str(SAMPLE)
    assert audio_sample(Sound(sound.samples[:1600], SAMPLE.name)) is None  # a part of it


def test_the_path_box_keeps_only_the_path_the_choice_came_from(tmp_path: Path) -> None:
    dropdown, box = SampleDropdown("sample image…", samples()), path_box("an image")
    row = picker_row([dropdown, box])
    assert "ovnb-picker" in row._dom_classes and box.placeholder.startswith("or type an image")
    mine = tmp_path / "cat.png"
    Image.open(BOAT).save(mine)
    box.value = str(mine)
    show_choice(dropdown, box, load_image(mine), None)  # read from the box: kept
    assert box.value == str(mine) and dropdown.label == "sample image…"
    show_choice(dropdown, box, load_image(HOUSE), HOUSE)  # a sample now: the box is emptied
    assert box.value == "" and dropdown.label == "house"
    show_choice(dropdown, box, None, None)
    assert dropdown.label == "sample image…"
