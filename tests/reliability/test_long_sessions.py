"""Long sessions: a kernel that answers hundreds of turns keeps its ZMQ sockets.

openvino_genai calls a streamer on native threads, which Python sees as a new "dummy" thread
nearly every time; ipykernel opens a socket per thread that sends widget updates and never closes
a dummy thread's. Before ovnb sent its live updates from one view thread, ~0.5 socket leaked per
chat turn and a kernel's output broke ("Too many open files") after ~1300 turns (benchmarks/soak.py).
"""
from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path

import pytest

import ovnb
from ovnb import audio
from tests.conftest import F32


def test_live_updates_never_come_from_a_native_thread(models: dict[str, Path]) -> None:
    kinds: set[str] = set()

    def note(_change: dict) -> None:
        kinds.add(type(threading.current_thread()).__name__)

    chat = ovnb.Chat(models["llm"], properties=F32, max_new_tokens=30)
    chat.view.panel.observe(note, "turns")
    chat.observe(note, "live")
    widget = ovnb.Transcriber(models["whisper"], properties=F32, max_new_tokens=20)
    widget.view.transcript_box.observe(note, "value")
    for turn in range(10):
        chat.clear()
        assert chat.send(f"Tell me story {turn}")
        widget.transcribe(audio.SAMPLE)
    assert kinds and "_DummyThread" not in kinds, kinds
    assert chat.updates >= 1


KERNEL_CODE = textwrap.dedent("""
    import json, os, time
    import ovnb

    def open_fds():
        return len(os.listdir("/proc/self/fd"))  # every ZMQ socket holds an eventfd

    chat = ovnb.Chat({folder!r}, max_new_tokens=16)
    chat.send("warm up")
    time.sleep(11)  # ipykernel closes the sockets of ended threads every 10 s
    before = open_fds()
    for turn in range({turns}):
        chat.clear()
        chat.send(f"Question {{turn}}")
    time.sleep(11)
    print(json.dumps({{"before": before, "after": open_fds(), "error": chat.last_error}}))
""")


def run_in_kernel(code: str) -> str:
    """Run ``code`` in a fresh Jupyter kernel started in the repo; its stdout."""
    from benchmarks.kernel import execute

    client_mod = pytest.importorskip("jupyter_client.manager")
    manager, client = client_mod.start_new_kernel(cwd=str(Path(__file__).parents[2]))
    try:
        return execute(client, code, timeout=300)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

def test_a_kernel_keeps_its_sockets_over_many_turns(models: dict[str, Path]) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("counts open files in /proc (Linux)")
    turns = 200  # leaked ~110 sockets before the fix
    out = run_in_kernel(KERNEL_CODE.format(folder=str(models["llm"]), turns=turns))
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["error"] == ""
    assert figures["after"] - figures["before"] < 10, figures
