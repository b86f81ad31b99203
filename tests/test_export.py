"""Export arguments: each precision maps to the NNCF compression optimum-intel should apply, and
models optimum-intel refuses under transformers 5, or whose export ovnb patches, go through
ovnb.exportcli."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ovnb.errors import OvnbError
from ovnb.export import LIFT_VERSION_CEILING, exporter, precision_args


def _opt(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_fp16_and_int8() -> None:
    assert precision_args("fp16", {}) == ["--weight-format", "fp16"]
    assert precision_args("int8", {}) == ["--weight-format", "int8"]


def test_int4_uses_the_catalog_options() -> None:
    args = precision_args("int4", {"group_size": 64, "ratio": 0.8, "sym": True, "awq": True})
    assert _opt(args, "--weight-format") == "int4"
    assert _opt(args, "--group-size") == "64" and _opt(args, "--ratio") == "0.8"
    assert "--sym" in args and "--awq" in args and _opt(args, "--dataset") == "wikitext2"


def test_int4_npu_is_symmetric_channel_wise() -> None:
    args = precision_args("int4-npu", {"group_size": 64})
    assert _opt(args, "--weight-format") == "int4" and "--sym" in args
    assert _opt(args, "--group-size") == "-1" and _opt(args, "--ratio") == "1.0"


def test_unknown_precision() -> None:
    with pytest.raises(OvnbError):
        precision_args("int2", {})


def _source(tmp_path: Path, config: str | None) -> Path:
    if config is not None:
        (tmp_path / "config.json").write_text(config)
    return tmp_path


@pytest.mark.parametrize("model_type", LIFT_VERSION_CEILING)
def test_refused_model_types_export_through_ovnb_exportcli(tmp_path: Path, model_type: str) -> None:
    command = exporter(_source(tmp_path, json.dumps({"model_type": model_type})))
    assert command[1:] == ["-m", "ovnb.exportcli", model_type]


def test_ltx_video_pipelines_export_through_ovnb_exportcli(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTXPipeline"}))
    assert exporter(tmp_path)[1:] == ["-m", "ovnb.exportcli", "ltx-video"]


@pytest.mark.parametrize("config", [json.dumps({"model_type": "llama"}), "not json", "[]", None])
def test_other_sources_export_through_optimum_cli(tmp_path: Path, config: str | None) -> None:
    assert exporter(_source(tmp_path, config))[1:] == ["-m", "optimum.commands.optimum_cli"]
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    assert exporter(tmp_path)[1:] == ["-m", "optimum.commands.optimum_cli"]


@pytest.mark.slow  # imports optimum-intel
def test_exportcli_lifts_only_the_named_ceiling() -> None:
    from optimum.exporters.openvino import model_configs

    from ovnb.exportcli import lift_version_ceiling

    qwen2_vl = model_configs.Qwen2VLOpenVINOConfig
    before = (qwen2_vl.MAX_TRANSFORMERS_VERSION,
              model_configs.LlavaNextVideoOpenVINOConfig.MAX_TRANSFORMERS_VERSION)
    try:
        lift_version_ceiling("qwen2_vl", "image-text-to-text")
        assert qwen2_vl.__dict__["MAX_TRANSFORMERS_VERSION"] is None
        assert model_configs.LlavaNextVideoOpenVINOConfig.MAX_TRANSFORMERS_VERSION == before[1]
    finally:
        qwen2_vl.MAX_TRANSFORMERS_VERSION = before[0]


def _deepstack_case(mask_shape: tuple[int, ...], marked: tuple[int, ...] = ()) -> tuple[Any, ...]:
    """Hidden states [2, 5, 4], a mask of ``mask_shape`` marking the flat positions ``marked``,
    and one row of vision features per marked token (one zero row when none is marked, as genai
    passes for text without pictures)."""
    import torch

    torch.manual_seed(0)
    hidden = torch.randn(2, 5, 4)
    mask = torch.zeros(mask_shape, dtype=torch.bool)
    mask.view(-1)[list(marked)] = True
    visual = torch.randn(len(marked), 4) if marked else torch.zeros(1, 4)
    return hidden, mask, visual


@pytest.mark.slow  # imports torch
def test_exportcli_deepstack_adds_vision_rows_at_the_marked_tokens() -> None:
    from ovnb.exportcli import _deepstack_process

    hidden, mask, visual = _deepstack_case((2, 5), marked=(1, 2, 7))
    expected = hidden.clone()
    expected[mask] += visual  # what transformers' own boolean indexing does
    assert (_deepstack_process(None, hidden, mask, visual) - expected).abs().max() < 1e-6
    # VLMPipeline's default backend: one flag per token as [1, tokens], hidden [tokens, 1, width]
    flat = hidden.reshape(10, 1, 4)
    out = _deepstack_process(None, flat, mask.reshape(1, 10), visual)
    assert (out.reshape(2, 5, 4) - expected).abs().max() < 1e-6


@pytest.mark.slow  # imports torch
def test_exportcli_deepstack_takes_one_flag_for_text_without_pictures() -> None:
    import torch

    from ovnb.exportcli import _deepstack_process

    hidden, mask, visual = _deepstack_case((1, 1))  # EmbeddingPipeline's text-only inputs
    assert torch.equal(_deepstack_process(None, hidden, mask, visual), hidden)
    hidden, mask, visual = _deepstack_case((1, 3), marked=(1,))  # a mask of another text
    with pytest.raises(RuntimeError):
        _deepstack_process(None, hidden, mask, visual)


@pytest.mark.slow  # imports optimum-intel
@pytest.mark.xfail(raises=RuntimeError, strict=True,
                   reason="optimum-intel 2.2.0's deepstack patch reshapes a [1, 1] mask to the "
                          "hidden states' shape: EmbeddingPipeline's text-only embed fails. "
                          "When this passes, ovnb.exportcli's replacement can go.")
def test_optimum_deepstack_patch_takes_one_flag_for_text_without_pictures() -> None:
    from optimum.exporters.openvino.model_patcher import _deepstack_process_patched

    hidden, mask, visual = _deepstack_case((1, 1))
    _deepstack_process_patched(None, hidden, mask, visual)


@pytest.mark.slow  # imports optimum-intel
def test_exportcli_replaces_the_deepstack_patch_only_for_qwen3_vl() -> None:
    from optimum.exporters.openvino import model_patcher

    from ovnb import exportcli

    assert set(exportcli.REPLACED_PATCHES) == {"qwen3_vl", "ltx-video"}
    original = model_patcher._deepstack_process_patched
    try:
        exportcli.REPLACED_PATCHES["qwen3_vl"]()
        assert model_patcher._deepstack_process_patched is exportcli._deepstack_process
    finally:
        model_patcher._deepstack_process_patched = original


@pytest.mark.slow  # imports optimum-intel
def test_exportcli_traces_ltx_videos_decoder_on_a_small_latent(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from optimum.exporters.openvino.input_generators import LTXVaeDummyInputGenerator
    from optimum.utils import NormalizedVisionConfig

    from ovnb import exportcli

    monkeypatch.setattr(LTXVaeDummyInputGenerator, "generate",
                        LTXVaeDummyInputGenerator.generate)  # put back after the test
    config = NormalizedVisionConfig(SimpleNamespace(num_channels=8, image_size=64))
    made = LTXVaeDummyInputGenerator("semantic-segmentation", config, num_channels=8)
    assert made.generate("latent_sample").shape == (2, 8, 2, 64, 64)  # 2048 px a side, decoded
    exportcli.REPLACED_PATCHES["ltx-video"]()
    assert made.generate("latent_sample").shape == (2, 8, 2, 8, 8)
    assert made.generate("sample").shape == (2, 8, 2, 64, 64)  # the encoder's pixels: unchanged
