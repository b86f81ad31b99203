"""Benchmark: which generation settings keep a small model's answers free of loops.

Asks SmolLM2-135M-Instruct (int4, prepared offline) every chat question the notebooks ask
(tests/test_generation.py lists them), each conversation from scratch, with each candidate
setting, and counts the answers that loop (``ovnb.generation.repetition``): one phrase said over
and over. Each candidate starts from the settings a Chat starts with (ovnb's LLMSettings), as a
learner's chat would. Answers depend on the inference precision (this CPU's default may be bf16,
elsewhere f32) and, when sampling, on the seed: both are pinned (``--precision``, ``--seeds``;
seed 0 is GenerationConfig's own ``rng_seed``). Prints, per candidate, precision and seed:
looping answers, answers that run words together (gibberish: avoiding a loop that way is no
better), tokens generated, seconds; then a table with the bf16/f32 time ratio (both measured in
this run). Timings move with whatever else the CPU runs: compare them within one quiet run.
``--show`` prints every answer too. Figures only: nothing is asserted.
    python benchmarks/generation_bench.py [--precision f32|bf16|both] [--seeds 0 1] [--show]
        [--only TEXT...] [--max-new-tokens 512] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CARD = {"do_sample": True, "temperature": 0.2, "top_p": 0.9}  # the model card's example
GREEDY = {"do_sample": False}
CANDIDATES: dict[str, dict[str, Any]] = {
    "greedy, rp 1.1 (the Chat's old settings)": {**GREEDY, "repetition_penalty": 1.1},
    "greedy, rp 1.1, presence 0.5": {**GREEDY, "repetition_penalty": 1.1, "presence_penalty": 0.5},
    "greedy, rp 1.1, frequency 0.5": {**GREEDY, "repetition_penalty": 1.1,
                                      "frequency_penalty": 0.5},
    "greedy, rp 1.1, frequency 0.3": {**GREEDY, "repetition_penalty": 1.1,
                                      "frequency_penalty": 0.3},
    "greedy, rp 1.1, frequency 0.2": {**GREEDY, "repetition_penalty": 1.1,
                                      "frequency_penalty": 0.2},
    "greedy, rp 1.1, presence 0.5, frequency 0.2": {**GREEDY, "repetition_penalty": 1.1,
                                                    "presence_penalty": 0.5,
                                                    "frequency_penalty": 0.2},
    "greedy, no rp, frequency 0.5": {**GREEDY, "repetition_penalty": 1.0,
                                     "frequency_penalty": 0.5},
    "greedy, rp 1.2": {**GREEDY, "repetition_penalty": 1.2},
    "card, rp 1.1": {**CARD, "repetition_penalty": 1.1},
    "card, rp 1.1, presence 0.5 (the catalog's before)": {**CARD, "repetition_penalty": 1.1,
                                                          "presence_penalty": 0.5},
    "card, rp 1.1, presence 1.0": {**CARD, "repetition_penalty": 1.1, "presence_penalty": 1.0},
    "card, rp 1.1, frequency 0.3": {**CARD, "repetition_penalty": 1.1, "frequency_penalty": 0.3},
    "card, rp 1.1, presence 0.5, frequency 0.3": {**CARD, "repetition_penalty": 1.1,
                                                  "presence_penalty": 0.5,
                                                  "frequency_penalty": 0.3},
    "card, rp 1.1, presence 1.0, frequency 0.1": {**CARD, "repetition_penalty": 1.1,
                                                  "presence_penalty": 1.0,
                                                  "frequency_penalty": 0.1},
    "card, rp 1.1, presence 0.5, frequency 0.05": {**CARD, "repetition_penalty": 1.1,
                                                   "presence_penalty": 0.5,
                                                   "frequency_penalty": 0.05},
    "card, rp 1.1, presence 0.8": {**CARD, "repetition_penalty": 1.1, "presence_penalty": 0.8},
    "card, rp 1.1, presence 0.5, frequency 0.1 (the catalog's now)":
        {**CARD, "repetition_penalty": 1.1, "presence_penalty": 0.5, "frequency_penalty": 0.1},
    "card, rp 1.1, presence 0.5, frequency 0.15": {**CARD, "repetition_penalty": 1.1,
                                                   "presence_penalty": 0.5,
                                                   "frequency_penalty": 0.15},
    "card, rp 1.1, presence 0.5, frequency 0.2": {**CARD, "repetition_penalty": 1.1,
                                                  "presence_penalty": 0.5,
                                                  "frequency_penalty": 0.2},
    "card, rp 1.15, presence 0.5": {**CARD, "repetition_penalty": 1.15, "presence_penalty": 0.5},
    "card at temperature 0.4, rp 1.1, presence 0.5": {**CARD, "temperature": 0.4,
                                                      "repetition_penalty": 1.1,
                                                      "presence_penalty": 0.5},
    "card, no rp, presence 0.5": {**CARD, "repetition_penalty": 1.0, "presence_penalty": 0.5},
    "card, no rp, presence 0.5, frequency 0.3": {**CARD, "repetition_penalty": 1.0,
                                                 "presence_penalty": 0.5,
                                                 "frequency_penalty": 0.3},
    "card, rp 1.2": {**CARD, "repetition_penalty": 1.2},
    "card, rp 1.2, presence 0.5": {**CARD, "repetition_penalty": 1.2, "presence_penalty": 0.5},
    "card, rp 1.1, presence 0.5, top_k 20": {**CARD, "repetition_penalty": 1.1,
                                             "presence_penalty": 0.5, "top_k": 20},
    "card, rp 1.1, presence 0.5, min_p 0.1 (a Chat has no min_p)":
        {**CARD, "repetition_penalty": 1.1, "presence_penalty": 0.5, "min_p": 0.1},
    "catalog defaults (ovnb.generation.defaults)": {},
}
PRECISIONS = ("f32", "bf16")
LETTERS = re.compile(r"[A-Za-z]+")
RUN_TOGETHER = 25  # letters: longer than English words SmolLM2 writes whole


@dataclass
class Tally:
    """One candidate's figures at one precision and seed."""

    loops: int = 0
    garbled: int = 0  # answers that run words together: a loop avoided by gibberish is no better
    tokens: int = 0
    seconds: float = 0.0


def learner_settings(candidate: dict[str, Any], tokens: int) -> dict[str, Any]:
    """What a Chat would generate with: its own starting settings under the candidate's (a
    candidate without repetition_penalty still gets the Chat's 1.1, as a learner would)."""
    from ovnb.sessions.chat import ASSISTANT, LLMSettings

    start = {k: v for k, v in LLMSettings().settings().items() if k not in ASSISTANT}
    return {**start, **candidate, "max_new_tokens": tokens}


def run_together(text: str) -> bool:
    """Whether ``text`` holds a "word" of 25 letters or more: penalties that grow with each use
    of a token end long answers in words run together ("twentiethnineteenthfifteen...")."""
    return any(len(word) >= RUN_TOGETHER for word in LETTERS.findall(text))


def run(pipe: Any, settings: dict[str, Any], show: bool) -> Tally:
    """Looping answers, generated tokens and seconds over the notebooks' conversations."""
    import openvino_genai as ov_genai

    from ovnb.generation import repetition
    from ovnb.sessions.settings import apply_to
    from tests.test_generation import QUESTIONS

    tally, start = Tally(), time.perf_counter()
    for notebook, conversation, _ in QUESTIONS:
        history = ov_genai.ChatHistory()
        for question in conversation:
            history.append({"role": "user", "content": question})
            result = pipe.generate(history, apply_to(pipe.get_generation_config(), settings))
            answer = result.texts[0]
            history.append({"role": "assistant", "content": answer})
            tally.tokens += result.perf_metrics.get_num_generated_tokens()
            loop = repetition(answer)
            tally.loops += loop is not None
            tally.garbled += run_together(answer)
            if show:
                print(f"  [{notebook}] {question!r}{' LOOP ' + str(loop) if loop else ''}\n"
                      f"    {answer!r}", flush=True)
    tally.seconds = time.perf_counter() - start
    return tally


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=[*PRECISIONS, "both"], default="both",
                        help="INFERENCE_PRECISION_HINT to run at (both: f32, then bf16)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="GenerationConfig.rng_seed values (0: genai's default)")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="run only the candidates whose name contains one of these")
    parser.add_argument("--show", action="store_true", help="print every answer")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--cache-dir")
    return parser.parse_args()


def summary(results: dict[tuple[str, str, int], Tally], answers: int) -> None:
    """One row per candidate, per precision (f32 bf16): loops and answers run together (per seed,
    a/b/c), tokens and seconds (summed over seeds), and the bf16/f32 time ratio."""
    print(f"\n{'loops':>15} {'run together':>15} {'tokens':>12} {'seconds':>10} {'bf16/f32':>8}"
          f"  candidate ({answers} answers per precision and seed)")
    for name in dict.fromkeys(n for n, _, _ in results):
        cells: dict[str, list[Tally]] = {}
        for (n, precision, _), tally in results.items():
            if n == name:
                cells.setdefault(precision, []).append(tally)
        seconds = {p: sum(t.seconds for t in ts) for p, ts in cells.items()}
        ratio = f"{seconds['bf16'] / seconds['f32']:.2f}" if len(seconds) == 2 else "-"
        print(f"{_per_seed(cells, 'loops'):>15} {_per_seed(cells, 'garbled'):>15} "
              f"{' '.join(str(sum(t.tokens for t in ts)) for ts in cells.values()):>12} "
              f"{' '.join(f'{s:.0f}' for s in seconds.values()):>10} {ratio:>8}  {name}")


def _per_seed(cells: dict[str, list[Tally]], field: str) -> str:
    return " ".join("/".join(str(getattr(t, field)) for t in ts) for ts in cells.values())


def main() -> int:
    args = parse()
    import openvino as ov
    import openvino_genai as ov_genai

    import ovnb
    from ovnb import generation
    from tests.test_generation import QUESTIONS

    folder = ovnb.prepare(MODEL, precision="int4", cache_dir=args.cache_dir)
    precisions = PRECISIONS if args.precision == "both" else (args.precision,)
    chosen = {n: c for n, c in CANDIDATES.items()
              if not args.only or any(o in n for o in args.only)}
    answers = sum(len(c) for _, c, _ in QUESTIONS)
    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    print(f"{MODEL} int4, {answers} answers of up to {args.max_new_tokens} tokens each; "
          f"CPU capabilities {capabilities} (without BF16, a bf16 hint runs f32)")
    results: dict[tuple[str, str, int], Tally] = {}
    for precision in precisions:
        pipe = ov_genai.LLMPipeline(str(folder), "CPU", INFERENCE_PRECISION_HINT=precision)
        for name, candidate in chosen.items():
            for seed in args.seeds:
                settings = learner_settings(candidate or generation.defaults(folder),
                                            args.max_new_tokens) | {"rng_seed": seed}
                tally = results[name, precision, seed] = run(pipe, settings, args.show)
                print(f"{tally.loops:2} of {answers} answers loop · {tally.garbled:2} run words "
                      f"together · {tally.tokens:5} tokens · "
                      f"{tally.seconds:5.0f} s · {precision} · seed {seed} · {name}: "
                      f"{candidate or generation.defaults(folder)}", flush=True)
        del pipe
    summary(results, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
