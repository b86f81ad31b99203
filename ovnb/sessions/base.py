"""What every session shares: loading in the background and the one run lifecycle.

A session is the widget-free half of a pipeline widget: it loads its family's pipeline, runs
requests on a worker thread, stops them, keeps their results and metrics as traits, and turns
every failure into one line (``last_error``). It imports no ipywidgets, so it serves scripts as
well as widgets.

The lifecycle, written once here for every family:
- one run at a time per session: a button press while busy is refused (and says so); a call from
  code waits for its turn, then reads the state as the previous run left it;
- ``stop()`` is heard at any moment of the run in progress (``running``): before its work has
  begun, while it waits for a shared pipeline, mid-way, inside a native callback, while a tool
  runs. A run tells its job what to stop (``job.on_stop``; ``token_stream`` does it for
  streamers), and what is registered after Stop is stopped at once;
- a call from code blocks until its run ends (``call``); Ctrl-C stops that run, waits for its
  end and re-raises, so the next call works at once; ``join()`` waits for the run in progress;
- every change a run makes is published on the view thread (``ovnb.runtime.views``), where
  observers run; starting a run never waits for that thread, so an observer may call any method.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import traitlets

from ovnb import devices
from ovnb.errors import OvnbError, Stopped, details, explain
from ovnb.families import Family
from ovnb.runtime.jobs import Job, Outcome, on_worker
from ovnb.runtime.pipelines import Loaded
from ovnb.runtime.streams import TokenStream
from ovnb.runtime.views import on_view_thread, post, settle, wait_for

T = TypeVar("T")
Work = Callable[[Loaded[Any], Job[T]], T]
BUSY = "busy: wait for the current run to finish, or press Stop"


class Lifecycle(traitlets.HasTraits):
    """The state every session shows: busy, ready, status and the error line."""

    busy = traitlets.Bool(False, help="True while a run is in progress")
    ready = traitlets.Bool(False, help="True once the pipeline is loaded")
    status = traitlets.Unicode("", help="what the session is doing, in a few words")
    last_error = traitlets.Unicode("", help="the last error, as the one line shown ('' when none)")
    error_details = traitlets.Unicode("", help="the traceback behind last_error ('' when none)")


class Session(Lifecycle):
    """Base of the sessions: a pipeline of ``family`` loaded in the background, one run at a time."""

    family: ClassVar[Family | None] = None  # the registry record it runs (None: no pipeline)

    def __init__(self) -> None:
        super().__init__()
        self.device = "CPU"
        self.properties: dict[str, Any] = {}
        self.given_properties: dict[str, Any] = {}
        self.model_name = ""
        self._loaded: Loaded[Any] | None = None
        self._load_error: Outcome[Any] | None = None
        self._loading = threading.Event()
        self._job: Job[Any] | None = None  # the run holding the turn
        self._gate = threading.Lock()

    # publishing ----------------------------------------------------------------------------------
    def publish(self, **values: Any) -> None:
        """Set traits on the view thread (observers run there), without waiting.

        Workers publish this way; whoever waits for a run settles after it, so a call from code
        returns with every change applied.
        """
        post(lambda: self._set(values))

    def publish_now(self, **values: Any) -> None:
        """Set traits on the view thread and wait (for callers that are no worker)."""
        on_view_thread(lambda: self._set(values))

    def publish_taken(self, **taken: Any) -> None:
        """Clear each choice (a picture, a clip...) that still holds what a run took, checked on the
        view thread: a choice made meanwhile (the next queued question's) stays."""
        post(lambda: self._set({name: None for name, value in taken.items()
                                if value is not None and getattr(self, name) is value}))

    def _set(self, values: dict[str, Any]) -> None:
        with self.hold_trait_notifications():
            for name, value in values.items():
                setattr(self, name, value)

    def fail(self, error: str, more: str | None = None) -> None:
        """Show one error line (``more``: the details folded under it)."""
        self.publish_now(last_error=error, error_details=more or "")

    def succeed(self, **values: Any) -> None:
        """Show what a call made outside a run did (a choice, a save), clearing the error line."""
        self.publish_now(last_error="", error_details="", **values)

    def refuse(self, message: str) -> None:
        """A request refused before any run: one line shown, nothing changed."""
        self.fail(message)

    # loading -------------------------------------------------------------------------------------
    def _open(self, model: Any, device: Any, properties: dict[str, Any] | None) -> None:
        """Take the model, the device (a name or a DevicePicker) and the properties: the device's
        own needs first, the caller's properties on top."""
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError(f"model must be a catalog id or a folder path, not "
                            f"{type(model).__name__}")
        if properties is not None and not isinstance(properties, dict):
            raise TypeError(f"properties must be a dict of OpenVINO properties, not "
                            f"{type(properties).__name__}")
        assert self.family is not None
        self.given_properties = dict(properties or {})  # the caller's, without the device's
        self.device, self.properties = devices.resolve(device, self.family, properties)
        self.model_name = model_label(model)

    def _folder(self, model: Any) -> Path:
        """The prepared folder of ``model`` for this family and device (checked; the device
        first, so an absent one is refused before any export starts)."""
        from ovnb.models import check_folder, prepare

        assert self.family is not None
        devices.check(self.device)
        folder = prepare(model, devices.precision_for(self.device, self.family))
        check_folder(folder, self.family.folder_task)  # kind, completeness, tokenizers: first
        return folder

    def _load_in_background(self, load: Callable[[], Loaded[Any]], what: str) -> None:
        """Build the pipeline on a worker thread so the caller (a notebook cell) returns at once.

        Loading counts as done only once what it published (the model's defaults, its voices...)
        is applied: the end is posted after them, so a run waiting for the pipeline sees them.
        """
        loading = self.status = f"loading {what}…"

        def loaded() -> None:  # on the view thread: a status said while loading (a note) stays
            try:
                self._set({"ready": True, **({"status": f"ready: {what}"}
                                             if self.status == loading else {})})
            finally:
                self._loading.set()

        def failed() -> None:
            try:
                error = self._load_error or Outcome(error="pipeline not loaded")
                self._set({"status": "not loaded", "last_error": error.error or "",
                           "error_details": error.details or ""})
            finally:
                self._loading.set()

        def run() -> None:
            try:
                self._loaded = load()
            except BaseException as exc:  # the kernel must survive a bad folder or device
                self._load_error = Outcome(error=explain(exc), details=details(exc))
                post(failed)
            else:
                post(loaded)

        threading.Thread(target=run, daemon=True, name="ovnb-load").start()

    def no_pipeline(self, status: str = "") -> None:
        """For sessions without a pipeline (a retriever, a picker): ready at once."""
        self._loaded = Loaded(pipe=None, folder=Path(), device="", family=None)
        self.ready = True
        self.status = status
        self._loading.set()

    def wait_loaded(self) -> Loaded[Any]:
        """The loaded pipeline, once loading ended; raises OvnbError (one line) when it failed."""
        loaded = self._pipeline()
        settle()
        return loaded

    def _pipeline(self) -> Loaded[Any]:
        """The loaded pipeline, for a worker: waits for loading, never for the view thread."""
        wait_for(self._loading)
        if self._loaded is None:
            raise OvnbError(self._load_error.error if self._load_error else "pipeline not loaded")
        return self._loaded

    # runs ----------------------------------------------------------------------------------------
    def start(self, work: Work[T], done: Callable[[Outcome[T]], None] | None = None,
              queue: bool = False, locked: bool = True, here: bool = False) -> Job[T] | None:
        """Run ``work(loaded, job)`` on a worker thread (under the pipeline's lock when
        ``locked``); ``done(outcome)`` runs on the worker after it, before the session is free.

        While a run is in progress, a button's start (``queue=False``) is refused and returns
        None; a call from code (``queue=True``) waits for its turn (Ctrl-C while it waits drops
        the request and leaves the run in progress alone). ``here``: run on this thread, ended
        when this returns.
        """
        check_flag(queue, "queue")
        job: Job[T] = Job(lambda job: self._do_work(work, job, locked),
                          after=lambda outcome: self._close_run(outcome, done))
        if not self._take_turn(job, queue):
            return None
        self.publish(busy=True, last_error="", error_details="")
        return job.run_here() if here else job.start()

    def _do_work(self, work: Work[T], job: Job[T], locked: bool) -> T:
        loaded = self._pipeline()
        lock = loaded.lock if locked and loaded.pipe is not None else contextlib.nullcontext()
        with lock:
            if job.stopped:  # Stop came while the run waited for its turn or the pipeline
                raise Stopped("stopped before it began: nothing changed")
            return work(loaded, job)

    def _close_run(self, outcome: Outcome[T], done: Callable[[Outcome[T]], None] | None) -> None:
        try:
            if done is not None:
                done(outcome)
        except BaseException as exc:  # a bug in a result's handling must not leave us busy
            outcome.error, outcome.details = explain(exc), details(exc)
        finally:
            values: dict[str, Any] = {"busy": False}
            if outcome.note:
                values["status"] = outcome.note
            if not outcome.ok:
                values.update(last_error=outcome.error or "error",
                              error_details=outcome.details or "")
            post(lambda: self._end_run(values))

    def _end_run(self, values: dict[str, Any]) -> None:
        """On the view thread: the run's end shown; a refusal said while it went on ("busy:
        wait...") is stale from now, so it goes."""
        if self.status == BUSY and "status" not in values:
            values = {**values, "status": ""}
        self._set(values)

    def _take_turn(self, job: Job[Any], queue: bool) -> bool:
        """Make ``job`` the run in progress, waiting for the one before it if ``queue``.

        The gate is the current job itself (not the ``busy`` trait, which is applied on the view
        thread a moment later): a run's turn ends when its job has ended.
        """
        while True:
            with self._gate:
                running = self._job
                if running is None or running.done.is_set():
                    self._job = job
                    return True
            if not queue:
                self.publish_now(status=BUSY)
                return False
            wait_for(running.done)

    def call(self, job: Job[T] | None, empty: T) -> T:
        """Wait for a run started from code and give its value: ``empty`` when it was refused,
        failed, or made nothing. Ctrl-C stops it, waits for its end and re-raises."""
        if job is None:
            return empty
        outcome = self._wait(job)
        return outcome.value if outcome.ok and outcome.value is not None else empty

    def run(self, work: Work[T], done: Callable[[Outcome[T]], None] | None = None,
            locked: bool = True) -> Outcome[T]:
        """Run ``work`` from code, waiting for its turn and its end; its outcome.

        From another session's worker (a retriever's search embedding its query) the run is
        made on that worker, which returns with the outcome while the view thread still applies
        what the run published (the outer run's own end is posted after it).
        """
        here = on_worker()
        job = self.start(work, done, queue=True, locked=locked, here=here)
        assert job is not None  # a queued start always gets its turn
        return job.outcome if here else self._wait(job)

    def join(self) -> Outcome[Any] | None:
        """Wait for the run in progress to end and give its outcome (None when none runs);
        Ctrl-C stops it."""
        job = self._job
        return self._wait(job) if job is not None else None

    def _wait(self, job: Job[T]) -> Outcome[T]:
        try:
            return job.wait()
        except KeyboardInterrupt:
            job.stop()
            job.done.wait()
            settle()
            raise

    @property
    def running(self) -> bool:
        """Whether a run is in progress now (``busy`` shows it, a moment later, on the view thread)."""
        job = self._job
        return job is not None and not job.done.is_set()

    def stop(self) -> None:
        """Stop the run in progress (heard at any moment of it); what it made so far is kept."""
        job = self._job
        if job is not None and not job.done.is_set():
            job.stop()

    # what runs use -------------------------------------------------------------------------------
    def token_stream(self, job: Job[Any], tokenizer: Any,
                     on_text: Callable[[str], None] | None = None) -> TokenStream:
        """A token stream for ``job``: decoded with ``tokenizer``, stopped by Stop, and the job's
        first progress at its first token."""
        stream = TokenStream(lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
                             on_text, on_first=job.progressed)
        job.on_stop(stream.stop)
        return stream


def check_flag(value: Any, what: str) -> bool:
    """``value`` if it is True or False; a TypeError naming ``what`` otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, not {value!r}")
    return value


def check_text(value: Any, what: str = "text") -> str:
    """``value`` as a string, or a TypeError that names what was expected."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def model_label(model: Any) -> str:
    """How a model is named in status lines: its id, or its folder's manifest id, never a path."""
    from ovnb.cache import read_manifest

    path = Path(str(model)).expanduser()
    if path.is_dir():
        return str((read_manifest(path) or {}).get("id") or path.name)
    return str(model)
