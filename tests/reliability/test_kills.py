"""A real ``ovnb prepare`` killed (SIGKILL to its process group) at six points, one after another
in one cache: each kill leaves a cache where nothing half-built can be loaded and the next prepare
goes further; the one after the last kill succeeds at once and the model runs.

tests/test_cli.py kills 2 s into the export of a fresh cache. These six points cover the source
build at a random moment (~3.5 s: torch, transformers, weights), the source entry with its files
written but no manifest, with its manifest written but not renamed, and complete before the export,
a random moment of the export (its optimum-cli child included), and the model entry renamed into
place but not yet reported. Random moments come from a seeded generator ($OVNB_TEST_SEED, default
0), so a failure can be replayed. tiny-llm-draft is the fastest real prepare: one full export
(~20-45 s) in all.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ovnb.cache import problem
from ovnb.models import cached

MODEL = "tiny-llm-draft"
SEED = int(os.environ.get("OVNB_TEST_SEED", "0"))

# The child: the real CLI, with the cache's two last steps announced on stderr. The step named in
# $OVNB_TEST_HOLD waits there (to be killed), so the kill lands exactly at that point.
CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from ovnb import cache

    hold = os.environ.get("OVNB_TEST_HOLD", "")

    def at(point):
        print(f"[hook] {point}", file=sys.stderr, flush=True)
        if point == hold:
            time.sleep(600)

    def part(path):
        return "source" if "sources" in Path(path).parts else "model"

    real_manifest, real_replace = cache.write_manifest, os.replace

    def write_manifest(folder, info):
        at(part(folder) + "-manifest")
        real_manifest(folder, info)

    def replace(src, dst):
        entry = ".tmp-" in Path(src).name  # an entry's temporary folder renamed into place
        if entry:
            at(part(dst) + "-rename")
        real_replace(src, dst)
        if entry:
            at(part(dst) + "-renamed")

    cache.write_manifest, os.replace = write_manifest, replace
    from ovnb.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@dataclass
class KillPoint:
    """Kill when ``marker`` starts a stderr line, ``delay`` s later; with ``hold`` the child
    waits at that hook until killed."""

    name: str
    marker: str
    delay: float = 0.0
    hold: str = ""


def kill_points(seed: int) -> list[KillPoint]:
    rng = random.Random(seed)
    return [
        KillPoint("source build", "[ovnb] building", rng.uniform(0.0, 1.5)),
        KillPoint("source files written, no manifest", "[hook] source-manifest",
                  hold="source-manifest"),
        KillPoint("source manifest written, not renamed", "[hook] source-rename",
                  hold="source-rename"),
        KillPoint("source complete, export not started", "[hook] source-renamed",
                  hold="source-renamed"),
        KillPoint("export", "[ovnb] exporting", rng.uniform(1.0, 6.0)),
        KillPoint("model renamed into place, not yet reported", "[hook] model-renamed",
                  hold="model-renamed"),
    ]


def run_until(point: KillPoint, root: Path) -> list[str]:
    """Start a prepare, kill its process group at ``point``; its stderr lines up to the kill."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OVNB_TEST_HOLD": point.hold}
    child = subprocess.Popen([sys.executable, "-c", CHILD, "prepare", MODEL, "--cache-dir",
                              str(root)], stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    assert child.stderr is not None
    seen: list[str] = []
    for line in child.stderr:
        seen.append(line.rstrip())
        if line.startswith(point.marker):
            break
    else:
        pytest.fail(f"{point.name}: the prepare ended before {point.marker!r}: {seen[-5:]}")
    time.sleep(point.delay)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL, f"{point.name}: the prepare ended first"
    _wait_gone(child.pid, point.name)
    return seen


def _wait_gone(group: int, name: str) -> None:
    """Every process of the group (the export's optimum-cli child too) is gone."""
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"{name}: processes of the killed prepare are still running")


def assert_nothing_half_built(root: Path, name: str) -> None:
    """Entries are complete or absent; the cache lookup never returns a half model."""
    for entry in (root / "models" / MODEL / "fp16", root / "sources" / MODEL / "tiny"):
        assert not entry.exists() or problem(entry) is None, f"{name}: {entry} is half built"
    found = cached(MODEL, cache_dir=root)
    assert found is None or problem(found) is None, name


def test_prepare_killed_at_six_points_always_resumes(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    points = kill_points(SEED)
    for point in points:
        run_until(point, root)
        assert_nothing_half_built(root, f"{point.name} (seed {SEED}, {point.delay:.2f} s)")
        if point is not points[-1]:
            assert cached(MODEL, cache_dir=root) is None, f"{point.name}: the model looks ready"
    # killed after its rename, the model entry is complete; the source survived the export kills
    assert cached(MODEL, cache_dir=root) == root / "models" / MODEL / "fp16"
    assert problem(root / "sources" / MODEL / "tiny") is None
    out = subprocess.run([sys.executable, "-m", "ovnb", "prepare", MODEL, "--cache-dir", str(root)],
                         check=False, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    folder = Path(out.stdout.strip().splitlines()[-1])
    assert folder == root / "models" / MODEL / "fp16" and problem(folder) is None
    assert "building" not in out.stderr and "exporting" not in out.stderr  # nothing redone
    leftovers = [p.name for p in (root / "models" / MODEL).iterdir()] + \
                [p.name for p in (root / "sources" / MODEL).iterdir()]
    assert sorted(leftovers) == [".fp16.lock", ".tiny.lock", "fp16", "tiny"]  # no temp folders
    _runs(folder)


def _runs(folder: Path) -> None:
    import openvino_genai as ov_genai

    pipe = ov_genai.LLMPipeline(str(folder), "CPU")
    assert pipe.generate("Hello", max_new_tokens=4)
