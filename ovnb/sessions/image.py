"""Images from a prompt, alone or with an image to edit: per-step progress, previews, Stop, a gallery.

``generate(prompt)`` runs text to image; with ``image=`` it runs image to image (``strength``:
how much is repainted), with ``image=`` and ``mask=`` inpainting (white = repaint). The three
modes share one prepared folder and one set of compiled models (``ovnb.sessions.editing``):
switching mode recompiles nothing, and LoRA strengths apply in every mode.

openvino_genai calls the step callback on a native thread, where a Python exception escaping it
aborts the whole process (in Jupyter the kernel dies): ``StepWatch`` catches everything and never
raises, and it only *posts* its news (the view thread applies it), so the denoising loop never
waits for a view. Previews are decoded with the pipeline's own VAE, at a bounded rate and size.
"""
from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import traitlets
from traitlets import Bool, Bytes, Dict, Float, Int, List, Unicode

from ovnb import lora
from ovnb.errors import OvnbError, explain
from ovnb.families import IMAGE as IMAGES
from ovnb.files import check_path, write_bytes
from ovnb.images import Mask, Picture, Source, blank, load_image, load_mask
from ovnb.runtime.jobs import Job, Outcome
from ovnb.runtime.pipelines import Loaded, load
from ovnb.runtime.views import FLUSH_INTERVAL, post
from ovnb.sessions.adapters import WithAdapters
from ovnb.sessions.base import Session, check_text
from ovnb.sessions.editing import (IMAGE, INPAINT, LABELS, TEXT, Edit, ImagePipelines,
                                   check_strength, edit_for, fit_mask, overlay, tensors,
                                   work_size)
from ovnb.sessions.settings import Settings, setting

FROM_MODEL = ("width", "height", "guidance_scale")  # started from the model's own defaults
MAX_DEFAULT_STEPS = 20  # genai's default is 50: too slow for a first try on a CPU
GALLERY_SIZE = 8  # results kept, newest first
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
    mode: str = TEXT  # text2image, image2image or inpainting
    source: Any = None  # the input image (an ovnb.images.Picture) of an edit
    mask: Any = None  # the mask (an ovnb.images.Mask) of an inpainting

    def caption(self) -> str:
        """The settings in one short line (adapters by name, only those in use)."""
        s = self.settings
        parts = [] if self.mode == TEXT else [f"{LABELS[self.mode]} · strength {s['strength']:g}"]
        parts += [f"seed {s['rng_seed']}", f"{s['num_inference_steps']} steps",
                  f"{s['width']}×{s['height']}", f"guidance {s['guidance_scale']:g}"]
        if s.get("negative_prompt"):
            parts.append(f"not: {s['negative_prompt']}")
        parts += [f"{name} {alpha:g}" for name, alpha in s.get("adapters", {}).items() if alpha]
        return " · ".join(parts)


class ImageSettings(Settings):
    """Image generation settings (ImageGenerationConfig names)."""

    num_inference_steps = setting(Int(20, help="denoising steps: more is slower and finer"),
                                  "steps", 1, 500)
    guidance_scale = setting(Float(7.5, help="how strongly the prompt steers (1: not at all)"),
                             "guidance", 0.0, 30.0, 0.1)
    width = setting(Int(512, help="pixels; a multiple of the model's size step (8 for SD)"),
                    "width", 8, 2048, 8)
    height = setting(Int(512, help="pixels; a multiple of the model's size step (8 for SD)"),
                     "height", 8, 2048, 8)
    rng_seed = setting(Int(42, help="the same seed and settings give the same image"),
                       "seed", 0, 2**31 - 1)
    negative_prompt = setting(Unicode("", help="what to keep out of the image"), "not")
    strength = setting(Float(0.8, help="image to image and inpainting: how much is repainted, "
                             "more than 0 (the image stays) up to 1 (repainted all over)"),
                       "strength", 0.0, 1.0, 0.05)

    @traitlets.validate(*[n for n in locals() if not n.startswith("_")])  # every setting above
    def _check(self, proposal: Any) -> Any:
        if proposal["trait"].name == "strength":  # (0, 1]: 0 is in no slider's sense a strength
            try:
                return check_strength(proposal["value"])
            except OvnbError as exc:
                raise traitlets.TraitError(str(exc)) from None
        return self._check_setting(proposal)


class ImageState(traitlets.HasTraits):
    """What an image run shows."""

    image = traitlets.Any(None, allow_none=True, help="the last finished image (PIL)")
    results = List(help="the gallery: Results, newest first, at most 8")
    progress = traitlets.Tuple(Int(), Int(), default_value=(0, 0),
                               help="(steps done, steps the scheduler runs) of the current run")
    preview = Bytes(b"", help="PNG of the latest live preview (or of the finished image)")
    live_preview = Bool(True, help="decode previews while the image forms")
    metrics = Dict(help="the last run's seconds, steps, steps_asked, steps_per_s, previews, "
                        "preview_interval (None: live preview off), mode, notes (on its inputs, "
                        "as the status line says), strength (edits), view_error (a failed preview)")
    outcome = Unicode("", help="how the last run ended: done, stopped, failed ('' before)")
    input_image = traitlets.Any(None, allow_none=True,
                                help="the image the Generate button edits (an ovnb.images.Picture)")
    input_mask = traitlets.Any(None, allow_none=True,
                               help="its mask for inpainting (an ovnb.images.Mask), white = repaint")
    before = Bytes(b"", help="PNG of the current or last edit's input, mask overlaid ('' for text)")


class StepWatch:
    """The image callback: counts steps, decodes throttled previews, says when to stop.

    openvino_genai queues ``(step, num_steps, latent)`` to a native thread of its own that calls
    this, so the denoising loop never waits for it: calls lag the loop, a True return stops the
    loop at its next step, and calls still queued when the loop ends are dropped (the session
    reads the steps run from the pipeline's metrics instead). It must never raise: errors are kept
    in ``error`` and generation goes on. A preview is decoded at most every ``interval`` seconds and
    at most a third of the time, never on the last step, and once more when stopping.

    ``on_step`` hears the first and the last step and the others at most every ``pace`` seconds
    (a progress bar's 10 updates a second): each update is a widget message the kernel sends
    while the model needs the CPU (a 20-step tiny-sd image took 162 ms with one per step, 122 ms
    paced; benchmarks/overhead.py).
    """

    def __init__(self, on_step: Callable[[int, int], None],
                 decode: Callable[[Any], Any] | None = None,
                 on_preview: Callable[[Any], None] | None = None,
                 interval: float = PREVIEW_INTERVAL,
                 on_first: Callable[[], None] | None = None,
                 pace: float = FLUSH_INTERVAL) -> None:
        self.stop_event = threading.Event()
        self.on_step = on_step
        self.pace = pace
        self._next_step = 0.0
        self.on_first = on_first
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
            first = self.step == 0
            self.step, self.total = step + 1, num_steps
            self._tell_step(first)
            if first and self.on_first is not None:
                self.on_first()
            self.stopped = self.stop_event.is_set()
            if self._preview_due():
                self._preview(latent)
        except BaseException as exc:  # never let anything escape into the native thread
            self.error = exc
        return bool(self.stopped)

    def _tell_step(self, first: bool) -> None:
        """Call ``on_step`` on the first and last step, and when ``pace`` has passed."""
        now = time.perf_counter()
        if first or self.step >= self.total or now >= self._next_step:
            self._next_step = now + self.pace
            self.on_step(self.step, self.total)

    def stop(self) -> None:
        """Stop the loop at its next step (genai then returns an empty result)."""
        self.stop_event.set()

    @classmethod
    def for_job(cls, job: Job[Any], on_step: Callable[[int, int], None],
                decode: Callable[[Any], Any] | None = None,
                on_preview: Callable[[Any], None] | None = None,
                interval: float = PREVIEW_INTERVAL) -> StepWatch:
        """A watch that ``job``'s Stop stops, and that reports its first step as progress."""
        watch = cls(on_step, decode, on_preview, interval, on_first=job.progressed)
        job.on_stop(watch.stop)
        return watch

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


class ImageSession(Session, ImageState, ImageSettings, WithAdapters):
    """Images: ``ImageSession("tiny-sd").generate("a red cat", image=None, mask=None) -> PIL.Image``.

    ``model`` is a catalog id or a prepared folder; ``adapters`` LoRA files, registered when the
    pipeline is built and mixed per run (the ``adapters`` trait, or ``generate(adapters=...)``);
    ``properties`` OpenVINO properties; ``**settings`` by openvino_genai's names (``width``,
    ``height``, ``num_inference_steps``, ``rng_seed``, ``guidance_scale``, ``negative_prompt``,
    ``strength``). Width, height and guidance start from the model's own defaults unless given;
    an edit runs at its image's size within width × height and returns the image's size.
    """

    family = IMAGES

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU", adapters: Any = None,
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__()
        self._apply(settings, type(self).__name__)
        self._open(model, device, properties)
        self._init_adapters(adapters)
        self.preview_interval = PREVIEW_INTERVAL
        self._load_in_background(lambda: self._load(model), self.model_name)

    def _load(self, model: Any) -> Loaded[ImagePipelines]:
        folder = self._folder(model)
        self.adapter_set.check(folder, IMAGES)  # a file that does not fit: refused, not ignored
        made: dict[Path, Any] = {}

        def options() -> dict[str, Any]:
            # every adapter must be registered now: one first named in a later call is ignored;
            # the modes made from this root later share them (and their per-call state)
            return self._build_adapters(folder, IMAGES, made)

        loaded = load(IMAGES, folder, self.device, self.properties, self.adapter_set.key(),
                      options)
        lora.attach(loaded, made)
        defaults = loaded.pipe.root.get_generation_config()  # the same in every mode
        values = {name: getattr(defaults, name) for name in FROM_MODEL}
        values["num_inference_steps"] = min(defaults.num_inference_steps, MAX_DEFAULT_STEPS)
        post(lambda: self._adopt(values))
        return loaded

    # the input of an edit -----------------------------------------------------------------------
    def choose_image(self, source: Source, name: str | None = None) -> Picture | None:
        """Make ``source`` the image the Generate button edits (its old mask goes); None (error
        shown) if it cannot be read."""
        try:
            picture = source if isinstance(source, Picture) else load_image(source, name)
        except TypeError:  # a wrong kind of argument is the caller's: raised
            raise
        except Exception as exc:  # a bad file is the learner's to fix, never the kernel's problem
            self.fail(explain(exc))
            return None
        size = "×".join(map(str, picture.size))
        scaled = (f", downscaled from {'×'.join(map(str, picture.original_size))}"
                  if picture.downscaled else "")
        self.succeed(input_image=picture, input_mask=None,
                     status=f"editing {picture.name} ({size}{scaled}): paint or upload a mask to "
                            "inpaint, or press Generate for image to image")
        return picture

    def choose_mask(self, source: Source, name: str | None = None) -> Mask | None:
        """Make ``source`` the mask of the chosen image (white = repaint); None (error shown) if it
        cannot be read or does not fit the image. A mask of another scale is scaled (and said)."""
        try:
            mask = source if isinstance(source, Mask) else load_mask(source, name)
            if self.input_image is None:
                raise OvnbError("a mask needs an image first: choose the image to edit, then paint "
                                "or upload its mask")
            mask, note = fit_mask(mask, self.input_image)
        except TypeError:
            raise
        except Exception as exc:
            self.fail(explain(exc))
            return None
        share = f"mask chosen: {mask.share} of the image is repainted"
        self.succeed(input_mask=mask, status=f"{share} ({note})" if note else share)
        return mask

    def clear_mask(self) -> None:
        """No mask: Generate runs image to image on the chosen image."""
        self.publish_now(input_mask=None)

    def remove_image(self) -> None:
        """No image (and so no mask): Generate runs text to image."""
        self.publish_now(input_image=None, input_mask=None)

    def edit_result(self) -> Picture | None:
        """Make the last image the image to edit (edit it again, step by step)."""
        if self.image is None:
            self.fail("no image yet: press Generate first")
            return None
        return self.choose_image(self.image, "the last result")

    def save(self, path: str | os.PathLike[str]) -> Path | None:
        """Save the last image as PNG (".png" added when missing), with its prompt and settings
        inside where image tools look for them; the path, or None (the reason shown)."""
        check_path(path)  # a wrong type is raised before anything else
        try:
            if self.image is None:
                raise OvnbError("no image yet: press Generate first")
            buffer = io.BytesIO()
            self.image.save(buffer, format="PNG", pnginfo=self._png_info())
            target = write_bytes(path, buffer.getvalue(), (".png",), ".png", "image")
        except OvnbError as exc:
            self.fail(str(exc))
            return None
        self.succeed(status=f"saved {target.name}")
        return target

    def _png_info(self) -> Any:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        if self.results:
            info.add_text("parameters", f"{self.results[0].prompt}\n{self.results[0].caption()}")
        return info

    @property
    def mode(self) -> str:
        """What the Generate button runs now: text2image, image2image or inpainting."""
        if self.input_image is None:
            return TEXT
        return INPAINT if self.input_mask is not None else IMAGE

    # actions -------------------------------------------------------------------------------------
    def generate(self, prompt: str, image: Source | None = None, mask: Source | None = None,
                 **opts: Any) -> Any:
        """Generate; blocks. The PIL image, None if stopped or failed (``last_error`` says why).

        Without ``image`` text to image; with it image to image (``strength=``: how much is
        repainted); with ``image`` and ``mask`` inpainting (white repaints). Each is a path, file
        bytes, a PIL image or an array; the result has the image's size. ``opts`` override the
        settings for this call only (openvino_genai's names; ``adapters`` a dict adapter file or
        name -> strength).
        """
        return self.call(self.submit(prompt, queue=True, image=image, mask=mask, **opts), None)

    def submit(self, prompt: str, queue: bool = False, image: Source | None = None,
               mask: Source | None = None, **opts: Any) -> Job[Any] | None:
        """Start a generation without waiting (the Generate button passes its chosen image and
        mask); None when refused."""
        prompt = check_text(prompt, "the prompt").strip()
        if not prompt:
            self.refuse("empty prompt: describe the image first")
            return None
        try:
            edit = edit_for(image, mask)
            if "strength" in opts:
                if edit.mode == TEXT:
                    raise OvnbError("strength is for image to image and inpainting: give image= "
                                    "too, or drop strength for text to image")
                check_strength(opts["strength"])
            requested = opts.pop("adapters", None)
            alphas = self.strengths(requested) if requested is not None else None
        except TypeError:
            raise
        except Exception as exc:  # an unreadable image, a bad mask, an unknown adapter: one line
            self.refuse(explain(exc))
            return None

        def work(loaded: Loaded[ImagePipelines], job: Job[Any]) -> Any:
            # settings are read once loaded: loading sets size and guidance to the model's defaults
            return self._run(loaded, job, prompt, {**self.settings(), **opts}, alphas, edit)

        return self.start(work, self._finish, queue=queue)

    def _run(self, loaded: Loaded[ImagePipelines], job: Job[Any], prompt: str,
             settings: dict[str, Any], alphas: dict[Path, float] | None, edit: Edit) -> Any:
        """On the worker thread, under the pipeline's lock: one generation, start to gallery."""
        pipe = loaded.pipe.get(edit.mode)  # made from the compiled root on first use: no compile
        kwargs = call_settings(loaded, settings, pipe, edit.mode)
        inputs: tuple[Any, ...] = ()
        if edit.picture is not None:
            size = work_size(edit.picture.size, (kwargs["width"], kwargs["height"]),
                             size_step(loaded.folder))
            kwargs["width"], kwargs["height"] = size
            inputs = tensors(edit, size)
        alphas = alphas if alphas is not None else self.strengths()
        watch = StepWatch.for_job(
            job, lambda step, total: post(lambda: self._set({"progress": (step, total)})),
            preview_decoder(pipe) if self.live_preview else None,
            lambda tensor: self._post_preview(tensor), self.preview_interval)
        before = png(overlay(edit.picture, edit.mask)) if edit.picture is not None else b""
        self.publish(progress=(0, 0), metrics={}, outcome="", before=before,
                     status=f"{LABELS[edit.mode]}…" if edit.mode != TEXT else "generating…")
        start = time.perf_counter()
        tensor = pipe.generate(prompt, *inputs, callback=watch, **kwargs,
                               **lora.call_kwargs(loaded, alphas))
        seconds = time.perf_counter() - start
        steps = len(pipe.get_performance_metrics().raw_metrics.iteration_durations)
        metrics = {"seconds": seconds, "steps": steps, "steps_asked": kwargs["num_inference_steps"],
                   "steps_per_s": steps / seconds if seconds else 0.0, "previews": watch.previews,
                   "preview_interval": watch.interval if watch.decode is not None else None,
                   "mode": edit.mode, "notes": list(edit.notes)}
        if edit.mode != TEXT:
            metrics["strength"] = kwargs["strength"]
        if watch.error is not None:
            metrics["view_error"] = str(watch.error)
        if len(tuple(tensor.shape)) != 4:  # stopped: genai returns an empty tensor
            shown = ": the preview shows where it got to" if watch.previews else ""
            self.publish(metrics=metrics, progress=(watch.step, max(watch.total, steps)),
                         outcome="stopped", status=f"stopped at step {steps}{shown}")
            return None
        problem = blank(tensor.data)  # NaN latents decode to one flat colour: no result
        if problem:
            raise OvnbError(problem)
        image = to_image(tensor)
        if edit.picture is not None and image.size != edit.picture.size:
            metrics["notes"].append(f"made at {image.width}×{image.height}, scaled to the image's "
                                    f"{edit.picture.size[0]}×{edit.picture.size[1]}")
            image = image.resize(edit.picture.size, _lanczos())
            kwargs["width"], kwargs["height"] = edit.picture.size
        kwargs["adapters"] = {self.adapter_set.names[p]: a for p, a in alphas.items()}
        result = Result(image, prompt, kwargs, seconds, steps, edit.mode, edit.picture, edit.mask)
        self.publish(image=result.image, results=[result, *self.results][:GALLERY_SIZE],
                     preview=png(result.image), metrics=metrics, progress=(steps, steps),
                     outcome="done", status="; ".join(["done", *metrics["notes"]]))
        return result.image

    def _post_preview(self, tensor: Any) -> None:
        """On genai's callback thread: encode the preview there, apply it on the view thread."""
        data = png(to_image(tensor), level=1)
        post(lambda: self._set({"preview": data}))

    def _finish(self, outcome: Outcome[Any]) -> None:
        if not outcome.ok:
            self.publish(outcome="failed", status="failed")


def size_step(folder: Path) -> int:
    """Width and height must be multiples of this: the VAE's scale (8 in Stable Diffusion)."""
    try:
        config = json.loads((folder / "vae_decoder" / "config.json").read_text())
        return 2 ** (len(config["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return 8


def call_settings(loaded: Loaded[ImagePipelines], settings: dict[str, Any], pipe: Any = None,
                  mode: str = TEXT) -> dict[str, Any]:
    """This run's settings, checked; no empty negative prompt (not all models take one), and no
    strength for text to image (it is the editing modes' setting)."""
    pipe = pipe if pipe is not None else loaded.pipe.get(mode)
    config = pipe.get_generation_config()
    known = {n for n in dir(config) if not n.startswith("_")
             and not callable(getattr(config, n))} - {"adapters", "generator"}
    check_settings(settings, known, size_step(loaded.folder))
    return {k: v for k, v in settings.items() if not (k == "negative_prompt" and not v)
            and not (k == "strength" and mode == TEXT)}


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


def _lanczos() -> Any:
    from PIL import Image

    return Image.Resampling.LANCZOS


def png(image: Any, level: int = 6) -> bytes:
    """PNG bytes of a PIL image (``level`` 1 for previews: fast beats small there)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()
