"""Benchmark: what moving a LoRA slider costs, against rebuilding the pipeline.

For tiny-llm (Chat) and tiny-sd (ImageGenerator), both with their two adapters in a LoraMixer:
- the time of a generation right after a slider change, against the same generation with no change
  (runs interleaved; median and best of the runs), so the difference is what the change costs;
- the time to build the pipeline again with the adapters registered (what a widget without
  per-call strengths would have to do for each change), alone and with its first generation.
Prints figures, asserts nothing.
    python benchmarks/lora_bench.py [--runs 7] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
PROMPTS = {"tiny-llm": "Tell me about lighthouses.", "tiny-sd": "a red cat on a blue sea"}


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def widget_for(model: str, folder: Path, mixer: Any) -> tuple[Any, str, Callable[[], Any]]:
    """The widget, its pipeline kind, and one generation through it (the same every time)."""
    import ovnb

    if model == "tiny-llm":
        chat = ovnb.Chat(folder, adapters=mixer, properties=F32, max_new_tokens=32,
                         min_new_tokens=32, repetition_penalty=1.0)

        def answer() -> Any:
            chat.clear()
            return chat.send(PROMPTS[model])

        return chat, "chat", answer
    image = ovnb.ImageGenerator(folder, adapters=mixer, properties=F32, width=64, height=64,
                                num_inference_steps=8, rng_seed=7)
    image.preview_interval = 10.0  # no live previews: time the pipeline, not the preview
    return image, "image", lambda: image.generate(PROMPTS[model])


def measure(model: str, runs: int, cache_dir: str | None) -> dict[str, float]:
    import ovnb
    from ovnb import lora
    from ovnb.runtime import construct

    folder = ovnb.prepare(model, cache_dir=cache_dir)
    files = ovnb.adapters(model, cache_dir=cache_dir)
    mixer = ovnb.LoraMixer(files)
    widget, kind, run = widget_for(model, folder, mixer)
    pipe = widget.wait_loaded().pipe
    run(), run()  # warm up
    same, changed = [], []
    for i in range(runs):
        same.append(seconds(run))
        mixer.set(files[i % len(files)], (0.3, 0.8)[i % 2])  # a slider moves
        changed.append(seconds(run))
        if widget.last_error:
            raise SystemExit(f"{model}: {widget.last_error}")
    assert widget.wait_loaded().pipe is pipe, "a slider change rebuilt the pipeline"

    def rebuild() -> Any:
        return construct(kind, folder, "CPU", F32, **lora.build_kwargs(files, kind, {}))

    builds, first = [], []
    for _ in range(max(3, runs // 2)):
        builds.append(seconds(rebuild))
        start = time.perf_counter()
        _first_generation(rebuild(), kind, PROMPTS[model])  # what a rebuild per change costs
        first.append(time.perf_counter() - start)
    return {"same": same, "changed": changed, "rebuild": builds, "rebuild_and_run": first}


def _first_generation(pipe: Any, kind: str, prompt: str) -> None:
    if kind == "chat":
        config = pipe.get_generation_config()
        config.max_new_tokens = config.min_new_tokens = 32
        pipe.generate(prompt, config)
    else:
        pipe.generate(prompt, width=64, height=64, num_inference_steps=8, rng_seed=7)


def report(model: str, m: dict[str, list[float]]) -> None:
    """Median and best of the runs (the machine may be shared: best is the least disturbed)."""
    med = {k: statistics.median(v) * 1000 for k, v in m.items()}
    best = {k: min(v) * 1000 for k, v in m.items()}
    print(f"{model} ({len(m['same'])} runs; ms, median / best):")
    rows = [("generation, sliders unchanged", "same"), ("generation after a slider move", "changed"),
            ("rebuilding the pipeline", "rebuild"), ("rebuild + its first generation",
                                                     "rebuild_and_run")]
    for label, key in rows:
        print(f"  {label:<32} {med[key]:8.1f} / {best[key]:8.1f}")
    cost, low = med["changed"] - med["same"], best["changed"] - best["same"]
    print(f"  a slider move costs {cost:+.1f} ms median, {low:+.1f} ms best "
          f"({low / best['same']:+.1%} of a generation); a rebuild costs "
          f"{best['rebuild_and_run'] - best['same']:.0f} ms best "
          f"({best['rebuild_and_run'] / best['same']:.1f}× a generation)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--models", nargs="+", default=list(PROMPTS))
    args = parser.parse_args()
    for model in args.models:
        report(model, measure(model, args.runs, args.cache_dir))


if __name__ == "__main__":
    main()
