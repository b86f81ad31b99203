"""The runtime core: shared pipelines built under per-key locks, the view thread, token streams."""
from __future__ import annotations

import threading
from pathlib import Path

from ovnb import runtime
from ovnb.runtime import TokenStream, in_view_thread, on_view_thread, post, settle


def test_building_one_pipeline_never_blocks_loading_another(tmp_path: Path) -> None:
    release, building = threading.Event(), threading.Event()

    def slow() -> object:
        building.set()
        release.wait()
        return "slow pipeline"

    first = threading.Thread(target=lambda: runtime.load("chat", tmp_path / "a", "CPU", build=slow))
    first.start()
    building.wait()
    other = runtime.load("chat", tmp_path / "b", "CPU", build=lambda: "quick pipeline")
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

    got: list[runtime.Loaded] = []
    threads = [threading.Thread(target=lambda: got.append(
        runtime.load("chat", tmp_path / "same", "CPU", build=build))) for _ in range(3)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and got[0] is got[1] is got[2]


def test_posted_work_runs_on_the_view_thread_in_order_and_settle_waits_for_it() -> None:
    seen: list[tuple[int, bool]] = []
    for i in range(5):
        post(lambda i=i: seen.append((i, in_view_thread())))
    settle()
    assert seen == [(i, True) for i in range(5)]
    assert on_view_thread(in_view_thread) is True


def test_a_posted_job_that_raises_does_not_stop_the_view_thread(caplog) -> None:
    post(lambda: 1 / 0)
    settle()
    assert on_view_thread(lambda: "alive") == "alive"
    assert any("a view update failed" in r.message for r in caplog.records)
    caplog.clear()  # expected here: the autouse guard would otherwise fail this test


def test_a_token_stream_decodes_on_the_view_thread_and_stops_on_request() -> None:
    shown: list[tuple[str, bool]] = []
    stream = TokenStream(lambda ids: "".join(chr(96 + i) for i in ids),
                         lambda text: shown.append((text, in_view_thread())))
    streamer = stream.streamer()
    stream.start()
    running = streamer.write(1)
    streamer.write([2, 3])  # a speculative step writes several tokens at once
    stream.stopped = True
    stopped = streamer.write(4)
    stream.finish()
    settle()
    import openvino_genai as ov_genai

    assert running == ov_genai.StreamingStatus.RUNNING and stopped == ov_genai.StreamingStatus.STOP
    assert shown[-1] == ("abcd", True) and all(on_view for _, on_view in shown)
    assert stream.first_at is not None and 1 <= stream.flushes <= 4
