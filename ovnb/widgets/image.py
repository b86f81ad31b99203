"""``ovnb.ImageGenerator``: an ImageSession and its view: prompt, settings, live steps, a gallery,
and an image to edit (image to image, or inpainting with a mask painted over it).

Images show at their own size up to ``MAX_VIEW`` pixels wide (never stretched to the output's
width), thumbnails in the gallery at most ``THUMBNAIL``. An edit shows its input (the mask tinted
over it) and its result side by side.
"""
from __future__ import annotations

import base64
import html
import os
import random
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb.errors import OvnbError, explain
from ovnb.images import Mask, Picture, load_mask, samples
from ovnb.sessions.editing import LABELS, TEXT
from ovnb.sessions.image import ImageSession, Result
from ovnb.widgets.base import Front, View
from ovnb.widgets.lora import LoraMixer, connect
from ovnb.widgets.maskpaint import MaskPainter, canvas_width
from ovnb.widgets.media import (
    SampleDropdown,
    image_sample,
    path_box,
    picker_row,
    remove_button,
    show_choice,
)
from ovnb.widgets.render import bind, bound_control, grey, metrics_line, png
from ovnb.widgets.upload import Upload

THUMBNAIL = 128  # pixels
MAX_VIEW = 512  # the largest width an image shows at (larger ones are scaled down to it)


class ImageView(View):
    """The view of an ImageSession: the prompt, settings, the image to edit and its mask, the
    steps, before | after, and the gallery."""

    session: ImageSession

    def __init__(self, session: ImageSession, mixer: LoraMixer | None = None) -> None:
        super().__init__(session)
        self.mixer = mixer
        connect(mixer, session)
        self._cards: dict[int, str] = {}  # id(result) -> its gallery card (HTML, made once)
        self._painted: Mask | None = None  # the mask as it came from the painter
        self._pushing = False  # True while Python sets the painter's mask (not a stroke)
        self._run: Result | None = None  # the last run's result, until the next choice
        self._newest: Result | None = None  # the newest result seen
        self._build_view()
        self._wire()
        self._wire_editing()

    # the view ------------------------------------------------------------------------------------
    def _build_view(self) -> None:
        session = self.session
        self.controls.update(
            prompt=widgets.Textarea(placeholder="Describe the image, then press Generate",
                                    continuous_update=False, layout=widgets.Layout(width="auto")),
            run=widgets.Button(description="Generate", button_style="primary",
                               icon="paint-brush"),
            stop=widgets.Button(description="Stop", icon="stop"),
            new_seed=widgets.Button(description="New seed", icon="random",
                                    tooltip="a random seed for the next image"),
            **{name: bound_control(session, name) for name in
               ("negative_prompt", "num_inference_steps", "guidance_scale")},
            live_preview=widgets.Checkbox(session.live_preview, description="live preview"),
            filename=widgets.Text("image.png", description="file"),
            save=widgets.Button(description="Save PNG", icon="save"))
        c = self.controls
        for name in ("width", "height", "rng_seed"):
            c[name] = widgets.IntText(getattr(session, name),
                                      description=session.trait_metadata(name, "label"),
                                      step=8 if name != "rng_seed" else 1,
                                      style={"description_width": "60px"},
                                      layout=widgets.Layout(width="180px"))
            bind(c[name], session, name)
        bind(c["live_preview"], session, "live_preview")
        self.progress = widgets.IntProgress(0, min=0, max=1, description="steps")
        self.step_label = widgets.HTML()
        self.preview = widgets.Image(format="png", layout=widgets.Layout(
            display="none", align_self="flex-start", object_fit="contain"))
        self.preview.add_class("ovnb-image-after")
        self._build_editing()
        self.figures_line = widgets.HTML()
        self.gallery = widgets.HTML()
        self.gallery.add_class("ovnb-gallery")
        self.children = [c["prompt"], c["negative_prompt"],
                         widgets.HBox([c["run"], c["stop"], c["new_seed"]]),
                         self._settings_box(), self.input_row, self.edit_box,
                         widgets.HBox([self.progress, self.step_label]), self.before_after,
                         self.figures_line, self.status_line, self.error_line,
                         widgets.HBox([c["filename"], c["save"], c["edit_result"]]),
                         self.gallery]

    def _build_editing(self) -> None:
        """The image to edit (upload, path, samples), its mask painter, strength, before | after."""
        self.painter = MaskPainter()
        self.controls.update(
            upload=Upload(accept="image/*", multiple=False,
                          description="Image to edit"),
            image_path=path_box("an image"),
            samples=SampleDropdown("sample image…", samples()),
            remove_image=remove_button("no image: back to text to image"),
            strength=bound_control(self.session, "strength"),
            brush=widgets.IntSlider(self.painter.brush, min=1, max=96, description="brush",
                                    continuous_update=False),
            eraser=widgets.ToggleButton(False, description="Eraser", icon="eraser",
                                        tooltip="paint black: keep that part"),
            mask_upload=Upload(accept="image/*", multiple=False,
                               description="Mask file"),
            clear_mask=widgets.Button(description="Clear mask", icon="undo"),
            edit_result=widgets.Button(description="Edit the result", icon="level-up",
                                       tooltip="make the last image the image to edit"),
            actual_size=widgets.ToggleButton(False, description="actual size", icon="search-plus",
                                             tooltip="before and after at their own pixel size "
                                                     "(else at the painting canvas's scale)",
                                             layout=widgets.Layout(width="auto",
                                                                   display="none")))
        c = self.controls
        c["strength"].min = 0.05  # 0 is no strength; from code any value in (0, 1]
        widgets.link((c["brush"], "value"), (self.painter, "brush"))
        widgets.link((c["eraser"], "value"), (self.painter, "erase"))
        self.mode_label = widgets.HTML()
        self.input_row = widgets.VBox([picker_row([c["upload"], c["samples"],
                                                   c["remove_image"], c["image_path"]]),
                                        self.mode_label])
        self.mask_label = widgets.HTML()
        tools = widgets.VBox([c["strength"], c["brush"],
                              widgets.HBox([c["eraser"], c["clear_mask"]]), c["mask_upload"],
                              self.mask_label])
        self.edit_box = widgets.HBox([self.painter, tools],
                                      layout=widgets.Layout(display="none", grid_gap="12px"))
        self.before = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        self.before.add_class("ovnb-image-before")
        self.before_box = widgets.VBox([widgets.HTML(grey("before")), self.before],
                                        layout=widgets.Layout(display="none"))
        self.after_label = widgets.HTML(grey("after"), layout=widgets.Layout(display="none"))
        self.before_after = widgets.HBox([self.before_box,
                                          widgets.VBox([self.after_label, self.preview]),
                                          c["actual_size"]],
                                         layout=widgets.Layout(grid_gap="12px",
                                                               flex_flow="row wrap"))

    def _settings_box(self) -> widgets.Widget:
        c = self.controls
        boxes: list[widgets.Widget] = [widgets.HBox([
            widgets.VBox([c["num_inference_steps"], c["guidance_scale"], c["live_preview"]]),
            widgets.VBox([c["width"], c["height"], c["rng_seed"]])])]
        if self.mixer is not None:
            boxes.append(self.mixer)
        return widgets.VBox(boxes)

    def _wire(self) -> None:
        c, session = self.controls, self.session
        c["run"].on_click(self._generate)
        c["stop"].on_click(self.press_stop)
        c["new_seed"].on_click(self._new_seed)
        c["save"].on_click(self._save)
        session.observe(self._show_progress, ["progress", "outcome"])
        session.observe(self._show_image, "preview")
        session.observe(self._show_gallery, "results")
        session.observe(self._show_metrics, "metrics")

    def _wire_editing(self) -> None:
        c, session = self.controls, self.session
        c["upload"].observe(self._on_upload, "value")
        c["image_path"].observe(self._on_path, "value")
        c["samples"].on_pick(
            lambda sample: self.session.choose_image(sample) or self._show_chosen())
        c["remove_image"].on_click(self.remove_image)
        c["mask_upload"].observe(self._on_mask_upload, "value")
        c["clear_mask"].on_click(self._clear_mask)
        c["edit_result"].on_click(self._edit_result)
        self.painter.observe(self._on_painted, "mask")
        session.observe(self._on_input_image, "input_image")
        session.observe(self._on_input_mask, "input_mask")
        session.observe(self._on_results, "results")
        session.observe(self._show_before, "before")
        c["actual_size"].observe(self._rescale, "value")
        self.busy_controls([c["run"], c["edit_result"]], [c["stop"]])
        self._show_mode()

    # the image to edit ---------------------------------------------------------------------------
    def remove_image(self, button: Any = None) -> None:
        """No image to edit: Generate runs text to image (the remove button)."""
        self.session.remove_image()

    def _clear_mask(self, button: Any = None) -> None:
        self.session.clear_mask()

    def _edit_result(self, button: Any = None) -> None:
        self.session.edit_result()

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            self.session.choose_image(bytes(files[-1]["content"]), files[-1].get("name"))

    def _on_path(self, change: dict[str, Any]) -> None:
        text = change["new"].strip()
        if text:
            self.session.choose_image(text)

    def _on_mask_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            self.session.choose_mask(bytes(files[-1]["content"]), files[-1].get("name"))

    def _on_painted(self, change: dict[str, Any]) -> None:
        """A stroke ended in the page: its mask (all erased: no mask); a refused one goes back."""
        data = change["new"]
        if self._pushing:
            return
        try:
            painted = load_mask(bytes(data), "the painted mask") if data else None
        except OvnbError as exc:
            self.session.fail(explain(exc))
            painted = None
        if painted is None or painted.coverage == 0:
            self._painted = None
            self.session.clear_mask()
            return
        kept, self._painted = self._painted, painted  # the page shows it already: not sent back
        if self.session.choose_mask(painted) is None:  # refused (all white): the kept mask back
            self._painted = kept
            self._push_mask(self.session.input_mask)

    def _on_input_image(self, change: dict[str, Any]) -> None:
        picture = change["new"]
        self._pushing = True
        try:
            if picture is None:
                self.painter.show(b"", 0)
            else:
                self.painter.show(png(_pil(picture)), picture.size[0])
        finally:
            self._pushing = False
        self._painted = None
        self._run = None  # a choice: the line says what Generate runs now
        self.edit_box.layout.display = "none" if picture is None else "flex"
        self._show_chosen()
        self._show_mode()

    def _show_chosen(self) -> None:
        """The sample dropdown and path box show the image to edit (the dropdown its sample)."""
        picture, c = self.session.input_image, self.controls
        show_choice(c["samples"], c["image_path"], picture, image_sample(picture))

    def _on_input_mask(self, change: dict[str, Any]) -> None:
        mask = change["new"]
        if mask is None or mask is not self._painted:
            self._push_mask(mask)
        self._run = None
        self._show_mode()

    def _push_mask(self, mask: Mask | None) -> None:
        """Show ``mask`` in the painter (not a stroke: the painter's observer ignores it)."""
        self._pushing = True
        try:
            self.painter.mask = mask.png() if mask is not None else b""
        finally:
            self._pushing = False

    def _on_results(self, change: Any = None) -> None:
        """A run ended with an image: the mode line says what it ran (also from code)."""
        newest = self.session.results[0] if self.session.results else None
        if newest is not None and newest is not self._newest:
            self._newest = self._run = newest
            self._show_mode()

    def _show_mode(self) -> None:
        """The mode line: what the last thing done ran or chose. A choice (an image, a mask)
        says what Generate will run; a ``generate(prompt, image=, mask=)`` from code with inputs
        of its own says the mode that call ran, and what the button runs now."""
        session = self.session
        picture, mask = session.input_image, session.input_mask
        run = self._run
        if run is not None and (run.source is not picture or run.mask is not mask):
            own = f" · {run.mask.share} of it masked" if run.mask is not None else ""
            self.mode_label.value = grey(
                f"{_mode_line(run.mode, run.source)}{own} · by generate() from code; "
                f"Generate runs {LABELS[session.mode]}")
        elif picture is None:
            self.mode_label.value = grey(f"{_mode_line(TEXT, None)} · choose an image to "
                                          "edit it")
        elif mask is None:
            self.mode_label.value = grey(f"{_mode_line(session.mode, picture)} · paint a "
                                          "mask over it (or upload one) to inpaint")
        else:
            self.mode_label.value = grey(f"{_mode_line(session.mode, picture)} · repaints what "
                                         "the mask covers")
        strokes = self.painter.strokes
        if mask is None:
            self.mask_label.value = grey("mask: none · paint over the image: white = repaint")
        else:
            source = (f"painted, {strokes} stroke{'s' * (strokes != 1)}"
                      if mask is self._painted else mask.name)
            self.mask_label.value = grey(f"mask: {mask.share} of the image ({source})")

    def _show_before(self, change: dict[str, Any]) -> None:
        """An edit's input beside its result; nothing for text to image."""
        data = change["new"]
        self.before.value = data
        shown = "flex" if data else "none"
        self.before_box.layout.display = self.controls["actual_size"].layout.display = shown
        self.after_label.layout.display = "block" if data else "none"
        self._rescale()

    def _rescale(self, change: Any = None) -> None:
        """Before and after of an edit at the painting canvas's scale (so a 64 px image shows as
        large as the canvas it was painted on), or at their pixel size when "actual size" is
        pressed; a text to image result at its own size up to MAX_VIEW."""
        edit, actual = bool(self.before.value), self.controls["actual_size"].value
        for image in (self.before, self.preview):
            width = _png_width(image.value)
            if edit and not actual and width:
                shown = canvas_width(_png_width(self.before.value))
            else:
                shown = width if actual else min(width, MAX_VIEW)
            image.layout.width = f"{shown}px" if width else None
            (image.add_class if shown > width else image.remove_class)("ovnb-enlarged")

    def _show_progress(self, change: Any = None) -> None:
        """One truth for the steps: what the scheduler runs, and why it differs from the setting."""
        session = self.session
        step, total = session.progress
        self.progress.max = max(total, 1)
        self.progress.value = min(step, self.progress.max)
        self.progress.bar_style = {"done": "success", "stopped": "warning",
                                    "failed": "danger"}.get(session.outcome, "")
        asked = session.metrics.get("steps_asked", session.num_inference_steps)
        strength = session.metrics.get("strength")
        if strength is not None and total:  # an edit runs the share of the steps strength leaves
            extra = f" (strength {strength:g} of {asked} steps)"
        else:
            extra = (f" ({asked} set + {total - asked} the scheduler adds)"
                     if total and total != asked else "")
        self.step_label.value = grey(f"step {step} of {total}{extra}") if total else ""

    def _show_image(self, change: dict[str, Any]) -> None:
        """The preview or the result, at the size ``_rescale`` gives it (an edit's at the
        canvas's scale, others at their own up to MAX_VIEW wide)."""
        data = change["new"]
        self.preview.value = data
        self.preview.layout.display = "block" if data else "none"
        self._rescale()

    def _show_metrics(self, change: Any = None) -> None:
        m = self.session.metrics
        if not m:
            self.figures_line.value = ""
            return
        parts = [f"{m['steps']} steps in {m['seconds']:.2f} s", f"{m['steps_per_s']:.1f} steps/s",
                 _previews_part(m)]  # notes on the inputs: the status line's (said once)
        if m.get("mode", TEXT) != TEXT:
            parts.insert(0, LABELS[m["mode"]])
        if m.get("view_error"):
            parts.append(f"a preview failed: {m['view_error']}")
        self.figures_line.value = metrics_line(parts)
        self._show_progress()

    def _show_gallery(self, change: Any = None) -> None:
        """Thumbnails of the results, newest first, in one HTML value: a card per result, made
        once, where widgets per card cost a dozen messages a run (made, and closed when dropped)."""
        results = self.session.results
        kept = {id(result) for result in results}
        self._cards = {key: card for key, card in self._cards.items() if key in kept}
        for result in results:
            if id(result) not in self._cards:
                self._cards[id(result)] = card_html(result)
        self.gallery.value = "".join(self._cards[id(result)] for result in results)

    # the buttons ---------------------------------------------------------------------------------
    def _generate(self, button: Any = None) -> None:
        session = self.session
        session.submit(self.controls["prompt"].value, image=session.input_image,
                       mask=session.input_mask)

    def _new_seed(self, button: Any = None) -> None:
        self.session.rng_seed = random.randrange(2**31)

    def _save(self, button: Any = None) -> None:
        self.session.save(self.controls["filename"].value)


class ImageGenerator(Front):
    """Images: ``ImageGenerator("tiny-sd").generate("a red cat", image=None, mask=None)``.

    Its arguments are ``ImageSession``'s (``adapters`` may also be a ``LoraMixer``, whose sliders
    mix each run's strengths): text to image, image to image (``image=``, ``strength=``) and
    inpainting (``image=`` and ``mask=``, white = repaint) on one set of compiled models. In the
    widget, the image to edit comes from an upload, a path or a sample, and its mask is painted
    over it with the mouse or uploaded. ``save(path)`` writes the last image as PNG (the file
    box's name when no path).
    """

    session_class = ImageSession
    view_class = ImageView

    def remove_image(self) -> None:
        """No image to edit: Generate runs text to image."""
        self.view.remove_image()

    def save(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the last image as PNG (to the file box's name when no path); its path, or None."""
        return self.session.save(path if path is not None else
                                 self.view.controls["filename"].value)


def _mode_line(mode: str, picture: Picture | None) -> str:
    """``mode: inpainting on house.png (320×240)``."""
    line = f"mode: {LABELS[mode]}"
    if picture is not None:
        line += f" on {picture.name} ({'×'.join(map(str, picture.size))})"
    return line


def _previews_part(metrics: dict[str, Any]) -> str:
    """``3 previews``; with none, why: live preview was off, or the run ended before the first
    was due."""
    count, interval = metrics["previews"], metrics.get("preview_interval")
    if count:
        return f"{count} preview{'s' * (count != 1)}"
    if interval is None:
        return "live preview off"
    return f"no preview (the first is due {interval:g} s into a run)"


def _pil(picture: Picture) -> Any:
    from PIL import Image

    return Image.fromarray(picture.pixels)


def _png_width(data: bytes) -> int:
    """The width in a PNG's header (0 when ``data`` is no PNG)."""
    return int.from_bytes(data[16:20], "big") if data[:8] == b"\x89PNG\r\n\x1a\n" else 0


def card_html(result: Result) -> str:
    """A small copy of the image with its prompt and settings underneath (the whole caption on
    hover)."""
    small = result.image.copy()
    small.thumbnail((THUMBNAIL, THUMBNAIL))
    source = "data:image/png;base64," + base64.b64encode(png(small)).decode("ascii")
    caption = html.escape(result.caption(), quote=True)
    return (f"<figure class='ovnb-card'><img src='{source}' width='{small.width}' "
            f"height='{small.height}' alt='{html.escape(result.prompt[:60], quote=True)}'>"
            f"<figcaption class='ovnb-quiet' title='{caption}'><b>{html.escape(result.prompt[:60])}"
            f"</b><br>{caption}</figcaption></figure>")
