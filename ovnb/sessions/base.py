"""What every session shares: loading in the background and the one run lifecycle.

A session is the widget-free half of a pipeline widget: it loads the pipeline, runs requests on a
worker thread, stops them, keeps their results and metrics as traits, and turns every failure into
one line (``last_error``). It imports no ipywidgets, so it serves scripts as well as widgets.

The lifecycle, once for all families:
- one run at a time per session: a button press while busy is refused (and says so); a call from
  code waits for its turn, then reads the state as the previous run left it;
- ``stop()`` is heard at any moment, also before the run has its streamer, or while it waits for
  another session's run on a shared pipeline;
- Ctrl-C during a call from code stops the run, waits for it to end, and re-raises, so the next
  call works at once;
- results are published on the view thread (``ovnb.runtime``): observers, and so every widget
  update, run there.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import traitlets

from ovnb.errors import OvnbError
from ovnb.runtime import Job, Loaded, Outcome, details, explain, on_view_thread, post, settle


class Lifecycle(traitlets.HasTraits):
    """The state every session (and its widget) shows: busy, ready, status and the error line."""

    busy = traitlets.Bool(False, help="True while a run is in progress")
    ready = traitlets.Bool(False, help="True once the pipeline is loaded")
    status = traitlets.Unicode("", help="what the session is doing, in a few words")
    last_error = traitlets.Unicode("", help="the last error, as the one line shown ('' when none)")
    error_details = traitlets.Unicode("", help="the traceback behind last_error ('' when none)")


class Session(Lifecycle):
    """Base of the sessions: a pipeline loaded in the background, one run at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._loaded: Loaded | None = None
        self._load_error: Outcome | None = None
        self._loading = threading.Event()
        self._job: Job | None = None
        self._gate = threading.Lock()
        # Stop pressed for the current run: set by stop(), cleared as a run becomes current, so a
        # press that comes before the worker has made its streamer is not lost
        self._stopping = threading.Event()

    # publishing ----------------------------------------------------------------------------------
    def publish(self, **values: Any) -> None:
        """Set traits on the view thread (observers run there), without waiting.

        Workers publish this way; whoever waits for a run settles after it (``Job.wait``), so a
        call from code returns with every change applied.
        """
        post(lambda: self._set(values))

    def publish_now(self, **values: Any) -> None:
        """Set traits on the view thread and wait (for callers that are no worker)."""
        on_view_thread(lambda: self._set(values))

    def _set(self, values: dict[str, Any]) -> None:
        with self.hold_trait_notifications():
            for name, value in values.items():
                setattr(self, name, value)

    def fail(self, error: str, more: str | None = None) -> None:
        """Show one error line (``more``: the details folded under it)."""
        self.publish_now(last_error=error, error_details=more or "")

    # loading -------------------------------------------------------------------------------------
    def _load_in_background(self, load: Callable[[], Loaded], what: str) -> None:
        """Build the pipeline on a worker thread so the caller (a notebook cell) returns at once."""
        loading = self.status = f"loading {what}…"

        def announce() -> None:  # on the view thread: a status said while loading (a note) stays
            self._set({"ready": True, **({"status": f"ready: {what}"}
                                         if self.status == loading else {})})

        def run() -> None:
            try:
                self._loaded = load()
                post(announce)
            except BaseException as exc:  # the kernel must survive a bad folder or device
                self._load_error = Outcome(error=explain(exc), details=details(exc))
                self.publish(status="not loaded", last_error=self._load_error.error,
                             error_details=self._load_error.details or "")
            finally:
                self._loading.set()

        threading.Thread(target=run, daemon=True, name="ovnb-load").start()

    def _no_pipeline(self) -> None:
        """For sessions without a pipeline (a picker): ready at once."""
        self._loaded = Loaded(pipe=None, folder=Path(), device="")
        self.ready = True
        self._loading.set()

    def wait_loaded(self) -> Loaded:
        """The loaded pipeline; raises OvnbError (one line) when loading failed."""
        from ovnb.runtime import wait_for

        wait_for(self._loading)
        settle()
        if self._loaded is None:
            raise OvnbError(self._load_error.error if self._load_error else "pipeline not loaded")
        return self._loaded

    # runs ----------------------------------------------------------------------------------------
    def start(self, work: Callable[[Loaded], Any], done: Callable[[Outcome], None] | None = None,
              queue: bool = False, locked: bool = True) -> Job | None:
        """Run ``work(loaded)`` on a worker thread (under the pipeline's lock when ``locked``).

        ``done(outcome)`` runs on the worker after it, before the session is free again. While a run
        is in progress, a button's start (``queue=False``) is refused and returns None; a call from
        code (``queue=True``) waits for its turn.
        """
        def run() -> Any:
            loaded = self.wait_loaded()
            if not locked or loaded.pipe is None:
                return work(loaded)
            with loaded.lock:
                return work(loaded)

        def finish(outcome: Outcome) -> None:
            try:
                if done is not None:
                    done(outcome)
            except BaseException as exc:  # a bug in a result's handling must not leave us busy
                outcome.error, outcome.details = explain(exc), details(exc)
            finally:
                values: dict[str, Any] = {"busy": False}
                if not outcome.ok:
                    values.update(last_error=outcome.error or "error",
                                  error_details=outcome.details or "")
                self.publish(**values)

        job = Job(run, after=finish)
        if not self._take_turn(job, queue):
            return None
        self.publish_now(busy=True, last_error="", error_details="")
        return job.start()

    def _take_turn(self, job: Job, queue: bool) -> bool:
        """Make ``job`` the current run, waiting for the one in progress if ``queue``.

        The gate is the current job itself (not the ``busy`` trait, which is applied on the view
        thread a moment later): a run's turn ends when its job has ended.
        """
        while True:
            with self._gate:
                running = self._job
                if running is None or running.done.is_set():
                    self._stopping.clear()
                    self._job = job
                    return True
            if not queue:
                self.publish_now(status="busy: wait for the current run to finish, or press Stop")
                return False
            running.wait()

    def call(self, job: Job | None) -> Outcome:
        """Wait for a run started from code; Ctrl-C stops it, waits for its end and re-raises."""
        if job is None:
            return Outcome(error="busy: another run was in progress; try again when it ends")
        try:
            return job.wait()
        except KeyboardInterrupt:
            self.stop()
            job.done.wait()
            settle()
            raise

    def run(self, work: Callable[[Loaded], Any], done: Callable[[Outcome], None] | None = None,
            locked: bool = True) -> Outcome:
        """Start ``work`` from code, waiting for its turn and its end (see ``start``)."""
        return self.call(self.start(work, done, queue=True, locked=locked))

    @property
    def running(self) -> bool:
        """Whether a run is in progress now (``busy`` shows it, a moment later, on the view thread)."""
        job = self._job
        return job is not None and not job.done.is_set()

    @property
    def stopping(self) -> bool:
        """Whether Stop was pressed for the current run."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop the current run (heard also before it has begun); what it made so far is kept."""
        self._stopping.set()
        self._on_stop()

    def _on_stop(self) -> None:
        """Tell the running streamer or callback (sessions override)."""

    def refuse(self, message: str) -> Outcome:
        """A request refused before any run: one line shown, nothing changed."""
        self.fail(message)
        return Outcome(error=message)


def check_text(value: Any, what: str = "text") -> str:
    """``value`` as a string, or a TypeError that names what was expected."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value
