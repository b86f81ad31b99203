"""Soak: 300 chat turns and 50 images in one Jupyter kernel; does resident memory keep growing?

Chat (tiny-llm) answers through ``Chat.send`` with ``clear()`` every few turns (so the history stays
inside the model's context), and ImageGenerator (tiny-sd) draws through ``generate``, interleaved,
after a warm-up that fills the pipelines' buffers and the gallery (it keeps 8 results). Resident
memory is read from /proc/self/status (VmRSS) after the warm-up, along the way and at the end.
Target: under 10% growth after warm-up. Prints figures, asserts nothing.

    python benchmarks/soak.py [--turns 300] [--images 50] [--cache-dir DIR] [--in-process]

The kernel is real (jupyter_client), so widget updates are serialized and sent as in a notebook;
``--in-process`` runs the same code in this Python process instead.
"""
from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path


def rss_mb() -> float:
    """Resident memory of this process, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Soak:
    """A Chat and an ImageGenerator driven as a long notebook session drives them."""

    def __init__(self, cache_dir: str | None, clear_every: int) -> None:
        import ovnb

        self.chat = ovnb.Chat(ovnb.prepare("tiny-llm", cache_dir=cache_dir), max_new_tokens=32,
                              repetition_penalty=1.0)
        self.gen = ovnb.ImageGenerator(ovnb.prepare("tiny-sd", cache_dir=cache_dir), width=64,
                                       height=64, num_inference_steps=4)
        self.clear_every = clear_every
        self.turns = self.images = self.errors = 0

    def run(self, turns: int, images: int) -> None:
        """``turns`` chat turns with ``images`` images spread evenly among them."""
        for turn in range(turns):
            self.turn()
            for _ in range((turn + 1) * images // turns - turn * images // turns):
                self.image()
            if self.turns % 50 == 0:
                print(f"  {self.turns:4d} turns {self.images:3d} images: {rss_mb():7.1f} MB",
                      flush=True)

    def turn(self) -> None:
        if self.turns % self.clear_every == 0:  # keeps the history inside tiny-llm's context
            self.chat.clear()
        answer = self.chat.send(f"Question {self.turns}: tell me about lighthouses")
        self.turns += 1
        self.errors += not answer

    def image(self) -> None:
        image = self.gen.generate(f"a lighthouse at night, number {self.images}",
                                  rng_seed=self.images)
        self.images += 1
        self.errors += image is None


def soak(turns: int, images: int, clear_every: int, warm_turns: int, warm_images: int,
         cache_dir: str | None) -> dict:
    """Warm up, then ``turns`` chat turns and ``images`` images; the memory figures."""
    start, before = time.perf_counter(), rss_mb()
    session = Soak(cache_dir, clear_every)
    session.run(warm_turns, warm_images)
    gc.collect()
    warm = rss_mb()
    print(f"  warm-up: {warm_turns} turns, {warm_images} images: {before:.1f} -> {warm:.1f} MB",
          flush=True)
    session.run(turns, images)
    gc.collect()
    end = rss_mb()
    return {"start_mb": before, "warm_mb": warm, "end_mb": end,
            "growth_pct": 100 * (end - warm) / warm, "turns": turns, "images": images,
            "errors": session.errors, "seconds": time.perf_counter() - start,
            "gallery": len(session.gen.results)}


def report(r: dict) -> None:
    verdict = "within" if r["growth_pct"] < 10 else "OVER"
    print(f"turns {r['turns']} · images {r['images']} · errors {r['errors']} · "
          f"{r['seconds']:.0f} s in all")
    print(f"resident memory: start {r['start_mb']:.1f} MB · after warm-up {r['warm_mb']:.1f} MB · "
          f"end {r['end_mb']:.1f} MB")
    print(f"growth after warm-up: {r['growth_pct']:+.1f}% ({verdict} the 10% target)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--clear-every", type=int, default=10)
    parser.add_argument("--warm-turns", type=int, default=30)
    parser.add_argument("--warm-images", type=int, default=10, help="at least the gallery's 8")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    params = (args.turns, args.images, args.clear_every, args.warm_turns, args.warm_images,
              args.cache_dir)
    if args.in_process:
        report(soak(*params))
        return
    from jupyter_client.manager import start_new_kernel
    from kernel import execute  # benchmarks/kernel.py; not at the top: the kernel runs this file too

    manager, client = start_new_kernel()
    try:  # the same functions, defined in the kernel from this very file
        here = str(Path(__file__).resolve())
        execute(client, f"import json, runpy; soak = runpy.run_path({here!r})['soak']",
                timeout=3600, echo=True)
        out = execute(client, f"print(json.dumps(soak{params!r}))", timeout=3600, echo=True)
        report(json.loads(out.strip().splitlines()[-1]))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
