"""Benchmark of the speech-out and retrieval models: build+export times, pipeline memory and speed.

Prints figures; asserts nothing (these machines are shared and noisy). Run:
    python benchmarks/retrieval_speech_bench.py [--cache-dir DIR] [--speecht5-size]
With no --cache-dir a fresh temporary cache is used, so every prepare is a real build. Each
pipeline is measured in its own child process: resident memory after loading, and the peak while
it works, whose difference is what catalogs.ACTIVATION_GB_PER_BPARAM and WORKING_GB estimate.
tiny-speecht5 also speaks texts of growing length (its memory grows with the speech), and
--speecht5-size builds, exports and measures a random SpeechT5 of microsoft/speecht5_tts's size
(157M with the vocoder; ~10 minutes on 2 busy cores): no real weights are reachable offline.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("tiny-speecht5", "tiny-embed", "tiny-rerank", "sentence-transformers/all-MiniLM-L6-v2")
PASSAGE = ("The river runs past the old mill, where the miller grinds wheat into flour for the "
           "village bakers, who rise before dawn to light their ovens and shape the loaves. ") * 4
CHILD = r"""
import json, sys, time
from pathlib import Path
import numpy as np

def rss():  # (current, peak) resident set in MB, from /proc
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))

import openvino as ov, openvino_genai as g
from ovnb import layout, voices
kind, folder, passage, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
f32 = {"INFERENCE_PRECISION_HINT": "f32"}
base = rss()[0]
if kind == "embedding":
    cfg = layout.embedding_config(Path(folder))
    pooling = g.TextEmbeddingPipeline.PoolingType.__members__[cfg.pop("pooling_type")]
    pipe = g.TextEmbeddingPipeline(folder, "CPU", g.TextEmbeddingPipeline.Config(pooling_type=pooling, **cfg), **f32)
    run = lambda: pipe.embed_documents([passage] * batch)
elif kind == "rerank":
    pipe = g.TextRerankPipeline(folder, "CPU", g.TextRerankPipeline.Config(top_n=4), **f32)
    run = lambda: pipe.rerank("who bakes the bread?", [passage] * 4)  # 5 or more can crash (2026.4.1)
else:
    pipe = g.Text2SpeechPipeline(folder, "CPU", **f32)
    shape = tuple(pipe.get_speaker_embedding_shape())
    voices = voices.speakers(Path(folder))
    speaker = ov.Tensor(voices.read_speaker(next(iter(voices.values())), shape)) if voices else None
    run = lambda: pipe.generate(passage, speaker)
loaded = rss()[0]
run()
start = time.perf_counter(); out = run(); seconds = time.perf_counter() - start
extra = {}
if kind == "text-to-speech":
    extra = {"audio_s": out.speeches[0].shape[1] / out.output_sample_rate}
print(json.dumps({"load_mb": loaded - base, "loaded_mb": loaded, "peak_mb": rss()[1],
                  "run_s": seconds, **extra}))
"""


def measure(task: str, folder: Path, batch: int, text: str | None = None) -> dict[str, float]:
    """Figures of one pipeline in a child process (``text``: what it embeds, ranks or speaks;
    by default a passage of ~150 tokens, or its first sentence to speak)."""
    text = text or (PASSAGE[:200] if task == "text-to-speech" else PASSAGE)
    out = subprocess.run([sys.executable, "-c", CHILD, task, str(folder), text, str(batch)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def speech_lengths(folder: Path) -> None:
    """Working memory of one Text2SpeechPipeline.generate against the length of the speech."""
    for chars in (50, 100, 200, 400):
        figures = measure("text-to-speech", folder, 1, PASSAGE[:chars])
        print(f"  {chars:3} characters: {figures['audio_s']:5.1f} s of speech, working "
              f"+{figures['peak_mb'] - figures['loaded_mb']:5.0f} MB, {figures['run_s']:6.2f} s",
              flush=True)


def full_size_speecht5(root: Path) -> Path:
    """A random SpeechT5ForTextToSpeech + HiFi-GAN with transformers' default configs (the layout
    of microsoft/speecht5_tts and speecht5_hifigan), exported by ovnb's export."""
    import torch
    from transformers import (GenerationConfig, SpeechT5Config, SpeechT5ForTextToSpeech,
                              SpeechT5HifiGan, SpeechT5HifiGanConfig)

    from ovnb.export import export
    from ovnb.sources import tiny_speecht5

    src, out = root / "speecht5-size-src", root / "speecht5-size"
    if (out / "openvino_vocoder.xml").is_file():
        return out
    torch.manual_seed(0)
    tok = tiny_speecht5.make_tokenizer(src)
    config = SpeechT5Config(vocab_size=len(tok), speech_decoder_prenet_dropout=0.0)
    model = SpeechT5ForTextToSpeech(config).eval()
    with torch.no_grad():  # never stop: the speech lasts maxlenratio x tokens, as tiny-speecht5's
        model.speech_decoder_postnet.prob_out.weight.zero_()
        model.speech_decoder_postnet.prob_out.bias.fill_(tiny_speecht5.NEVER_STOP)
    model.generation_config = GenerationConfig(maxlenratio=tiny_speecht5.MAXLENRATIO)
    model.save_pretrained(src)
    tok.save_pretrained(src)
    SpeechT5HifiGan(SpeechT5HifiGanConfig()).eval().save_pretrained(src / "vocoder")
    export(src, out, "text-to-speech", "fp16", {})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--batch", type=int, default=32, help="passages per embed_documents call")
    parser.add_argument("--speecht5-size", action="store_true",
                        help="also build and measure a random SpeechT5 of speecht5_tts's size")
    args = parser.parse_args()
    import ovnb
    from ovnb.layout import kind_of

    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="ovnb-bench-"))
    print(f"cache: {cache}")
    for model_id in MODELS:
        start = time.perf_counter()
        folder = ovnb.prepare(model_id, cache_dir=cache)
        took = time.perf_counter() - start
        manifest = json.loads((folder / "ovnb.json").read_text())
        size = sum(manifest["files"].values()) / 2**20
        task = kind_of(folder)
        figures = measure(task, folder, args.batch)
        entry = ovnb.catalogs.find(model_id)
        work_gb = (figures["peak_mb"] - figures["loaded_mb"]) / 1024
        per_b = work_gb / (entry["params_m"] / 1000)
        line = (f"{model_id:42} {task:15} prepare {took:6.1f} s  folder {size:6.1f} MB  "
                f"load +{figures['load_mb']:5.0f} MB  working +{work_gb * 1024:5.0f} MB "
                f"({per_b:6.2f} GB per B params)  run {figures['run_s'] * 1000:7.1f} ms")
        if "audio_s" in figures:
            rtf = figures["run_s"] / figures["audio_s"]
            line += f"  audio {figures['audio_s']:.2f} s (RTF {rtf:.3f})"
        print(line, flush=True)
        if task == "text-to-speech":
            speech_lengths(folder)
    if args.speecht5_size:
        start = time.perf_counter()
        folder = full_size_speecht5(cache)
        print(f"SpeechT5 of speecht5_tts's size, random: built and exported in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        speech_lengths(folder)


if __name__ == "__main__":
    main()
