"""What the reliability suite shares: the prepared tiny models, broken copies of them, and mounts.

Broken inputs are made from copies (never the session cache itself), so every test can check that
the cache it started from is still complete afterwards.
"""
from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovnb.cache import problem


@pytest.fixture(scope="session")
def models(llm: Path, draft: Path, vlm: Path, tiny_whisper: Path, tiny_en: Path,
           sd: Path) -> dict[str, Path]:
    """The session's prepared models by the names the tables use."""
    return {"llm": llm, "draft": draft, "vlm": vlm, "whisper": tiny_whisper, "whisper_en": tiny_en,
            "sd": sd}


def assert_intact(*folders: Path) -> None:
    """The cache entries a test used are still complete (nothing was damaged on the way)."""
    for folder in folders:
        assert problem(folder) is None, folder


def not_a_model(tmp: Path) -> Path:
    """A folder that looks like a model download but holds no OpenVINO model."""
    folder = tmp / "downloads"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "README.md").write_text("weights to come\n")
    return folder


def truncated(folder: Path, rel: str, tmp: Path) -> Path:
    """A copy of a prepared folder whose ``rel`` weights file lost its second half."""
    copy = tmp / f"{folder.parent.name}-truncated"
    shutil.copytree(folder, copy)
    target = copy / rel
    size = target.stat().st_size
    with open(target, "r+b") as fh:
        fh.truncate(size // 2)
    return copy


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``path`` (``options`` as for mount -o); skips where mounting is refused.

    The only honest read-only or full disk for root: chmod does not stop root, and filling a real
    disk would hurt everyone else on the machine.
    """
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              check=False, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): "
                    f"{done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
