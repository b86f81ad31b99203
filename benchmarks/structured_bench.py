"""Benchmark: how often a chat model's answer parses as JSON, and what a valid one costs.

The same questions ask for a JSON object with the same keys, once as plain chat and twice under
``json_schema=``: with genai's own JSON grammar (any whitespace between tokens, ovnb before
issue 21) and as ovnb sends a schema now (a regex allowing none, ``ovnb.structured``). For each it
counts answers that are JSON as they stand (``json.loads``), answers with a JSON object somewhere
in them (in a code fence, after a sentence...), answers valid under the schema, and per valid
answer its characters, the share of them that is whitespace, its tokens and seconds. Two schemas:
a flat city, and a trip with a list of stops. Each question starts a new conversation; greedy.
Prints figures, asserts nothing.
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
CITY = {
    "type": "object", "additionalProperties": False,
    "required": ["city", "country", "continent", "is_capital"],
    "properties": {
        "city": {"type": "string", "maxLength": 30},
        "country": {"type": "string", "maxLength": 30},
        "continent": {"enum": ["Africa", "America", "Asia", "Europe", "Oceania"]},
        "is_capital": {"type": "boolean"}}}
TRIP = {  # what pydantic makes of: title: str; stops: list[Stop(name: str, days: int)]
    "type": "object", "required": ["title", "stops"],
    "properties": {
        "title": {"type": "string"},
        "stops": {"type": "array", "items": {"$ref": "#/$defs/Stop"}}},
    "$defs": {"Stop": {"type": "object", "required": ["name", "days"],
                       "properties": {"name": {"type": "string"}, "days": {"type": "integer"}}}}}
QUESTIONS = {
    "city": (CITY, "Describe {} as a JSON object with the keys city, country, continent and "
                   "is_capital. Answer with the JSON only."),
    "trip": (TRIP, "Plan a short trip to {} as a JSON object with a title and a list of stops, "
                   "each with a name and a number of days. Answer with the JSON only."),
}


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


def measure(chat: Any, schema: dict[str, Any], question: str, constrained: bool,
            places: list[str]) -> dict[str, float]:
    """Counts over ``places``, and the mean characters, whitespace, tokens and seconds of a
    valid answer."""
    from jsonschema import Draft202012Validator

    valid = Draft202012Validator(schema)
    counts = {"parses": 0, "contains": 0, "valid": 0, "chars": 0, "spaces": 0, "tokens": 0,
              "seconds": 0.0}
    for place in places:
        chat.clear()
        start = time.perf_counter()
        chat.send(question.format(place), json_schema=schema if constrained else None)
        seconds = time.perf_counter() - start
        text = chat.messages[-1]["content"] if chat.messages else ""  # none: an error, not JSON
        try:
            value = json.loads(text)
            counts["parses"] += 1
        except ValueError:
            value = embedded_json(text)
        counts["contains"] += value is not None
        if value is not None and valid.is_valid(value):
            counts["valid"] += 1
            counts["chars"] += len(text)
            counts["spaces"] += sum(char.isspace() for char in text)
            counts["tokens"] += chat.metrics.get("tokens", 0)
            counts["seconds"] += seconds
    return counts


def genais_grammar() -> Any:
    """Schemas sent as genai's own JSON grammar, as before ovnb sent them as compact regexes."""
    from unittest import mock

    from ovnb import structured

    return mock.patch.object(structured, "compact_regex", lambda schema: "")


def row(name: str, m: dict[str, float], n: int) -> str:
    per = max(m["valid"], 1)
    share = 100 * m["spaces"] / max(m["chars"], 1)
    return (f"{name:22}{m['parses']:>5}/{n}{m['contains']:>7}/{n}{m['valid']:>5}/{n}"
            f"{m['chars'] / per:>8.0f}{share:>7.0f}%{m['tokens'] / per:>8.0f}"
            f"{m['seconds'] / per:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--questions", type=int, default=len(CITIES))
    args = parser.parse_args()

    import ovnb
    from ovnb.sessions.chat import ChatSession

    folder = ovnb.prepare(args.model, cache_dir=args.cache_dir)
    chat = ChatSession(folder, max_new_tokens=args.max_new_tokens)
    chat.wait_loaded()
    places = CITIES[:args.questions]
    n = len(places)
    print(f"{args.model} ({folder.parent.name}/{folder.name}), {n} questions per row, "
          f"max_new_tokens={args.max_new_tokens}, greedy; per valid answer: characters, "
          "whitespace share, tokens, seconds")
    print(f"{'':22}{'parses':>8}{'has JSON':>10}{'valid':>8}{'chars':>8}{'space':>8}"
          f"{'tokens':>8}{'s':>9}")
    for name, (schema, question) in QUESTIONS.items():
        print(row(f"{name} free-form", measure(chat, schema, question, False, places), n))
        with genais_grammar():
            print(row(f"{name} genai's grammar", measure(chat, schema, question, True, places), n))
        print(row(f"{name} compact (ovnb)", measure(chat, schema, question, True, places), n))


if __name__ == "__main__":
    main()
