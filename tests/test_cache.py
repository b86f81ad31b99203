"""The cache's promise: an entry is complete or absent, whatever happens while it is written."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ovnb import cache
from ovnb.errors import OvnbError


def _fill(folder: Path) -> dict:
    (folder / "weights.bin").write_bytes(b"w" * 1000)
    (folder / "sub").mkdir()
    (folder / "sub" / "config.json").write_text("{}")
    return {"what": "test"}


def test_built_entry_has_manifest_of_every_file(tmp_path: Path) -> None:
    final = cache.build_entry(tmp_path / "m" / "fp16", _fill, "m")
    manifest = json.loads((final / cache.MANIFEST).read_text())
    assert manifest["files"] == {"sub/config.json": 2, "weights.bin": 1000}
    assert manifest["what"] == "test"
    assert cache.problem(final) is None


def test_complete_entry_is_not_rebuilt(tmp_path: Path) -> None:
    final = cache.build_entry(tmp_path / "m", _fill, "m")
    calls = []
    cache.build_entry(final, lambda tmp: calls.append(tmp) or {}, "m")
    assert calls == []


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def broken(folder: Path) -> dict:
        _fill(folder)
        raise OvnbError("export failed")

    with pytest.raises(OvnbError):
        cache.build_entry(tmp_path / "m", broken, "m")
    assert [p.name for p in tmp_path.iterdir()] == [".m.lock"]


@pytest.mark.parametrize("damage", ["truncate", "delete", "manifest"])
def test_damaged_entry_is_reported_and_rebuilt(tmp_path: Path, damage: str, capsys) -> None:
    final = cache.build_entry(tmp_path / "m", _fill, "m")
    if damage == "truncate":
        (final / "weights.bin").write_bytes(b"w" * 10)
    elif damage == "delete":
        (final / "sub" / "config.json").unlink()
    else:
        (final / cache.MANIFEST).write_text("{not json")
    assert cache.problem(final) is not None
    cache.build_entry(final, _fill, "m")
    assert cache.problem(final) is None
    assert "incomplete" in capsys.readouterr().err


def test_stale_entry_is_reported_and_rebuilt(tmp_path: Path, capsys) -> None:
    """A complete entry that ``stale`` says is out of date (a tiny model of an older revision)
    is rebuilt once, said in one line; the rebuilt one stays."""
    final = cache.build_entry(tmp_path / "m", _fill, "m")
    builds: list[Path] = []

    def rebuild(folder: Path) -> dict:
        builds.append(folder)
        return {**_fill(folder), "what": "new"}

    def stale(folder: Path) -> str | None:
        return None if cache.read_manifest(folder)["what"] == "new" else "made by the old recipe"

    for _ in range(2):
        assert cache.build_entry(final, rebuild, "m", stale) == final
    assert len(builds) == 1 and cache.read_manifest(final)["what"] == "new"
    said = capsys.readouterr().err.strip().splitlines()
    assert said == ["[ovnb] m: cached entry is out of date (made by the old recipe); rebuilding it"]


def test_unwritable_cache_says_how_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OvnbError, match="OVNB_CACHE"):
        cache.build_entry(blocker / "m", _fill, "m")


def test_cache_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVNB_CACHE", str(tmp_path / "env"))
    assert cache.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache.cache_root() == tmp_path / "env"
    monkeypatch.delenv("OVNB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "ovnb"


# A child process builds an entry slowly, announcing each step; the test kills it at one of them.
CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from ovnb import cache

    def announce(step):
        print(step, flush=True)
        time.sleep(0.3)

    def build(folder):
        for i in range(4):
            announce(f"file{i}")
            with open(folder / f"part{i}.bin", "wb") as fh:
                fh.write(b"x" * 500_000)
                announce(f"half{i}")
                fh.write(b"y" * 500_000)
        return {}

    real_manifest, real_replace = cache.write_manifest, os.replace
    def write_manifest(folder, info):
        announce("manifest")
        real_manifest(folder, info)
    def replace(src, dst):
        if Path(dst).name == "entry":
            announce("rename")
        real_replace(src, dst)
    cache.write_manifest, cache.os.replace = write_manifest, replace
    cache.build_entry(Path(sys.argv[1]) / "entry", build, "entry")
    print("done", flush=True)
""")


@pytest.mark.parametrize("kill_at", ["file0", "half1", "file3", "half3", "manifest", "rename"])
def test_killed_build_never_looks_complete(tmp_path: Path, kill_at: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == kill_at:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL
    entry = tmp_path / "entry"
    assert not entry.exists() or cache.problem(entry) is None
    rebuilt = cache.build_entry(entry, _fill, "entry")
    assert cache.problem(rebuilt) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [".entry.lock", "entry"]


# Two processes prepare one entry: the first builds until told to finish, the second waits.
BUILDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ovnb import cache

    def build(folder):
        print("building", flush=True)
        if sys.argv[2] == "holder":
            sys.stdin.readline()  # until the test lets it finish
        (folder / "weights.bin").write_bytes(b"w" * 100)
        return {"built_by": sys.argv[2]}

    cache.build_entry(Path(sys.argv[1]) / "entry", build, "tiny-llm (fp16)")
    print("done", flush=True)
""")


def test_a_waiting_prepare_says_whom_it_waits_for(tmp_path: Path) -> None:
    """It printed nothing while it waited (20 s for a real model): it looked hung."""
    holder = subprocess.Popen([sys.executable, "-c", BUILDER, str(tmp_path), "holder"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    assert holder.stdout.readline().strip() == "building"  # it holds the lock now
    waiter = subprocess.Popen([sys.executable, "-c", BUILDER, str(tmp_path), "waiter"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert waiter.stderr is not None
    said: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: said.put(waiter.stderr.readline()), daemon=True).start()
    try:
        first = said.get(timeout=120).strip()  # a hang guard: the line comes at once, or never
        assert first == (f"[ovnb] tiny-llm (fp16): waiting for another prepare of the same model "
                         f"(PID {holder.pid}) to finish")
    finally:
        holder.stdin.write("go\n")
        holder.stdin.close()
    assert holder.wait(timeout=120) == 0
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0 and out.strip() == "done"  # it found the entry built
    assert "waiting" not in err  # said once
    assert cache.read_manifest(tmp_path / "entry")["built_by"] == "holder"
