"""The view thread: posted work runs there in order, failures are logged, waits serve it."""
from __future__ import annotations

import threading
import time

import pytest

from ovnb.runtime.views import in_view_thread, later, on_view_thread, post, settle, wait_for


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


def test_waiting_on_the_view_thread_keeps_serving_it() -> None:
    """An observer (on the view thread) that waits for something only the view thread can do
    still gets it: the wait serves the queue meanwhile."""
    done = threading.Event()

    def waits() -> str:
        post(done.set)  # only the view thread can set it, and it is busy in this very call
        wait_for(done)
        return "served"

    assert on_view_thread(waits) == "served"


def test_a_ctrl_c_the_os_gives_another_thread_still_reaches_a_waiting_main_thread() -> None:
    """A kernel interrupt is a SIGINT to the process; the OS may run its handler on any thread.
    The main thread, waiting for a run, must still raise KeyboardInterrupt (it slept forever)."""
    import signal

    from ovnb.runtime.views import wait_for
    from tests.threads import waiting_for_a_run

    never, heard = threading.Event(), threading.Event()
    main = threading.get_ident()

    def press() -> None:
        while not waiting_for_a_run(main):
            threading.Event().wait(0.005)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # handled on this thread
        if not heard.wait(30):  # a failing run ends instead of hanging
            never.set()

    threading.Thread(target=press, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        try:
            wait_for(never)
        finally:
            heard.set()
    assert not never.is_set()


def test_a_later_job_runs_on_the_view_thread_not_before_its_delay_and_in_order() -> None:
    seen: list[tuple[str, float, bool]] = []
    done = threading.Event()
    begun = time.monotonic()

    def job(name: str) -> None:
        seen.append((name, time.monotonic() - begun, in_view_thread()))

    later(0.05, lambda: job("first"))
    later(0.05, lambda: (job("second"), done.set()))  # due no earlier than the first
    assert done.wait(600)
    assert [name for name, _, _ in seen] == ["first", "second"]
    assert all(waited >= 0.05 and on_view for _, waited, on_view in seen)
