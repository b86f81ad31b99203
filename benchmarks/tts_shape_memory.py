"""Benchmark: a speech pipeline's memory as it meets new text lengths, before and after ovnb.

OpenVINO's CPU plugin keeps compiled kernels per input shape; SpeechT5 meets new shapes at each
step of each new text length, so a plain Text2SpeechPipeline that speaks many different
sentences keeps growing (which a 2 GB Binder session cannot afford), while a length seen before
adds nothing. ``ovnb.Speaker``'s session rebuilds its pipeline before new lengths pass a budget
(``ovnb.runtime.shapes``). Speaks ``--lengths`` texts of 1, 2, ... words twice, each setting in
a fresh process, and prints per setting the anonymous memory after loading, at its highest and
at the end, the seconds of each pass (the second: only lengths met before), of the last text
spoken 3 times more (a length met since any rebuild: what must stay as fast) and the rebuilds.
    python benchmarks/tts_shape_memory.py [--model tiny-speecht5 | --full] [--lengths 24]
                                          [--cache-dir DIR] [--explore]
``--full`` builds a random model of microsoft/speecht5_tts's size (transformers' default
SpeechT5Config and HiFi-GAN, ~157M parameters, fp16) into a temporary folder, once.
``--explore`` adds the settings measured before choosing (runtime cache sizes, malloc_trim).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRIMITIVE_CACHE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
# name -> (how: plain | ovnb, OpenVINO properties, environment, malloc_trim after each text)
Setting = tuple[str, dict[str, int], dict[str, str], bool]
SETTINGS: dict[str, Setting] = {
    "plain pipeline (before)": ("plain", {}, {}, False),
    "ovnb Speaker (after)": ("ovnb", {}, {}, False),
}
EXPLORE: dict[str, Setting] = {
    "ovnb, oneDNN cache kept": ("ovnb", {}, {PRIMITIVE_CACHE: "1024"}, False),
    "plain + malloc_trim": ("plain", {}, {}, True),
    **{f"plain, runtime cache {n}": ("plain", {"CPU_RUNTIME_CACHE_CAPACITY": n}, {}, False)
       for n in (0, 500, 1000, 2000)},
}
REPEATS = 3  # times the last text is spoken once more at the end
FULL_FOLDER = Path(tempfile.gettempdir()) / "ovnb-bench-speecht5-full"
WORDS = 4 * ("the quick brown fox jumps over a lazy dog near seven old stone bridges and a river "
         "that runs down to the sea past the harbour wall and the tide clock").split()


def anon_mb() -> int:
    """This process's anonymous resident memory (what a memory cgroup cannot reclaim), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024
    return 0


def build_full(out: Path) -> Path:
    """A random SpeechT5 of microsoft/speecht5_tts's layout, exported (fp16) into ``out/ov``."""
    import torch
    from transformers import (GenerationConfig, SpeechT5Config, SpeechT5ForTextToSpeech,
                              SpeechT5HifiGan, SpeechT5HifiGanConfig)

    from ovnb.export import export
    from ovnb.sources.tiny_speecht5 import MAXLENRATIO, NEVER_STOP, make_tokenizer

    if (out / "ov" / "openvino_decoder_model.xml").is_file():
        return out / "ov"
    torch.manual_seed(0)
    src = out / "src"
    tok = make_tokenizer(src)
    model = SpeechT5ForTextToSpeech(SpeechT5Config(vocab_size=len(tok),
                                                   speech_decoder_prenet_dropout=0.0)).eval()
    with torch.no_grad():  # speak as long as the tiny model does: the same shapes per text
        model.speech_decoder_postnet.prob_out.weight.zero_()
        model.speech_decoder_postnet.prob_out.bias.fill_(NEVER_STOP)
    model.generation_config = GenerationConfig(maxlenratio=MAXLENRATIO, minlenratio=0.0,
                                               threshold=0.5)
    model.save_pretrained(src)
    tok.save_pretrained(src)
    SpeechT5HifiGan(SpeechT5HifiGanConfig()).eval().save_pretrained(src / "vocoder")
    export(src, out / "ov", "text-to-speech", "fp16", {})
    return out / "ov"


def texts(lengths: int) -> list[str]:
    return [" ".join(WORDS[:n]) + "." for n in range(1, lengths + 1)]


def speaker(folder: str, properties: dict[str, int]) -> Any:
    """``say(text)`` on ovnb's SpeakerSession, and the session's pipeline budget."""
    from ovnb.runtime.shapes import budget_of
    from ovnb.sessions.tts import SpeakerSession

    session = SpeakerSession(folder, properties=properties)
    loaded = session.wait_loaded()
    return session.speak, lambda: budget_of(loaded).rebuilds


def plain(folder: str, properties: dict[str, int]) -> Any:
    """``say(text)`` on a bare Text2SpeechPipeline (it never rebuilds)."""
    import openvino_genai as ov_genai

    pipe = ov_genai.Text2SpeechPipeline(folder, "CPU", **properties)
    return pipe.generate, lambda: 0


def child(folder: str, lengths: int, setting: Setting) -> None:
    """One setting: load, speak every length twice, print one JSON line of figures."""
    how, properties, _, trim = setting
    say, rebuilds = (speaker if how == "ovnb" else plain)(folder, properties)
    release = ctypes.CDLL("libc.so.6").malloc_trim if trim else (lambda _: None)
    loaded = peak = anon_mb()
    passes = []
    for _ in range(2):
        start = time.perf_counter()
        for text in texts(lengths):
            say(text)
            release(0)
            peak = max(peak, anon_mb())
        passes.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(REPEATS):  # the length just met: what a rebuild must not slow
        say(texts(lengths)[-1])
    print(json.dumps({"loaded": loaded, "peak": peak, "end": anon_mb(), "first": passes[0],
                      "again": passes[1], "repeat": time.perf_counter() - start,
                      "rebuilds": rebuilds()}))


def run(name: str, setting: Setting, folder: Path, lengths: int) -> None:
    """One setting in a fresh process (its own caches, its environment), one row printed."""
    command = [sys.executable, __file__, "--folder", str(folder), "--lengths", str(lengths),
               "--child", name]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **setting[2]})
    if done.returncode != 0:
        print(f"{name:34} failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:120]}")
        return
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{name:34} {row['loaded']:>9} {row['peak']:>8} {row['end']:>7} {row['first']:>9.1f} "
          f"{row['again']:>8.1f} {row['repeat']:>9.2f} {row['rebuilds']:>8}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-speecht5")
    parser.add_argument("--full", action="store_true",
                        help="a random model of microsoft/speecht5_tts's size, built once")
    parser.add_argument("--lengths", type=int, default=24, help="distinct text lengths to speak")
    parser.add_argument("--cache-dir")
    parser.add_argument("--explore", action="store_true", help="also the settings not chosen")
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a setting's name: run it
    args = parser.parse_args()
    chosen = {**SETTINGS, **(EXPLORE if args.explore or args.child else {})}
    if args.child is not None:
        child(args.folder, args.lengths, chosen[args.child])
        return 0
    if args.full:
        folder, name = build_full(FULL_FOLDER), "random speecht5_tts-size model"
    else:
        from ovnb import prepare

        folder, name = prepare(args.model, cache_dir=args.cache_dir), args.model
    print(f"{name}, {args.lengths} texts of 1 to {args.lengths} words, each spoken twice; "
          "memory: anonymous resident MB")
    print(f"{'setting':34} {'loaded':>9} {'peak':>8} {'end':>7} {'first s':>9} {'again s':>8} "
          f"{'repeat s':>9} {'rebuilds':>8}")
    for label, setting in chosen.items():
        run(label, setting, folder, args.lengths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
