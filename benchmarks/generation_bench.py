"""Benchmark: which generation settings keep a small model's answers free of loops.

Asks SmolLM2-135M-Instruct (int4, prepared offline) every chat question the notebooks ask
(tests/test_generation.py lists them), each conversation from scratch, with each candidate
setting, and counts the answers that loop (``ovnb.generation.repetition``): one phrase said over
and over. Prints, per setting: looping answers, tokens generated, seconds; ``--show`` prints
every answer too. Sampling uses openvino_genai's fixed default seed, so a run repeats itself.
    python benchmarks/generation_bench.py [--show] [--max-new-tokens 512] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CARD = {"do_sample": True, "temperature": 0.2, "top_p": 0.9}  # the model card's example
CANDIDATES: dict[str, dict[str, Any]] = {
    "greedy, repetition_penalty 1.1 (the Chat's old settings)":
        {"do_sample": False, "repetition_penalty": 1.1},
    "card sampling, repetition_penalty 1.1": {**CARD, "repetition_penalty": 1.1},
    "card sampling, repetition_penalty 1.1, no_repeat_ngram_size 4":
        {**CARD, "repetition_penalty": 1.1, "no_repeat_ngram_size": 4},
    "greedy, repetition_penalty 1.1, frequency_penalty 0.5":
        {"do_sample": False, "repetition_penalty": 1.1, "frequency_penalty": 0.5},
    "greedy, repetition_penalty 1.1, presence_penalty 0.5":
        {"do_sample": False, "repetition_penalty": 1.1, "presence_penalty": 0.5},
    "catalog defaults (ovnb.generation.defaults)": {},
}


def run(pipe: Any, settings: dict[str, Any], tokens: int, show: bool) -> tuple[int, int]:
    """(looping answers, generated tokens) over the notebooks' conversations."""
    import openvino_genai as ov_genai

    from ovnb.generation import repetition
    from tests.test_generation import QUESTIONS

    loops = generated = 0
    for notebook, conversation, _ in QUESTIONS:
        history = ov_genai.ChatHistory()
        for question in conversation:
            history.append({"role": "user", "content": question})
            config = pipe.get_generation_config()
            config.update_generation_config(max_new_tokens=tokens, **settings)
            result = pipe.generate(history, config)
            answer = result.texts[0]
            history.append({"role": "assistant", "content": answer})
            generated += result.perf_metrics.get_num_generated_tokens()
            loop = repetition(answer)
            loops += loop is not None
            if show:
                print(f"  [{notebook}] {question!r}{' LOOP ' + str(loop) if loop else ''}\n"
                      f"    {answer!r}")
    return loops, generated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print every answer")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    import openvino_genai as ov_genai

    import ovnb
    from ovnb import generation
    from tests.test_generation import QUESTIONS

    folder = ovnb.prepare(MODEL, precision="int4", cache_dir=args.cache_dir)
    pipe = ov_genai.LLMPipeline(str(folder), "CPU")
    answers = sum(len(c) for _, c, _ in QUESTIONS)
    print(f"{MODEL} int4, {answers} answers of up to {args.max_new_tokens} tokens each")
    for name, settings in CANDIDATES.items():
        settings = settings or generation.defaults(folder)
        start = time.perf_counter()
        loops, generated = run(pipe, settings, args.max_new_tokens, args.show)
        print(f"{loops:2} of {answers} answers loop · {generated:5} tokens · "
              f"{time.perf_counter() - start:5.0f} s · {name}: {settings}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
