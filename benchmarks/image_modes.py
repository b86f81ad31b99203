"""Benchmark: what switching image modes costs on ovnb's shared models, against fresh builds.

In one run, on one prepared model (tiny-sd by default):
- a fresh build of each pipeline class from the folder (Text2Image, Image2Image, Inpainting:
  reading and compiling the models), and the same build followed by its first generation;
- ovnb's way: one ImageSession (one compiled InpaintingPipeline), generating in a cycle
  text2image -> image2image -> inpainting, so every generation follows a mode switch; against
  the same generations repeated in one mode (no switch). The difference is what a switch costs;
  the time to make each mode's pipeline from the compiled one is printed too.
Prints figures (median and best of the runs: the machine may be shared), asserts nothing but
that no switch rebuilt anything.
    python benchmarks/image_modes.py [--model tiny-sd] [--runs 5] [--size 64] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PROMPT = "a lighthouse on a cliff at sunset"
MODES = ("text2image", "image2image", "inpainting")


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def inputs(size: int) -> tuple[np.ndarray, np.ndarray]:
    """An image (the house sample, scaled) and a mask over its middle, ``size`` wide, 3:4."""
    from PIL import Image

    from ovnb.images import samples

    w, h = size, size * 3 // 4
    image = np.asarray(Image.open(samples()["house"]).convert("RGB").resize((w, h)))
    mask = np.zeros((h, w), bool)
    mask[h // 4:3 * h // 4, w // 4:3 * w // 4] = True
    return image, mask


def call(mode: str, image: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """The generate arguments that make ``mode``."""
    return {"text2image": {}, "image2image": {"image": image},
            "inpainting": {"image": image, "mask": mask}}[mode]


def fresh(folder: Path, size: int, steps: int, runs: int, image: np.ndarray,
          mask: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Build each class from the folder, alone and with its first generation."""
    import openvino
    import openvino_genai as ov_genai

    from ovnb.sessions.editing import CLASSES

    tensors = {"text2image": (), "image2image": (openvino.Tensor(image[None].copy()),),
               "inpainting": (openvino.Tensor(image[None].copy()),
                              openvino.Tensor((mask * 255).astype(np.uint8)[None, :, :, None]))}
    out: dict[str, dict[str, list[float]]] = {}
    for mode in MODES:
        cls = getattr(ov_genai, CLASSES[mode])
        builds, first = [], []
        for _ in range(runs):
            start = time.perf_counter()
            pipe = cls(str(folder), "CPU")
            builds.append(time.perf_counter() - start)
            pipe.generate(PROMPT, *tensors[mode], width=image.shape[1], height=image.shape[0],
                          num_inference_steps=steps, rng_seed=7)
            first.append(time.perf_counter() - start)
            del pipe
        out[mode] = {"build": builds, "build_and_run": first}
    return out


def shared(folder: Path, size: int, steps: int, runs: int, image: np.ndarray,
           mask: np.ndarray) -> dict[str, Any]:
    """One ImageSession: generations after a mode switch, and repeated in one mode."""
    import openvino_genai as ov_genai

    from ovnb.sessions.image import ImageSession

    session = ImageSession(folder, width=size, height=size, num_inference_steps=steps,
                           rng_seed=7)
    session.live_preview = False  # time the pipelines, not the previews
    start = time.perf_counter()
    pipes = session.wait_loaded().pipe
    load = time.perf_counter() - start
    derive = {m: seconds(lambda m=m: getattr(ov_genai, _class(m))(pipes.root))
              for m in ("text2image", "image2image")}  # what ovnb does once per mode
    for mode in MODES:  # warm up every mode once
        session.generate(PROMPT, **call(mode, image, mask))
    switched: dict[str, list[float]] = {m: [] for m in MODES}
    same: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(runs):
        for mode in MODES:  # each follows the previous mode: a switch every time
            switched[mode].append(seconds(lambda: session.generate(PROMPT, **call(mode, image,
                                                                                  mask))))
        for mode in MODES:  # twice in a row: the second one has no switch
            session.generate(PROMPT, **call(mode, image, mask))
            same[mode].append(seconds(lambda: session.generate(PROMPT, **call(mode, image,
                                                                              mask))))
    if session.last_error:
        raise SystemExit(f"the session failed: {session.last_error}")
    assert session.wait_loaded().pipe is pipes and pipes.builds == 1, "a switch rebuilt"
    return {"load": load, "derive": derive, "switched": switched, "same": same,
            "made": pipes.made}


def _class(mode: str) -> str:
    from ovnb.sessions.editing import CLASSES

    return CLASSES[mode]


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:9.1f} / {min(values) * 1000:9.1f}"


def report(model: str, size: int, steps: int, built: dict[str, Any], one: dict[str, Any]) -> None:
    runs = len(one["same"]["text2image"])
    print(f"{model} at {size} px, {steps} steps, {runs} runs (ms, median / best):")
    print(f"  ovnb: one InpaintingPipeline built and compiled  {one['load'] * 1000:9.1f}")
    for mode, value in one["derive"].items():
        print(f"  ovnb: {mode} pipeline made from it            {value * 1000:9.3f}")
    for mode in MODES:
        print(f"  {mode}:")
        print(f"    fresh build                              {ms(built[mode]['build'])}")
        print(f"    fresh build + first generation           {ms(built[mode]['build_and_run'])}")
        print(f"    shared: generation after a mode switch   {ms(one['switched'][mode])}")
        print(f"    shared: generation, same mode again      {ms(one['same'][mode])}")
        cost = min(one["switched"][mode]) - min(one["same"][mode])
        rebuild = min(built[mode]["build_and_run"]) - min(one["same"][mode])
        print(f"    a switch costs {cost * 1000:+.1f} ms (best); a fresh build instead costs "
              f"{rebuild * 1000:.0f} ms more than a generation")
    print(f"  modes made on the one compiled model set: {', '.join(one['made'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sd")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=64, help="image width (height: 3/4 of it)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    import ovnb

    folder = ovnb.prepare(args.model, cache_dir=args.cache_dir)
    image, mask = inputs(args.size)
    one = shared(folder, args.size, args.steps, args.runs, image, mask)
    built = fresh(folder, args.size, args.steps, max(2, args.runs // 2), image, mask)
    report(args.model, args.size, args.steps, built, one)


if __name__ == "__main__":
    main()
