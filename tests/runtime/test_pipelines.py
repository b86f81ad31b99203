"""Pipelines: built once per key by their family's builder, shared, other keys never waiting."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ovnb.errors import OvnbError
from ovnb.families import CHAT, Family
from ovnb.runtime import pipelines

# a family whose builder makes whatever the test hands it (``options=lambda: {"make": ...}``)
FAKE = replace(CHAT, task="fake", build="tests.runtime.test_pipelines:made")


def made(family: Family, folder: Path, device: str, properties: dict[str, Any],
         make: Callable[[], Any]) -> Any:
    """FAKE's builder."""
    return make()


def test_building_one_pipeline_never_blocks_loading_another(tmp_path: Path) -> None:
    release, building = threading.Event(), threading.Event()

    def slow() -> object:
        building.set()
        release.wait()
        return "slow pipeline"

    first = threading.Thread(target=lambda: pipelines.load(FAKE, tmp_path / "a", "CPU",
                                                           options=lambda: {"make": slow}))
    first.start()
    building.wait()
    other = pipelines.load(FAKE, tmp_path / "b", "CPU",
                           options=lambda: {"make": lambda: "quick pipeline"})
    assert other.pipe == "quick pipeline" and not release.is_set()  # built while "a" still builds
    release.set()
    first.join()


def test_one_key_is_built_once_and_shared(tmp_path: Path) -> None:
    builds: list[int] = []
    gate = threading.Event()

    def build() -> object:
        gate.wait()
        builds.append(1)
        return object()

    got: list[pipelines.Loaded[Any]] = []
    threads = [threading.Thread(target=lambda: got.append(
        pipelines.load(FAKE, tmp_path / "same", "CPU", options=lambda: {"make": build})))
        for _ in range(3)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and got[0] is got[1] is got[2] and got[0].family is FAKE


def test_a_key_beside_the_settings_makes_another_pipeline(tmp_path: Path) -> None:
    def load(key: Any) -> pipelines.Loaded[Any]:
        return pipelines.load(FAKE, tmp_path, "CPU", key=key, options=lambda: {"make": object})

    first, again, other = load("a"), load("a"), load("b")
    assert first is again and first is not other


def test_a_device_that_is_not_here_is_refused_before_the_builder_runs(tmp_path: Path) -> None:
    built: list[int] = []
    with pytest.raises(OvnbError, match="device NPU is not available here"):
        pipelines.build(FAKE, tmp_path, "NPU", {}, make=lambda: built.append(1))
    assert built == []


def test_openvino_errors_while_building_become_one_line(tmp_path: Path) -> None:
    def broken() -> None:
        raise RuntimeError("Exception from src/core.cpp:12:\nCheck 'x' failed at a.cpp\n"
                           "the model has no such input")

    with pytest.raises(OvnbError, match=r"^RuntimeError: the model has no such input$"):
        pipelines.build(FAKE, tmp_path, "CPU", {}, make=broken)


def test_freeze_makes_nested_settings_a_key() -> None:
    key = pipelines.freeze({"b": [1, {"c": Path("/x")}], "a": 2})
    assert key == (("a", 2), ("b", (1, (("c", "/x"),)))) and hash(key)
