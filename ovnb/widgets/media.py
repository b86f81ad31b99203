"""What the media pickers share (an image, a video, a recording to choose): one row of upload
button, sample dropdown, remove button and path box, and a dropdown that shows what is chosen.

The dropdown's first line ("sample image…") is the one shown when the choice is no bundled sample
(an upload, a path, an array from code, or nothing). Whatever chose it (the dropdown, the path box,
an upload, or code: ``send(image=...)``, ``choose_image(...)``), the view calls ``show`` with the
sample the choice is, found by ``image_sample`` / ``video_sample`` / ``audio_sample``: same file
name and same content as a bundled sample.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from ovnb.errors import OvnbError

SAMPLE_WIDTH = "160px"  # the dropdown's width where the row has room
# ... and the least it takes where the row is narrow: "sample image…" still whole, so upload,
# samples and remove keep one line in a 330 px output area (JupyterLab at a 700 px window)
SAMPLE_MIN_WIDTH = "128px"


class SampleDropdown(widgets.Dropdown):
    """The bundled samples of one kind, after a first line meaning "none of them"."""

    def __init__(self, none_label: str, samples: Mapping[str, Any]) -> None:
        super().__init__(options=[(none_label, None), *samples.items()], index=0,
                         layout=widgets.Layout(width="auto", flex=f"1 1 {SAMPLE_MIN_WIDTH}",
                                               min_width=SAMPLE_MIN_WIDTH,
                                               max_width=SAMPLE_WIDTH))
        self._showing = False

    @traitlets.observe("value")
    def _propagate_value(self, change: Any) -> None:
        """Value None selects the first line (ipywidgets would select no line: a blank box)."""
        if change.new is None:
            if self.index != 0:
                self.index = 0
            return
        super()._propagate_value(change)

    def show(self, sample: Any) -> None:
        """Show ``sample`` (one of the options' values; None: the first line), which is not a
        learner's pick: ``on_pick`` callbacks do not run."""
        self._showing = True
        try:
            known = sample is not None and any(sample == value for _, value in self.options)
            self.value = sample if known else None
        finally:
            self._showing = False

    def on_pick(self, callback: Callable[[Any], Any]) -> None:
        """``callback(value)`` when a sample is picked in the page or by setting ``value``."""
        def picked(change: dict[str, Any]) -> None:
            if not self._showing and change["new"] is not None:
                callback(change["new"])

        self.observe(picked, "value")


def show_choice(samples: SampleDropdown, path: widgets.Text, chosen: Any, sample: Any) -> None:
    """The pickers show what is chosen (``chosen``: a Picture, VideoClip or Sound, or None):
    its ``sample`` in the dropdown (None: the first line); the path box keeps only the path the
    choice was read from (else it is emptied, so it never names something else)."""
    samples.show(sample)
    typed = path.value.strip()
    if typed and (chosen is None or sample is not None
                  or Path(typed).expanduser().name != getattr(chosen, "name", None)):
        path.value = ""  # the box's observer ignores an empty box


def picker_row(controls: Iterable[widgets.Widget]) -> widgets.HBox:
    """Upload, samples, remove and path box on one line; where the line is too narrow, the path
    box wraps under them and takes the line's width (ovnb.css: ``ovnb-picker``), and the sample
    dropdown gives up width (down to ``SAMPLE_MIN_WIDTH``) before the remove button would wrap
    away from it."""
    row = widgets.HBox(list(controls))
    row.add_class("ovnb-picker")
    return row


def path_box(kind: str) -> widgets.Text:
    """The box where a path is typed (Enter chooses it)."""
    box = widgets.Text(placeholder=f"or type {kind} path and press Enter",
                       continuous_update=False)
    box.add_class("ovnb-path")
    return box


def remove_button(tooltip: str) -> widgets.Button:
    return widgets.Button(icon="times", tooltip=tooltip, layout=widgets.Layout(width="36px"))


# which sample a choice is ------------------------------------------------------------------------
def image_sample(picture: Any) -> Path | None:
    """The bundled sample image ``picture`` (an ovnb.images.Picture) is, or None."""
    from ovnb.images import load_image, samples

    return _same(picture, samples().values(),
                 lambda p: np.array_equal(picture.pixels, _loaded(load_image, p).pixels))


def video_sample(clip: Any) -> Path | None:
    """The bundled sample video ``clip`` (an ovnb.video.VideoClip) was sampled from, or None."""
    from ovnb.video import load_video, samples

    def same(p: Path) -> bool:
        sampled = _loaded(load_video, p, max_frames=clip.count)
        return sampled.indices == clip.indices and np.array_equal(sampled.frames, clip.frames)

    return _same(clip, samples().values(), same)


def audio_sample(sound: Any) -> str | None:
    """The bundled sample recording ``sound`` (an omni session's Sound) is, as the dropdown's
    value (its path as a str), or None."""
    from ovnb.audio import SAMPLE, read_audio

    found = _same(sound, [SAMPLE],
                  lambda p: np.array_equal(_loaded(read_audio, p)[0], sound.samples))
    return None if found is None else str(found)


def _same(chosen: Any, paths: Iterable[Path], content: Callable[[Path], bool]
          ) -> Path | None:
    """The path whose file name is ``chosen``'s name and whose content is the same."""
    if chosen is None:
        return None
    for path in paths:
        if getattr(chosen, "name", None) == path.name:
            try:
                if content(path):
                    return path
            except (OvnbError, OSError, ValueError):  # a sample unreadable now is none of them
                return None
    return None


@functools.lru_cache(maxsize=16)
def _loaded(read: Callable[..., Any], path: Path, **options: Any) -> Any:
    """A bundled sample read once (they never change while the kernel runs)."""
    return read(path, **options)
