"""Device discovery, preference and per-device pipeline settings, with injected device lists."""
from __future__ import annotations

from pathlib import Path

import pytest

from ovnb import devices
from ovnb.errors import OvnbError
from ovnb.devices import check as check_device

LAPTOP = {"CPU": "Intel(R) Core(TM) Ultra 7 155H", "GPU.0": "Intel(R) Arc(TM) Graphics (iGPU)",
          "GPU.1": "Intel(R) Arc(TM) A770 Graphics (dGPU)", "NPU": "Intel(R) AI Boost"}


def test_injected_devices_get_auto_once_and_keep_full_names() -> None:
    found = devices.discover({**LAPTOP, "AUTO": "whatever"})
    assert list(found) == ["CPU", "GPU.0", "GPU.1", "NPU", "AUTO"]
    assert found["GPU.1"].endswith("(dGPU)") and found["AUTO"] == devices.AUTO_NAME
    assert devices.discover(["CPU", "NPU"]) == {"CPU": "CPU", "NPU": "NPU", "AUTO": devices.AUTO_NAME}


def test_this_machine_lists_cpu_with_its_full_name() -> None:
    found = devices.discover()
    assert "CPU" in found and found["CPU"] not in ("", "CPU")


@pytest.mark.parametrize(("present", "expected"), [
    (LAPTOP, "GPU.1"),  # discrete GPU first
    ({k: v for k, v in LAPTOP.items() if k != "GPU.1"}, "GPU.0"),
    ({"CPU": "x", "NPU": "y"}, "NPU"),
    ({"CPU": "x"}, "CPU"),
])
def test_best_prefers_gpu_then_npu_then_cpu_never_auto(present: dict, expected: str) -> None:
    assert devices.best(devices.discover(present)) == expected


def test_npu_settings_per_task(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OVNB_COMPILE_CACHE", str(tmp_path / "compiled"))
    chat = devices.pipeline_properties("NPU", "chat")
    assert chat == {"CACHE_DIR": str(tmp_path / "compiled"), "MAX_PROMPT_LEN": 1024,
                    "MIN_RESPONSE_LEN": 128}
    speech = devices.pipeline_properties("NPU", "speech")
    assert speech["STATIC_PIPELINE"] is True and "MAX_PROMPT_LEN" not in speech
    assert devices.pipeline_properties("GPU.1", "image") == {"CACHE_DIR": str(tmp_path / "compiled")}
    assert devices.pipeline_properties("CPU", "chat") == {}


def test_speech_out_on_a_cpu_keeps_no_runtime_cache_unless_the_caller_says() -> None:
    """Its kernels per new shape grew without bound (families.SPEECH_OUT_CPU); only a plain CPU
    gets the property (AUTO and HETERO hand properties to devices that refuse it)."""
    off = {"CPU_RUNTIME_CACHE_CAPACITY": 0}
    assert devices.pipeline_properties("CPU", "text-to-speech") == off
    assert "CPU_RUNTIME_CACHE_CAPACITY" not in devices.pipeline_properties("AUTO", "text-to-speech")
    assert devices.resolve("cpu", "text-to-speech") == ("CPU", off)
    mine = {"CPU_RUNTIME_CACHE_CAPACITY": 5000, "INFERENCE_PRECISION_HINT": "f32"}
    assert devices.resolve("CPU", "text-to-speech", mine) == ("CPU", mine)
    assert devices.precision_for("NPU", "chat") == "int4-npu"
    assert devices.precision_for("NPU", "vision-chat") == "int4-npu"
    assert devices.precision_for("NPU", "speech") is None
    assert devices.precision_for("GPU", "chat") is None


def test_compile_cache_is_never_inside_the_model_cache(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    shared = tmp_path / "shared-models"
    monkeypatch.setenv("OVNB_CACHE", str(shared))
    monkeypatch.setenv("OVNB_COMPILE_CACHE", str(shared / "compiled"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    chosen = devices.compile_cache_dir()
    assert chosen == (tmp_path / "home-cache" / "ovnb-compiled").resolve()
    assert shared not in chosen.parents and chosen.is_dir()
    assert not (shared / "compiled").exists()


def test_free_ram_reads_memavailable(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    2000000 kB\n")
    assert devices.free_ram_gb(meminfo) == pytest.approx(2.048)
    assert devices.free_ram_gb(tmp_path / "absent") is None
    assert devices.free_ram_gb() > 0  # this machine


def test_free_disk_of_a_folder_not_yet_created(tmp_path: Path) -> None:
    assert devices.free_disk_gb(tmp_path / "not" / "yet") == pytest.approx(
        devices.free_disk_gb(tmp_path), rel=0.01)


@pytest.mark.parametrize(("device", "ok"), [
    ("GPU", True),      # names GPU.0 when there are two
    ("GPU.1", True), ("GPU.2", False), ("NPU", False), ("AUTO:GPU.1,CPU", True),
    ("HETERO:NPU,CPU", False),
])
def test_check_device_against_an_injected_list(device: str, ok: bool) -> None:
    here = ["CPU", "GPU.0", "GPU.1"]
    if ok:
        check_device(device, here)
    else:
        with pytest.raises(OvnbError, match=r"is not available here: choose one of CPU, GPU.0, "
                                            r"GPU.1, AUTO$"):
            check_device(device, here)


def test_single_gpu_answers_to_gpu_0_only() -> None:
    check_device("GPU.0", ["CPU", "GPU"])
    with pytest.raises(OvnbError, match="GPU.1 is not available"):
        check_device("GPU.1", ["CPU", "GPU"])


@pytest.mark.parametrize(("given", "name"), [
    ("cpu", "CPU"), (" Cpu ", "CPU"), ("gpu.1", "GPU.1"), ("auto", "AUTO"),
    ("auto:gpu,cpu", "AUTO:GPU,CPU"), ("HETERO:GPU.1, CPU", "HETERO:GPU.1,CPU"), ("NPU", "NPU"),
])
def test_device_names_are_taken_in_any_case(given: str, name: str) -> None:
    assert devices.normalize(given) == name
    assert devices.resolve(given, "chat")[0] == name


@pytest.mark.parametrize(("given", "expect"), [
    ("", "no device given: choose one of CPU, GPU.0, GPU.1, AUTO"),
    ("  ", "no device given: choose one of CPU, GPU.0, GPU.1, AUTO"),
    ("CPU:0", "device CPU:0 is not a device name: choose one of CPU, GPU.0, GPU.1, AUTO (a second "
              "GPU is GPU.1, with a dot; a colon only follows AUTO, HETERO, MULTI or BATCH)"),
    ("gpu:1", "device gpu:1 is not a device name"),
    ("HETERO:", "HETERO: names no device after the colon: write e.g. HETERO:GPU,CPU"),
    ("AUTO:GPU,,CPU", "AUTO:GPU,,CPU names an empty device"),
    ("C PU", "device C PU is not a device name"),
])
def test_malformed_device_names_are_refused_in_one_line(given: str, expect: str) -> None:
    here = ["CPU", "GPU.0", "GPU.1"]
    for check in (lambda: devices.normalize(given, here), lambda: check_device(given, here)):
        with pytest.raises(OvnbError) as err:
            check()
        assert str(err.value).startswith(expect) and "\n" not in str(err.value)


def test_check_device_takes_any_case_and_still_refuses_what_is_absent() -> None:
    check_device("cpu", ["CPU"])
    check_device("auto:cpu", ["CPU"])
    with pytest.raises(OvnbError, match=r"^device NPU is not available here: choose one of CPU, AUTO$"):
        check_device("npu", ["CPU"])
