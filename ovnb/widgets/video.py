"""``ovnb.VideoGenerator``: a view of a VideoSession: prompt, settings, steps, the clip playing.

The clip plays in an ipywidgets ``Video`` from the session's MP4 bytes (H.264: what browsers
play), looping; a small clip shows at least ``MIN_VIEW`` pixels wide so it can be seen, a large
one at most ``MAX_VIEW``. The sliders step as LTX-Video needs (frames 8k+1, sizes by 32), so the
controls can only make clips the model takes.
"""
from __future__ import annotations

import html
import os
import random
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb.sessions.video import VideoSession
from ovnb.widgets.base import Front, View
from ovnb.widgets.render import bind, bound_control, grey, metrics_line

MIN_VIEW = 256  # pixels: the narrowest a clip shows (a 32-pixel test clip is scaled up)
MAX_VIEW = 640  # the widest


class VideoView(View):
    """The view of a VideoSession: prompt, clip settings, steps, the clip playing, Save."""

    session: VideoSession

    def __init__(self, session: VideoSession) -> None:
        super().__init__(session)
        self._build_view()
        self._wire()

    def _build_view(self) -> None:
        session = self.session
        self.controls.update(
            prompt=widgets.Textarea(placeholder="Describe the clip, then press Generate",
                                    continuous_update=False, layout=widgets.Layout(width="auto")),
            run=widgets.Button(description="Generate", button_style="primary", icon="film"),
            stop=widgets.Button(description="Stop", icon="stop"),
            new_seed=widgets.Button(description="New seed", icon="random",
                                    tooltip="a random seed for the next clip"),
            **{name: bound_control(session, name) for name in
               ("negative_prompt", "num_frames", "width", "height", "num_inference_steps",
                "guidance_scale", "frame_rate")},
            rng_seed=widgets.IntText(session.rng_seed, description="seed",
                                     layout=widgets.Layout(width="220px")),
            filename=widgets.Text("clip.mp4", description="file"),
            save=widgets.Button(description="Save MP4", icon="save"))
        c = self.controls
        bind(c["rng_seed"], session, "rng_seed")
        self.length = widgets.HTML()
        self.warning_line = widgets.HTML()
        self.progress = widgets.IntProgress(0, min=0, max=1, description="steps")
        self.step_label = widgets.HTML()
        self.player = widgets.Video(format="mp4", autoplay=True, loop=True, controls=True,
                                     layout=widgets.Layout(display="none"))
        self.figures_line = widgets.HTML()
        self.caption = widgets.HTML()
        settings = widgets.HBox([
            widgets.VBox([c["num_frames"], c["width"], c["height"], self.length]),
            widgets.VBox([c["num_inference_steps"], c["guidance_scale"], c["frame_rate"],
                          c["rng_seed"]])])
        self.children = [c["prompt"], c["negative_prompt"],
                         widgets.HBox([c["run"], c["stop"], c["new_seed"]]), settings,
                         self.warning_line, widgets.HBox([self.progress, self.step_label]),
                         self.player, self.caption, self.figures_line, self.status_line,
                         self.error_line, widgets.HBox([c["filename"], c["save"]])]

    def _wire(self) -> None:
        c, session = self.controls, self.session
        c["run"].on_click(self._generate)
        c["stop"].on_click(self.press_stop)
        c["new_seed"].on_click(self._new_seed)
        c["save"].on_click(self._save)
        self.busy_controls([c["run"]], [c["stop"]])
        session.observe(self._show_progress, ["progress", "outcome"])
        session.observe(self._show_clip, "result")
        session.observe(self._show_metrics, "metrics")
        session.observe(self._show_warning, "warning")
        session.observe(self._show_length, ["num_frames", "frame_rate"])
        self._show_length()
        self._show_warning()

    def _show_length(self, change: Any = None) -> None:
        frames, rate = self.session.num_frames, self.session.frame_rate
        self.length.value = grey(f"{frames} frames = {frames / rate:.2f} s at {rate:g} fps")

    def _show_warning(self, change: Any = None) -> None:
        warning = self.session.warning
        self.warning_line.value = (f"<b class='ovnb-warn'>⚠ {html.escape(warning)}</b>"
                               if warning else "")

    def _show_progress(self, change: Any = None) -> None:
        step, total = self.session.progress
        self.progress.max = max(total, 1)
        self.progress.value = min(step, self.progress.max)
        self.progress.bar_style = {"done": "success", "stopped": "warning",
                                    "failed": "danger"}.get(self.session.outcome, "")
        self.step_label.value = grey(f"step {step} of {total}") if total else ""

    def _show_clip(self, change: Any = None) -> None:
        """The last clip, looping, at its own size within MIN_VIEW..MAX_VIEW pixels wide."""
        result = self.session.result
        if result is None:
            self.player.layout.display = "none"
            return
        width = result.frames[0].width
        self.player.value = result.mp4
        self.player.width = str(min(max(width, MIN_VIEW), MAX_VIEW))
        self.player.layout.display = "block"
        self.caption.value = (f"<div class='ovnb-quiet' style='font-size:12px'><b>"
                               f"{html.escape(result.prompt[:80])}</b> · "
                               f"{html.escape(result.caption())}</div>")

    def _show_metrics(self, change: Any = None) -> None:
        m = self.session.metrics
        if not m:
            self.figures_line.value = ""
            return
        parts = [f"{m['steps']} steps in {m['seconds']:.2f} s", f"{m['steps_per_s']:.1f} steps/s"]
        if "frames_per_s" in m:
            parts.append(f"{m['frames_per_s']:.1f} frames/s")
        if m.get("rebuilt"):
            parts.append("pipeline built again first (guidance 1 came first)")
        if m.get("view_error"):
            parts.append(f"a progress update failed: {m['view_error']}")
        self.figures_line.value = metrics_line(parts)

    # the buttons ---------------------------------------------------------------------------------
    def _generate(self, button: Any = None) -> None:
        self.session.submit(self.controls["prompt"].value)

    def _new_seed(self, button: Any = None) -> None:
        self.session.rng_seed = random.randrange(2**31)

    def _save(self, button: Any = None) -> None:
        self.session.save(self.controls["filename"].value)


class VideoGenerator(Front):
    """Text to video: ``VideoGenerator("tiny-ltx").generate("a red cat") -> list[PIL.Image]``.

    Its arguments are ``VideoSession``'s (settings by openvino_genai's names: ``num_frames``
    (8k+1), ``width`` and ``height`` (multiples of 32), ``num_inference_steps``,
    ``guidance_scale``, ``frame_rate``, ``negative_prompt``, ``rng_seed``). ``save(path)`` writes
    the last clip as MP4 (the file box's name when no path).
    """

    session_class = VideoSession
    view_class = VideoView

    def save(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the last clip as MP4 (to the file box's name when no path); its path, or None."""
        return self.session.save(path if path is not None else
                                 self.view.controls["filename"].value)
