"""Benchmark: what the Chat widget costs the model, measured inside a real Jupyter kernel.

For each model: tokens/s of ``Chat.send`` against the bare pipeline (no streamer) on the same chat
history, greedy, a fixed number of new tokens, runs interleaved in one process; and the view update
rate while streaming. Target: Chat at least 0.97 of the bare rate. Prints figures, asserts nothing.
    python benchmarks/chat_bench.py [--tokens 128] [--runs 5]
The kernel is real (jupyter_client), so widget updates are serialized and sent as in a notebook.
"""
from __future__ import annotations

import argparse
import json
import textwrap

from jupyter_client.manager import start_new_kernel
from kernel import execute  # benchmarks/kernel.py (this script's folder is on sys.path)

MODELS = ("tiny-llm", "HuggingFaceTB/SmolLM2-135M-Instruct")

KERNEL_CODE = textwrap.dedent("""
    import json, statistics, time
    import openvino_genai as ov_genai
    import ovnb

    def measure(model_id, tokens, runs):
        folder = ovnb.prepare(model_id)
        chat = ovnb.Chat(folder, max_new_tokens=tokens, min_new_tokens=tokens,
                         repetition_penalty=1.0)
        pipe = chat.wait_loaded().pipe
        question = "Write a long story about a lighthouse keeper."
        history = ov_genai.ChatHistory()
        history.append({"role": "user", "content": question})
        config = pipe.get_generation_config()
        config.max_new_tokens = config.min_new_tokens = tokens
        config.do_sample, config.repetition_penalty = False, 1.0
        pipe.generate(history, config)  # warm up
        bare, widget, flush_rates = [], [], []
        for _ in range(runs):
            start = time.perf_counter()
            pipe.generate(history, config)
            bare.append(tokens / (time.perf_counter() - start))
            chat.clear()
            start = time.perf_counter()
            chat.send(question)
            seconds = time.perf_counter() - start
            widget.append(chat.metrics["tokens"] / seconds)
            flush_rates.append(chat.metrics["view_updates"] / seconds)
        return {"bare": statistics.median(bare), "widget": statistics.median(widget),
                "flushes_per_s": statistics.median(flush_rates)}
""")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    manager, client = start_new_kernel()
    try:
        execute(client, KERNEL_CODE)
        print(f"{'model':38} {'bare tok/s':>10} {'Chat tok/s':>10} {'ratio':>6} {'views/s':>8}")
        for model_id in MODELS:
            line = execute(client, f"print(json.dumps(measure({model_id!r}, "
                                         f"{args.tokens}, {args.runs})))")
            r = json.loads(line.strip().splitlines()[-1])
            print(f"{model_id:38} {r['bare']:10.1f} {r['widget']:10.1f} "
                  f"{r['widget'] / r['bare']:6.3f} {r['flushes_per_s']:8.1f}")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
