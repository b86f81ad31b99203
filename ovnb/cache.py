"""The model cache: where prepared folders live, and how they are written atomically.

An entry is a folder with a manifest (``ovnb.json``) listing every file and its size. The manifest
is written last, inside a temporary sibling folder that is renamed into place in one step, so a
process killed at any point leaves either a complete entry or none: never one that looks complete.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError
from ovnb.progress import say

MANIFEST = "ovnb.json"
LOW_SPACE = 16 * 2**20  # bytes: a failed build with less free than this ran out of disk


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: the argument, else $OVNB_CACHE, else the user's cache dir."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("OVNB_CACHE"):
        return Path(os.environ["OVNB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ovnb"


def slug(model_id: str) -> str:
    """A folder name for a model id (``owner/name`` -> ``owner--name``)."""
    return model_id.replace("/", "--")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The entry's manifest, or None when the folder is not a complete entry."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete entry (None when it is).

    Checks sizes, not hashes: cheap enough that a cached prepare returns at once, and it catches
    the truncated and missing files an interrupted copy or a full disk leaves behind.
    """
    if not folder.is_dir():
        return "missing"
    manifest = read_manifest(folder)
    if manifest is None:
        return f"no readable {MANIFEST}"
    for rel, size in manifest.get("files", {}).items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != size:
            return f"{rel} is {path.stat().st_size} bytes, expected {size}"
    return None


def list_files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (relative posix path -> size), manifest excluded."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            files[path.relative_to(folder).as_posix()] = path.stat().st_size
    return files


def write_manifest(folder: Path, info: dict[str, Any]) -> None:
    """Write the manifest that marks ``folder`` complete; fsync'd so a crash cannot tear it."""
    manifest = {**info, "files": list_files(folder), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = folder / (MANIFEST + ".part")
    with open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)


@contextlib.contextmanager
def _locked(final: Path, what: str) -> Iterator[None]:
    """Serialize builders of one entry across processes (two notebooks preparing one model).

    The holder writes its PID into the lock file, so a second prepare can say whom it waits for
    (an export can take minutes: silence there looks like a hang).
    """
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fh = open(final.parent / f".{final.name}.lock", "a+")  # "w" would wipe the holder's PID
    except OSError as exc:
        raise OvnbError(f"cannot write to the cache at {final.parent} ({exc.strerror}): "
                        "set OVNB_CACHE to a writable folder") from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            pid = f" (PID {holder})" if holder.isdigit() else ""
            say(f"{what}: waiting for another prepare of the same model{pid} to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        _write_holder(fh, str(os.getpid()))
        try:
            yield
        finally:
            _write_holder(fh, "")  # released: no stale PID for the next waiter to name


def _write_holder(fh: Any, text: str) -> None:
    """Note who holds the lock; a full disk only costs the waiters the PID in their message."""
    with contextlib.suppress(OSError):
        fh.seek(0)
        fh.truncate()
        fh.write(text)
        fh.flush()


def _discard(path: Path) -> None:
    """Move ``path`` out of the way at once, then delete it."""
    if not path.exists():
        return
    trash = path.with_name(f".{path.name}.trash-{uuid.uuid4().hex[:8]}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _clear_leftovers(final: Path) -> None:
    """Remove temporary folders of builds that were killed (we hold the lock: none is live)."""
    for prefix in (f".{final.name}.tmp-", f".{final.name}.trash-"):
        for stale in final.parent.glob(prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)


class CacheFull(OvnbError):
    """The disk holding the cache ran out of space while an entry was built."""


def _raise_if_full(folder: Path, exc: Exception) -> None:
    """Name a full disk, which tools report in odd words (OpenVINO: "iostream error")."""
    free = shutil.disk_usage(folder).free  # measured before the partial build is deleted
    full = free < LOW_SPACE or "no space left on device" in str(exc).lower()
    if full and not isinstance(exc, CacheFull):  # an inner entry (the source) already said so
        raise CacheFull(f"the cache at {folder} is out of space ({free // 1024} kB free): free some "
                        "space, or set OVNB_CACHE to a folder on a bigger disk") from exc


def build_entry(final: Path, build: Callable[[Path], dict[str, Any]], what: str,
                stale: Callable[[Path], str | None] | None = None) -> Path:
    """Return the complete entry at ``final``, building it with ``build(tmp_dir) -> info`` if needed.

    ``build`` fills an empty temporary folder and returns facts for the manifest. A broken entry,
    or a complete one that ``stale(final)`` says is out of date (its reason), is reported and
    rebuilt.
    """
    def why() -> str | None:
        reason = problem(final)
        if reason is not None:
            return reason if reason == "missing" else f"is incomplete ({reason})"
        late = stale(final) if stale else None
        return f"is out of date ({late})" if late else None

    if why() is None:
        return final
    with _locked(final, what):
        reason = why()
        if reason is None:
            return final
        if reason != "missing":
            say(f"{what}: cached entry {reason}; rebuilding it")
            _discard(final)
        _clear_leftovers(final)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            info = build(tmp)
            write_manifest(tmp, info)
            os.replace(tmp, final)
        except Exception as exc:
            _raise_if_full(final.parent, exc)
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
