"""``ovnb.ImageGenerator``: a view of an ImageSession: prompt, settings, live steps, a gallery.

Images show at their own size up to ``MAX_VIEW`` pixels wide (never stretched to the output's
width), thumbnails in the gallery at most ``THUMBNAIL``.
"""
from __future__ import annotations

import html
import os
import random
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from ovnb.errors import OvnbError
from ovnb.runtime import explain
from ovnb.sessions.image import ImageSession, ImageSettings, ImageState, Result
from ovnb.widgets.base import PipelineWidget
from ovnb.widgets.lora import connect, mixer_for
from ovnb.widgets.render import bind, bound_control, grey, metrics_line, png

THUMBNAIL = 128  # pixels
MAX_VIEW = 512  # the largest width an image shows at (larger ones are scaled down to it)

class ImageGenerator(PipelineWidget, ImageState, ImageSettings):
    """Text to image: ``ImageGenerator("tiny-sd").generate("a red cat") -> PIL.Image``.

    A view of ``ImageSession``. ``model`` is a catalog id or a prepared folder; ``adapters`` LoRA
    files (a list, a dict file -> strength, or a ``LoraMixer``), all registered when the pipeline is
    built and mixed per run with their sliders; ``properties`` OpenVINO properties;
    ``**settings`` by openvino_genai's names (``width``, ``height``, ``num_inference_steps``,
    ``rng_seed``, ``guidance_scale``, ``negative_prompt``), each a trait of the widget.
    """

    adapters = traitlets.Dict(help="LoRA adapter file -> strength for the next images (0: off)")

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", adapters: Any = None,
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        self.mixer = mixer_for(adapters)
        session = ImageSession(model, device, self.mixer.strengths if self.mixer else None,
                               properties, **settings)
        super().__init__(session)
        connect(self.mixer, self)
        self._thumbs: dict[int, widgets.Widget] = {}  # id(result) -> its gallery card
        self._build_view()
        self._wire()

    # the view ------------------------------------------------------------------------------------
    def _build_view(self) -> None:
        self._prompt = widgets.Textarea(placeholder="Describe the image, then press Generate",
                                        continuous_update=False,
                                        layout=widgets.Layout(width="100%"))
        self._generate_btn = widgets.Button(description="Generate", button_style="primary",
                                            icon="paint-brush")
        self._stop_btn = widgets.Button(description="Stop", icon="stop")
        self._dice_btn = widgets.Button(description="New seed", icon="random",
                                        tooltip="a random seed for the next image")
        self._controls = {name: bound_control(self, name) for name in
                          ("negative_prompt", "num_inference_steps", "guidance_scale")}
        for name in ("width", "height", "rng_seed"):
            label = self.trait_metadata(name, "label")
            self._controls[name] = widgets.IntText(getattr(self, name), description=label,
                                                   step=8 if name != "rng_seed" else 1,
                                                   style={"description_width": "60px"},
                                                   layout=widgets.Layout(width="180px"))
            bind(self._controls[name], self, name)
        self._live = widgets.Checkbox(self.live_preview, description="live preview")
        bind(self._live, self, "live_preview")
        self._progress = widgets.IntProgress(0, min=0, max=1, description="steps")
        self._step_label = widgets.HTML()
        self._preview = widgets.Image(format="png", layout=widgets.Layout(
            display="none", align_self="flex-start", object_fit="contain"))
        self._metrics_line = widgets.HTML()
        self._gallery = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, {THUMBNAIL + 12}px)", grid_gap="6px"))
        self._filename = widgets.Text("image.png", description="file")
        self._save_btn = widgets.Button(description="Save PNG", icon="save")
        self.children = [self._prompt, self._controls["negative_prompt"],
                         widgets.HBox([self._generate_btn, self._stop_btn, self._dice_btn]),
                         self._settings_box(),
                         widgets.HBox([self._progress, self._step_label]), self._preview,
                         self._metrics_line, self._status, self._error,
                         widgets.HBox([self._filename, self._save_btn]), self._gallery]

    def _settings_box(self) -> widgets.Widget:
        c = self._controls
        boxes: list[widgets.Widget] = [widgets.HBox([
            widgets.VBox([c["num_inference_steps"], c["guidance_scale"], self._live]),
            widgets.VBox([c["width"], c["height"], c["rng_seed"]])])]
        if self.mixer is not None:
            boxes.append(self.mixer)
        return widgets.VBox(boxes)

    def _wire(self) -> None:
        self._generate_btn.on_click(lambda _: self.session.submit(self._prompt.value))
        self._stop_btn.on_click(lambda _: self.stop())
        self._dice_btn.on_click(lambda _: setattr(self, "rng_seed", random.randrange(2**31)))
        self._save_btn.on_click(lambda _: self.save())
        self._busy_controls([self._generate_btn], [self._stop_btn])
        self.observe(lambda _: self._show_progress(), ["progress", "outcome"])
        self.observe(lambda change: self._show_image(change["new"]), "preview")
        self.observe(lambda _: self._show_gallery(), "results")
        self.observe(lambda _: self._show_metrics(), "metrics")

    def _show_progress(self) -> None:
        """One truth for the steps: what the scheduler runs, and why it differs from the setting."""
        step, total = self.progress
        self._progress.max = max(total, 1)
        self._progress.value = min(step, self._progress.max)
        self._progress.bar_style = {"done": "success", "stopped": "warning",
                                    "failed": "danger"}.get(self.outcome, "")
        asked = self.metrics.get("steps_asked", self.num_inference_steps)
        extra = (f" ({asked} set + {total - asked} the scheduler adds)"
                 if total and total != asked else "")
        self._step_label.value = grey(f"step {step} of {total}{extra}") if total else ""

    def _show_image(self, data: bytes) -> None:
        """The preview or the result, at its own size up to MAX_VIEW wide."""
        self._preview.value = data
        width = _png_width(data)
        self._preview.layout.display = "block" if data else "none"
        self._preview.layout.width = f"{min(width, MAX_VIEW)}px" if width else None

    def _show_metrics(self) -> None:
        m = self.metrics
        if not m:
            self._metrics_line.value = ""
            return
        parts = [f"{m['steps']} steps in {m['seconds']:.2f} s", f"{m['steps_per_s']:.1f} steps/s",
                 f"{m['previews']} previews"]
        if m.get("view_error"):
            parts.append(f"a preview failed: {m['view_error']}")
        self._metrics_line.value = metrics_line(parts)
        self._show_progress()

    def _show_gallery(self) -> None:
        """Thumbnails of the results, newest first; cards of dropped results are closed."""
        keep = {id(r) for r in self.results}
        for key in [k for k in self._thumbs if k not in keep]:
            card = self._thumbs.pop(key)
            for child in card.children:
                child.close()
            card.close()
        cards = []
        for result in self.results:
            if id(result) not in self._thumbs:
                self._thumbs[id(result)] = _thumbnail(result)
            cards.append(self._thumbs[id(result)])
        self._gallery.children = cards

    # actions -------------------------------------------------------------------------------------
    def generate(self, prompt: str, **opts: Any) -> Any:
        """Generate as the Generate button does; returns the PIL image (None if stopped or failed).

        ``opts`` override the settings for this call only (openvino_genai's names; ``adapters``
        a dict adapter file or name -> strength).
        """
        return self.session.generate(prompt, **opts)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the last image as PNG (to the file box's name when no path); its path, or None."""
        try:
            if self.image is None:
                raise OvnbError("no image yet: press Generate first")
            target = _png_path(path if path is not None else self._filename.value)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.image.save(target, format="PNG", pnginfo=self._png_info())
        except (OSError, ValueError, OvnbError) as exc:
            self.session.fail(explain(exc))
            return None
        self.session.publish_now(last_error="", error_details="", status=f"saved {target.name}")
        return target

    def _png_info(self) -> Any:
        """The prompt and settings inside the PNG, where image viewers and tools look for them."""
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        if self.results:
            info.add_text("parameters", f"{self.results[0].prompt}\n{self.results[0].caption()}")
        return info


def _png_width(data: bytes) -> int:
    """The width in a PNG's header (0 when ``data`` is no PNG)."""
    return int.from_bytes(data[16:20], "big") if data[:8] == b"\x89PNG\r\n\x1a\n" else 0


def _thumbnail(result: Result) -> widgets.Widget:
    """A small copy of the image with its prompt and settings underneath."""
    small = result.image.copy()
    small.thumbnail((THUMBNAIL, THUMBNAIL))
    caption = (f"<div style='font-size:11px;line-height:1.2;color:#444' "
               f"title='{html.escape(result.caption(), quote=True)}'>"
               f"<b>{html.escape(result.prompt[:60])}</b><br>{html.escape(result.caption())}</div>")
    image = widgets.Image(value=png(small), format="png",
                          layout=widgets.Layout(width=f"{small.width}px", align_self="flex-start"))
    return widgets.VBox([image, widgets.HTML(caption)],
                        layout=widgets.Layout(width=f"{THUMBNAIL + 8}px"))


def _png_path(name: str | os.PathLike[str]) -> Path:
    """``name`` as a path ending in .png ("cat" -> "cat.png")."""
    if not str(name).strip():
        raise OvnbError("no file name: type one in the file box")
    target = Path(str(name).strip()).expanduser()
    return target if target.suffix.lower() == ".png" else target.with_name(target.name + ".png")

