"""The ``ovnb`` command line, run as a user runs it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ovnb.cache import problem


def ovnb(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ovnb", *args], capture_output=True, text=True,
                          **kw)


def test_list_prints_the_catalog() -> None:
    out = ovnb("list", "--task", "speech")
    assert out.returncode == 0
    assert "openai/whisper-tiny.en" in out.stdout and "tiny-llm " not in out.stdout


def test_unknown_id_is_one_line_with_suggestions() -> None:
    out = ovnb("prepare", "tiny-lm")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "did you mean" in out.stderr
    assert "Traceback" not in out.stderr


def test_prepare_prints_the_folder_last(cache: Path) -> None:
    out = ovnb("prepare", "tiny-llm", "--cache-dir", str(cache))
    assert out.returncode == 0, out.stderr
    folder = Path(out.stdout.strip().splitlines()[-1])
    assert folder == cache / "models" / "tiny-llm" / "fp16"
    assert problem(folder) is None


def test_killed_prepare_leaves_nothing_that_loads(tmp_path: Path) -> None:
    """Kill a real prepare 2 s into its export; the next one, in the same fresh cache, must
    succeed (tests/reliability/test_kills.py kills one cache at six points in turn)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-m", "ovnb", "prepare", "tiny-llm-draft",
                              "--cache-dir", str(tmp_path)], stderr=subprocess.PIPE, text=True,
                             env=env, start_new_session=True)
    assert child.stderr is not None
    for line in child.stderr:
        if line.startswith("[ovnb] exporting"):
            time.sleep(2)
            os.killpg(child.pid, signal.SIGKILL)
            break
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the prepare ended before the kill point"
    folder = tmp_path / "models" / "tiny-llm-draft" / "fp16"
    assert not folder.exists()
    out = ovnb("prepare", "tiny-llm-draft", "--cache-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert problem(folder) is None
