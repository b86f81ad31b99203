"""Staging a workshop (``ovnb prepare --from`` / ``--all-defaults``) and the read-only shared cache."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ovnb
from ovnb import cli, staging
from ovnb.families import TASKS
from ovnb.cache import problem
from ovnb.errors import OvnbError
from tests.conftest import F32

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def with_tiny_llm(root: Path, llm: Path) -> Path:
    """A cache holding a copy of the prepared tiny-llm (no export needed)."""
    shutil.copytree(llm, root / "models" / "tiny-llm" / "fp16")
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and mtime: any write changes it (even as root,
    where a read-only mode does not stop writes)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in [root, *root.rglob("*")]}


# the list file ------------------------------------------------------------------------------
def test_read_list_takes_ids_precisions_and_comments(tmp_path: Path) -> None:
    listing = tmp_path / "workshop.txt"
    listing.write_text("# day one\ntiny-llm\n\n  openai/whisper-tiny.en  int8  # speech\n")
    assert staging.read_list(listing) == [("tiny-llm", None), ("openai/whisper-tiny.en", "int8")]


@pytest.mark.parametrize("line", ["tiny-llm fp8", "tiny-llm int4 extra"])
def test_read_list_names_the_bad_line(tmp_path: Path, line: str) -> None:
    listing = tmp_path / "workshop.txt"
    listing.write_text(f"tiny-llm\n{line}\n")
    with pytest.raises(OvnbError, match=r"workshop.txt:2: expected `ID \[PRECISION\]`"):
        staging.read_list(listing)


def test_default_items_per_mode() -> None:
    tiny = [model_id for model_id, _ in staging.default_items(tiny=True)]
    assert tiny == ovnb.catalogs.offline_ids() and "tiny-sd" in tiny
    real = [model_id for model_id, _ in staging.default_items(tiny=False)]
    assert len(real) == len(TASKS)
    assert "tiny-llm" not in real and "HuggingFaceTB/SmolLM2-135M-Instruct" in real


# staging ---------------------------------------------------------------------------------------
def test_stage_from_a_file_goes_on_after_failures_and_resumes(tmp_path: Path, llm: Path) -> None:
    root = with_tiny_llm(tmp_path / "cache", llm)
    listing = tmp_path / "workshop.txt"
    listing.write_text("no-such-model\ntiny-llm\ntiny-llm-draft fp16  # the draft\nTINY-LLM\n")
    rows = staging.stage(staging.read_list(listing), root)
    assert [(r.model_id, r.status) for r in rows] == [
        ("no-such-model", "failed"), ("tiny-llm", "ready"), ("tiny-llm-draft", "prepared")]
    assert "unknown model id 'no-such-model'" in rows[0].error
    draft = root / "models" / "tiny-llm-draft" / "fp16"
    assert rows[2].folder == draft and problem(draft) is None and rows[2].size > 0
    built = (draft / "ovnb.json").stat().st_mtime_ns
    # the same command again: only reads, exit 1 because one model failed, table on stdout
    out = subprocess.run([sys.executable, "-m", "ovnb", "prepare", "--from", str(listing),
                          "--cache-dir", str(root)], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ID", "PRECISION", "STATUS", "SIZE"]
    assert lines[2].split()[:3] == ["tiny-llm", "fp16", "ready"]
    assert lines[3].split()[:3] == ["tiny-llm-draft", "fp16", "ready"]
    assert "unknown model id" in out.stdout
    assert lines[-1].startswith("2 already ready, 0 prepared now, 1 failed")
    assert (draft / "ovnb.json").stat().st_mtime_ns == built


def test_all_defaults_through_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, llm: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    root = with_tiny_llm(tmp_path, llm)
    monkeypatch.setattr(staging, "default_items", lambda: [("tiny-llm", None)])
    assert cli.main(["prepare", "--all-defaults", "--cache-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "tiny-llm" in out and "1 already ready, 0 prepared now, 0 failed" in out


def test_list_options_exclude_a_model_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["prepare", "tiny-llm", "--all-defaults"]) == 1
    assert "give no MODEL_ID" in capsys.readouterr().err


# the read-only shared cache ------------------------------------------------------------------
@pytest.fixture
def shared(tmp_path: Path, llm: Path) -> Iterator[Path]:
    """A staged cache made read-only (restored afterwards so pytest can delete it)."""
    root = with_tiny_llm(tmp_path / "shared", llm)
    paths = [root, *root.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield root
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_read_only_cache_loads_and_nothing_writes_there(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path, shared: Path) -> None:
    before = snapshot(shared)
    monkeypatch.setenv("OVNB_CACHE", str(shared))
    monkeypatch.setenv("OVNB_COMPILE_CACHE", str(tmp_path / "compiled"))
    folder = ovnb.prepare("tiny-llm")
    assert folder == shared / "models" / "tiny-llm" / "fp16"
    device = ovnb.DevicePicker(value="AUTO")  # AUTO gets a compile cache: it must go elsewhere
    properties = {**F32, **device.pipeline_properties("chat")}
    assert properties["CACHE_DIR"] == str((tmp_path / "compiled").resolve())
    chat = ovnb.Chat("tiny-llm", device=device.value, properties=properties, max_new_tokens=4)
    assert chat.send("Hi") and chat.last_error == ""
    rows = staging.stage([("tiny-llm", None)])
    assert rows[0].status == "ready"
    picker = ovnb.ModelPicker("chat", value="tiny-llm")
    assert picker.prepare() == folder
    out = subprocess.run([sys.executable, "-m", "ovnb", "doctor"], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "tiny-llm fp16" in out.stdout, out.stdout
    assert snapshot(shared) == before


def test_tiny_mode_prefers_a_real_offline_model_where_marked() -> None:
    assert staging.default_entry("speech", tiny=True)["id"] == "openai/whisper-tiny.en"
    assert staging.default_entry("chat", tiny=True)["id"] == "tiny-llm"
    assert staging.default_entry("embedding", tiny=True)["id"] == MINILM
    assert staging.default_entry("rerank", tiny=True)["id"] == "tiny-rerank"
    assert staging.default_entry("text-to-speech", tiny=True)["id"] == "tiny-speecht5"


def test_real_defaults_of_the_speech_out_and_retrieval_tasks() -> None:
    """The usual choices (with no hub, the last two fall back: tested below)."""
    assert staging.default_entry("embedding", tiny=False)["id"] == MINILM  # offline
    assert staging.preferred("rerank", tiny=False)[0]["id"] == "cross-encoder/ms-marco-MiniLM-L6-v2"
    assert staging.preferred("text-to-speech", tiny=False)[0]["id"] == "microsoft/speecht5_tts"


def test_binder_defaults_fit_in_two_gigabytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from ovnb import catalogs

    monkeypatch.setenv("OVNB_BINDER", "1")
    for task in TASKS:
        entry = staging.default_entry(task, tiny=False)
        assert catalogs.estimate(entry)["ram_gb"] < 2, entry["id"]


# defaults with no hub ---------------------------------------------------------------------------
def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NoHub:
    """The hub cut off as a machine with no network sees it (a closed port), probes counted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from ovnb import doctor

        self.endpoint = f"http://127.0.0.1:{closed_port()}"
        self.probes: list[str] = []
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("OVNB_BINDER", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", self.endpoint)
        real = doctor.hub_problem
        monkeypatch.setattr(doctor, "hub_problem", lambda *a: self.probes.append(a[0]) or real(*a))
        assert staging.hub_problem(refresh=True) is not None  # this endpoint, probed once now
        self.probes.clear()


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> NoHub:
    return NoHub(monkeypatch)


def test_a_default_that_needs_the_hub_falls_back_offline_in_one_line(
        no_hub: NoHub, tmp_path: Path) -> None:
    usual = staging.preferred("vision-chat", tiny=False)[0]
    assert not any(s["kind"] in ("tiny", "offline") for s in usual["sources"])
    choice = staging.default_choice("vision-chat", tiny=False, cache_dir=tmp_path)
    assert choice.entry["id"] == "tiny-vlm"
    note = choice.note
    assert "\n" not in note and note.count(usual["id"]) == 2  # what it replaced, how to get it
    assert f"no answer from {no_hub.endpoint}: ConnectError" in note
    assert "random weights" in note and "set HF_ENDPOINT to a mirror" in note
    chat = staging.default_choice("chat", tiny=False, cache_dir=tmp_path)
    assert chat.entry["id"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and chat.note == ""
    for task in TASKS:
        staging.default_entry(task, tiny=False)
    assert no_hub.probes == []  # the first probe's answer is reused, not asked again


def test_hf_hub_offline_falls_back_without_a_probe(monkeypatch: pytest.MonkeyPatch,
                                                   no_hub: NoHub, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    choice = staging.default_choice("image", tiny=False, cache_dir=tmp_path)
    assert choice.entry["id"] == "tiny-sd"
    assert "(HF_HUB_OFFLINE is set)" in choice.note and "unset HF_HUB_OFFLINE" in choice.note
    assert no_hub.probes == []


def test_a_cached_or_reachable_default_is_kept(monkeypatch: pytest.MonkeyPatch, no_hub: NoHub,
                                               tmp_path: Path, sd: Path) -> None:
    usual = staging.preferred("image", tiny=False)[0]
    shutil.copytree(sd, tmp_path / "models" / usual["id"].replace("/", "--")
                    / usual["default_precision"])  # as if staged: complete, no hub needed
    assert staging.default_choice("image", tiny=False, cache_dir=tmp_path).entry == usual
    monkeypatch.setattr(staging, "hub_problem", lambda refresh=False: None)  # the hub answers
    choice = staging.default_choice("vision-chat", tiny=False, cache_dir=tmp_path)
    assert choice.entry == staging.preferred("vision-chat", tiny=False)[0] and choice.note == ""


def test_binder_fallbacks_fit_too(monkeypatch: pytest.MonkeyPatch, no_hub: NoHub) -> None:
    from ovnb import catalogs

    monkeypatch.setenv("OVNB_BINDER", "1")
    for task in TASKS:
        entry = staging.default_choice(task, tiny=False).entry
        assert staging.prepares_here(entry) and entry["binder_fit"], entry["id"]
        assert catalogs.estimate(entry)["ram_gb"] < catalogs.BINDER_RAM_GB


def test_all_defaults_with_no_hub_stage_the_fallbacks_saying_so_once_each(
        no_hub: NoHub, capsys: pytest.CaptureFixture[str]) -> None:
    items = staging.default_items(tiny=False)
    assert all(staging.prepares_here(model_id) for model_id, _ in items)
    said = capsys.readouterr().err.splitlines()
    replaced = [t for t in TASKS if staging.preferred(t, tiny=False)[0]["id"]
                not in {i for i, _ in items}]
    # no real model of these prepares offline: each falls back, saying so once
    assert replaced == ["image", "vision-chat", "video", "text-to-speech", "rerank",
                        "multimodal-embedding", "omni"]
    assert len(said) == len(replaced)
    assert all(line.startswith(f"[ovnb] {task}: ") for line, task in zip(said, replaced))
