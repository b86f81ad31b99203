"""Benchmark: a speech pipeline's memory as it meets new text lengths, before and after ovnb.

OpenVINO's CPU plugin keeps compiled kernels and buffers per input shape; SpeechT5 meets new
shapes at each decoder step and its vocoder one per text length, so a plain Text2SpeechPipeline
that speaks many different sentences keeps growing (which a 2 GB Binder session cannot afford),
while a length seen before adds nothing and runs faster. ``ovnb.Speaker`` builds a CPU pipeline
without the plugin's runtime cache (``ovnb.families.SPEECH_OUT_CPU``), and ovnb prepares SpeechT5
with a vocoder that works in windows of frames (``ovnb.vocoder``) and a decoder that runs its
prenet on the newest frame only (``ovnb.prenet``); the settings marked "as exported" run on a copy
of the folder with both models as exported (before). Two workloads, each
setting in a fresh process; memory is anonymous resident MB after loading, at its highest (read
every 20 ms) and at the end:
- ``lengths``: texts of 1, 2, ... ``--lengths`` words, twice (the second pass meets only lengths
  seen before), then the last text ``REPEATS`` times more (a length just met): seconds of each.
- ``text``: one text of ``--chars`` characters (sentences of 4-30 words, seed 0), as ovnb speaks
  it (``sentences.split``, one call per sentence) and as the plain pipeline would, call by call.
    python benchmarks/tts_shape_memory.py [--model tiny-speecht5 | --full [--weights int8]]
                                          [--f32] [--workload lengths|text] [--lengths 24]
                                          [--chars 10000] [--cache-dir DIR] [--explore]
                                          [--only SETTING ...]
``--full`` builds a random model of microsoft/speecht5_tts's size (transformers' default
SpeechT5Config and HiFi-GAN, ~157M parameters, fp16 or ``--weights int8``) into a temporary
folder, once. ``--f32`` runs every setting in f32 (else the CPU's default: bf16 where it has it,
which halves the weights).
``--explore`` adds settings measured before choosing (runtime cache sizes, malloc_trim).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRIMITIVE_CACHE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
# name -> (how: plain | ovnb, OpenVINO properties, environment, malloc_trim after each text,
#          on the vocoder and decoder as exported rather than as ovnb rewrites them)
Setting = tuple[str, dict[str, int], dict[str, str], bool, bool]
SETTINGS: dict[str, Setting] = {
    "plain pipeline (before)": ("plain", {}, {}, False, True),
    "ovnb Speaker, models as exported": ("ovnb", {}, {}, False, True),
    "ovnb Speaker (after)": ("ovnb", {}, {}, False, False),
}
EXPLORE: dict[str, Setting] = {
    **{f"ovnb, runtime cache {n}": ("ovnb", {"CPU_RUNTIME_CACHE_CAPACITY": n}, {}, False, False)
       for n in (100, 200, 1000, 2000, 5000)},  # 5000: OpenVINO's default
    "ovnb, oneDNN cache off too": ("ovnb", {}, {PRIMITIVE_CACHE: "0"}, False, False),
    "plain + malloc_trim": ("plain", {}, {}, True, True),
    **{f"plain, runtime cache {n}": ("plain", {"CPU_RUNTIME_CACHE_CAPACITY": n}, {}, False, True)
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


def build_full(out: Path, weights: str = "fp16") -> Path:
    """A random SpeechT5 of microsoft/speecht5_tts's layout, exported with ``weights`` (fp16 or
    int8) into ``out/ov`` (fp16) or ``out/ov-int8``; the source is built once for both."""
    from ovnb.export import export
    from ovnb.prenet import rewrite_decoder
    from ovnb.vocoder import window_vocoder

    folder = out / ("ov" if weights == "fp16" else f"ov-{weights}")
    if (folder / "openvino_decoder_model.xml").is_file():
        window_vocoder(folder)  # a build from before ovnb windowed vocoders
        rewrite_decoder(folder)  # or before its decoder's prenet ran on the last frame only
        return folder
    src = out / "src"
    if not (src / "vocoder").is_dir():
        build_source(src)
    export(src, folder, "text-to-speech", weights, {})
    return folder


def build_source(src: Path) -> None:
    """The random model's transformers folder, its HiFi-GAN in ``vocoder/`` (seed 0)."""
    import torch
    from transformers import (GenerationConfig, SpeechT5Config, SpeechT5ForTextToSpeech,
                              SpeechT5HifiGan, SpeechT5HifiGanConfig)

    from ovnb.sources.tiny_speecht5 import MAXLENRATIO, NEVER_STOP, make_tokenizer

    torch.manual_seed(0)
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


def as_exported(folder: Path) -> Path:
    """A copy of ``folder`` (links to its files) whose vocoder is the network ovnb windowed and
    whose decoder runs its prenet over every frame again; without ovnb's manifest, whose file
    sizes are the rewritten ones."""
    import openvino as ov

    from ovnb import prenet, vocoder

    copy = Path(tempfile.gettempdir()) / f"ovnb-bench-as-exported-{zlib.crc32(bytes(folder))}"
    copy.mkdir(exist_ok=True)
    undo = {vocoder.FILE: vocoder.whole if vocoder.is_windowed(folder) else None,
            prenet.FILE: prenet.every_frame if prenet.is_rewritten(folder) else None}
    for path in folder.iterdir():
        if (not path.name.startswith(("openvino_vocoder.", "openvino_decoder_model.", "ovnb.json"))
                and not (copy / path.name).exists()):
            (copy / path.name).symlink_to(path.resolve())
    for name, back in undo.items():
        model = ov.Core().read_model(folder / name)
        ov.save_model(back(model) if back else model, copy / name, compress_to_fp16=False)
    return copy


def texts(lengths: int) -> list[str]:
    return [" ".join(WORDS[:n]) + "." for n in range(1, lengths + 1)]


def long_text(chars: int) -> str:
    """Sentences of 4 to 30 words drawn from WORDS (seed 0) until ``chars`` characters."""
    rng, parts, total = random.Random(0), [], 0
    while total < chars:
        part = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))).capitalize() + "."
        parts.append(part)
        total += len(part) + 1
    return " ".join(parts)


def speaker(folder: str, properties: dict[str, int]) -> Any:
    """``say(text)`` on ovnb's SpeakerSession (which speaks a text sentence by sentence)."""
    from ovnb.sessions.tts import SpeakerSession

    session = SpeakerSession(folder, properties=properties)
    session.wait_loaded()
    return session.speak


def plain(folder: str, properties: dict[str, int]) -> Any:
    """``say(text)`` on a bare Text2SpeechPipeline, one call per sentence as ovnb makes them."""
    import openvino_genai as ov_genai

    from ovnb.sentences import split

    pipe = ov_genai.Text2SpeechPipeline(folder, "CPU", **properties)
    return lambda text: [pipe.generate(part) for part in split(text)]


class Peak:
    """The highest anonymous memory seen, read every 20 ms on a thread (calls can be long)."""

    def __init__(self) -> None:
        self.mb, self._done = anon_mb(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.wait(0.02):
            self.mb = max(self.mb, anon_mb())

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return max(self.mb, anon_mb())


def child(folder: str, args: argparse.Namespace, setting: Setting) -> None:
    """One setting: load, run the workload, print one JSON line of figures."""
    how, properties, _, trim, _ = setting
    say = (speaker if how == "ovnb" else plain)(folder, {**properties, **precision(args)})
    release = ctypes.CDLL("libc.so.6").malloc_trim if trim else (lambda _: None)
    loaded, peak = anon_mb(), Peak()
    figures: dict[str, float] = {}
    if args.workload == "text":
        start = time.perf_counter()
        say(long_text(args.chars))
        figures["seconds"] = time.perf_counter() - start
    else:
        for name in ("first", "again"):
            start = time.perf_counter()
            for text in texts(args.lengths):
                say(text)
                release(0)
            figures[name] = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(REPEATS):  # the length just met
            say(texts(args.lengths)[-1])
        figures["repeat"] = time.perf_counter() - start
    print(json.dumps({"loaded": loaded, "peak": peak.stop(), "end": anon_mb(), **figures}))


def precision(args: argparse.Namespace) -> dict[str, str]:
    return {"INFERENCE_PRECISION_HINT": "f32"} if args.f32 else {}


def run(name: str, setting: Setting, folder: Path, args: argparse.Namespace) -> None:
    """One setting in a fresh process (its own caches, its environment), one row printed."""
    if setting[4]:
        folder = as_exported(folder)
    command = [sys.executable, __file__, "--folder", str(folder), "--lengths", str(args.lengths),
               "--chars", str(args.chars), "--workload", args.workload, "--child", name,
               *(["--f32"] if args.f32 else [])]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **setting[2]})
    if done.returncode != 0:
        print(f"{name:34} failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:120]}")
        return
    row = json.loads(done.stdout.strip().splitlines()[-1])
    times = (f"{row['seconds']:>9.1f}" if args.workload == "text" else
             f"{row['first']:>9.1f} {row['again']:>8.1f} {row['repeat']:>9.2f}")
    print(f"{name:34} {row['loaded']:>9} {row['peak']:>8} {row['end']:>7} {times}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-speecht5")
    parser.add_argument("--full", action="store_true",
                        help="a random model of microsoft/speecht5_tts's size, built once")
    parser.add_argument("--f32", action="store_true", help="f32 (else the CPU's default)")
    parser.add_argument("--weights", choices=("fp16", "int8"), default="fp16",
                        help="--full: the export's weights (int8: NNCF's, as ovnb's int8)")
    parser.add_argument("--workload", choices=("lengths", "text"), default="lengths")
    parser.add_argument("--lengths", type=int, default=24, help="distinct text lengths to speak")
    parser.add_argument("--chars", type=int, default=10_000, help="the text workload's length")
    parser.add_argument("--cache-dir")
    parser.add_argument("--explore", action="store_true", help="also the settings not chosen")
    parser.add_argument("--only", nargs="+", metavar="SETTING", help="run only these settings")
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a setting's name: run it
    args = parser.parse_args()
    chosen = {**SETTINGS, **(EXPLORE if args.explore or args.child or args.only else {})}
    if args.only:
        unknown = [name for name in args.only if name not in chosen]
        if unknown:
            parser.error(f"no setting {unknown[0]!r}: choose from {', '.join(chosen)}")
        chosen = {name: chosen[name] for name in args.only}
    if args.child is not None:
        child(args.folder, args, chosen[args.child])
        return 0
    if args.full:
        folder = build_full(FULL_FOLDER, args.weights)
        name = f"random speecht5_tts-size model ({args.weights} weights)"
    else:
        from ovnb import prepare

        folder, name = prepare(args.model, cache_dir=args.cache_dir), args.model
    what = (f"one text of {args.chars} characters" if args.workload == "text" else
            f"{args.lengths} texts of 1 to {args.lengths} words, each spoken twice")
    print(f"{name}, {'f32' if args.f32 else 'default precision'}, {what}; memory: anonymous "
          "resident MB")
    times = ("seconds" if args.workload == "text" else "first s  again s  repeat s")
    print(f"{'setting':34} {'loaded':>9} {'peak':>8} {'end':>7}  {times}")
    for label, setting in chosen.items():
        run(label, setting, folder, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
