"""Benchmark: how often a chat model's answer parses as JSON, free-form against schema-constrained.

The same 20 questions ask for a JSON object with the same keys, once as plain chat and once
under ``json_schema=`` (openvino_genai's structured output). For each, it counts answers that are
JSON as they stand (``json.loads``), answers with a JSON object somewhere in them (in a code
fence, after a sentence...), and answers valid under the schema; plus the mean time per answer.
Each question starts a new conversation; greedy decoding. Prints figures, asserts nothing.
    python benchmarks/structured_bench.py [--model HuggingFaceTB/SmolLM2-135M-Instruct] [--cache-dir DIR]
(``--model tiny-llm`` shows the same on a random model, where free text never parses.)
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

CITIES = ["Paris", "Tokyo", "Lima", "Cairo", "Oslo", "Nairobi", "Toronto", "Sydney", "Madrid",
          "Hanoi", "Bogota", "Dublin", "Seoul", "Lagos", "Vienna", "Quito", "Perth", "Rome",
          "Dakar", "Lisbon"]
SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["city", "country", "continent", "is_capital"],
    "properties": {
        "city": {"type": "string", "maxLength": 30},
        "country": {"type": "string", "maxLength": 30},
        "continent": {"enum": ["Africa", "America", "Asia", "Europe", "Oceania"]},
        "is_capital": {"type": "boolean"}}}


def question(city: str) -> str:
    return (f"Describe {city} as a JSON object with the keys city, country, continent and "
            "is_capital. Answer with the JSON only.")


def embedded_json(text: str) -> Any:
    """The first JSON object in ``text`` (None when there is none)."""
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char == "{":
            try:
                return decoder.raw_decode(text, start)[0]
            except ValueError:
                continue
    return None


def measure(chat: Any, schema: dict[str, Any] | None) -> dict[str, float]:
    from jsonschema import Draft202012Validator

    valid = Draft202012Validator(SCHEMA)
    counts = {"parses": 0, "contains": 0, "valid": 0}
    start = time.perf_counter()
    for city in CITIES:
        chat.clear()
        chat.send(question(city), json_schema=schema)  # None on an error: counted as not JSON
        text = chat.messages[-1]["content"] if chat.messages else ""
        try:
            value = json.loads(text)
            counts["parses"] += 1
        except ValueError:
            value = embedded_json(text)
        counts["contains"] += value is not None
        counts["valid"] += value is not None and valid.is_valid(value)
    return {**counts, "seconds": (time.perf_counter() - start) / len(CITIES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args()

    import ovnb
    from ovnb.sessions.chat import ChatSession

    folder = ovnb.prepare(args.model, cache_dir=args.cache_dir)
    chat = ChatSession(folder, max_new_tokens=args.max_new_tokens)
    chat.wait_loaded()
    print(f"{args.model} ({folder.parent.name}/{folder.name}), {len(CITIES)} questions, "
          f"max_new_tokens={args.max_new_tokens}, greedy")
    print(f"{'':14}{'parses':>8}{'has JSON':>10}{'valid':>8}{'s/answer':>10}")
    for name, schema in (("free-form", None), ("json_schema", SCHEMA)):
        m = measure(chat, schema)
        n = len(CITIES)
        print(f"{name:14}{m['parses']:>5}/{n}{m['contains']:>7}/{n}{m['valid']:>5}/{n}"
              f"{m['seconds']:>10.2f}")


if __name__ == "__main__":
    main()
