"""Benchmark: what the Chat widget costs the model, measured inside a real Jupyter kernel.

For each model, greedy, a fixed number of new tokens, on the same question, three runs alternate
in one process so that a busy machine slows all alike:
- **bare**: the pipeline with no streamer;
- **floor**: the pipeline with the cheapest streamer there is (a StreamerBase that only counts):
  openvino_genai's per-token call into Python is the floor of any streaming view;
- **Chat**: ``Chat.send`` (the widget, its view thread and the conversation panel's deltas).
Targets: Chat at least 0.97 of the floor on tiny-llm and of the bare pipeline on SmolLM2; first text
visible no later than the bare pipeline's first token + 50 ms. Prints figures, asserts nothing.
    python benchmarks/chat_bench.py [--tokens 256] [--runs 5]
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

    RUNNING = ov_genai.StreamingStatus.RUNNING

    class Count(ov_genai.StreamerBase):
        def __init__(self):
            super().__init__()
            self.tokens = 0

        def write(self, token):
            self.tokens += 1
            return RUNNING

        def end(self):
            pass

    def measure(model_id, tokens, runs):
        folder = ovnb.prepare(model_id)
        chat = ovnb.Chat(folder, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                         repetition_penalty=1.0, presence_penalty=0.0)  # greedy, as the bare runs
        pipe = chat.wait_loaded().pipe
        question = "Write a long story about a lighthouse keeper."
        history = ov_genai.ChatHistory()
        history.append({"role": "user", "content": question})
        config = pipe.get_generation_config()
        config.max_new_tokens = config.min_new_tokens = tokens
        config.do_sample, config.repetition_penalty = False, 1.0
        seen = {}
        chat.observe(lambda change: change["new"] and seen.setdefault("first", time.perf_counter()),
                     "live")
        pipe.generate(history, config)  # warm up
        chat.send(question)
        figures = {"bare": [], "floor": [], "chat": [], "ttft_ms": [], "first_text_ms": []}
        for _ in range(runs):
            start = time.perf_counter()
            result = pipe.generate(history, config)
            figures["bare"].append(tokens / (time.perf_counter() - start))
            figures["ttft_ms"].append(result.perf_metrics.get_ttft().mean)
            start = time.perf_counter()
            pipe.generate(history, config, Count())
            figures["floor"].append(tokens / (time.perf_counter() - start))
            chat.clear()
            seen.clear()
            start = time.perf_counter()
            chat.send(question)
            figures["chat"].append(chat.metrics["tokens"] / (time.perf_counter() - start))
            figures["first_text_ms"].append((seen["first"] - start) * 1000)
        return {name: statistics.median(values) for name, values in figures.items()}
""")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    manager, client = start_new_kernel()
    try:
        execute(client, KERNEL_CODE)
        print(f"{'model':36} {'bare':>7} {'floor':>7} {'Chat':>7} {'Chat/floor':>10} "
              f"{'Chat/bare':>9} {'ttft ms':>8} {'first text ms':>13}")
        for model_id in MODELS:
            line = execute(client, f"print(json.dumps(measure({model_id!r}, "
                                   f"{args.tokens}, {args.runs})))")
            r = json.loads(line.strip().splitlines()[-1])
            print(f"{model_id:36} {r['bare']:7.0f} {r['floor']:7.0f} {r['chat']:7.0f} "
                  f"{r['chat'] / r['floor']:10.3f} {r['chat'] / r['bare']:9.3f} "
                  f"{r['ttft_ms']:8.1f} {r['first_text_ms']:13.1f}")
        print("tokens/s, medians of alternating runs; first text: Send to the first live text in "
              "the widget (ttft: the bare pipeline's first token, from its perf metrics)")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
