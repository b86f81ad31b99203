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


def test_a_tiny_build_of_an_older_revision_is_rebuilt(cache: Path, tmp_path: Path, capsys,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache built before a tiny model changed (a user's, or Binder's staged one) must not keep
    serving the old model: its manifest's revision differs from the module's, so it is rebuilt."""
    import json

    from ovnb.cache import MANIFEST
    from ovnb.models import cached
    from ovnb.sources import tiny_llm

    ovnb.prepare("tiny-llm", cache_dir=cache)
    private = tmp_path / "cache"
    for part in ("models", "sources"):
        shutil.copytree(cache / part / "tiny-llm", private / part / "tiny-llm")
        for manifest in (private / part / "tiny-llm").glob(f"*/{MANIFEST}"):
            facts = json.loads(manifest.read_text())
            source = facts["source"]
            assert source["module"] == "ovnb.sources.tiny_llm" and source.get("revision", 1) == 1
            source.pop("revision", None)  # as written before revisions were recorded: revision 1
            manifest.write_text(json.dumps(facts))
    assert cached("tiny-llm", cache_dir=private) is not None

    monkeypatch.setattr(tiny_llm, "REVISION", 2)
    assert cached("tiny-llm", cache_dir=private) is None
    folder = ovnb.prepare("tiny-llm", cache_dir=private)
    said = [line for line in capsys.readouterr().err.splitlines() if "out of date" in line]
    assert len(said) == 2 and all("revision 1 of ovnb.sources.tiny_llm, which is now at revision 2"
                                  in line and line.endswith("rebuilding it") for line in said)
    assert read_manifest(folder)["source"]["revision"] == 2
    assert cached("tiny-llm", cache_dir=private) == folder


def test_every_tiny_source_has_a_revision() -> None:
    import importlib

    modules = {s["module"] for e in ovnb.catalog() for s in e["sources"] if s["kind"] == "tiny"}
    assert modules and all(type(importlib.import_module(m).REVISION) is int for m in modules)


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


# check_folder: a folder passed by path gets the checks a cached entry gets -----------------------
def _copy(folder: Path, tmp: Path, keep_manifest: bool = False) -> Path:
    """A hand-copied model folder; without ``ovnb.json`` unless asked (as most copies come)."""
    copy = tmp / f"{folder.parent.name}-copy"
    shutil.copytree(folder, copy)
    if not keep_manifest:
        (copy / "ovnb.json").unlink()
    return copy


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _refusal(folder: Path, kind: str | None = None) -> str:
    from ovnb.models import check_folder

    with pytest.raises(OvnbError) as err:
        check_folder(folder, kind)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_complete_folders_of_every_kind_pass(llm: Path, tiny_whisper: Path, sd: Path,
                                             vlm: Path, tmp_path: Path) -> None:
    from ovnb.models import check_folder

    for folder, kind in ((llm, "chat"), (tiny_whisper, "speech"), (sd, "image"),
                         (vlm, "vision-chat")):
        check_folder(folder, kind)
        check_folder(_copy(folder, tmp_path / kind), kind)  # hand-made, no manifest: still fine


@pytest.mark.parametrize("name", ["openvino_detokenizer", "openvino_tokenizer"])
def test_a_folder_without_its_tokenizer_is_refused_naming_the_fix(llm: Path, tmp_path: Path,
                                                                   name: str) -> None:
    folder = _copy(llm, tmp_path)
    for ext in (".xml", ".bin"):
        (folder / f"{name}{ext}").unlink()
    message = _refusal(folder, "chat")
    assert f"has no {name}.xml" in message
    assert "convert_tokenizer" in message and "--with-detokenizer" in message
    with pytest.raises(OvnbError, match=f"has no {name}.xml"):
        ovnb.prepare(folder)  # the same check for a folder given to prepare


@pytest.mark.parametrize("rel", ["openvino_model.xml", "openvino_detokenizer.xml"])
def test_a_truncated_xml_says_the_folder_is_damaged(llm: Path, tmp_path: Path, rel: str) -> None:
    folder = _copy(llm, tmp_path)
    _cut(folder / rel)
    message = _refusal(folder, "chat")
    assert f"{rel} is truncated or damaged" in message
    assert "copy the whole folder again" in message


def test_a_folder_with_a_manifest_is_checked_like_a_cache_entry(llm: Path, tmp_path: Path) -> None:
    folder = _copy(llm, tmp_path, keep_manifest=True)
    _cut(folder / "openvino_tokenizer.bin")
    message = _refusal(folder, "chat")
    assert "truncated or damaged (openvino_tokenizer.bin is" in message
    assert "`ovnb prepare tiny-llm --precision fp16`" in message
    with pytest.raises(OvnbError, match="truncated or damaged"):
        ovnb.prepare(folder)


def test_a_folder_of_another_kind_is_refused(tiny_whisper: Path, tmp_path: Path) -> None:
    message = _refusal(tiny_whisper, "chat")
    assert message == ("tiny-whisper holds a speech to text model, not a chat one: pick a "
                       "chat model (`ovnb list --task chat`)")  # a cache entry by its id
    (tmp_path / "notes.txt").write_text("hello")
    assert "not an OpenVINO model folder" in _refusal(tmp_path, "chat")
