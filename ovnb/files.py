"""Saving where a user says: a typed path made a writable file, or one line saying what to do.

Every save (speech, subtitles, a PNG, an MP4) starts from a name typed in a file box or passed
in code, and the OS's own errors for a bad one are cryptic: a parent that is a file gives
"[Errno 17] File exists" from ``mkdir``. ``save_target`` checks the name against the caller's
suffix rules, makes the missing folders and refuses, in one line naming the fix, what cannot be
written. ``write_bytes`` writes through it into a temporary file that then replaces the target,
so a failed save (a full disk) leaves an earlier file of that name as it was.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError


def save_target(path: str | os.PathLike[str], suffixes: Sequence[str] = (),
                default: str | None = None, what: str = "file") -> Path:
    """``path`` as a file ready to be written: ``~`` expanded, missing folders made.

    ``suffixes`` are the endings allowed (any case; none: any name); a name without one gets
    ``default`` appended ("cat" -> "cat.png") or, without a default, is refused. ``what`` names
    the thing saved in messages ("audio", "subtitles").
    """
    name = _name(path)
    example = f"{what}{default or (suffixes[0] if suffixes else '')}"
    if not name:
        raise OvnbError(f"no file name: type one, such as {example}")
    if "\x00" in name:
        raise OvnbError(f"cannot save to {name!r}: the name holds a NUL character: type it again")
    target = expand(name)
    try:
        if name.endswith(("/", os.sep)) or target.is_dir():
            raise OvnbError(f"cannot save to {name}: it is a folder: add a file name, such as "
                            f"{target / example}")
        target = _with_suffix(target, suffixes, default, what)
        if target.is_dir():
            raise OvnbError(f"cannot save to {target}: it is a folder: add a file name, such as "
                            f"{target / example}")
        _make_parent(target)
    except OSError as exc:  # a name too long, a folder that may not be looked into
        raise cannot_write(target, exc) from None
    return target


def write_bytes(path: str | os.PathLike[str], data: bytes, suffixes: Sequence[str] = (),
                default: str | None = None, what: str = "file") -> Path:
    """Write ``data`` to ``save_target(path, ...)`` (replacing a file there) and return the path."""
    target = save_target(path, suffixes, default, what)
    part = target.with_name(f".ovnb-{secrets.token_hex(4)}.part")  # short: any name fits
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(part, target)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise cannot_write(target, exc) from None
    return target


def cannot_write(target: Path, exc: OSError) -> OvnbError:
    """The one line for an OS error while writing ``target`` (for writers that open it themselves,
    such as PIL's ``Image.save``)."""
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    return OvnbError(f"cannot save to {target} ({reason}): choose another folder")


def _name(path: str | os.PathLike[str]) -> str:
    """The typed name, stripped (a space pasted before or after is no part of a file name)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"a file name is a str or a pathlib.Path, not {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"a file name is a str or a pathlib.Path, not {type(name).__name__}")
    name = name.strip()
    return "" if name == "." else name  # Path("") is "."


def check_path(path: Any) -> None:
    """A TypeError for a save path that is neither a str nor a PathLike (cheap: nothing is
    touched), so a save refuses a wrong type before anything else."""
    _name(path)


def expand(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` expanded; as given when ``~name`` names no user (Python raises)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return Path(path)


def _with_suffix(target: Path, suffixes: Sequence[str], default: str | None, what: str) -> Path:
    if not suffixes or target.suffix.lower() in (s.lower() for s in suffixes):
        return target
    if default:
        return target.with_name(target.name + default)
    ends = " or ".join([", ".join(suffixes[:-1]), suffixes[-1]] if len(suffixes) > 1 else suffixes)
    raise OvnbError(f"cannot save {what} as {target.name!r}: end the name in {ends}")


def _make_parent(target: Path) -> None:
    """Make ``target``'s missing folders; refuse a parent that is a file or may not be written."""
    folder = target.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise OvnbError(f"cannot save to {target}: {existing} is a file, not a folder: choose "
                        "another path")
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise OvnbError(f"cannot save to {target} (Permission denied): choose another folder")


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd``: one os.write may take less than it is given."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
