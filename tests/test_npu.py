"""Running on an NPU: its export, the settings that reach the pipeline, and the message without one.

This machine has no NPU: the settings are checked with an injected device list and a recorder in
place of the pipeline constructor, so nothing is compiled for a device that is not there.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import ovnb
from ovnb import devices, models
from ovnb.errors import OvnbError
from ovnb.families import Family
from ovnb.runtime import pipelines
from ovnb.speculative import plan_llm
from tests.conftest import F32

NO_NPU = "device NPU is not available here: choose one of CPU, AUTO"


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The compile cache GPU/NPU/AUTO pipelines get, in a scratch folder."""
    monkeypatch.setenv("OVNB_COMPILE_CACHE", str(tmp_path / "compiled"))
    return (tmp_path / "compiled").resolve()


@pytest.fixture
def with_npu(monkeypatch: pytest.MonkeyPatch, compiled: Path) -> list[dict[str, Any]]:
    """Pretend an NPU is present, and record pipeline constructions instead of compiling."""
    built: list[dict[str, Any]] = []

    def record(family: Family, folder: Path, device: str, properties: dict[str, Any],
               **options: Any) -> Any:
        built.append({"folder": folder, "device": device, "properties": properties,
                      "kwargs": sorted(options)})
        raise OvnbError("recorded: no pipeline is built in this test")

    monkeypatch.setattr(devices, "available", lambda: ("CPU", "NPU"))
    monkeypatch.setattr(pipelines, "build", record)
    return built


def npu_settings(compiled: Path) -> dict[str, Any]:
    return {"CACHE_DIR": str(compiled), "MAX_PROMPT_LEN": 1024, "MIN_RESPONSE_LEN": 128}


def test_int4_npu_weights_are_symmetric_and_channelwise(cache: Path) -> None:
    """NPU runs int4 weights stored signed (symmetric) with one scale per output channel."""
    import openvino as ov
    import openvino_genai as ov_genai

    folder = ovnb.prepare("tiny-llm", "int4-npu", cache_dir=cache)
    model = ov.Core().read_model(folder / "openvino_model.xml")
    int4 = Counter((op.get_element_type().get_type_name(), len(op.get_output_shape(0)))
                   for op in model.get_ordered_ops() if op.get_type_name() == "Constant"
                   and op.get_element_type().get_type_name() in ("i4", "u4"))
    assert int4 == {("i4", 2): 4 * 7}  # every projection of the 4 layers; no groups, no zero points
    pipe = ov_genai.LLMPipeline(str(folder), "CPU", **F32)  # the same folder runs on CPU too
    assert len(pipe.generate("Hi", max_new_tokens=5)) == 5


def test_the_npu_plan_with_an_injected_device_list(compiled: Path) -> None:
    plan = plan_llm("NPU", {"PERF_COUNT": False}, draft=Path("draft"), draft_device="CPU",
                    available=["CPU", "NPU"])
    assert plan.properties == {**npu_settings(compiled), "PERF_COUNT": False}
    assert (plan.draft_device, plan.draft_properties) == ("CPU", {"PERF_COUNT": False})
    both = plan_llm("NPU", draft=Path("draft"), available=["CPU", "NPU"])
    assert both.draft_device == "NPU" and both.draft_properties == npu_settings(compiled)
    mine = plan_llm("NPU", {"MAX_PROMPT_LEN": 4096}, available=["CPU", "NPU"])
    assert mine.properties["MAX_PROMPT_LEN"] == 4096  # the caller's own setting wins


def test_chat_on_npu_gets_npu_weights_and_settings(
        cache: Path, draft: Path, with_npu: list[dict[str, Any]], compiled: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str | None]] = []
    prepare = models.prepare

    def folder_for(model: Any, precision: str | None = None, **kwargs: Any) -> Path:
        asked.append((str(model), precision))
        return prepare(model, precision, cache_dir=cache)

    monkeypatch.setattr(models, "prepare", folder_for)
    chat = ovnb.Chat("tiny-llm", device="NPU", draft="tiny-llm-draft", draft_device="CPU")
    assert chat.send("Hi") == "" and chat.last_error.startswith("recorded")
    assert asked == [("tiny-llm", "int4-npu"), ("tiny-llm-draft", None)]
    assert with_npu[0]["device"] == "NPU" and with_npu[0]["properties"] == npu_settings(compiled)
    assert with_npu[0]["folder"].name == "int4-npu" and with_npu[0]["kwargs"] == ["draft_model"]
    assert (chat.plan.draft_device, chat.plan.draft_properties) == ("CPU", {})
    assert chat.plan.draft == draft


def test_a_device_picker_drives_chat(llm: Path, with_npu: list[dict[str, Any]],
                                     compiled: Path) -> None:
    picker = ovnb.DevicePicker(devices=["CPU", "NPU"], value="NPU")
    chat = ovnb.Chat(llm, device=picker, properties={"PERF_COUNT": False})
    assert chat.send("Hi") == ""
    assert chat.device == "NPU" and with_npu[0]["device"] == "NPU"
    assert with_npu[0]["properties"] == {**picker.pipeline_properties("chat"), "PERF_COUNT": False}
    assert with_npu[0]["properties"] == {**npu_settings(compiled), "PERF_COUNT": False}


@pytest.mark.parametrize("where", ["main", "draft"])
def test_no_npu_is_one_clean_line(llm: Path, draft: Path, where: str) -> None:
    devices_ = {"device": "NPU"} if where == "main" else {"draft_device": "NPU"}
    chat = ovnb.Chat(llm, draft=draft, **devices_)
    assert chat.send("Hi") == ""
    assert chat.last_error == NO_NPU and NO_NPU in chat.view.error_line.value
    assert chat.messages == [] and not chat.busy
    bench = ovnb.SpeculativeBench(llm, draft, **devices_)
    assert bench.run() is None and bench.last_error == NO_NPU


def test_auto_is_a_device_too(llm: Path, compiled: Path) -> None:
    """AUTO lets OpenVINO choose (CPU here): same answer, with a compile cache."""
    auto = ovnb.Chat(llm, device="AUTO", properties=F32, max_new_tokens=16)
    cpu = ovnb.Chat(llm, properties=F32, max_new_tokens=16)
    assert auto.send("Hello") == cpu.send("Hello") != ""
    assert auto.plan.properties == {"CACHE_DIR": str(compiled), **F32}
    assert cpu.plan.properties == F32
    assert devices.resolve("AUTO", "chat") == ("AUTO", {"CACHE_DIR": str(compiled)})
