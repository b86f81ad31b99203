"""prepare(): ids, folders and failures a user can cause, each answered in one line."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ovnb
from ovnb.cache import read_manifest
from ovnb.errors import OvnbError


def test_unknown_id_suggests_close_ids(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match="did you mean .*tiny-llm") as err:
        ovnb.prepare("tiny-lm", cache_dir=tmp_path)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "models").exists()


def test_bad_precision(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match="unknown precision"):
        ovnb.prepare("tiny-llm", "fp8", cache_dir=tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match="no such folder"):
        ovnb.prepare(tmp_path / "nothing-here")


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(OvnbError, match="not an OpenVINO model folder"):
        ovnb.prepare(tmp_path)


def test_prepared_folder_passes_through(cache: Path) -> None:
    folder = ovnb.prepare("tiny-llm", cache_dir=cache)
    assert ovnb.prepare(folder) == folder
    assert ovnb.prepare(str(folder)) == folder


def test_cached_prepare_returns_the_same_entry(cache: Path) -> None:
    folder = ovnb.prepare("tiny-llm", cache_dir=cache)
    created = read_manifest(folder)["created"]
    assert ovnb.prepare("tiny-llm", cache_dir=cache) == folder
    assert read_manifest(folder)["created"] == created
    assert read_manifest(folder)["source"]["kind"] == "tiny"


def test_corrupt_entry_is_rebuilt(cache: Path, tmp_path: Path, capsys) -> None:
    ovnb.prepare("tiny-llm", cache_dir=cache)
    private = tmp_path / "cache"
    shutil.copytree(cache / "models" / "tiny-llm", private / "models" / "tiny-llm")
    shutil.copytree(cache / "sources" / "tiny-llm", private / "sources" / "tiny-llm")
    weights = private / "models" / "tiny-llm" / "fp16" / "openvino_model.bin"
    weights.write_bytes(weights.read_bytes()[:100])
    folder = ovnb.prepare("tiny-llm", cache_dir=private)
    assert "openvino_model.bin is 100 bytes" in capsys.readouterr().err
    assert folder.joinpath("openvino_model.bin").stat().st_size > 100

    import openvino_genai

    pipe = openvino_genai.LLMPipeline(str(folder), "CPU")
    assert isinstance(pipe.generate("hi", max_new_tokens=3), str)


def test_precision_outside_the_entry_is_refused(tmp_path: Path) -> None:
    draft = next(e for e in ovnb.catalog("chat") if e.get("draft_only") and "fp16" not in
                 e["precisions"])
    with pytest.raises(OvnbError, match="comes in"):
        ovnb.prepare(draft["id"], "fp16", cache_dir=tmp_path)


def test_remote_code_needs_an_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ovnb import models

    entry = next(e for e in ovnb.catalog() if e.get("trust_remote_code"))
    exported = []
    monkeypatch.setattr(models, "source_folder", lambda *a: exported.append(a) or tmp_path)
    hub_source = next(s for s in entry["sources"] if s["kind"] == "hub")
    with pytest.raises(OvnbError, match="trust_remote_code=True"):
        models._from_source(entry, hub_source, entry["default_precision"], tmp_path / "out",
                            tmp_path)
    assert exported == []
