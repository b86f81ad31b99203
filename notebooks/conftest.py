"""Notebooks under nbval (``python -m pytest --nbval-lax``): the hub cut off, this Python, sanitized.

nbval starts one kernel per notebook, from this pytest process, when the notebook's first cell is
set up; the kernel inherits the environment of that moment. So the hook below sets the kernel
environment just around setup and restores it after, while unit tests in the same session keep the
environment they were given:

- tiny mode (``OVNB_TINY=1``) unless this process has ``OVNB_TINY`` set itself: ``OVNB_TINY=0``
  runs the notebooks in real mode (``tests/test_notebooks_real.py`` does, in a subprocess);
- the hub cut off, as on a machine with no network: ``HF_ENDPOINT`` points at a closed loopback
  port (refused at once), and in tiny mode ``HF_HUB_OFFLINE=1`` as well, so both ways a hub can be
  missing are run;
- the session's model cache: ``$OVNB_CACHE``, else ``$OVNB_TEST_CACHE`` (the unit tests' reusable
  cache), else the default.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Generator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kernel_env() -> dict[str, str]:
    """What the notebook kernels get on top of this process's environment."""
    tiny = os.environ.get("OVNB_TINY", "1")
    env = {"OVNB_TINY": tiny, "TOKENIZERS_PARALLELISM": "false",
           "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    if tiny.strip().lower() not in ("", "0", "false", "no", "off"):
        env["HF_HUB_OFFLINE"] = "1"
    shared = os.environ.get("OVNB_CACHE") or os.environ.get("OVNB_TEST_CACHE")
    if shared:
        env["OVNB_CACHE"] = shared
    return env


def pytest_configure(config: pytest.Config) -> None:
    """Run kernels with this Python (not whatever `python3` kernelspec is installed), and
    sanitize with ``sanitize.cfg`` unless the command line names other choices."""
    option = config.option
    if not hasattr(option, "nbval_sanitize_with"):  # nbval is not installed
        return
    if option.nbval_sanitize_with is None:
        option.nbval_sanitize_with = str(HERE / "sanitize.cfg")
    if not option.nbval_kernel_name:
        option.nbval_current_env = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    """Set the kernel environment while nbval starts a notebook's kernel, then restore it."""
    env = kernel_env()
    saved = {name: os.environ.get(name) for name in (*env, "HF_HUB_OFFLINE")}
    os.environ.pop("HF_HUB_OFFLINE", None)  # real mode: only the closed port cuts the hub off
    os.environ.update(env)
    try:
        return (yield)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
