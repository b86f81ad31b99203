"""Notebooks under nbval (``python -m pytest --nbval-lax``): tiny mode, this Python, sanitized.

nbval starts one kernel per notebook, from this pytest process, when the notebook's first cell is
set up; the kernel inherits the environment of that moment. So the hook below sets ``OVNB_TINY=1``
just around setup and restores it after: the kernels run in tiny mode, while unit tests in the same
session keep the environment they were given. Kernels also share the session's model cache:
``$OVNB_CACHE``, else ``$OVNB_TEST_CACHE`` (the unit tests' reusable cache), else the default.
"""
from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def kernel_env() -> dict[str, str]:
    """What the notebook kernels get on top of this process's environment."""
    env = {"OVNB_TINY": "1", "TOKENIZERS_PARALLELISM": "false"}
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
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return (yield)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
