"""The model catalog: entries read from ``catalog.json`` (data, not code)."""
from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError

CATALOG_FILE = Path(__file__).with_name("catalog.json")
PRECISIONS = ("fp16", "int8", "int4", "int4-npu")


@functools.cache
def _entries() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(CATALOG_FILE.read_text())["models"])


def catalog(task: str | None = None) -> list[dict[str, Any]]:
    """Catalog entries, all or those of one task ("chat", "speech", "image", "vision-chat")."""
    return [dict(e) for e in _entries() if task is None or e["task"] == task]


def find(model_id: str) -> dict[str, Any] | None:
    """The entry for ``model_id`` (case-insensitive), or None."""
    for entry in _entries():
        if entry["id"].lower() == model_id.lower():
            return dict(entry)
    return None


def close_ids(model_id: str, n: int = 3) -> list[str]:
    """Catalog ids that look like ``model_id``, for "did you mean" messages."""
    ids = [e["id"] for e in _entries()]
    by_lower = {i.lower(): i for i in ids}
    hits = difflib.get_close_matches(model_id.lower(), list(by_lower), n=n, cutoff=0.5)
    tails = difflib.get_close_matches(model_id.lower().split("/")[-1],
                                      [i.split("/")[-1] for i in by_lower], n=n, cutoff=0.6)
    hits += [i for i in by_lower if i.split("/")[-1] in tails and i not in hits]
    hits += [i for i in by_lower if model_id.lower() in i and i not in hits]
    return [by_lower[h] for h in hits[:n]]


def offline_ids() -> list[str]:
    """Ids that prepare with no hub: tiny random models and offline packages."""
    return [e["id"] for e in _entries()
            if any(s["kind"] in ("tiny", "offline") for s in e["sources"])]


def check_precision(precision: str) -> str:
    """Validate a precision name, with the list of valid ones in the message."""
    if precision not in PRECISIONS:
        raise OvnbError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision
