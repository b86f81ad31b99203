"""``ovnb doctor`` on a healthy and on broken environments."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ovnb import doctor



def run_doctor(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
    return subprocess.run([sys.executable, "-m", "ovnb", "doctor", "--cache-dir", str(root)],
                          capture_output=True, text=True, env={**clean, **env}, timeout=120)


def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def problems(out: str, level: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith(level)]


def test_healthy_environment(tmp_path: Path, llm: Path) -> None:
    shutil.copytree(llm, tmp_path / "models" / "tiny-llm" / "fp16")
    out = run_doctor(tmp_path, HF_HUB_OFFLINE="1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert problems(out.stdout, "FAIL") == []
    assert "openvino 2026.4.1" in out.stdout and "openvino-genai 2026.4.1.0" in out.stdout
    assert "CPU (" in out.stdout and "GB RAM available" in out.stdout
    assert "1 model(s) ready: tiny-llm fp16" in out.stdout
    assert "HF_HUB_OFFLINE is set" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("ready to use")


def test_broken_cache_entry_and_unreachable_hub(tmp_path: Path, llm: Path) -> None:
    entry = tmp_path / "models" / "tiny-llm" / "fp16"
    shutil.copytree(llm, entry)
    (entry / "openvino_model.bin").write_bytes(b"truncated")
    endpoint = f"http://127.0.0.1:{closed_port()}"
    out = run_doctor(tmp_path, HF_ENDPOINT=endpoint)
    assert out.returncode == 1
    fails = problems(out.stdout, "FAIL")
    assert len(fails) == 1 and "tiny-llm (fp16) is broken: openvino_model.bin is 9 bytes" in fails[0]
    assert "fix: ovnb prepare tiny-llm --precision fp16" in out.stdout
    warns = problems(out.stdout, "WARN")
    assert any(f"cannot reach the hub at {endpoint}" in w for w in warns)
    assert "set HF_ENDPOINT to a mirror" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("1 problem(s) block use")
    assert "Traceback" not in out.stderr


def test_hub_check_honours_hf_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    check = doctor.check_hub(timeout=2)
    assert check.level == "warn" and "ConnectError" in check.message
    assert "tiny-llm" in check.message  # what still works offline


def test_mismatched_and_missing_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    real = doctor.installed
    fake = {"openvino-genai": "2026.3.0.0", "ipywidgets": None, "torch": None, "nncf": None}
    monkeypatch.setattr(doctor, "installed", lambda name: fake[name] if name in fake else real(name))
    checks = doctor.check_packages()
    found = {(c.level, c.message.split(" ")[0]): c for c in checks}
    assert found[("fail", "ipywidgets")].fix == "pip install 'ipywidgets==8.1.9'"
    assert "tested with openvino-genai==2026.4.1.0" in found[("warn", "openvino-genai")].message
    mixed = found[("fail", "OpenVINO")]
    assert "different releases" in mixed.message and "'openvino-genai==2026.4.1.0'" in mixed.fix
    export = found[("warn", "export")]
    assert "torch==2.13.0" in export.message and export.fix == "pip install 'ovnb[export]'"
    assert doctor.exit_code(checks) == 1


def test_torchvision_beside_torch_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    real = doctor.installed
    monkeypatch.setattr(doctor, "installed",
                        lambda name: "0.28.0" if name == "torchvision" else real(name))
    warn = [c for c in doctor.check_packages() if "torchvision" in c.message]
    assert warn and warn[0].level == "warn" and "uninstall" in warn[0].fix


def test_read_only_cache_with_models_is_fine_empty_is_not(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path, llm: Path) -> None:
    monkeypatch.setattr("ovnb.devices.writable", lambda folder: False)
    empty = doctor.check_disk(tmp_path)
    assert empty.level == "fail" and "OVNB_CACHE" in empty.fix
    shutil.copytree(llm, tmp_path / "models" / "tiny-llm" / "fp16")
    staged = doctor.check_disk(tmp_path)
    assert staged.level == "ok" and "read-only" in staged.message


def test_low_memory_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    for free, level in ((0.3, "fail"), (1.2, "warn"), (8.0, "ok"), (None, "warn")):
        monkeypatch.setattr("ovnb.devices.free_ram_gb", lambda free=free: free)
        assert doctor.check_memory().level == level


@pytest.mark.parametrize("where", ["the-file", "under-the-file"])
def test_a_cache_path_that_is_a_file_is_called_a_file(tmp_path: Path, where: str) -> None:
    """It was called "read-only", which sends a learner looking for permissions."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder\n")
    root = blocker if where == "the-file" else blocker / "ovnb"
    check = doctor.check_disk(root)
    assert check.level == "fail" and "read-only" not in check.message
    assert check.message == (f"the cache {root} is a file, not a folder" if where == "the-file"
                             else f"the cache {root} is under a file ({blocker}), not a folder")
    assert check.fix == "export OVNB_CACHE=/a/writable/folder (or move the file away)"
    out = run_doctor(root, HF_HUB_OFFLINE="1")
    assert out.returncode == 1 and problems(out.stdout, "FAIL") == [f"FAIL  disk      {check.message}"]


def test_view_is_the_report_as_an_html_table(tmp_path: Path) -> None:
    checks = [doctor.Check("packages", "ok", "12 match the tested versions"),
              doctor.Check("cache", "fail", "tiny-llm (fp16) is broken: <truncated>",
                           "ovnb prepare tiny-llm --precision fp16"),
              doctor.Check("hub", "warn", "cannot reach the hub", "set HF_HUB_OFFLINE=1")]
    view = doctor.view(checks, tmp_path)
    assert repr(view) == str(view) == doctor.report(checks, tmp_path)  # the terminal's text
    markup = view._repr_html_()
    rows = markup.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == len(checks)
    assert ">FAIL</td>" in rows[1] and ">ovnb prepare tiny-llm --precision fp16</td>" in rows[1]
    assert "&lt;truncated&gt;" in rows[1]  # escaped
    assert ">set HF_HUB_OFFLINE=1</td>" in rows[2] and rows[0].endswith("></td>")  # no fix for ok
    assert "1 problem(s) block use, 1 warning(s)" in markup.split("</table>")[1]
