"""ovnb's one long-lived view thread: where every state change a run makes is applied.

openvino_genai calls streamers and step callbacks on native threads, which Python sees as a new
"dummy" thread nearly every time. ipykernel opens a ZMQ socket for each thread that sends widget
updates and closes it when the thread ends, which a dummy thread never does: about one socket
leaked per two chat turns, until ZMQ's limit of 1023 sockets breaks the kernel's output ("Too many
open files", seen after ~1300 turns in one kernel). Updates sent from one thread cost one socket.

So workers and native callbacks never touch traits or widgets: they ``post`` a change, and this
thread applies it (observers, and so widget updates, run here). Workers never wait for this thread
(it may be busy in an observer that waits for them); whoever waits for a worker ``settle``s
afterwards and then sees every change it published. Objects with a ``tick()`` that are
``watch``ed are ticked at least every ``FLUSH_INTERVAL`` (token streams decode that way); a job
posted ``later`` runs once its delay has passed (a view shows a run as busy that way).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

FLUSH_INTERVAL = 0.1  # seconds between view updates while streaming (at most 10 per second)


class Ticking(Protocol):
    def tick(self) -> None: ...


_JOBS: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any] | None]] = queue.SimpleQueue()
_START = threading.Lock()
_thread: threading.Thread | None = None
_WATCHED: set[Ticking] = set()  # ticked by this thread while they run
_LATER: list[tuple[float, int, Callable[[], Any]]] = []  # (when due, order, job): this thread's
_ORDER = itertools.count()


def on_view_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the view thread, wait, and return (or raise) what it did."""
    if in_view_thread():
        return fn()
    future: Future[Any] = Future()
    _JOBS.put((fn, future))
    _ensure_thread()
    return future.result()


def post(fn: Callable[[], Any]) -> None:
    """Queue ``fn`` for the view thread without waiting (native callbacks must never block)."""
    _JOBS.put((fn, None))
    _ensure_thread()


def later(delay: float, fn: Callable[[], Any]) -> None:
    """Queue ``fn`` for the view thread, to run once ``delay`` seconds have passed."""
    due = time.monotonic() + delay
    post(lambda: heapq.heappush(_LATER, (due, next(_ORDER), fn)))


def in_view_thread() -> bool:
    return threading.current_thread() is _thread


def settle() -> None:
    """Return once everything posted so far has run on the view thread."""
    if not in_view_thread():
        on_view_thread(lambda: None)
        return
    while not _JOBS.empty():
        _serve_once(0)


SIGNAL_SLICE = 0.05  # seconds a waiting thread sleeps before Python looks at its signals


def wait_for(event: threading.Event) -> None:
    """Wait for ``event``; on the view thread, keep serving its queue meanwhile.

    A call made from an observer (which runs on the view thread) would otherwise deadlock: the
    run it waits for publishes its results through this very thread.
    """
    if not in_view_thread():
        # in slices: a SIGINT (Ctrl-C, a kernel interrupt) the OS hands to another thread leaves
        # a main thread blocked in one long wait asleep; each slice returns to Python, which
        # then raises the KeyboardInterrupt
        while not event.wait(SIGNAL_SLICE):
            pass
        return
    while not event.is_set():
        _serve_once(0.02)


def watch(item: Ticking) -> None:
    """Tick ``item`` on the view thread from now on (posted: in order with other changes)."""
    post(lambda: _WATCHED.add(item))


def unwatch(item: Ticking, last: Callable[[], None] | None = None) -> None:
    """Stop ticking ``item``, then run ``last`` (posted, so it runs after what came before)."""
    def end() -> None:
        _WATCHED.discard(item)
        if last is not None:
            last()

    post(end)


def _ensure_thread() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _START:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, daemon=True, name="ovnb-view")
            _thread.start()


def _run() -> None:
    while True:
        _serve_once(_next_wait())


def _next_wait() -> float | None:
    """How long this thread may wait for a job: until the next tick or delayed job is due."""
    wait = FLUSH_INTERVAL if _WATCHED else None
    if _LATER:
        due = max(0.0, _LATER[0][0] - time.monotonic())
        wait = due if wait is None else min(wait, due)
    return wait


def _serve_once(timeout: float | None) -> None:
    """Run one queued job (waiting up to ``timeout``), the delayed ones now due, then tick what
    is watched."""
    try:
        fn, future = _JOBS.get(timeout=timeout)
    except queue.Empty:
        fn, future = None, None
    if fn is not None:
        _apply(fn, future)
    now = time.monotonic()
    while _LATER and _LATER[0][0] <= now:
        _apply(heapq.heappop(_LATER)[2], None)
    for item in list(_WATCHED):
        item.tick()


def _apply(fn: Callable[[], Any], future: Future[Any] | None) -> None:
    try:
        value = fn()
    except BaseException as exc:  # the caller gets it; this thread must live on
        if future is not None:
            future.set_exception(exc)
        else:  # nobody waits for a posted job: a broken view update must still be seen
            logging.getLogger("ovnb").error("a view update failed", exc_info=exc)
    else:
        if future is not None:
            future.set_result(value)
