"""``ovnb.ImageGenerator``: a view of an ImageSession: prompt, settings, live steps, a gallery,
and an image to edit (image to image, or inpainting with a mask painted over it).

Images show at their own size up to ``MAX_VIEW`` pixels wide (never stretched to the output's
width), thumbnails in the gallery at most ``THUMBNAIL``. An edit shows its input (the mask tinted
over it) and its result side by side.
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
from ovnb.images import Mask, Picture, Source, load_mask, samples
from ovnb.runtime import explain
from ovnb.sessions.editing import LABELS, TEXT
from ovnb.sessions.image import ImageSession, ImageSettings, ImageState, Result
from ovnb.widgets.base import PipelineWidget
from ovnb.widgets.lora import connect, mixer_for
from ovnb.widgets.maskpaint import MaskPainter
from ovnb.widgets.render import bind, bound_control, grey, keyed_views, metrics_line, png

THUMBNAIL = 128  # pixels
MAX_VIEW = 512  # the largest width an image shows at (larger ones are scaled down to it)

class ImageGenerator(PipelineWidget, ImageState, ImageSettings):
    """Images: ``ImageGenerator("tiny-sd").generate("a red cat", image=None, mask=None)``.

    A view of ``ImageSession``: text to image, image to image (``image=``, ``strength=``) and
    inpainting (``image=`` and ``mask=``, white = repaint) on one set of compiled models. In the
    widget, the image to edit comes from an upload, a path or a sample, and its mask is painted
    over it with the mouse or uploaded. ``model`` is a catalog id or a prepared folder;
    ``adapters`` LoRA files (a list, a dict file -> strength, or a ``LoraMixer``), all registered
    when the pipeline is built and mixed per run with their sliders, in every mode;
    ``properties`` OpenVINO properties; ``**settings`` by openvino_genai's names (``width``,
    ``height``, ``num_inference_steps``, ``rng_seed``, ``guidance_scale``, ``negative_prompt``,
    ``strength``), each a trait of the widget.
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
        self._painted: Mask | None = None  # the mask as it came from the painter
        self._pushing = False  # True while Python sets the painter's mask (not a stroke)
        self._build_view()
        self._wire()
        self._wire_editing()

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
        self._preview.add_class("ovnb-image-after")
        self._build_editing()
        self._metrics_line = widgets.HTML()
        self._gallery = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, {THUMBNAIL + 12}px)", grid_gap="6px"))
        self._filename = widgets.Text("image.png", description="file")
        self._save_btn = widgets.Button(description="Save PNG", icon="save")
        self.children = [self._prompt, self._controls["negative_prompt"],
                         widgets.HBox([self._generate_btn, self._stop_btn, self._dice_btn]),
                         self._settings_box(), self._input_row, self._edit_box,
                         widgets.HBox([self._progress, self._step_label]), self._compare,
                         self._metrics_line, self._status, self._error,
                         widgets.HBox([self._filename, self._save_btn, self._reuse_btn]),
                         self._gallery]

    def _build_editing(self) -> None:
        """The image to edit (upload, path, samples), its mask painter, strength, before | after."""
        self._upload = widgets.FileUpload(accept="image/*", multiple=False,
                                          description="Image to edit")
        self._path = widgets.Text(placeholder="or type an image path and press Enter",
                                  continuous_update=False)
        self._samples = widgets.Dropdown(options=[("sample image…", None),
                                                  *((n, p) for n, p in samples().items())],
                                         value=None, layout=widgets.Layout(width="160px"))
        self._drop_btn = widgets.Button(icon="times", tooltip="no image: back to text to image",
                                        layout=widgets.Layout(width="36px"))
        self._mode_label = widgets.HTML()
        self._input_row = widgets.VBox([widgets.HBox([self._upload, self._samples, self._drop_btn,
                                                      self._path]), self._mode_label])
        self._painter = MaskPainter()
        self._controls["strength"] = bound_control(self, "strength")
        self._controls["strength"].min = 0.05  # 0 is no strength; from code any value in (0, 1]
        self._brush = widgets.IntSlider(self._painter.brush, min=1, max=96, description="brush",
                                        continuous_update=False)
        widgets.link((self._brush, "value"), (self._painter, "brush"))
        self._eraser = widgets.ToggleButton(False, description="Eraser", icon="eraser",
                                            tooltip="paint black: keep that part")
        widgets.link((self._eraser, "value"), (self._painter, "erase"))
        self._mask_upload = widgets.FileUpload(accept="image/*", multiple=False,
                                               description="Mask file")
        self._clear_mask_btn = widgets.Button(description="Clear mask", icon="undo")
        self._mask_label = widgets.HTML()
        tools = widgets.VBox([self._controls["strength"], self._brush,
                              widgets.HBox([self._eraser, self._clear_mask_btn]),
                              self._mask_upload, self._mask_label])
        self._edit_box = widgets.HBox([self._painter, tools],
                                      layout=widgets.Layout(display="none", grid_gap="12px"))
        self._before = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        self._before.add_class("ovnb-image-before")
        self._before_box = widgets.VBox([widgets.HTML(grey("before")), self._before],
                                        layout=widgets.Layout(display="none"))
        self._after_label = widgets.HTML(grey("after"), layout=widgets.Layout(display="none"))
        self._compare = widgets.HBox([self._before_box,
                                      widgets.VBox([self._after_label, self._preview])],
                                     layout=widgets.Layout(grid_gap="12px"))
        self._reuse_btn = widgets.Button(description="Edit the result", icon="level-up",
                                         tooltip="make the last image the image to edit")

    def _settings_box(self) -> widgets.Widget:
        c = self._controls
        boxes: list[widgets.Widget] = [widgets.HBox([
            widgets.VBox([c["num_inference_steps"], c["guidance_scale"], self._live]),
            widgets.VBox([c["width"], c["height"], c["rng_seed"]])])]
        if self.mixer is not None:
            boxes.append(self.mixer)
        return widgets.VBox(boxes)

    def _wire(self) -> None:
        self._generate_btn.on_click(lambda _: self.session.submit(
            self._prompt.value, image=self.input_image, mask=self.input_mask))
        self._stop_btn.on_click(lambda _: self.stop())
        self._dice_btn.on_click(lambda _: setattr(self, "rng_seed", random.randrange(2**31)))
        self._save_btn.on_click(lambda _: self.save())
        self.observe(lambda _: self._show_progress(), ["progress", "outcome"])
        self.observe(lambda change: self._show_image(change["new"]), "preview")
        self.observe(lambda _: self._show_gallery(), "results")
        self.observe(lambda _: self._show_metrics(), "metrics")

    def _wire_editing(self) -> None:
        self._upload.observe(lambda change: self._on_upload(change["new"]), "value")
        self._path.observe(lambda change: self._on_path(change["new"]), "value")
        self._samples.observe(lambda change: self._on_sample(change["new"]), "value")
        self._drop_btn.on_click(lambda _: self.remove_image())
        self._mask_upload.observe(lambda change: self._on_mask_upload(change["new"]), "value")
        self._clear_mask_btn.on_click(lambda _: self.clear_mask())
        self._reuse_btn.on_click(lambda _: self.edit_result())
        self._painter.observe(lambda change: self._on_painted(change["new"]), "mask")
        self.observe(lambda change: self._on_input_image(change["new"]), "input_image")
        self.observe(lambda change: self._on_input_mask(change["new"]), "input_mask")
        self.observe(lambda change: self._show_before(change["new"]), "before")
        self._busy_controls([self._generate_btn, self._reuse_btn], [self._stop_btn])
        self._show_mode()

    # the image to edit ---------------------------------------------------------------------------
    def choose_image(self, source: Source, name: str | None = None) -> Picture | None:
        """Make ``source`` the image the Generate button edits (a path, file bytes, a PIL image or
        an array); its mask is cleared. None (error shown) if it cannot be read."""
        return self.session.choose_image(source, name)

    def choose_mask(self, source: Source, name: str | None = None) -> Mask | None:
        """Make ``source`` the mask of the chosen image (white = repaint), as an upload does."""
        return self.session.choose_mask(source, name)

    def clear_mask(self) -> None:
        """No mask: Generate runs image to image."""
        self.session.clear_mask()

    def remove_image(self) -> None:
        """No image to edit: Generate runs text to image."""
        self._samples.value = None
        self.session.remove_image()

    def edit_result(self) -> Picture | None:
        """Make the last image the image to edit (edit it again, step by step)."""
        if self.image is None:
            self.session.fail("no image yet: press Generate first")
            return None
        return self.choose_image(self.image, "the last result")

    @property
    def mode(self) -> str:
        """What Generate runs now: text2image, image2image or inpainting."""
        return self.session.mode

    def _on_upload(self, files: Any) -> None:
        if files and self.choose_image(bytes(files[-1]["content"]), files[-1].get("name")):
            self._samples.value = None

    def _on_path(self, text: str) -> None:
        if text.strip() and self.choose_image(text.strip()) is not None:
            self._samples.value = None

    def _on_sample(self, path: Any) -> None:
        if path is not None:
            self.choose_image(path)

    def _on_mask_upload(self, files: Any) -> None:
        if files:
            self.choose_mask(bytes(files[-1]["content"]), files[-1].get("name"))

    def _on_painted(self, data: bytes) -> None:
        """A stroke ended in the page: its mask (all erased: no mask); a refused one goes back."""
        if self._pushing:
            return
        try:
            painted = load_mask(bytes(data), "the painted mask") if data else None
        except OvnbError as exc:
            self.session.fail(explain(exc))
            painted = None
        if painted is None or painted.coverage == 0:
            self._painted = None
            self.clear_mask()
            return
        kept, self._painted = self._painted, painted  # the page shows it already: not sent back
        if self.choose_mask(painted) is None:  # refused (all white, say): back to the kept mask
            self._painted = kept
            self._push_mask(self.input_mask)

    def _on_input_image(self, picture: Picture | None) -> None:
        self._pushing = True
        try:
            if picture is None:
                self._painter.show(b"", 0)
            else:
                self._painter.show(png(_pil(picture)), picture.size[0])
        finally:
            self._pushing = False
        self._painted = None
        self._edit_box.layout.display = "none" if picture is None else "flex"
        self._show_mode()

    def _on_input_mask(self, mask: Mask | None) -> None:
        if mask is None or mask is not self._painted:
            self._push_mask(mask)
        self._show_mode()

    def _push_mask(self, mask: Mask | None) -> None:
        """Show ``mask`` in the painter (not a stroke: the painter's observer ignores it)."""
        self._pushing = True
        try:
            self._painter.mask = mask.png() if mask is not None else b""
        finally:
            self._pushing = False

    def _show_mode(self) -> None:
        picture, mask = self.input_image, self.input_mask
        mode = self.session.mode
        if picture is None:
            self._mode_label.value = grey(f"mode: {LABELS[TEXT]} · choose an image to edit it")
        else:
            size = "×".join(map(str, picture.size))
            more = (f"{mask.coverage:.0%} of it masked for repainting" if mask is not None
                    else "paint a mask over it (or upload one) to inpaint")
            self._mode_label.value = grey(f"mode: {LABELS[mode]} on {picture.name} ({size}) · "
                                          f"{more}")
        strokes = self._painter.strokes
        if mask is None:
            self._mask_label.value = grey("mask: none · paint over the image: white = repaint")
        else:
            source = (f"painted, {strokes} stroke{'s' * (strokes != 1)}"
                      if mask is self._painted else mask.name)
            self._mask_label.value = grey(f"mask: {mask.coverage:.1%} of the image ({source})")

    def _show_before(self, data: bytes) -> None:
        """An edit's input beside its result; nothing for text to image."""
        self._before.value = data
        width = _png_width(data)
        self._before.layout.width = f"{min(width, MAX_VIEW)}px" if width else None
        self._before_box.layout.display = "flex" if data else "none"
        self._after_label.layout.display = "block" if data else "none"

    def _show_progress(self) -> None:
        """One truth for the steps: what the scheduler runs, and why it differs from the setting."""
        step, total = self.progress
        self._progress.max = max(total, 1)
        self._progress.value = min(step, self._progress.max)
        self._progress.bar_style = {"done": "success", "stopped": "warning",
                                    "failed": "danger"}.get(self.outcome, "")
        asked = self.metrics.get("steps_asked", self.num_inference_steps)
        strength = self.metrics.get("strength")
        if strength is not None and total:  # an edit runs the share of the steps strength leaves
            extra = f" (strength {strength:g} of {asked} steps)"
        else:
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
        if m.get("mode", TEXT) != TEXT:
            parts.insert(0, LABELS[m["mode"]])
        parts += m.get("notes", [])
        if m.get("view_error"):
            parts.append(f"a preview failed: {m['view_error']}")
        self._metrics_line.value = metrics_line(parts)
        self._show_progress()

    def _show_gallery(self) -> None:
        """Thumbnails of the results, newest first; cards of dropped results are closed."""
        self._gallery.children = keyed_views(self._thumbs, self.results, _thumbnail)

    # actions -------------------------------------------------------------------------------------
    def generate(self, prompt: str, image: Source | None = None, mask: Source | None = None,
                 **opts: Any) -> Any:
        """Generate as the Generate button does; returns the PIL image (None if stopped or failed).

        Without ``image`` text to image; with it image to image (``strength=``), with ``image``
        and ``mask`` inpainting (white = repaint); the result has the image's size. These apply
        to this call only (the button edits the chosen image), as do ``opts``, which override the
        settings (openvino_genai's names; ``adapters`` a dict adapter file or name -> strength).
        """
        return self.session.generate(prompt, image=image, mask=mask, **opts)

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


def _pil(picture: Picture) -> Any:
    from PIL import Image

    return Image.fromarray(picture.pixels)


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

