"""layout: which pipeline a folder is for, told from its files, and what a folder still lacks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovnb.layout import kind_of, missing_files, takes_video

DIFFUSERS_PARTS = ("transformer", "text_encoder", "vae_decoder")


def diffusers_folder(root: Path, class_name: str) -> Path:
    """A folder with the files of an exported transformer-based diffusers pipeline."""
    (root / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    for part in DIFFUSERS_PARTS:
        (root / part).mkdir()
        (root / part / "openvino_model.xml").write_text("<net/>")
        (root / part / "openvino_model.bin").write_bytes(b"")
    (root / "tokenizer").mkdir()
    for name in ("openvino_tokenizer.xml", "openvino_tokenizer.bin"):
        (root / "tokenizer" / name).write_text("")
    return root


def test_an_ltx_folder_is_a_complete_video_model(tmp_path: Path) -> None:
    folder = diffusers_folder(tmp_path, "LTXPipeline")
    assert kind_of(folder) == "video"
    assert missing_files(folder, "video") == []
    (folder / "vae_decoder" / "openvino_model.bin").unlink()
    assert missing_files(folder, "video") == ["vae_decoder/openvino_model.bin"]


@pytest.mark.parametrize("class_name", ["FluxPipeline", "StableDiffusion3Pipeline"])
def test_other_transformer_pipelines_are_not_video(tmp_path: Path, class_name: str) -> None:
    assert kind_of(diffusers_folder(tmp_path, class_name)) is None


def test_a_broken_model_index_is_no_video(tmp_path: Path) -> None:
    folder = diffusers_folder(tmp_path, "LTXPipeline")
    (folder / "model_index.json").write_text("{not json")
    assert kind_of(folder) is None


@pytest.mark.parametrize(("model_type", "video"), [
    ("qwen2_vl", True), ("qwen2_5_vl", True), ("qwen3_vl", True), ("llava_next_video", True),
    ("llava", False), ("internvl_chat", False), ("minicpmv", False)])
def test_takes_video_by_model_type(tmp_path: Path, model_type: str, video: bool) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    assert takes_video(tmp_path) is video


def test_takes_video_without_a_readable_config(tmp_path: Path) -> None:
    assert takes_video(tmp_path) is False
    (tmp_path / "config.json").write_text("[1, 2]")
    assert takes_video(tmp_path) is False
