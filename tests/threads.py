"""Thread helpers for tests that must not race a clock."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any


def waiting_for_a_run(thread_id: int) -> bool:
    """Whether ``thread_id`` is blocked in ovnb's wait for a run (``runtime.wait_for``)."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        if frame.f_code.co_name == "wait_for":
            return True
        frame = frame.f_back
    return False


def interrupt_when_waiting(thread_id: int) -> None:
    """SIGINT (Ctrl-C) once ``thread_id`` waits for a run, as a user's Ctrl-C would find it."""
    while not waiting_for_a_run(thread_id):
        threading.Event().wait(0.005)
    os.kill(os.getpid(), signal.SIGINT)


def ctrl_c_soon() -> None:
    """Press Ctrl-C for the calling (main) thread as soon as it waits for a run."""
    threading.Thread(target=interrupt_when_waiting, args=(threading.get_ident(),),
                     daemon=True).start()


def ctrl_c_at_the_first_token(monkeypatch: Any) -> None:
    """Press Ctrl-C for the calling (main) thread when a stream gets its first token, and hold
    generation there until the stop reaches that stream: the run is stopped after one token
    however fast the model is (a tiny model writes 2000 tokens before a plain Ctrl-C lands)."""
    from ovnb.runtime.streams import TokenStream

    main = threading.get_ident()
    first_token = TokenStream.first_token

    def press(stream: TokenStream) -> None:
        first_token(stream)
        interrupt_when_waiting(main)
        while not stream.stopped:  # the session's stop sets it (Ctrl-C -> stop -> _on_stop)
            threading.Event().wait(0.005)

    monkeypatch.setattr(TokenStream, "first_token", press)
