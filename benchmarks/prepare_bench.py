"""Benchmark of the foundation: import time, prepare times, and int4 against fp16 for SmolLM2.

Prints figures; asserts nothing (these machines are shared and noisy). Run:
    python benchmarks/prepare_bench.py [--cache-dir DIR]
With no --cache-dir a fresh temporary cache is used, so "first prepare" is a real build.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = ("tiny-llm", "tiny-llm-draft", "tiny-whisper", "tiny-sd", "tiny-vlm", "tiny-qwen2-vl",
        "tiny-ltx")
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def import_time(runs: int = 7) -> tuple[float, float]:
    """Median wall times of a bare interpreter start and of ``python -c 'import ovnb'``."""
    def timed(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = statistics.median(timed("pass") for _ in range(runs))
    return bare, statistics.median(timed("import ovnb") for _ in range(runs))


def prepare_times(model_id: str, precision: str | None, cache: Path) -> tuple[float, float, Path]:
    import ovnb

    start = time.perf_counter()
    folder = ovnb.prepare(model_id, precision, cache_dir=cache)
    first = time.perf_counter() - start
    start = time.perf_counter()
    ovnb.prepare(model_id, precision, cache_dir=cache)
    return first, time.perf_counter() - start, folder


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def tokens_per_second(folder: Path, runs: int = 3) -> float:
    """Best-of-``runs`` generation throughput, greedy, 64 new tokens, f32 inference."""
    import openvino_genai as ov_genai

    pipe = ov_genai.LLMPipeline(str(folder), "CPU", INFERENCE_PRECISION_HINT="f32")
    config = ov_genai.GenerationConfig(max_new_tokens=64, min_new_tokens=64)
    pipe.generate(["Warm up."], config)
    rates = []
    for _ in range(runs):
        result = pipe.generate(["Tell me a story about a robot."], config)
        rates.append(result.perf_metrics.get_throughput().mean)
    return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache-dir", type=Path)
    args = parser.parse_args()
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="ovnb-bench-"))
    print(f"cache: {cache}")
    bare, with_ovnb = import_time()
    print(f"python -c pass: {bare * 1000:.0f} ms; python -c 'import ovnb': {with_ovnb * 1000:.0f} ms")
    print(f"{'model':40} {'precision':9} {'first s':>8} {'cached s':>9} {'size MB':>8}")
    folders = {}
    for model_id, precision in [*((t, None) for t in TINY), (SMOL, "fp16"), (SMOL, "int4")]:
        first, cached, folder = prepare_times(model_id, precision, cache)
        folders[(model_id, precision)] = folder
        print(f"{model_id:40} {folder.name:9} {first:8.1f} {cached:9.3f} "
              f"{folder_size(folder) / 1e6:8.1f}")
    fp16, int4 = folders[(SMOL, "fp16")], folders[(SMOL, "int4")]
    rate16, rate4 = tokens_per_second(fp16), tokens_per_second(int4)
    print(f"SmolLM2 int4/fp16 size ratio: {folder_size(int4) / folder_size(fp16):.2f}")
    print(f"SmolLM2 tokens/s: fp16 {rate16:.1f}, int4 {rate4:.1f}, int4/fp16 ratio {rate4 / rate16:.2f}")


if __name__ == "__main__":
    main()
