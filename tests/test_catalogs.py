"""The catalog is data: check every entry is complete and well-formed."""
from __future__ import annotations

import importlib.util
import re

import pytest

from ovnb import catalogs
from ovnb.errors import OvnbError
from ovnb.layout import EXPORT_TASKS

ENTRIES = catalogs.catalog()


def test_ids_are_unique() -> None:
    ids = [e["id"].lower() for e in ENTRIES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_entry_is_complete(entry: dict) -> None:
    assert entry["task"] in EXPORT_TASKS
    assert entry["default_precision"] in catalogs.PRECISIONS
    assert entry["license"] and entry["description"] and entry["sources"]
    for source in entry["sources"]:
        assert source["kind"] in ("tiny", "offline", "hub", "hub-ov")
        if source["kind"] in ("tiny", "offline"):
            assert importlib.util.find_spec(source["module"]) is not None, source["module"]
        if source["kind"] == "offline":
            for pkg in source["packages"]:
                assert re.fullmatch(r"[0-9a-f]{64}", pkg["sha256"]) and pkg["version"]
        if source["kind"].startswith("hub"):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+", source["repo"])


def test_offline_ids_include_every_tiny_model() -> None:
    offline = catalogs.offline_ids()
    for tiny in ("tiny-llm", "tiny-llm-draft", "tiny-whisper", "tiny-sd", "tiny-vlm"):
        assert tiny in offline
    assert "openai/whisper-tiny.en" in offline


def test_task_filter_and_lookup() -> None:
    assert {e["task"] for e in catalogs.catalog("speech")} == {"speech"}
    assert catalogs.find("TINY-LLM")["id"] == "tiny-llm"
    assert catalogs.find("nope") is None


def test_close_ids_suggest_by_spelling_and_substring() -> None:
    assert "tiny-llm" in catalogs.close_ids("tiny-lm")
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in catalogs.close_ids("smollm2")


def test_bad_precision_names_the_choices() -> None:
    with pytest.raises(OvnbError, match="fp16, int8, int4, int4-npu"):
        catalogs.check_precision("int3")
