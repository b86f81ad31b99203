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

from ovnb import catalogs
from ovnb.models import cached
from ovnb.cache import cache_root, read_manifest
from ovnb.errors import OvnbError
from ovnb.progress import say

TASKS = ("chat", "speech", "image", "vision-chat", "video", "text-to-speech", "embedding", "rerank")
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


def default_entry(task: str, tiny: bool | None = None) -> dict[str, Any]:
    """The model a ``task`` starts with: in tiny mode its tiny (else offline) entry; otherwise the
    entry marked ``"default": true``, else the first real one that fits Binder and is neither
    gated, nor remote code, nor only a draft; else the first real one. On Binder (OVNB_BINDER set)
    only what fits its 2 GB: such a real model, else the tiny one."""
    entries = catalogs.catalog(task)
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
    return (picks or entries)[0]


def default_items(tiny: bool | None = None) -> list[Item]:
    """What ``--all-defaults`` stages: every tiny and offline model in tiny mode (what the notebooks
    use then), else each task's default model."""
    if catalogs.tiny_mode() if tiny is None else tiny:
        return [(model_id, None) for model_id in catalogs.offline_ids()]
    return [(default_entry(task, tiny=False)["id"], None) for task in TASKS]


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
    from ovnb.runtime import explain

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
