"""One model cache for the whole test session: unit tests, browser tests and notebook kernels.

Without OVNB_TEST_CACHE (or OVNB_CACHE for the notebooks), a fresh temporary cache is made for the
session and shared through OVNB_TEST_CACHE, so each model is built once per run, not once per suite.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_MADE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("OVNB_TEST_CACHE"):
        _MADE.append(tempfile.mkdtemp(prefix="ovnb-test-cache-"))
        os.environ["OVNB_TEST_CACHE"] = _MADE[0]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _MADE:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("OVNB_TEST_CACHE", None)
