"""Shared fixtures: one model cache per test session, so each model is built once."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Compare outputs in f32: this CPU defaults to bf16, under which greedy outputs can differ (GENAI-FACTS).
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's model cache: $OVNB_TEST_CACHE (the root conftest.py makes a fresh one per run
    unless it is set, and shares it with the notebook kernels)."""
    reuse = os.environ.get("OVNB_TEST_CACHE")
    return Path(reuse) if reuse else tmp_path_factory.mktemp("ovnb-cache")
