"""``ovnb.ImageGenerator``: text to image with a Text2ImagePipeline, live steps, Stop and a gallery.

openvino_genai calls the step callback on a native thread, where a Python exception escaping it
aborts the whole process (in Jupyter the kernel dies): ``StepWatch`` catches everything and never
raises. Previews are decoded with the pipeline's own VAE (``decode(latent)``), at a bounded rate
and a bounded size.
"""
from __future__ import annotations

import html
import io
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb import devices
from ovnb import lora
from ovnb.errors import OvnbError
from ovnb.runtime import Loaded, Outcome, check_device, construct, explain, load
from ovnb.widgets.base import PipelineWidget, model_folder
from ovnb.widgets.lora import Adapters, LoraMixer

# generation settings the controls show, with their defaults (openvino_genai's names); width,
# height and guidance come from the model's own defaults unless given
SETTINGS: dict[str, Any] = {"negative_prompt": "", "num_inference_steps": 20, "guidance_scale": 7.5,
                            "rng_seed": 42, "width": 512, "height": 512}
FROM_MODEL = ("width", "height", "guidance_scale")
MAX_DEFAULT_STEPS = 20  # genai's default is 50: too slow for a first try on a CPU
GALLERY_SIZE = 8  # results kept (and thumbnails shown), newest first
THUMBNAIL = 128  # pixels
PREVIEW_INTERVAL = 0.5  # seconds between live previews, at least (at most 2 per second)
PREVIEW_LATENT = 32 * 32  # previews decode at most this many latent pixels (256×256 in SD 1.x)


@dataclass
class Result:
    """One generated image and what made it."""

    image: Any  # PIL.Image.Image
    prompt: str
    settings: dict[str, Any]
    seconds: float
    steps: int  # steps run: PNDM (SD 1.5's scheduler) runs one more than asked

    def caption(self) -> str:
        """The settings in one short line (adapters by name, only those in use)."""
        s = self.settings
        parts = [f"seed {s['rng_seed']}", f"{s['num_inference_steps']} steps",
                 f"{s['width']}×{s['height']}",
                 f"guidance {s['guidance_scale']:g}"]
        if s.get("negative_prompt"):
            parts.append(f"not: {s['negative_prompt']}")
        parts += [f"{name} {alpha:g}" for name, alpha in s.get("adapters", {}).items() if alpha]
        return " · ".join(parts)


class StepWatch:
    """The image callback: counts steps, decodes throttled previews, says when to stop.

    openvino_genai queues ``(step, num_steps, latent)`` to a native thread of its own that calls
    this, so the denoising loop never waits for it: calls lag the loop, a True return stops the
    loop at its next step, and calls still queued when the loop ends are dropped (the widget reads
    the steps run from the pipeline's metrics instead). It must never raise (that would kill the
    process): errors are kept in ``error`` and generation goes on. A preview is decoded at most
    every ``interval`` seconds and at most a third of the time (``2 ×`` its own cost waits after
    each; ``interval=0`` decodes every step), never on the last step (the final image follows at
    once), and once more when stopping, so a stopped run shows where it got to.
    """

    def __init__(self, on_step: Callable[[int, int], None],
                 decode: Callable[[Any], Any] | None = None,
                 on_preview: Callable[[Any], None] | None = None,
                 interval: float = PREVIEW_INTERVAL) -> None:
        self.stop_event = threading.Event()
        self.on_step = on_step
        self.decode = decode
        self.on_preview = on_preview
        self.interval = interval
        self.step = 0
        self.total = 0
        self.previews = 0
        self.stopped = False
        self.error: BaseException | None = None
        self._next_preview = time.perf_counter() + interval

    def __call__(self, step: int, num_steps: int, latent: Any) -> bool:
        try:
            self.step, self.total = step + 1, num_steps
            self.stopped = self.stop_event.is_set()
            self.on_step(self.step, num_steps)
            if self._preview_due():
                self._preview(latent)
        except BaseException as exc:  # never let anything escape into the native thread
            self.error = exc
        return bool(self.stopped)

    def _preview_due(self) -> bool:
        if self.decode is None or self.on_preview is None:
            return False
        if self.stopped:
            return True
        return self.step < self.total and time.perf_counter() >= self._next_preview

    def _preview(self, latent: Any) -> None:
        start = time.perf_counter()
        self.on_preview(self.decode(latent))
        self.previews += 1
        now = time.perf_counter()
        gap = max(self.interval, 2 * (now - start)) if self.interval > 0 else 0.0
        self._next_preview = now + gap


# kept under its first name: the list each call passes, around genai's alpha-only bug (ovnb.lora)
adapter_pairs = lora.choose


def size_step(folder: Path) -> int:
    """Width and height must be multiples of this: the VAE's scale (8 in Stable Diffusion)."""
    try:
        config = json.loads((folder / "vae_decoder" / "config.json").read_text())
        return 2 ** (len(config["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return 8


def check_settings(settings: dict[str, Any], known: set[str], step: int) -> None:
    """Refuse what openvino_genai would ignore silently (unknown names) or fail on obscurely."""
    unknown = sorted(set(settings) - known)
    if unknown:
        raise OvnbError(f"unknown setting {unknown[0]!r}: use openvino_genai's names "
                        f"({', '.join(sorted(known))})")
    if settings.get("num_images_per_prompt", 1) != 1:
        raise OvnbError("num_images_per_prompt must be 1: generate once per image "
                        "(the gallery keeps them)")
    for name in ("width", "height"):
        value = settings[name]
        if value <= 0 or value % step:
            near = max(step, round(value / step) * step)
            raise OvnbError(f"{name} {value} does not fit this model: choose a multiple of "
                            f"{step} (e.g. {near})")
    if settings["num_inference_steps"] < 1:
        raise OvnbError("steps must be at least 1")


def preview_decoder(pipe: Any) -> Callable[[Any], Any]:
    """``latent -> image tensor`` for previews: the pipeline's VAE on a shrunken latent.

    ``Text2ImagePipeline.decode`` holds the GIL while it runs (``generate`` releases it), so
    the kernel stalls during each preview: shrinking the latent (a 2×2, 3×3... average) to at
    most PREVIEW_LATENT pixels keeps that stall short; the final image is decoded in full.
    """
    return lambda latent: pipe.decode(shrink(latent, PREVIEW_LATENT))


def shrink(latent: Any, most: int) -> Any:
    """An [N, C, H, W] latent tensor averaged over k×k blocks until H×W <= ``most``."""
    import numpy as np
    import openvino

    data = np.asarray(latent.data)
    n, c, h, w = data.shape
    k = 1
    while (h // k) * (w // k) > most:
        k += 1
    if k == 1:
        return latent
    blocks = data[:, :, :h // k * k, :w // k * k].reshape(n, c, h // k, k, w // k, k)
    return openvino.Tensor(np.ascontiguousarray(blocks.mean(axis=(3, 5)), dtype=np.float32))


def to_image(tensor: Any) -> Any:
    """The first image of a [N, H, W, 3] uint8 tensor, as a PIL image (copied)."""
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.array(tensor.data[0]))


def png(image: Any, level: int = 6) -> bytes:
    """PNG bytes for an Image widget (``level`` 1 for previews: fast beats small there)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


class ImageGenerator(PipelineWidget):
    """Text to image: ``ImageGenerator("tiny-sd").generate("a red cat") -> PIL.Image``.

    ``model`` is a catalog id or a prepared folder; ``adapters`` LoRA files (a list, a dict file
    -> strength, or a ``LoraMixer``), all registered when the pipeline is built and mixed per run
    with their sliders (a list or dict gets a mixer of its own);
    ``properties`` OpenVINO properties for the pipeline (e.g. ``INFERENCE_PRECISION_HINT="f32"``);
    ``**config`` settings by openvino_genai's names (``width``, ``height``, ``num_inference_steps``,
    ``rng_seed``, ``guidance_scale``, ``negative_prompt``...): the controls start from them.
    """

    def __init__(self, model: str | os.PathLike[str], device: str = "CPU",
                 adapters: list[Any] | dict[Any, float] | LoraMixer | None = None,
                 properties: dict[str, Any] | None = None, **config: Any) -> None:
        super().__init__()
        # a name or a DevicePicker; the device's own settings come first, the caller's on top
        self.device, self.properties = devices.resolve(device, "image", properties)
        self.config: dict[str, Any] = {**SETTINGS, **config}
        self._adapters = Adapters(adapters)
        self.image: Any = None  # the last finished image (PIL)
        self.results: list[Result] = []  # newest first, at most GALLERY_SIZE
        self.metrics: dict[str, float] = {}
        self.preview_interval = PREVIEW_INTERVAL
        self._watch: StepWatch | None = None
        self._build_view()
        self._load_in_background(lambda: self._load(model, set(config)), str(model))

    # the pipeline ---------------------------------------------------------------------------
    def _load(self, model: str | os.PathLike[str], given: set[str]) -> Loaded:
        check_device(self.device)  # an absent device is refused before any export
        folder = model_folder(model, "image", devices.precision_for(self.device, "image"))
        self._adapters.check(folder, "image")  # a file that does not fit: refused, not ignored
        made: dict[Path, Any] = {}

        def build() -> Any:
            # every adapter must be registered now: one first named in a later call is ignored
            kwargs = lora.build_kwargs(self._adapters.files, "image", made)
            return construct("image", folder, self.device, self.properties, **kwargs)

        loaded = load("image", folder, self.device, self.properties, build, self._adapters.key())
        lora.attach(loaded, made)
        self._adopt_defaults(loaded.pipe.get_generation_config(), given)
        return loaded

    def _adopt_defaults(self, defaults: Any, given: set[str]) -> None:
        """Start size and guidance from the model's own defaults (where the user set nothing)."""
        values = {name: getattr(defaults, name) for name in FROM_MODEL}
        values["num_inference_steps"] = min(defaults.num_inference_steps, MAX_DEFAULT_STEPS)
        for name, value in values.items():
            control = self._controls[name]
            if name not in given and control.value == SETTINGS[name]:  # not touched meanwhile
                _set_value(control, value)

    # the view -------------------------------------------------------------------------------
    def _build_view(self) -> None:
        self._prompt = widgets.Textarea(placeholder="Describe the image, then press Generate",
                                        continuous_update=False,
                                        layout=widgets.Layout(width="100%"))
        self._generate_btn = widgets.Button(description="Generate", button_style="primary",
                                            icon="paint-brush")
        self._stop_btn = widgets.Button(description="Stop", icon="stop", disabled=True)
        self._dice_btn = widgets.Button(description="New seed", icon="random",
                                        tooltip="a random seed for the next image")
        self._controls = _setting_controls(self.config)
        for name, control in self._controls.items():
            control.observe(lambda change, n=name: self.config.__setitem__(n, change["new"]),
                            "value")
        self._live = widgets.Checkbox(True, description="live preview")
        mixer = self._adapters.mixer  # LoRA sliders, read at each run
        self._sliders = {path: mixer.slider(path) for path in mixer.files} if mixer else {}
        self._progress = widgets.IntProgress(0, min=0, max=1, description="steps")
        self._step_label = widgets.HTML()
        self._preview = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self._metrics_line = widgets.HTML()
        self._gallery = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, {THUMBNAIL + 12}px)", grid_gap="6px"))
        self._filename = widgets.Text("image.png", description="file")
        self._save_btn = widgets.Button(description="Save PNG", icon="save")
        self._wire()
        self.children = [self._prompt, self._controls["negative_prompt"],
                         widgets.HBox([self._generate_btn, self._stop_btn, self._dice_btn]),
                         self._settings_box(),
                         widgets.HBox([self._progress, self._step_label]), self._preview,
                         self._metrics_line, self._status, self._error,
                         widgets.HBox([self._filename, self._save_btn]), self._gallery]

    def _settings_box(self) -> widgets.Widget:
        c = self._controls
        boxes = [widgets.HBox([widgets.VBox([c["num_inference_steps"], c["guidance_scale"],
                                             self._live]),
                               widgets.VBox([c["width"], c["height"], c["rng_seed"]])])]
        if self._adapters:
            boxes.append(self._adapters.mixer)
        return widgets.VBox(boxes)

    def _wire(self) -> None:
        self._generate_btn.on_click(lambda _: self._submit(self._prompt.value, {}))
        self._stop_btn.on_click(lambda _: self.stop())
        self._dice_btn.on_click(lambda _: _set_value(self._controls["rng_seed"],
                                                     random.randrange(2**31)))
        self._save_btn.on_click(lambda _: self.save())
        self.observe(lambda change: self._sync_buttons(change["new"]), "busy")

    def _sync_buttons(self, busy: bool) -> None:
        self._generate_btn.disabled = busy
        self._stop_btn.disabled = not busy

    def _show_step(self, step: int, total: int) -> None:
        """Called from the callback (native thread): cheap trait updates only."""
        if self._progress.max != total:
            self._progress.max = total
        self._progress.value = step
        self._step_label.value = f"<span style='color:#555'>step {step}/{total}</span>"

    def _show_preview(self, tensor: Any) -> None:
        self._preview.value = png(to_image(tensor), level=1)

    # actions --------------------------------------------------------------------------------
    def generate(self, prompt: str, **opts: Any) -> Any:
        """Generate as the Generate button does; returns the PIL image (None if stopped or failed).

        ``opts`` override the controls for this call only (openvino_genai's names; ``adapters``
        a dict adapter file or name -> strength).
        """
        outcome = self._wait(self._submit(prompt, opts, queue=True))
        return outcome.value if outcome.ok else None

    def stop(self) -> None:
        """Stop the running generation; its last preview stays on view."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop_event.set()

    def save(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Save the last image as PNG (to the file box's name when no path); its path, or None."""
        try:
            if self.image is None:
                raise OvnbError("no image yet: press Generate first")
            target = _png_path(path if path is not None else self._filename.value)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.image.save(target, format="PNG", pnginfo=self._png_info())
        except (OSError, ValueError, OvnbError) as exc:
            self._show_error(Outcome(error=explain(exc)))
            return None
        self._error.clear()
        self.last_error = ""
        self._set_status(f"saved {target}")
        return target

    def _png_info(self) -> Any:
        """The prompt and settings inside the PNG, where image viewers and tools look for them."""
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        if self.results:
            info.add_text("parameters", f"{self.results[0].prompt}\n{self.results[0].caption()}")
        return info

    def _submit(self, prompt: str, opts: dict[str, Any], queue: bool = False) -> Any:
        prompt = prompt.strip()
        if not prompt:
            self._show_error(Outcome(error="empty prompt: describe the image first"))
            return None
        opts = dict(opts)
        requested = opts.pop("adapters", None) or {}

        def work(loaded: Loaded) -> Any:
            # settings are read once loaded: loading sets size and guidance to the model's defaults
            return self._run(loaded, prompt, {**self.config, **opts}, requested, self._live.value)

        def done(outcome: Outcome) -> None:
            self._finish(outcome)

        return self._start(work, done, queue=queue)

    def _run(self, loaded: Loaded, prompt: str, settings: dict[str, Any],
             requested: dict[Any, float], live: bool) -> Any:
        """On the worker thread, under the pipeline's lock: one generation, start to gallery."""
        kwargs = self._call_settings(loaded, settings)
        alphas = {**self._adapters.alphas(), **self._adapters.resolve(requested)}
        watch = StepWatch(self._show_step, preview_decoder(loaded.pipe) if live else None,
                          self._show_preview, self.preview_interval)
        self._watch = watch
        if self._stopping.is_set():  # Stop came while the settings were being checked
            watch.stop_event.set()
        self._begin(kwargs["num_inference_steps"])
        start = time.perf_counter()
        tensor = loaded.pipe.generate(prompt, callback=watch, **kwargs,
                                      **lora.call_kwargs(loaded, alphas))
        seconds = time.perf_counter() - start
        steps = len(loaded.pipe.get_performance_metrics().raw_metrics.iteration_durations)
        self.metrics = {"seconds": seconds, "steps": steps,
                        "steps_per_s": steps / seconds if seconds else 0.0,
                        "previews": watch.previews}
        if len(tuple(tensor.shape)) != 4:  # stopped: genai returns an empty tensor
            return None
        self._show_step(steps, steps)  # the callback's last calls may have been dropped
        kwargs["adapters"] = {path.stem: alpha for path, alpha in alphas.items()}
        result = Result(to_image(tensor), prompt, kwargs, seconds, steps)
        self._record(result)
        return result.image

    def _call_settings(self, loaded: Loaded, settings: dict[str, Any]) -> dict[str, Any]:
        """This run's settings, checked; no empty negative prompt (not all models take one)."""
        config = loaded.pipe.get_generation_config()
        known = {n for n in dir(config) if not n.startswith("_")
                 and not callable(getattr(config, n))} - {"adapters", "generator"}
        check_settings(settings, known, size_step(loaded.folder))
        return {k: v for k, v in settings.items() if not (k == "negative_prompt" and not v)}

    def _begin(self, steps: int) -> None:
        self._progress.bar_style = ""
        self._progress.value = 0
        self._progress.max = max(steps, 1)
        self._step_label.value = ""
        self._metrics_line.value = ""
        self._set_status("generating…")

    def _record(self, result: Result) -> None:
        """Keep the result, show it large and add its thumbnail at the front of the gallery."""
        self.image = result.image
        self.results = [result, *self.results][:GALLERY_SIZE]
        self._preview.value = png(result.image)
        kept = list(self._gallery.children)
        for old in kept[GALLERY_SIZE - 1:]:  # free the dropped thumbnails' front-end models
            for child in old.children:
                child.close()
            old.close()
        self._gallery.children = [_thumbnail(result), *kept[:GALLERY_SIZE - 1]]

    def _finish(self, outcome: Outcome) -> None:
        watch, self._watch = self._watch, None
        m = self.metrics
        if not outcome.ok:
            self._progress.bar_style = "danger"
            self._set_status("failed")
            return
        self._metrics_line.value = (
            f"<span style='color:#555'>{m['steps']} steps in {m['seconds']:.2f} s · "
            f"{m['steps_per_s']:.1f} steps/s · {m['previews']} previews</span>")
        if outcome.value is None:
            self._progress.bar_style = "warning"
            total = watch.total if watch else 0
            shown = ": the preview shows where it got to" if m["previews"] else ""
            status = f"stopped at step {m['steps']}/{total}{shown}"
        else:
            self._progress.bar_style = "success"
            status = "done"
        if watch is not None and watch.error is not None:  # a view update failed: say so, quietly
            status += f" (the view missed an update: {explain(watch.error)})"
        self._set_status(status)


def _thumbnail(result: Result) -> widgets.Widget:
    """A small copy of the image with its prompt and settings underneath."""
    small = result.image.copy()
    small.thumbnail((THUMBNAIL, THUMBNAIL))
    caption = (f"<div style='font-size:11px;line-height:1.2;color:#444' "
               f"title='{html.escape(result.caption(), quote=True)}'>"
               f"<b>{html.escape(result.prompt[:60])}</b><br>{html.escape(result.caption())}</div>")
    return widgets.VBox([widgets.Image(value=png(small), format="png"), widgets.HTML(caption)],
                        layout=widgets.Layout(width=f"{THUMBNAIL + 8}px"))


def _png_path(name: str | os.PathLike[str]) -> Path:
    """``name`` as a path ending in .png ("cat" -> "cat.png")."""
    if not str(name).strip():
        raise OvnbError("no file name: type one in the file box")
    target = Path(str(name).strip()).expanduser()
    return target if target.suffix.lower() == ".png" else target.with_name(target.name + ".png")


def _set_value(control: widgets.Widget, value: Any) -> None:
    """Set a control, widening a slider first so the value is never clamped."""
    if hasattr(control, "max") and value > control.max:
        control.max = value
    if hasattr(control, "min") and value < control.min:
        control.min = value
    control.value = value


def _setting_controls(config: dict[str, Any]) -> dict[str, widgets.Widget]:
    """One control per setting, starting from ``config`` (sliders widened to fit its values)."""
    style = {"description_width": "80px"}
    controls: dict[str, widgets.Widget] = {
        "negative_prompt": widgets.Text(description="not", style=style,
                                        placeholder="what to keep out of the image",
                                        layout=widgets.Layout(width="100%")),
        "num_inference_steps": widgets.IntSlider(min=1, max=100, description="steps", style=style),
        "guidance_scale": widgets.FloatSlider(min=0.0, max=20.0, step=0.1, description="guidance",
                                              style=style),
        "width": widgets.IntText(description="width", step=8, style=style),
        "height": widgets.IntText(description="height", step=8, style=style),
        "rng_seed": widgets.IntText(description="seed", style=style),
    }
    for name, control in controls.items():
        _set_value(control, config[name])
    return controls
