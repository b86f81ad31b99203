"""``%load_ext ovnb``: cards for prepared folders and results, default display for the rest."""
from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import ovnb
from tests.conftest import F32


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ovnb")
    return ip


def html_of(shell: InteractiveShell, value: object) -> str | None:
    data, _ = shell.display_formatter.format(value)
    return data.get("text/html")


def test_prepared_folder_card(shell: InteractiveShell, cache: Path) -> None:
    folder = ovnb.prepare("tiny-llm", cache_dir=cache)
    card = html_of(shell, folder)
    assert "tiny-llm" in card and "fp16" in card and "chat" in card and "KB" in card
    assert "adapters" in card


def test_other_paths_keep_their_display(shell: InteractiveShell, tmp_path: Path) -> None:
    assert html_of(shell, tmp_path) is None
    assert html_of(shell, tmp_path / "missing") is None


def test_results_card_with_metrics(shell: InteractiveShell, cache: Path) -> None:
    import openvino_genai as ov_genai

    pipe = ov_genai.LLMPipeline(str(ovnb.prepare("tiny-llm", cache_dir=cache)), "CPU", **F32)
    result = pipe.generate(["Hi & <b>"], max_new_tokens=5)
    card = html_of(shell, result)
    assert "DecodedResults" in card and "tokens/s" in card and "<b>" not in card.split("</b>", 1)[1]


def test_image_tensor_card(shell: InteractiveShell) -> None:
    import numpy as np
    import openvino

    tensor = openvino.Tensor(np.zeros((1, 48, 64, 3), dtype=np.uint8))
    card = html_of(shell, tensor)
    assert "64×48" in card and "data:image/png;base64," in card
    assert html_of(shell, openvino.Tensor(np.zeros((2, 3), dtype=np.float32))) is None
