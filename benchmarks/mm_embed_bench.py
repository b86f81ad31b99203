"""Benchmark of tiny-qwen3-vl-embed: build and export times, folder sizes, EmbeddingPipeline speed.

Prints figures; asserts nothing (these machines are shared and noisy). Run:
    python benchmarks/mm_embed_bench.py [--work DIR] [--runs N]
With no --work a fresh temporary folder is used. The build and the export (optimum-intel's
feature-extraction task through ovnb.export, fp16 weights) run here; the pipeline is measured in a
child process (memory after loading and at its peak), in f32 and at the CPU's default precision:
load time, then the median of --runs calls embedding one text, one image (the bundled sailboat
photo, 320x240), one 8-frame video (the bundled clip through ovnb.video.load_video) and a batch
of 8 texts, after one warm-up call each.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, statistics, sys, time
from pathlib import Path
import numpy as np

def rss():  # (current, peak) resident set in MB, from /proc
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))

import openvino as ov, openvino_genai as g
from PIL import Image
from ovnb import layout
from ovnb.video import load_video, samples
folder, runs, precision = sys.argv[1], int(sys.argv[2]), sys.argv[3]
props = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "f32" else {}
base = rss()[0]
start = time.perf_counter()
pipe = g.EmbeddingPipeline(folder, "CPU", **props)
load_s = time.perf_counter() - start
loaded = rss()[0]
photo = Image.open(Path(layout.__file__).parent / "data" / "images" / "sailboat.png").convert("RGB")
image = ov.Tensor(np.ascontiguousarray(np.asarray(photo)))
clip = load_video(samples()["sailboat"])
calls = {
    "1 text": lambda: pipe.embed("find the photo of the red boat"),
    "1 image": lambda: pipe.embed("", images=[image]),
    "1 video (8 frames)": lambda: pipe.embed("", videos=[clip.tensor()],
                                             videos_metadata=[clip.metadata()]),
    "8 texts": lambda: pipe.embed([f"text number {i} about a boat" for i in range(8)]),
}
figures = {}
for name, call in calls.items():
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
    figures[name] = statistics.median(times) * 1000
print(json.dumps({"load_s": load_s, "load_mb": loaded - base, "peak_mb": rss()[1], "ms": figures}))
"""


def size_kb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the build and the export")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mm-embed-bench-"))
    src, out = work / "src", work / "ov"
    from ovnb.export import export
    from ovnb.sources import tiny_qwen3_vl_embed

    start = time.perf_counter()
    tiny_qwen3_vl_embed.build("tiny-qwen3-vl-embed", src)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    export(src, out, "vision-chat", "fp16", {"task": "feature-extraction"})
    export_s = time.perf_counter() - start
    print(f"build {build_s:.1f} s, export {export_s:.1f} s; "
          f"source {size_kb(src):.0f} kB, exported {size_kb(out):.0f} kB")
    for precision in ("f32", "default"):
        child = subprocess.run([sys.executable, "-c", CHILD, str(out), str(args.runs), precision],
                               capture_output=True, text=True, check=True)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        calls = ", ".join(f"{name} {ms:.1f} ms" for name, ms in figures["ms"].items())
        print(f"{precision}: load {figures['load_s']:.2f} s (+{figures['load_mb']:.0f} MB, "
              f"peak {figures['peak_mb']:.0f} MB); median of {args.runs}: {calls}")


if __name__ == "__main__":
    main()
