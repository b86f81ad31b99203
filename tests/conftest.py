"""Shared fixtures: one model cache per test session, so each model is built once."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# Compare outputs in f32: this CPU defaults to bf16, under which greedy outputs can differ (GENAI-FACTS).
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's model cache: $OVNB_TEST_CACHE (the root conftest.py makes a fresh one per run
    unless it is set, and shares it with the notebook kernels)."""
    reuse = os.environ.get("OVNB_TEST_CACHE")
    return Path(reuse) if reuse else tmp_path_factory.mktemp("ovnb-cache")


def _prepared(model_id: str):  # -> a session fixture preparing model_id in the session's cache
    @pytest.fixture(scope="session")
    def fixture(cache: Path) -> Path:
        import ovnb

        return ovnb.prepare(model_id, cache_dir=cache)

    fixture.__doc__ = f"The prepared folder of {model_id}."
    return fixture


# the models tests run on, each prepared once per session
llm = _prepared("tiny-llm")
draft = _prepared("tiny-llm-draft")
sd = _prepared("tiny-sd")
vlm = _prepared("tiny-vlm")
tiny_whisper = _prepared("tiny-whisper")
tiny_en = _prepared("openai/whisper-tiny.en")
tiny_speecht5 = _prepared("tiny-speecht5")
omni = _prepared("tiny-qwen3-omni")
tiny_qwen3_vl_embed = _prepared("tiny-qwen3-vl-embed")


@pytest.fixture(scope="module")
def bare_vl_embed(tiny_qwen3_vl_embed: Path) -> Any:
    """openvino_genai's EmbeddingPipeline on tiny-qwen3-vl-embed at f32: what picture search is
    compared with (one per test module)."""
    import openvino_genai as ov_genai

    return ov_genai.EmbeddingPipeline(str(tiny_qwen3_vl_embed), "CPU", **F32)


@pytest.fixture(autouse=True)
def signal_stack_kept():
    """Tests make bare pipelines on the main thread to compare with; two of them ended in the
    order they were made leave the thread an unmapped signal stack, and a later test's Ctrl-C
    would kill the whole run (ovnb.runtime.sigstack). Each test ends with the stack it began with."""
    from ovnb.runtime import sigstack

    with sigstack.kept():
        yield


@pytest.fixture(autouse=True)
def no_failed_view_updates(caplog: pytest.LogCaptureFixture):
    """A view update that raised (logged by ovnb's view thread, nobody waits for it) fails the
    test that caused it: such failures are otherwise invisible."""
    yield
    failed = [r for r in caplog.records if r.name == "ovnb" and r.levelname == "ERROR"]
    assert not failed, f"a view update failed: {failed[0].exc_info[1]!r}"
