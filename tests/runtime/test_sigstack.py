"""A Ctrl-C must never kill the process: OpenVINO's CPU plugin can leave a thread an unmapped
signal stack (see ovnb.runtime.sigstack); every OpenVINO object ovnb makes keeps the thread's own.

The crash is shown in child processes (each test ends only the process it started); the state
behind it, the thread's signal stack, is checked in this one.
"""
from __future__ import annotations

import ctypes
import queue
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ovnb import devices
from ovnb.families import CHAT
from ovnb.runtime import pipelines, sigstack
from tests.conftest import F32

ROOT = Path(__file__).resolve().parents[2]

# two pipelines made, the first one ended first (as when a pipeline is rebuilt with new settings),
# then a Ctrl-C; MAKE is how each pipeline is made
CTRL_C_AFTER_TWO = """
import signal, sys, threading
from ovnb.families import CHAT
from ovnb.runtime import pipelines
import openvino_genai as ov_genai
folder = sys.argv[1]
first = MAKE
second = MAKE
del first
del second
try:
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # Ctrl-C, on the thread that made them
except KeyboardInterrupt:
    print("interrupted, alive")
"""


def ctrl_c_after_two(folder: Path, make: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(CTRL_C_AFTER_TWO).replace("MAKE", make)
    return subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)


def test_bare_pipelines_ended_in_their_order_make_a_ctrl_c_fatal(llm: Path) -> None:
    """What ovnb works around (openvino 2026.4): when this fails, OpenVINO's CPU plugin no longer
    leaves a stale signal stack, and ovnb.runtime.sigstack can go."""
    done = ctrl_c_after_two(llm, 'ov_genai.LLMPipeline(folder, "CPU")')
    assert done.returncode == -signal.SIGSEGV and "alive" not in done.stdout


def test_pipelines_ovnb_builds_leave_a_ctrl_c_harmless(llm: Path) -> None:
    done = ctrl_c_after_two(llm, 'pipelines.build(CHAT, folder, "CPU", {})')
    assert done.returncode == 0 and done.stdout.strip() == "interrupted, alive", done.stderr[-2000:]


def test_every_openvino_object_ovnb_makes_keeps_the_threads_signal_stack(llm: Path) -> None:
    before = sigstack.current()
    made = [pipelines.build(CHAT, llm, "CPU", F32), pipelines.open_tokenizer(llm),
            pipelines.build(CHAT, llm, "CPU", F32)]
    devices.full_names.cache_clear()
    devices.available.cache_clear()
    assert devices.full_names() and sigstack.current() == before
    while made:
        made.pop(0)  # ended in the order they were made
        assert sigstack.current() == before


def test_kept_puts_back_a_stack_the_body_replaced() -> None:
    before = sigstack.current()
    other = ctypes.create_string_buffer(64 * 1024)
    replaced = (ctypes.addressof(other), len(other), 0)
    with sigstack.kept():
        sigstack.restore(replaced)  # as OpenVINO's CPU plugin does when it is made
        assert sigstack.current() == replaced
    assert sigstack.current() == before


def test_a_kernel_interrupt_after_a_cell_run_twice_finds_the_kernel_alive(llm: Path) -> None:
    """A learner runs a cell making a bare pipeline twice, deletes it, then interrupts a cell:
    without ovnb's kernel guard the kernel dies there."""
    from benchmarks.kernel import execute

    manager_module = pytest.importorskip("jupyter_client.manager")
    manager, client = manager_module.start_new_kernel(cwd=str(ROOT))
    try:
        execute(client, f"import ovnb, openvino_genai as ov_genai\nfolder = {str(llm)!r}", 300)
        for _ in range(2):
            execute(client, "pipe = ov_genai.LLMPipeline(folder, 'CPU')", 300)
        execute(client, "del pipe", 60)
        asked = client.execute("import time\nprint('running', flush=True)\ntime.sleep(300)")
        while not is_reply(client.get_iopub_msg(timeout=60), asked, "stream"):
            pass  # "busy" is published before ipykernel listens for SIGINT: wait for the cell
        manager.interrupt_kernel()
        reply = next_reply(manager, client, asked)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert manager.is_alive() and execute(client, "print(6 * 7)", 60) == "42\n"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def is_reply(msg: dict, asked: str, kind: str) -> bool:
    """Whether ``msg`` is a ``kind`` message answering request ``asked``."""
    return msg["parent_header"].get("msg_id") == asked and msg["msg_type"] == kind


def next_reply(manager: Any, client: Any, asked: str, polls: int = 150) -> dict:
    """The execute_reply to ``asked`` (earlier cells' replies come first); fails at once if the
    kernel process dies meanwhile, and after ``polls`` empty waits of 2 s."""
    for _ in range(polls):
        try:
            reply = client.get_shell_msg(timeout=2)
        except queue.Empty:
            assert manager.is_alive(), "the kernel died of the interrupt"
            continue
        if is_reply(reply, asked, "execute_reply"):
            return reply
    raise AssertionError("the kernel never answered the interrupted cell")
