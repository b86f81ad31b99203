"""Benchmark: what ovnb.Batch costs continuous batching, and what batching gains over one by one.

Eight prompts, greedy, 64 new tokens each at most, on each model; in one process, the runs
alternate so that a busy machine slows all alike:
- **bare CB**: ``ContinuousBatchingPipeline.generate`` on all prompts at once (no streaming);
- **Batch**: ``ovnb.Batch.generate`` (requests stepped by ovnb, answers streamed to the cards);
- **Chat one by one**: ``ovnb.Chat.send`` of each prompt in a fresh conversation.
Then the scheduler's settings, each on its own Batch: tokens/s and the KV cache at its largest.
Target (issue 20): Batch at least 0.9 of the bare pipeline's tokens/s. Prints figures, asserts
nothing.
    python benchmarks/batch_bench.py [--runs 3] [--tokens 64] [--models tiny-llm ...]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import ovnb

MODELS = ("tiny-llm", "HuggingFaceTB/SmolLM2-135M-Instruct")
PROMPTS = ["Give me three tips to learn a new language.", "What is OpenVINO?",
           "Tell me a story about a robot.", "Describe the sea in one sentence.",
           "Explain how a bicycle stays upright.", "Name three colours.",
           "What is a neural network?", "Write a haiku about autumn."]
GREEDY = {"do_sample": False, "repetition_penalty": 1.0}
SCHEDULERS = {
    "defaults": {},
    "no prefix caching": {"enable_prefix_caching": False},
    "cache eviction at 256": {"use_cache_eviction": True, "cache_eviction_size": 256},
    "2 requests at once": {"max_num_seqs": 2},
    "cache_size 1 GB": {"cache_size": 1},
}


def bare_pipeline(folder: Any) -> tuple[Any, Any]:
    import openvino_genai as ov_genai

    pipe = ov_genai.ContinuousBatchingPipeline(str(folder), ov_genai.SchedulerConfig(), "CPU")
    return pipe, pipe.get_tokenizer()


def bare_run(pipe: Any, tokens: int) -> tuple[int, float]:
    config = pipe.get_config()
    config.max_new_tokens, config.do_sample, config.repetition_penalty = tokens, False, 1.0
    started = time.perf_counter()
    results = pipe.generate(PROMPTS, [config] * len(PROMPTS))
    spent = time.perf_counter() - started
    return sum(len(r.m_generation_ids[0]) for r in results), spent


def batch_run(batch: Any) -> tuple[int, float]:
    batch.generate(PROMPTS)
    return batch.metrics["tokens"], batch.metrics["seconds"]


def chat_run(chat: Any, tokens: int) -> tuple[int, float]:
    tokenizer = chat.wait_loaded().pipe.get_tokenizer()
    count, started = 0, time.perf_counter()
    for prompt in PROMPTS:
        chat.clear()
        answer = chat.send(prompt)
        count += len(tokenizer.encode(answer, add_special_tokens=False).input_ids)
    return count, time.perf_counter() - started


def measure(model: str, runs: int, tokens: int) -> None:
    folder = ovnb.prepare(model)
    pipe, _ = bare_pipeline(folder)
    batch = ovnb.Batch(folder, max_new_tokens=tokens, **GREEDY)
    chat = ovnb.Chat(folder, max_new_tokens=tokens, presence_penalty=0.0, frequency_penalty=0.0,
                     **GREEDY)
    bare_run(pipe, tokens), batch_run(batch), chat_run(chat, tokens)  # warm up
    rates: dict[str, list[float]] = {"bare CB": [], "Batch": [], "Chat one by one": []}
    for _ in range(runs):
        for name, run in (("bare CB", lambda: bare_run(pipe, tokens)),
                          ("Batch", lambda: batch_run(batch)),
                          ("Chat one by one", lambda: chat_run(chat, tokens))):
            made, seconds = run()
            rates[name].append(made / seconds)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"\n{model}: {len(PROMPTS)} prompts, {tokens} new tokens at most, {runs} runs (median)")
    for name, rate in median.items():
        print(f"  {name:<16} {rate:8.1f} tokens/s")
    print(f"  Batch / bare CB        {median['Batch'] / median['bare CB']:.3f}  (target >= 0.9)")
    print(f"  Batch / Chat one by one {median['Batch'] / median['Chat one by one']:.2f}x")
    schedulers(folder, tokens)


def schedulers(folder: Any, tokens: int) -> None:
    """Each scheduler setting on its own Batch: speed and the KV cache at its largest."""
    print("  scheduler settings (one warm run each):")
    for name, settings in SCHEDULERS.items():
        batch = ovnb.Batch(folder, max_new_tokens=tokens, **GREEDY, **settings)
        batch.generate(PROMPTS)  # warm up
        batch.generate(PROMPTS)
        m = batch.metrics
        print(f"    {name:<24} {m['tokens_per_s']:8.1f} tokens/s   KV cache up to "
              f"{m['cache_mb']:8.1f} MB   {batch.last_error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    for model in args.models:
        measure(model, args.runs, args.tokens)


if __name__ == "__main__":
    main()
