"""What every pipeline widget shares: it is a view of a session, with one run lifecycle.

The widget mirrors its session's traits (settings, state, busy, status, last_error): setting one on
the widget sets the session's (validated the same way), and a change in the session reaches the
widget on the view thread, where every view update happens. Widgets are created on the main thread;
worker and native threads never touch them. The programmatic methods (``send``, ``transcribe``,
``generate``) are the session's: they run exactly the path a button runs and block until done.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ovnb.runtime import in_view_thread, on_view_thread
from ovnb.sessions.base import Lifecycle, Session
from ovnb.widgets.render import error_html, grey


class PipelineWidget(widgets.VBox, Lifecycle):
    """Base of the pipeline widgets: a view of ``session`` (``widget.session``)."""

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self._status = widgets.HTML()
        self._error = widgets.HTML()
        self._echo = threading.local()
        self._mirror(session)
        self.observe(lambda _: self._show_status(), "status")
        self.observe(lambda _: self._show_error(), ["last_error", "error_details"])
        self._show_status()
        self._show_error()

    # mirroring ---------------------------------------------------------------------------------
    def _mirrored(self, session: Session) -> list[str]:
        """The traits the widget shares with its session (not the widget's own front-end state)."""
        return [n for n in session.trait_names()
                if self.has_trait(n) and not self.trait_metadata(n, "sync")]

    def _mirror(self, session: Session) -> None:
        names = self._mirrored(session)
        with self.hold_trait_notifications():
            for name in names:
                setattr(self, name, getattr(session, name))
        session.observe(self._from_session, names)
        self.observe(self._to_session, names)

    def _from_session(self, change: dict[str, Any]) -> None:
        name, value = change["name"], change["new"]
        if name in getattr(self._echo, "names", ()):
            return  # our own change coming back
        if in_view_thread():
            setattr(self, name, value)
        else:  # a change made on the main thread (a setting set on the session directly)
            on_view_thread(lambda: setattr(self, name, value))

    def _to_session(self, change: dict[str, Any]) -> None:
        name = change["name"]
        names = getattr(self._echo, "names", set())
        self._echo.names = names | {name}
        try:
            if getattr(self.session, name) != change["new"]:
                setattr(self.session, name, change["new"])
        finally:
            self._echo.names = names

    def limits(self, name: str) -> tuple[float | None, float | None]:
        """A setting's range is the session's (it narrows once the model is known)."""
        return self.session.limits(name)  # type: ignore[attr-defined]

    # the lifecycle -----------------------------------------------------------------------------
    def wait_loaded(self) -> Any:
        """The loaded pipeline; raises OvnbError (one line) when loading failed."""
        return self.session.wait_loaded()

    def stop(self) -> None:
        """Stop the current run; what it made so far is kept."""
        self.session.stop()

    def _busy_controls(self, run: Sequence[widgets.Widget], stop: Sequence[widgets.Widget]) -> None:
        """``run`` controls disabled while busy, ``stop`` controls only enabled then."""
        def sync(busy: bool) -> None:
            for control in run:
                control.disabled = busy
            for control in stop:
                control.disabled = not busy

        sync(self.busy)
        self.observe(lambda change: sync(change["new"]), "busy")

    def _show_status(self) -> None:
        self._status.value = grey(self.status)

    def _show_error(self) -> None:
        self._error.value = error_html(self.last_error, self.error_details)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status or 'new'})"

