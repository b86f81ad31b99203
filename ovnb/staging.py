"""Staging a workshop: prepare a list of models into one cache, resumably, with a summary table.

``ovnb prepare --from FILE`` and ``ovnb prepare --all-defaults`` run here. Models already complete
in the cache are only read (never locked or rewritten), so a stage can be re-run after a failure or
an interruption, and a finished cache can be shared read-only.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovnb import catalogs, families
from ovnb.families import TASKS
from ovnb.models import cached
from ovnb.cache import cache_root, problem, read_manifest, slug
from ovnb.errors import OvnbError
from ovnb.progress import say

Item = tuple[str, str | None]  # (model id, precision or None for the catalog's default)


@dataclass
class Staged:
    """One row of the summary: what happened to a model."""

    model_id: str
    precision: str
    status: str  # "ready" (was cached), "prepared" (built now) or "failed"
    size: int = 0  # bytes on disk
    folder: Path | None = None
    error: str = ""


@dataclass(frozen=True)
class Choice:
    """The model a task starts with, and the one line saying why when it is not the usual one."""

    entry: dict[str, Any]
    note: str = ""  # '' when the entry is the task's usual default


def default_entry(task: str, tiny: bool | None = None) -> dict[str, Any]:
    """The model a ``task`` starts with (``default_choice(task).entry``)."""
    return default_choice(task, tiny).entry


def default_choice(task: str, tiny: bool | None = None,
                   cache_dir: str | os.PathLike[str] | None = None) -> Choice:
    """The model a ``task`` starts with: the first of ``preferred(task)`` when it can be prepared
    here; when it needs the hub and the hub is unreachable, the first preferred model that
    prepares offline (or is cached), real ones before the random tiny ones, with a note saying so
    and how to get the usual one."""
    picks = preferred(task, tiny)
    usual = picks[0]
    if prepares_here(usual, cache_dir):
        return Choice(usual)
    binder = bool(os.environ.get("OVNB_BINDER"))
    others = [e for e in catalogs.catalog(task) if e not in picks and not e.get("draft_only")
              and (e.get("binder_fit") or not binder)]
    ordered = sorted([e for e in picks[1:] if not e.get("draft_only")] + others,
                     key=catalogs.has_random_weights)  # stable: the preference order, real models first
    for entry in ordered:
        if prepares_here(entry, cache_dir):
            return Choice(entry, _fallback_note(usual, entry))
    return Choice(usual)  # nothing prepares here: preparing it will say why, in one line


def preferred(task: str, tiny: bool | None = None) -> list[dict[str, Any]]:
    """The entries a ``task`` may start with, best first: in tiny mode its tiny (else offline)
    entries; otherwise the entry marked ``"default": true``, then the real ones that fit Binder and
    are neither gated, nor remote code, nor only a draft, then the other real ones. On Binder
    (OVNB_BINDER set) only what fits its 2 GB: such real models, then the tiny ones."""
    entries = catalogs.catalog(families.family(task).folder_task)
    if not entries:
        raise OvnbError(f"the catalog has no {task} model: choose one of {', '.join(TASKS)}")
    kinds = [{s["kind"] for s in e["sources"]} for e in entries]
    if catalogs.tiny_mode() if tiny is None else tiny:
        picks = [e for e in entries if e.get("tiny_default")]
        picks += [e for e, k in zip(entries, kinds) if "tiny" in k]
        picks += [e for e, k in zip(entries, kinds) if "offline" in k]
    else:
        real = [e for e, k in zip(entries, kinds) if "tiny" not in k]
        plain = [e for e in real
                 if not (e.get("trust_remote_code") or e.get("draft_only") or e.get("gated"))]
        fits = [e for e in plain if e.get("binder_fit")]
        if os.environ.get("OVNB_BINDER"):  # 2 GB of RAM: what fits, else the tiny model
            picks = fits + [e for e, k in zip(entries, kinds) if "tiny" in k]
        else:
            picks = [e for e in entries if e.get("default")] + fits + plain + real
    unique: dict[str, dict[str, Any]] = {}
    for entry in picks or entries:  # each once, where it first comes
        unique.setdefault(entry["id"], entry)
    return list(unique.values())


def _fallback_note(usual: dict[str, Any], entry: dict[str, Any]) -> str:
    random = catalogs.has_random_weights(entry)
    what = " (random weights, to try the steps: its output is noise)" if random else ""
    return (f"{usual['id']} needs the Hugging Face hub, not reachable here ({hub_problem()}): "
            f"starting on {entry['id']} instead{what}; to use {usual['id']}, {_hub_fix()}, "
            "then choose it again")


def prepares_here(entry: dict[str, Any] | str, cache_dir: str | os.PathLike[str] | None = None,
                  precision: str | None = None) -> bool:
    """Whether a model can be had now: it is in the cache (at ``precision`` or its default), it
    builds from an offline or tiny source, its source is cached, or the hub answers."""
    if isinstance(entry, str):
        found = catalogs.find(entry)
        if found is None:  # a hub id outside the catalog: cached, or the hub
            return cached(entry, precision, cache_dir) is not None or hub_problem() is None
        entry = found
    if cached(entry["id"], precision, cache_dir) is not None:
        return True
    if any(s["kind"] in ("tiny", "offline") for s in entry["sources"]):
        return True
    root = cache_root(cache_dir)
    sources = root / "sources" / slug(entry["id"])
    if any(problem(sources / s["kind"]) is None for s in entry["sources"] if s["kind"] == "hub"):
        return True  # the original is cached: exporting it needs no network
    return hub_problem() is None


HUB_PROBE_TIMEOUT = 3.0  # seconds: a dead network is known within this
HUB_PROBE_TTL = 300.0  # seconds a probe's answer is reused (pickers ask often)
_probes: dict[str, tuple[float, str | None]] = {}


def hub_problem(refresh: bool = False) -> str | None:
    """Why the hub cannot be used now, in a few words (None when it answers). HF_HUB_OFFLINE
    answers at once; otherwise the endpoint is probed once per 5 minutes (``refresh``: now),
    within 3 s."""
    import time

    from ovnb.sources.hub import endpoint_now, offline_now

    if offline_now():
        return "HF_HUB_OFFLINE is set"
    endpoint = endpoint_now()
    now = time.monotonic()
    seen = _probes.get(endpoint)
    if refresh or seen is None or now - seen[0] > HUB_PROBE_TTL:
        from ovnb.doctor import hub_problem as probe

        reason = probe(endpoint, HUB_PROBE_TIMEOUT)
        short = None if reason is None else f"no answer from {endpoint}: {reason.split(':')[0]}"
        seen = _probes[endpoint] = (now, short)
    return seen[1]


def _hub_fix() -> str:
    from ovnb.sources.hub import offline_now

    if offline_now():
        return "unset HF_HUB_OFFLINE where the hub is reachable"
    return "connect to the hub (or set HF_ENDPOINT to a mirror)"


def default_items(tiny: bool | None = None) -> list[Item]:
    """What ``--all-defaults`` stages: every tiny and offline model in tiny mode (what the notebooks
    use then), else each task's default model; where that needs an unreachable hub, the model the
    pickers start on instead, said in one line per task."""
    if catalogs.tiny_mode() if tiny is None else tiny:
        return [(model_id, None) for model_id in catalogs.offline_ids()]
    items = []
    for task in TASKS:
        choice = default_choice(task, tiny=False)
        if choice.note:
            say(f"{task}: {choice.note}")
        items.append((choice.entry["id"], None))
    return items


def read_list(path: str | os.PathLike[str]) -> list[Item]:
    """Parse a staging file: one ``ID [PRECISION]`` per line; ``#`` starts a comment.

    Mistakes in the file stop everything at once (with the line number): better than finding
    them after an hour of downloads.
    """
    try:
        text = Path(path).expanduser().read_text()
    except OSError as exc:
        raise OvnbError(f"cannot read the model list {path} ({exc.strerror})") from None
    items: list[Item] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) > 2 or (len(fields) == 2 and fields[1] not in catalogs.PRECISIONS):
            raise OvnbError(f"{path}:{number}: expected `ID [PRECISION]` with PRECISION one of "
                            f"{', '.join(catalogs.PRECISIONS)}, got {line.strip()!r}")
        items.append((fields[0], fields[1] if len(fields) == 2 else None))
    return items


def folder_size(folder: Path) -> int:
    """Bytes of a cached entry, from its manifest (no walk of a big folder)."""
    manifest = read_manifest(folder) or {}
    return sum(manifest.get("files", {}).values())


def stage(items: Iterable[Item], cache_dir: str | os.PathLike[str] | None = None,
          on_row: Callable[[Staged], None] | None = None) -> list[Staged]:
    """Prepare every item, skipping the cached ones; a failure is recorded and the rest go on."""
    rows = []
    todo = list({(i.lower(), p): (i, p) for i, p in items}.values())  # no duplicates
    for number, (model_id, precision) in enumerate(todo, 1):
        say(f"[{number}/{len(todo)}] {model_id} {precision or ''}".rstrip())
        row = _stage_one(model_id, precision, cache_dir)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _stage_one(model_id: str, precision: str | None,
               cache_dir: str | os.PathLike[str] | None) -> Staged:
    from ovnb.models import prepare
    from ovnb.errors import explain

    entry = catalogs.find(model_id)
    model_id = entry["id"] if entry else model_id
    shown = precision or (entry or {}).get("default_precision", "default")
    folder = cached(model_id, precision, cache_dir)
    if folder is not None:
        return Staged(model_id, folder.name, "ready", folder_size(folder), folder)
    try:
        folder = prepare(model_id, precision, cache_dir)
    except Exception as exc:  # one model's failure must not stop the others
        return Staged(model_id, shown, "failed", error=explain(exc))
    return Staged(model_id, folder.name, "prepared", folder_size(folder), folder)


def table(rows: list[Staged], cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The summary: one aligned line per model, then each failure's message, then the totals."""
    from ovnb.magics import human_size

    body = [(r.model_id, r.precision, r.status, human_size(r.size) if r.size else "-") for r in rows]
    lines = _aligned([("ID", "PRECISION", "STATUS", "SIZE"), *body])
    lines += [f"{r.model_id} ({r.precision}): {r.error}" for r in rows if r.error]
    count = {s: sum(r.status == s for r in rows) for s in ("ready", "prepared", "failed")}
    total = human_size(sum(r.size for r in rows))
    lines.append(f"{count['ready']} already ready, {count['prepared']} prepared now, "
                 f"{count['failed']} failed; {total} in {cache_root(cache_dir)}")
    return "\n".join(lines)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(col.ljust(w) for col, w in zip(row, widths)).rstrip() for row in rows]
