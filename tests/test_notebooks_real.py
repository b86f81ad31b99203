"""Every notebook in real mode (no OVNB_TINY) with the hub cut off, under nbval, one by one.

A learner with no network gets the real models that prepare offline (SmolLM2, Whisper tiny.en)
and, where a task's default needs the hub, the fallback the pickers announce in one line. Each
notebook runs in a child pytest (``OVNB_TINY=0``; ``notebooks/conftest.py`` points HF_ENDPOINT at
a closed port), on the session's model cache, so the models are built once for all of them.

Cost, measured on the shared 2-core machine (load 3 to 9, SmolLM2 int4 already cached): the first
twelve in 24.8 minutes, of which 02 (four exports of SmolLM2 and one by hand) took 11.3 and 10
(PyTorch against OpenVINO, 6 runs each) 7.4, the other ten 6.0 together; 12 to 15 add 0.7 to 0.8
each, 16 (20 questions with and without a schema) 6.0. The default run (``python -m pytest``, CI, under 30 minutes with the tiny-mode notebooks and
every other suite) takes the notebooks in ``IN_CI``: one per kind of offline fallback a learner meets
(SmolLM2 from PyPI for chat, and random tiny models where vision chat, images and video have no
offline real model); ``-m real`` runs all of them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = {"01-first-steps.ipynb", "05-vision-chat.ipynb", "06-text-to-image.ipynb", "13-video.ipynb"}
NOTEBOOKS = [pytest.param(p, id=p.name, marks=[] if p.name in IN_CI else [pytest.mark.heavy])
             for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]

pytestmark = pytest.mark.real


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_in_real_mode_with_no_hub(notebook: Path, cache: Path) -> None:
    env = {**os.environ, "OVNB_TINY": "0", "OVNB_TEST_CACHE": str(cache)}
    for name in ("OVNB_CACHE", "HF_HUB_OFFLINE", "OVNB_BINDER"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--nbval-lax", str(notebook.relative_to(ROOT))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert done.returncode == 0, "\n".join(failed) + "\n" + done.stdout[-6000:]
