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

from ovnb.sessions.video import VideoSession, VideoSettings, VideoState
from ovnb.widgets.base import PipelineWidget
from ovnb.widgets.render import bind, bound_control, grey, metrics_line

MIN_VIEW = 256  # pixels: the narrowest a clip shows (a 32-pixel test clip is scaled up)
MAX_VIEW = 640  # the widest


class VideoGenerator(PipelineWidget, VideoState, VideoSettings):
    """Text to video: ``VideoGenerator("tiny-ltx").generate("a red cat") -> list[PIL.Image]``.

    A view of ``VideoSession``. ``model`` is a catalog id or a prepared folder; ``properties``
    OpenVINO properties; ``**settings`` by openvino_genai's names (``num_frames`` (8k+1),
    ``width`` and ``height`` (multiples of 32), ``num_inference_steps``, ``guidance_scale``,
    ``frame_rate``, ``negative_prompt``) and ``rng_seed``, each a trait of the widget.
    ``save(path)`` writes the last clip as MP4.
    """

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__(VideoSession(model, device, properties, **settings))
        self._build_view()
        self._wire()

    # the view ------------------------------------------------------------------------------------
    def _build_view(self) -> None:
        self._prompt = widgets.Textarea(placeholder="Describe the clip, then press Generate",
                                        continuous_update=False,
                                        layout=widgets.Layout(width="100%"))
        self._generate_btn = widgets.Button(description="Generate", button_style="primary",
                                            icon="film")
        self._stop_btn = widgets.Button(description="Stop", icon="stop")
        self._dice_btn = widgets.Button(description="New seed", icon="random",
                                        tooltip="a random seed for the next clip")
        self._controls = {name: bound_control(self, name) for name in
                          ("negative_prompt", "num_frames", "width", "height",
                           "num_inference_steps", "guidance_scale", "frame_rate")}
        self._controls["rng_seed"] = widgets.IntText(self.rng_seed, description="seed",
                                                     layout=widgets.Layout(width="220px"))
        bind(self._controls["rng_seed"], self, "rng_seed")
        self._length = widgets.HTML()
        self._warning = widgets.HTML()
        self._progress = widgets.IntProgress(0, min=0, max=1, description="steps")
        self._step_label = widgets.HTML()
        self._player = widgets.Video(format="mp4", autoplay=True, loop=True, controls=True,
                                     layout=widgets.Layout(display="none"))
        self._metrics_line = widgets.HTML()
        self._caption = widgets.HTML()
        self._filename = widgets.Text("clip.mp4", description="file")
        self._save_btn = widgets.Button(description="Save MP4", icon="save")
        c = self._controls
        settings = widgets.HBox([
            widgets.VBox([c["num_frames"], c["width"], c["height"], self._length]),
            widgets.VBox([c["num_inference_steps"], c["guidance_scale"], c["frame_rate"],
                          c["rng_seed"]])])
        self.children = [self._prompt, c["negative_prompt"],
                         widgets.HBox([self._generate_btn, self._stop_btn, self._dice_btn]),
                         settings, self._warning,
                         widgets.HBox([self._progress, self._step_label]), self._player,
                         self._caption, self._metrics_line, self._status, self._error,
                         widgets.HBox([self._filename, self._save_btn])]

    def _wire(self) -> None:
        self._generate_btn.on_click(lambda _: self.session.submit(self._prompt.value))
        self._stop_btn.on_click(lambda _: self.stop())
        self._dice_btn.on_click(lambda _: setattr(self, "rng_seed", random.randrange(2**31)))
        self._save_btn.on_click(lambda _: self.save())
        self._busy_controls([self._generate_btn], [self._stop_btn])
        self.observe(lambda _: self._show_progress(), ["progress", "outcome"])
        self.observe(lambda _: self._show_clip(), "result")
        self.observe(lambda _: self._show_metrics(), "metrics")
        self.observe(lambda _: self._show_warning(), "warning")
        self.observe(lambda _: self._show_length(), ["num_frames", "frame_rate"])
        self._show_length()
        self._show_warning()

    def _show_length(self) -> None:
        seconds = self.num_frames / self.frame_rate
        self._length.value = grey(f"{self.num_frames} frames = {seconds:.2f} s at "
                                  f"{self.frame_rate:g} fps")

    def _show_warning(self) -> None:
        self._warning.value = (f"<b style='color:#b26a00'>⚠ {html.escape(self.warning)}</b>"
                               if self.warning else "")

    def _show_progress(self) -> None:
        step, total = self.progress
        self._progress.max = max(total, 1)
        self._progress.value = min(step, self._progress.max)
        self._progress.bar_style = {"done": "success", "stopped": "warning",
                                    "failed": "danger"}.get(self.outcome, "")
        self._step_label.value = grey(f"step {step} of {total}") if total else ""

    def _show_clip(self) -> None:
        """The last clip, looping, at its own size within MIN_VIEW..MAX_VIEW pixels wide."""
        result = self.result
        if result is None:
            self._player.layout.display = "none"
            return
        width = result.frames[0].width
        self._player.value = result.mp4
        self._player.width = str(min(max(width, MIN_VIEW), MAX_VIEW))
        self._player.layout.display = "block"
        self._caption.value = (f"<div style='font-size:12px;color:#444'><b>"
                               f"{html.escape(result.prompt[:80])}</b> · "
                               f"{html.escape(result.caption())}</div>")

    def _show_metrics(self) -> None:
        m = self.metrics
        if not m:
            self._metrics_line.value = ""
            return
        parts = [f"{m['steps']} steps in {m['seconds']:.2f} s", f"{m['steps_per_s']:.1f} steps/s"]
        if "frames_per_s" in m:
            parts.append(f"{m['frames_per_s']:.1f} frames/s")
        if m.get("rebuilt"):
            parts.append("pipeline built again first (guidance 1 came first)")
        if m.get("view_error"):
            parts.append(f"a progress update failed: {m['view_error']}")
        self._metrics_line.value = metrics_line(parts)

    # actions -------------------------------------------------------------------------------------
    def generate(self, prompt: str, **opts: Any) -> list[Any]:
        """Generate as the Generate button does; the clip's frames (PIL images), [] if stopped or
        failed. ``opts`` override the settings for this call only."""
        return self.session.generate(prompt, **opts)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the last clip as MP4 (to the file box's name when no path); its path, or None."""
        return self.session.save(path if path is not None else self._filename.value)
