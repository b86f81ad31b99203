"""Planning a classroom: per-learner costs of the staged models, the fit verdict of
``ovnb doctor --classroom N``, and the example ``jupyterhub_config.py``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ovnb import catalogs, classroom, doctor
from ovnb.cache import MANIFEST
from ovnb.classroom import Plan, Staged
from ovnb.errors import OvnbError

WEIGHTS = 100_000_000  # bytes of the fake weights file (sparse: no disk used)


def with_tiny_llm(root: Path, llm: Path) -> Path:
    shutil.copytree(llm, root / "models" / "tiny-llm" / "fp16")
    return root


def with_weights(root: Path, model_id: str, size: int = WEIGHTS) -> Path:
    """A complete-looking entry whose manifest lists one sparse ``size``-byte weights file."""
    folder = root / "models" / model_id.replace("/", "--") / "fp16"
    folder.mkdir(parents=True)
    with open(folder / "openvino_model.bin", "wb") as fh:
        fh.truncate(size)
    (folder / MANIFEST).write_text(json.dumps({"id": model_id,
                                               "files": {"openvino_model.bin": size}}))
    return folder


def room(learners: int, *costs: tuple[float, float]) -> Plan:
    models = tuple(Staged(f"m{i}", "int4", Path(f"/m{i}"), ram, mapped, True)
                   for i, (ram, mapped) in enumerate(costs))
    return Plan(learners, models)


# the staged models ------------------------------------------------------------------------------
def test_staged_lists_complete_models_with_the_catalog_estimate(tmp_path: Path, llm: Path) -> None:
    root = with_tiny_llm(tmp_path, llm)
    (root / "models" / "tiny-llm" / ".fp16.tmp-1-abc").mkdir()  # a killed build: not staged
    broken = root / "models" / "tiny-sd" / "fp16"
    broken.mkdir(parents=True)  # no manifest: not staged
    [model] = classroom.staged(root)
    assert (model.model_id, model.precision, model.folder) == ("tiny-llm", "fp16",
                                                               root / "models/tiny-llm/fp16")
    assert model.from_catalog
    assert model.ram_gb == catalogs.estimate(catalogs.find("tiny-llm"), "fp16")["ram_gb"]
    bins = sum(p.stat().st_size for p in model.folder.glob("*.bin"))
    assert model.mapped_gb == round(bins / 1e9, 3)


def test_a_model_outside_the_catalog_is_estimated_from_its_files(tmp_path: Path) -> None:
    with_weights(tmp_path, "someone/their-model")
    [model] = classroom.staged(tmp_path)
    assert model.model_id == "someone/their-model" and not model.from_catalog
    assert model.mapped_gb == 0.1
    assert model.ram_gb == round(catalogs.BASE_GB + 0.1 * (1 + catalogs.SLACK), 3)


def test_plan_counts_the_weights_once_when_shared() -> None:
    plan = room(10, (0.4, 0.1), (0.4, 0.1))
    assert plan.per_learner_gb == pytest.approx(classroom.LEARNER_BASE_GB + 0.8)
    assert plan.shared_gb == pytest.approx(0.2)
    assert plan.nothing_shared_gb == pytest.approx(10 * (classroom.LEARNER_BASE_GB + 0.8))
    assert plan.sharing_gb == pytest.approx(0.2 + 10 * (classroom.LEARNER_BASE_GB + 0.6))
    assert plan.most(plan.sharing_gb) == 10 and plan.most(plan.sharing_gb - 0.01) == 9
    assert plan.most(plan.nothing_shared_gb, sharing=False) == 10
    assert plan.most(0.1) == 0


def test_memory_limit_covers_a_learner_with_everything_loaded(tmp_path: Path, llm: Path) -> None:
    root = with_tiny_llm(tmp_path, llm)
    need = classroom.LEARNER_BASE_GB + classroom.staged(root)[0].ram_gb
    limit = classroom.memory_limit(root)
    assert limit.endswith("G")
    granted = float(limit[:-1]) * 2**30
    assert need * 1e9 <= granted < need * 1e9 + 0.1 * 2**30


def test_memory_limit_of_an_empty_cache_says_to_stage_first(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match=r"no model is staged in .*ovnb prepare --from FILE"):
        classroom.memory_limit(tmp_path)


# ovnb doctor --classroom N ---------------------------------------------------------------------
def test_doctor_says_whether_a_room_fits(tmp_path: Path) -> None:
    with_weights(tmp_path, "tiny-llm")  # the catalog's 0.3 GB, of which 0.1 GB weights
    per, shared = classroom.LEARNER_BASE_GB + 0.3, 0.1
    alone, sharing = 10 * per, shared + 10 * (per - shared)
    *models, fits = doctor.check_classroom(tmp_path, 10, ram_gb=alone + 0.5)
    assert [m.message for m in models] == [
        "tiny-llm fp16: 0.30 GB per learner (catalog estimate), of which 0.10 GB weights "
        "shared by all"]
    assert fits.level == "ok" and fits.message.startswith("10 learners fit:")
    tight = doctor.check_classroom(tmp_path, 10, ram_gb=(alone + sharing) / 2)[-1]
    assert tight.level == "warn" and "only because they share the weights" in tight.message
    short = doctor.check_classroom(tmp_path, 10, ram_gb=sharing - 1)[-1]
    most = int((sharing - 1 - shared) // (per - shared))
    assert short.level == "fail" and short.message.startswith("10 learners do not fit")
    assert f"at most {most} fit" in short.message and "int4" in short.fix
    assert doctor.exit_code([short]) == 1


def test_doctor_classroom_on_an_empty_cache_names_the_fix(tmp_path: Path) -> None:
    [check] = doctor.check_classroom(tmp_path, 3, ram_gb=16)
    assert check.level == "fail" and "ovnb prepare --from FILE" in check.fix


def test_doctor_classroom_from_the_command_line(tmp_path: Path, llm: Path) -> None:
    root = with_tiny_llm(tmp_path, llm)
    out = subprocess.run([sys.executable, "-m", "ovnb", "doctor", "--classroom", "2",
                          "--cache-dir", str(root)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [line for line in out.stdout.splitlines() if " classroom " in line]
    assert len(lines) == 2, out.stdout
    assert "tiny-llm fp16: 0.30 GB per learner" in lines[0]
    assert "2 learners" in lines[1] and "GB available" in lines[1]
    bad = subprocess.run([sys.executable, "-m", "ovnb", "doctor", "--classroom", "none"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected a number of learners" in bad.stderr


# the example jupyterhub_config.py --------------------------------------------------------------
def test_classroom_config_is_written_once(tmp_path: Path) -> None:
    target = tmp_path / "jupyterhub_config.py"
    command = [sys.executable, "-m", "ovnb", "classroom", "--config"]
    shown = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout == classroom.config_text()
    written = subprocess.run([*command, str(target)], capture_output=True, text=True, timeout=60)
    assert written.returncode == 0 and written.stdout.strip() == str(target)
    assert target.read_text() == classroom.config_text()
    again = subprocess.run([*command, str(target)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists: remove it" in again.stderr


def test_example_config_loads_in_jupyterhub(tmp_path: Path, llm: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Real accounts (PAM, the learners' group), the shared cache for every server, and the memory
    limit of the staged models, as JupyterHub itself reads the file."""
    app_module = pytest.importorskip("jupyterhub.app", reason="pip install -e '.[dev]' (setup.sh)")
    from jupyterhub.auth import PAMAuthenticator
    from jupyterhub.spawner import LocalProcessSpawner

    root = with_tiny_llm(tmp_path, llm)
    monkeypatch.setenv("OVNB_CACHE", str(root))
    app = app_module.JupyterHub()
    app.load_config_file(str(classroom.CONFIG_FILE))
    assert app.authenticator_class is PAMAuthenticator
    authenticator = app.authenticator_class(config=app.config)
    assert authenticator.allowed_groups == {"workshop"}
    assert issubclass(app.spawner_class, LocalProcessSpawner) or \
        app.spawner_class.__name__ == "SystemdSpawner"
    spawner = app.spawner_class(config=app.config)
    assert spawner.environment["OVNB_CACHE"] == str(root)
    assert spawner.mem_limit == int(float(classroom.memory_limit(root)[:-1]) * 2**30)


def test_example_config_refuses_an_empty_cache_in_one_line(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    app_module = pytest.importorskip("jupyterhub.app", reason="pip install -e '.[dev]' (setup.sh)")
    monkeypatch.setenv("OVNB_CACHE", str(tmp_path))
    with pytest.raises(SystemExit, match=r"^jupyterhub_config.py: no model is staged in .*"
                                         r"ovnb prepare --from FILE"):
        app_module.JupyterHub().load_config_file(str(classroom.CONFIG_FILE))
