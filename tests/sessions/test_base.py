"""The one run lifecycle, on a session without a model: turns, Stop, errors, Ctrl-C, nesting.

Nothing here races a clock: runs wait on events the test sets, and every check counts events.
"""
from __future__ import annotations

import threading

import pytest

from ovnb.runtime.jobs import Job
from ovnb.runtime.views import in_view_thread
from ovnb.sessions.base import Session, check_text
from tests.threads import ctrl_c_soon


class Counter(Session):
    """A session whose runs wait for ``release`` (or Stop), so a test decides when they end."""

    def __init__(self) -> None:
        super().__init__()
        self.no_pipeline()
        self.release = threading.Event()
        self.started = threading.Event()
        self.runs = 0

    def work(self, fail: bool = False) -> object:
        def run(_: object, job: Job[int]) -> int:
            self.started.set()
            job.on_stop(self.release.set)
            self.release.wait()
            if fail:
                raise RuntimeError("Check 'x' failed at somewhere.cpp\nthe telling line")
            self.runs += 1
            return self.runs

        return run


def test_a_press_while_busy_is_refused_and_a_call_from_code_queues() -> None:
    session = Counter()
    first = session.start(session.work())
    session.started.wait()
    assert session.start(session.work()) is None  # a button press: refused, and it says so
    assert session.status.startswith("busy")
    queued: list[object] = []
    waiter = threading.Thread(target=lambda: queued.append(session.run(session.work()).value))
    waiter.start()
    session.release.set()
    waiter.join()
    assert session.call(first, 0) == 1 and queued == [2] and not session.busy


def test_stop_before_the_run_begins_is_heard() -> None:
    session = Counter()
    session.stop()  # an old Stop does not leak into the next run
    job = session.start(session.work())
    session.stop()
    outcome = job.wait()  # stopped before its work began, or while it waited: either way heard
    assert outcome.ok and outcome.stopped and session.last_error == "" and not session.running


def test_an_error_is_one_line_with_details_and_the_next_run_works() -> None:
    session = Counter()
    session.release.set()
    outcome = session.run(session.work(fail=True))
    assert not outcome.ok and session.last_error == "RuntimeError: the telling line"
    assert "Traceback" in session.error_details and not session.busy
    assert session.run(session.work()).ok and session.last_error == ""


def test_results_are_published_on_the_view_thread() -> None:
    session = Counter()
    threads: list[bool] = []
    session.observe(lambda change: threads.append(in_view_thread()), "busy")
    session.release.set()
    session.run(session.work())
    assert threads == [True, True]  # busy on, busy off: both applied by the view thread


def test_a_call_from_an_observer_does_not_deadlock() -> None:
    """Observers run on the view thread; a run started there must still publish and end."""
    session = Counter()
    session.release.set()
    calls: list[str] = []
    inner: list[object] = []
    ended = threading.Event()

    def on_busy(change: dict) -> None:
        if not change["new"] and not calls:  # the first run just ended: start one from here
            calls.append("once")
            inner.append(session.run(session.work()).value)
            ended.set()

    session.observe(on_busy, "busy")
    session.run(session.work())
    ended.wait()
    assert inner == [2] and session.runs == 2 and not session.running


def test_a_run_another_run_waits_for_is_made_on_its_worker_and_hears_its_stop() -> None:
    """A retriever's search runs its embedder: on the search's own worker (no second hand-off),
    through the embedder's lifecycle (busy shown and ended), and Stop of the search reaches it."""
    inner, outer = Counter(), Counter()
    threads: list[threading.Thread] = []

    def nested(_: object, job: Job[object]) -> object:
        threads.append(threading.current_thread())
        job.on_stop(inner.stop)
        return inner.run(lambda loaded, job: (threads.append(threading.current_thread()),
                                              inner.work()(loaded, job))[1]).value

    inner.release.set()
    assert outer.run(nested).value == 1
    assert threads[0] is threads[1] and threads[0] is not threading.current_thread()
    inner.release.clear()
    inner.started.clear()
    running = outer.start(nested)
    inner.started.wait()
    outer.stop()
    assert running is not None and running.wait().ok
    last = inner.join()
    assert last is not None and last.stopped and not inner.busy and not outer.busy


def test_ctrl_c_stops_the_run_and_the_next_call_works() -> None:
    session = Counter()
    job = session.start(session.work())
    session.started.wait()
    with pytest.raises(KeyboardInterrupt):
        ctrl_c_soon()
        session.call(job, 0)
    assert job.done.is_set() and not session.running  # stopped, not left running
    session.release.set()
    assert session.run(session.work()).ok and session.runs == 2


def test_wrong_argument_types_are_type_errors() -> None:
    with pytest.raises(TypeError, match="must be a str, not NoneType"):
        check_text(None, "the message")


class SlowToLoad(Session):
    """A session whose pipeline is 'built' once the test releases it."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()

        def load() -> object:
            release.wait()
            return object()

        self._load_in_background(load, "the model")


def test_ready_keeps_a_status_said_while_loading_and_replaces_the_loading_one() -> None:
    release = threading.Event()
    plain, noted = SlowToLoad(release), SlowToLoad(release)
    assert plain.status == noted.status == "loading the model…"
    noted.publish_now(status="mask.png scaled to the image's size")  # a note while it loads
    release.set()
    plain.wait_loaded(), noted.wait_loaded()
    assert plain.ready and plain.status == "ready: the model"
    assert noted.ready and noted.status == "mask.png scaled to the image's size"
