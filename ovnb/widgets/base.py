"""What every pipeline widget shares: background loading, one job at a time, status and errors.

Widgets are created on the main thread; the worker thread only mutates them. The programmatic
methods (``send``, ``transcribe``, ``generate``) start the very job a button starts and wait for it.
"""
from __future__ import annotations

import html
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from ovnb.errors import OvnbError
from ovnb.runtime import Job, Loaded, Outcome, explain


class ErrorLine(widgets.HTML):
    """One line saying what went wrong and how to fix it, with the details folded away."""

    def show(self, error: str, details: str | None = None) -> None:
        line = f"<b>⚠ {html.escape(error)}</b>"
        if details:
            line = (f"<details><summary>{line}</summary><pre style='font-size:80%'>"
                    f"{html.escape(details)}</pre></details>")
        self.value = f"<div style='color:#b00020'>{line}</div>"

    def clear(self) -> None:
        self.value = ""


class PipelineWidget(widgets.VBox):
    """Base of the pipeline widgets: loads the pipeline in the background, runs one job at a time."""

    busy = traitlets.Bool(False, help="True while a generation runs")
    last_error = traitlets.Unicode("", help="the last error shown, as one line ('' when none)")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._status = widgets.HTML()
        self._error = ErrorLine()
        self._loaded: Loaded | None = None
        self._load_error: Outcome | None = None
        self._loading = threading.Event()
        self._job: Job | None = None
        self._gate = threading.Lock()
        # Stop pressed for the current job: set by stop(), cleared as a job becomes current, so a
        # press that comes before the worker has made its streamer or callback is not lost
        self._stopping = threading.Event()

    # loading --------------------------------------------------------------------------------
    def _load_in_background(self, load: Callable[[], Loaded], what: str) -> None:
        """Build the pipeline on a worker thread so the cell returns at once."""
        self._set_status(f"loading {what}…")

        def run() -> None:
            try:
                self._loaded = load()
                self._set_status(f"ready: {what}")
            except BaseException as exc:  # the kernel must survive a bad folder or device
                self._load_error = Outcome(error=explain(exc), details=_details(exc))
                self._set_status("not loaded")
                self._show_error(self._load_error)
            finally:
                self._loading.set()

        threading.Thread(target=run, daemon=True, name="ovnb-load").start()

    def wait_loaded(self) -> Loaded:
        """The loaded pipeline; raises OvnbError (one line) when loading failed."""
        self._loading.wait()
        if self._loaded is None:
            raise OvnbError(self._load_error.error if self._load_error else "pipeline not loaded")
        return self._loaded

    # jobs -------------------------------------------------------------------------------------
    def _start(self, work: Callable[[Loaded], Any], done: Callable[[Outcome], None],
               queue: bool = False) -> Job | None:
        """Run ``work(loaded)`` on a worker thread under the pipeline's lock; ``done`` gets the Outcome.

        While a job runs, a click is ignored (returns None, and says so); a programmatic call
        (``queue=True``) waits for its turn.
        """
        def run() -> Any:
            loaded = self.wait_loaded()
            with loaded.lock:
                return work(loaded)

        def finish(outcome: Outcome) -> None:
            try:
                if not outcome.ok:
                    self._show_error(outcome)
                done(outcome)
            except BaseException as exc:  # a bug in a view update must not leave the widget busy
                self._show_error(Outcome(error=explain(exc), details=_details(exc)))
            finally:
                self.busy = False

        job = Job(None, run, after=finish)
        while True:
            with self._gate:
                if not self.busy:
                    self._stopping.clear()
                    self.busy, self._job = True, job
                    break
                running = self._job
            if not queue:
                self._set_status("busy: wait for the current run to finish, or press Stop")
                return None
            if running is not None:
                running.wait()
        self._error.clear()
        self.last_error = ""
        return job.start()

    def _wait(self, job: Job | None) -> Outcome:
        """The Outcome of a job started by a programmatic call; a refused start is an error."""
        if job is None:
            return Outcome(error="busy: another run was in progress; try again when it ends")
        return job.wait()

    # status and errors ------------------------------------------------------------------------
    def _set_status(self, text: str) -> None:
        self._status.value = f"<span style='color:#555'>{html.escape(text)}</span>"

    def _show_error(self, outcome: Outcome) -> None:
        self.last_error = outcome.error or ""
        self._error.show(outcome.error or "error", outcome.details)


def _details(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))


def model_folder(model: str | Path, kind: str, precision: str | None = None) -> Path:
    """The prepared folder for ``model`` (catalog id or folder), checked to be of ``kind``.

    ``precision`` applies to catalog ids (e.g. "int4-npu" for an NPU); a folder is taken as is.
    """
    from ovnb.models import check_folder, prepare

    folder = prepare(model, precision)
    check_folder(folder, kind)  # kind, completeness, tokenizers: before any pipeline is built
    return folder
