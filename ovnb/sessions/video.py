"""Text to video with a Text2VideoPipeline (LTX-Video): checked settings, progress, Stop, MP4.

What openvino_genai 2026.4 does silently, and so what this session checks before anything runs
(tests/sources/test_tiny_ltx.py pins each):
- ``num_frames`` off 8k+1 is rounded down (10 gives 9) and sizes off multiples of 32 fail deep in
  the pipeline: both are refused up front, in one line that names the values that work;
- ``rng_seed`` and any unknown keyword are ignored: the seed goes in as ``generator=``, and
  unknown names are refused;
- a pipeline whose first run had ``guidance_scale`` 1 fails on any later guided run: the session
  builds it afresh before such a run (once; later runs of either kind then work);
- a clip's memory grows with frames x pixels (the VAE decodes it whole): ``warning`` says when a
  setting would not fit the free RAM, from the catalog's estimate, before the run.
The step callback runs on a native thread: ``StepWatch`` catches everything and only posts.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import traitlets
from traitlets import Bytes, Dict, Float, Int, List, TraitError, Unicode

from ovnb import catalogs, devices
from ovnb.errors import OvnbError
from ovnb.families import VIDEO
from ovnb.files import check_path, write_bytes
from ovnb.images import blank
from ovnb.progress import say
from ovnb.runtime.jobs import Job, Outcome
from ovnb.runtime.pipelines import Loaded, build, load
from ovnb.runtime.views import post
from ovnb.sessions.base import Session, check_text
from ovnb.sessions.image import StepWatch
from ovnb.sessions.settings import Settings, setting

if TYPE_CHECKING:
    from openvino_genai import Text2VideoPipeline

FRAME_STEP = 8  # LTX-Video's VAE packs 8 frames into one latent frame: clips are 8k+1 frames
SIZE_STEP = 32  # and 32x32 pixels into one latent pixel: sizes are multiples of 32
CLIP_SETTINGS = ("num_frames", "width", "height")

# pipelines whose first run was unguided (guidance_scale <= 1): a guided run must rebuild them
_UNGUIDED_FIRST: weakref.WeakKeyDictionary[Loaded[Text2VideoPipeline], bool] = weakref.WeakKeyDictionary()


def clip_problem(name: str, value: Any) -> str | None:
    """Why LTX-Video cannot make ``name=value`` (one line naming what works), None if it can."""
    if name == "num_frames" and isinstance(value, int) and (value - 1) % FRAME_STEP:
        lower = value - (value - 1) % FRAME_STEP
        return (f"num_frames {value} does not fit LTX-Video, which makes 8k+1 frames "
                f"(openvino_genai would quietly make {lower}): choose {lower} or "
                f"{lower + FRAME_STEP}")
    if name in ("width", "height") and isinstance(value, int) and value % SIZE_STEP:
        low = max(SIZE_STEP, value - value % SIZE_STEP)
        return (f"{name} {value} does not fit LTX-Video: choose a multiple of {SIZE_STEP} "
                f"({low} or {low + SIZE_STEP})")
    return None


class VideoSettings(Settings):
    """Video generation settings (VideoGenerationConfig names; rng_seed as in images)."""

    num_frames = setting(Int(25, help="frames: 8k+1 (9, 17, 25...); 25 is 1 s at 25 fps"),
                         "frames", 1, 257, FRAME_STEP)
    width = setting(Int(512, help="pixels: a multiple of 32"), "width", SIZE_STEP, 1280,
                    SIZE_STEP)
    height = setting(Int(320, help="pixels: a multiple of 32"), "height", SIZE_STEP, 1280,
                     SIZE_STEP)
    num_inference_steps = setting(Int(20, help="denoising steps: more is slower and finer"),
                                  "steps", 1, 200)
    guidance_scale = setting(Float(3.0, help="how strongly the prompt steers (1: not at all); "
                                   "LTX-Video is made for about 3"), "guidance", 1.0, 20.0, 0.1)
    rng_seed = setting(Int(42, help="the same seed and settings give the same clip"), "seed", 0,
                       2**31 - 1)
    frame_rate = setting(Float(25.0, help="frames per second: the model's sense of time and the "
                               "MP4's rate"), "fps", 1.0, 120.0, 1.0)
    negative_prompt = setting(Unicode("", help="what to keep out of the clip (needs guidance > "
                                      "1)"), "not")

    @traitlets.validate(*[n for n in locals() if not n.startswith("_")])  # every setting above
    def _check(self, proposal: Any) -> Any:
        value = self._check_setting(proposal)
        problem = clip_problem(proposal["trait"].name, value)
        if problem:
            raise TraitError(problem)
        return value


@dataclass
class VideoResult:
    """One generated clip and what made it."""

    frames: list[Any]  # PIL images
    prompt: str
    settings: dict[str, Any]
    seconds: float
    steps: int
    mp4: bytes

    def caption(self) -> str:
        s = self.settings
        parts = [f"seed {s['rng_seed']}", f"{len(self.frames)} frames",
                 f"{s['width']}×{s['height']}", f"{s['num_inference_steps']} steps",
                 f"guidance {s['guidance_scale']:g}", f"{s['frame_rate']:g} fps"]
        if s.get("negative_prompt"):
            parts.append(f"not: {s['negative_prompt']}")
        return " · ".join(parts)


class VideoState(traitlets.HasTraits):
    """What a video run shows."""

    frames = List(help="the last clip's frames (PIL images)")
    video = Bytes(b"", help="the last clip as an MP4 file (H.264)")
    result = traitlets.Any(None, allow_none=True, help="the last clip's VideoResult")
    progress = traitlets.Tuple(Int(), Int(), default_value=(0, 0),
                               help="(steps done, steps) of the current run")
    metrics = Dict(help="seconds, steps, steps_per_s, frames_per_s, rebuilt")
    outcome = Unicode("", help="how the last run ended: done, stopped, failed ('' before)")
    warning = Unicode("", help="why the settings may not fit this machine ('' when they do)")


class VideoSession(Session, VideoState, VideoSettings):
    """Text to video: ``VideoSession("tiny-ltx").generate("a red cat") -> list[PIL.Image]``.

    ``model`` is a catalog id or a prepared folder; ``properties`` OpenVINO properties;
    ``**settings`` by openvino_genai's names (``num_frames``, ``width``, ``height``,
    ``num_inference_steps``, ``guidance_scale``, ``frame_rate``, ``negative_prompt``) and
    ``rng_seed``. ``frame_rate`` starts from the model's own unless given.
    """

    family = VIDEO

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **settings: Any) -> None:
        super().__init__()
        self._apply(settings, type(self).__name__)
        self._open(model, device, properties)
        self._entry: tuple[dict[str, Any], str | None] | None = None  # catalog entry, precision
        self.observe(self._warn, list(CLIP_SETTINGS))
        self._load_in_background(lambda: self._load(model), self.model_name)

    def _warn(self, change: dict[str, Any]) -> None:
        """A clip setting changed: say whether such a clip fits the free RAM."""
        self.publish_now(warning=self.ram_warning())

    def _load(self, model: Any) -> Loaded[Text2VideoPipeline]:
        folder = self._folder(model)
        self._entry = _catalog_entry(folder)
        self.publish(warning=self.ram_warning(loading=True))  # the weights are not in RAM yet
        loaded = load(VIDEO, folder, self.device, self.properties)
        rate = loaded.pipe.get_generation_config().frame_rate
        post(lambda: self._adopt_model(rate))
        return loaded

    def _adopt_model(self, frame_rate: float) -> None:
        """On the view thread, once loaded: the model's frame rate (unless set), and the memory
        warning now that the weights are in RAM."""
        self._adopt({"frame_rate": frame_rate})
        self.warning = self.ram_warning()

    # memory --------------------------------------------------------------------------------------
    def ram_warning(self, settings: dict[str, Any] | None = None, loading: bool = False,
                    free_gb: float | None = None) -> str:
        """One line when a clip of these settings would not fit the free RAM ('' when it would).

        From the catalog's estimate (``catalogs.video_ram_gb``): while loading, the weights count
        too; once loaded they are in RAM already, so only the clip's own memory does. '' when the
        model has no catalog entry (a hand-made folder) or the free RAM is unknown.
        """
        if settings is not None and not isinstance(settings, dict):
            raise TypeError(f"settings must be a dict of clip settings, not "
                            f"{type(settings).__name__}")
        if not isinstance(loading, bool):
            raise TypeError(f"loading must be True or False, not {loading!r}")
        if self._entry is None:
            return ""
        entry, precision = self._entry
        s = {**self.settings(), **(settings or {})}
        frames, height, width = s["num_frames"], s["height"], s["width"]
        need = catalogs.video_ram_gb(entry, frames, height, width, precision)
        if not loading:
            need -= catalogs.video_ram_gb(entry, 0, height, width, precision)
        free = devices.free_ram_gb() if free_gb is None else free_gb
        if free is None or need <= free:
            return ""
        return (f"{frames} frames at {width}×{height} need about {_gb(need)} of RAM "
                f"{'with the model' if loading else 'more'}, and {_gb(free)} is free: choose "
                "fewer frames or a smaller size")

    # actions -------------------------------------------------------------------------------------
    def generate(self, prompt: str, **opts: Any) -> list[Any]:
        """Generate a clip; blocks. Its frames (PIL images), [] if stopped or failed.

        ``opts`` override the settings for this call only (openvino_genai's names).
        """
        return self.call(self.submit(prompt, queue=True, **opts), [])

    def submit(self, prompt: str, queue: bool = False, **opts: Any) -> Job[Any] | None:
        """Start a generation without waiting (the Generate button); None when refused."""
        prompt = check_text(prompt, "the prompt").strip()
        if not prompt:
            self.refuse("empty prompt: describe the clip first")
            return None
        problem = self._problem_with(opts)
        if problem:
            self.refuse(problem)
            return None
        warning = self.ram_warning(opts)
        self.publish_now(warning=warning)
        if warning and queue:
            say(warning)  # a call from code may have no widget on screen

        def work(loaded: Loaded[Text2VideoPipeline], job: Job[Any]) -> Any:
            return self._run(loaded, job, prompt, {**self.settings(), **opts})

        return self.start(work, self._finish, queue=queue)

    def _problem_with(self, opts: dict[str, Any]) -> str | None:
        """Why per-call settings cannot run (one line), None when they can: names, types, ranges,
        LTX-Video's frame and size rules, a negative prompt without guidance. ``opts`` get the
        values as the traits take them (9.0 frames is 9)."""
        names = self.setting_names()
        for name, value in opts.items():
            if name not in names:
                return (f"unknown setting {name!r}: openvino_genai would ignore it silently; "
                        f"the settings are {', '.join(names)}")
            try:
                value = opts[name] = self.traits()[name].validate(self, value)  # the type
                self._check_setting({"trait": self.traits()[name], "value": value})
            except TraitError as exc:
                return str(exc).splitlines()[0]
            problem = clip_problem(name, value)
            if problem:
                return problem
        merged = {**self.settings(), **opts}
        if merged.get("negative_prompt") and merged["guidance_scale"] <= 1:
            return "a negative prompt needs guidance_scale above 1: raise it (3 suits LTX-Video)"
        return None

    def _run(self, loaded: Loaded[Text2VideoPipeline], job: Job[Any], prompt: str, settings: dict[str, Any]
             ) -> Any:
        """On the worker thread, under the pipeline's lock: one clip, start to MP4."""
        from ovnb.video import encode

        watch = StepWatch.for_job(
            job, lambda step, total: post(lambda: self._set({"progress": (step, total)})))
        self.publish(progress=(0, settings["num_inference_steps"]), metrics={}, outcome="",
                     status="generating…")
        rebuilt = self._ready_for(loaded, settings["guidance_scale"])
        start = time.perf_counter()
        result = loaded.pipe.generate(prompt, callback=watch, **call_kwargs(settings))
        seconds = time.perf_counter() - start
        steps = len(result.perf_metrics.raw_metrics.iteration_durations)
        metrics = {"seconds": seconds, "steps": steps, "rebuilt": rebuilt,
                   "steps_per_s": steps / seconds if seconds else 0.0}
        if watch.error is not None:
            metrics["view_error"] = str(watch.error)
        if len(tuple(result.video.shape)) != 5:  # stopped: genai returns an empty tensor
            self.publish(metrics=metrics, progress=(watch.step, watch.total or steps),
                         outcome="stopped", status=f"stopped at step {watch.step}")
            return None
        problem = blank(result.video.data)  # NaN latents decode to black frames: no clip
        if problem:
            raise OvnbError(problem)
        frames = to_frames(result.video)
        clip = VideoResult(frames, prompt, settings, seconds, steps,
                           encode(frames, settings["frame_rate"]))
        metrics["frames_per_s"] = len(frames) / seconds if seconds else 0.0
        self.publish(frames=frames, video=clip.mp4, result=clip, metrics=metrics,
                     progress=(steps, steps), outcome="done", status="done")
        return frames

    def _ready_for(self, loaded: Loaded[Text2VideoPipeline], guidance: float) -> bool:
        """Build the pipeline afresh when it must (see the module docstring); whether it did."""
        unguided = guidance <= 1.0
        first = _UNGUIDED_FIRST.setdefault(loaded, unguided)
        if unguided or not first:
            return False
        self.publish(status="building the pipeline again: its first clip had guidance 1, after "
                            "which openvino_genai 2026.4 fails on guided ones…")
        loaded.pipe = None  # free the old one first: two real models may not fit
        try:
            loaded.pipe = build(VIDEO, loaded.folder, loaded.device, self.properties)
        except Exception as exc:
            raise OvnbError(f"could not build the pipeline again ({exc}): make a new "
                            "VideoGenerator") from exc
        _UNGUIDED_FIRST[loaded] = False
        self.publish(status="generating…")
        return True

    def _finish(self, outcome: Outcome[Any]) -> None:
        if not outcome.ok:
            self.publish(outcome="failed", status="failed")

    def save(self, path: str | os.PathLike[str]) -> Path | None:
        """Write the last clip's MP4 to ``path`` (".mp4" added when missing); the path, or None
        (the reason shown as ``last_error``)."""
        check_path(path)  # a wrong type is raised before anything else
        try:
            if not self.video:
                raise OvnbError("no clip yet: press Generate first")
            target = write_bytes(path, self.video, (".mp4",), ".mp4", "video")
        except OvnbError as exc:
            self.fail(str(exc))
            return None
        self.succeed(status=f"saved {target.name}")
        return target


def call_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """openvino_genai's keywords for these settings: the seed as a generator (``rng_seed`` is
    ignored by Text2VideoPipeline), no empty negative prompt."""
    import openvino_genai as ov_genai

    kwargs = {k: v for k, v in settings.items() if k != "rng_seed"}
    if not kwargs.get("negative_prompt"):
        kwargs.pop("negative_prompt", None)
    kwargs["generator"] = ov_genai.CppStdGenerator(settings["rng_seed"])
    return kwargs


def to_frames(video: Any) -> list[Any]:
    """The first clip of a [B, F, H, W, 3] uint8 tensor as PIL images (copied)."""
    import numpy as np
    from PIL import Image

    data = np.array(video.data[0])
    return [Image.fromarray(frame) for frame in data]


def _gb(value: float) -> str:
    return f"{value:.1f} GB" if value >= 0.1 else f"{value * 1000:.0f} MB"


def _catalog_entry(folder: Any) -> tuple[dict[str, Any], str | None] | None:
    """The catalog entry and precision of a prepared folder (from its manifest), if it has one."""
    from ovnb.cache import read_manifest

    manifest = read_manifest(folder) or {}
    entry = catalogs.find(str(manifest.get("id", "")))
    if entry is None or entry["task"] != VIDEO.task:
        return None
    return entry, manifest.get("precision")
