"""Jobs: one request run on a worker thread, stoppable at any moment, its outcome kept.

A job is made when a request is accepted and runs when its turn comes. ``stop()`` is heard at any
moment: before the job has begun, while it waits for its turn, or while it runs. What runs tells
the job what to stop (``on_stop``: a token stream, a step callback, a tool being waited for); a
listener added after Stop is called at once, so no Stop is lost between "the run began" and "the
run made its streamer". ``progressed()`` is called once, when the run first makes progress (its
first token, step or sentence): tests hold a run there to stop it mid-way without racing a clock.

Any exception in the job is kept as the outcome's one-line error and details, never raised into
the kernel; ``Stopped`` (a run that stopped with nothing to keep) is kept as a note instead.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ovnb.errors import Stopped, details, explain
from ovnb.runtime.views import post, wait_for

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """What a job produced: its value, or the one-line error and details; whether it was stopped."""

    value: T | None = None
    error: str | None = None
    details: str | None = None
    seconds: float = 0.0
    stopped: bool = False
    note: str = ""  # where a run that stopped with nothing to keep stopped (``Stopped``)

    @property
    def ok(self) -> bool:
        return self.error is None


class Job(Generic[T]):
    """Run ``fn(job)`` on a worker thread; ``after(outcome)`` runs there too, before ``wait``
    returns (results are published there, so a caller that waits sees the final state).

    ``done`` is set on the view thread, after every change the job posted: whatever waits for a
    job (a call from code, a queued call's turn) then sees the state it left.
    """

    def __init__(self, fn: Callable[[Job[T]], T], after: Callable[[Outcome[T]], None] | None = None
                 ) -> None:
        self.fn = fn
        self.after = after
        self.outcome: Outcome[T] = Outcome()
        self.done = threading.Event()
        self.moving = threading.Event()  # set by progressed(): the run made its first progress
        self._stop = threading.Event()
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    # running ---------------------------------------------------------------------------------
    def start(self) -> Job[T]:
        """Run on an idle worker thread (a new one when none is idle)."""
        _WORKERS.run(self._run)
        return self

    def run_here(self) -> Job[T]:
        """Run on this thread (a worker running another job, which waits for this one anyway:
        handing it to a second worker would only add a hand-off and a wait for the view thread)."""
        self._run()
        return self

    def wait(self) -> Outcome[T]:
        """Block until the job (and its ``after``) ended and what it published is applied: ``done``
        is set on the view thread after the job's last post, so no further round trip is needed."""
        wait_for(self.done)
        return self.outcome

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            self.outcome.value = self.fn(self)
        except Stopped as exc:  # stopped with nothing to keep: no error, a note
            self.outcome.note = str(exc)
        except BaseException as exc:  # everything: the kernel must survive
            self.outcome.error, self.outcome.details = explain(exc), details(exc)
        self.outcome.seconds = time.perf_counter() - start
        self.outcome.stopped = self.stopped
        try:
            if self.after is not None:
                self.after(self.outcome)
        finally:
            post(self.done.set)

    # stopping --------------------------------------------------------------------------------
    @property
    def stopped(self) -> bool:
        """Whether Stop was asked for this job."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the job to stop; everything registered with ``on_stop`` is told at once."""
        with self._lock:
            if self._stop.is_set():
                return
            self._stop.set()
            listeners = list(self._listeners)
        for listener in listeners:
            _tell(listener)

    def on_stop(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when Stop comes (at once, when it came already)."""
        with self._lock:
            if not self._stop.is_set():
                self._listeners.append(listener)
                return
        _tell(listener)

    def progressed(self) -> None:
        """The run made its first progress (a token, a step, a sentence): may be called from a
        native thread, so it only sets an event."""
        self.moving.set()


def _tell(listener: Callable[[], None]) -> None:
    """Call a stop listener; one that raises must not keep Stop from the others."""
    try:
        listener()
    except Exception as exc:
        logging.getLogger("ovnb").warning("a stop listener failed: %r", exc)


class Workers:
    """Worker threads kept for the next run: starting a thread while OpenVINO's threads hold the
    cores took 1-8 ms (a tiny model's whole run), handing work to a waiting one a fraction.

    A worker runs one thing at a time and waits ``idle`` seconds for the next before it ends;
    a run that another run waits for (a retriever's search runs its embedder) runs on the same
    worker (``Job.run_here``).
    """

    def __init__(self, idle: float = 60.0) -> None:
        self.idle = idle
        self._waiting: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], None]) -> None:
        with self._lock:
            inbox = self._waiting.pop() if self._waiting else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), daemon=True,
                             name="ovnb-run").start()
        inbox.put(fn)

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        _HERE.worker = True
        while True:
            try:
                fn = inbox.get(timeout=self.idle)
            except queue.Empty:
                with self._lock:
                    if inbox in self._waiting:  # nobody took it meanwhile: end
                        self._waiting.remove(inbox)
                        return
                continue  # taken as the timeout came: its work is on the way
            try:
                fn()
            except BaseException as exc:  # a worker must outlive what it runs
                logging.getLogger("ovnb").error("a run failed outside its job", exc_info=exc)
            with self._lock:
                self._waiting.append(inbox)


def on_worker() -> bool:
    """Whether this thread is a worker (running a job)."""
    return getattr(_HERE, "worker", False)


_HERE = threading.local()
_WORKERS = Workers()
