"""Every notebook in real mode (no OVNB_TINY) with the hub cut off, under nbval, one by one.

A learner with no network gets the real models that prepare offline (SmolLM2, Whisper tiny.en)
and, where a task's default needs the hub, the fallback the pickers announce in one line. Each
notebook runs in a child pytest (``OVNB_TINY=0``; ``notebooks/conftest.py`` points HF_ENDPOINT at
a closed port), on the session's model cache, so the models are built once for all of them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.real


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_real_mode_with_no_hub(notebook: Path, cache: Path) -> None:
    env = {**os.environ, "OVNB_TINY": "0", "OVNB_TEST_CACHE": str(cache)}
    for name in ("OVNB_CACHE", "HF_HUB_OFFLINE", "OVNB_BINDER"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--nbval-lax", str(notebook.relative_to(ROOT))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert done.returncode == 0, "\n".join(failed) + "\n" + done.stdout[-6000:]
