"""Benchmark: how a Text2SpeechPipeline's memory grows with each new text length, on CPU.

OpenVINO's CPU plugin keeps compiled kernels per input shape (its runtime cache, up to
``CPU_RUNTIME_CACHE_CAPACITY`` entries); a speech pipeline sees a new shape for each new text
length, so a session that speaks many different sentences keeps growing (which a 2 GB Binder
session cannot afford), while a text of a length seen before adds nothing. Speaks ``--lengths``
texts of 1, 2, ... words twice, each setting in a fresh process, and prints per setting the
anonymous memory at the end and the seconds of each pass (the second pass: only seen lengths).
    python benchmarks/tts_shape_memory.py [--model tiny-speecht5] [--lengths 24] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETTINGS: dict[str, dict[str, int]] = {
    "default": {},
    "CPU_RUNTIME_CACHE_CAPACITY 50": {"CPU_RUNTIME_CACHE_CAPACITY": 50},
    "CPU_RUNTIME_CACHE_CAPACITY 0": {"CPU_RUNTIME_CACHE_CAPACITY": 0},
}
WORDS = ("the quick brown fox jumps over a lazy dog near seven old stone bridges and a river "
         "that runs down to the sea past the harbour wall and the tide clock").split()


def anon_mb() -> int:
    """This process's anonymous resident memory (what a memory cgroup cannot reclaim), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024
    return 0


def child(model: str, lengths: int, properties: dict[str, int], cache_dir: str | None) -> None:
    """One setting: load, speak every length twice, print one JSON line of figures."""
    import openvino_genai as ov_genai

    from ovnb import prepare

    pipe = ov_genai.Text2SpeechPipeline(str(prepare(model, cache_dir=cache_dir)), "CPU",
                                        **properties)
    loaded = anon_mb()
    texts = [" ".join((WORDS * 2)[:n]) + "." for n in range(1, lengths + 1)]
    passes = []
    for _ in range(2):
        start = time.perf_counter()
        for text in texts:
            pipe.generate(text)
        passes.append(time.perf_counter() - start)
    print(json.dumps({"loaded": loaded, "end": anon_mb(), "first": passes[0],
                      "again": passes[1]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-speecht5")
    parser.add_argument("--lengths", type=int, default=24, help="distinct text lengths to speak")
    parser.add_argument("--cache-dir")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON properties: run one setting
    args = parser.parse_args()
    if args.child is not None:
        child(args.model, args.lengths, json.loads(args.child), args.cache_dir)
        return 0
    print(f"{args.model}, {args.lengths} texts of 1 to {args.lengths} words, each spoken twice")
    print(f"{'setting':32} {'loaded MB':>10} {'end MB':>8} {'first pass s':>13} {'again s':>8}")
    for name, properties in SETTINGS.items():
        command = [sys.executable, __file__, "--model", args.model, "--lengths",
                   str(args.lengths), "--child", json.dumps(properties)]
        if args.cache_dir:
            command += ["--cache-dir", args.cache_dir]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name:32} failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:120]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name:32} {row['loaded']:>10} {row['end']:>8} {row['first']:>13.1f} "
              f"{row['again']:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
