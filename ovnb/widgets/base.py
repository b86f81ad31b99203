"""What every pipeline widget shares: it holds a session (the work) and a view (what shows).

``Front`` is the object users hold (``ovnb.Chat(...)``): everything its session offers is its own,
forwarded: the methods (``send``, ``generate``, ``stop``, ``join``...), the settings and state
(traits: ``chat.max_new_tokens = 64`` sets the session's and the slider follows; a wrong value is
the session's ``TraitError``), ``observe``. Its ``view`` is an ipywidgets box, shown when the
widget is displayed and usable in layouts of one's own. Nothing is inherited from the session
and nothing of its constructor is repeated: a family's widget names its session class and view
class, and takes the session's arguments as they are.

``View`` is what every view shares: it holds the session, shows its status and error lines, and
enables run and Stop controls as the session is busy (once a run has lasted ``BUSY_DELAY``: a
quicker one would only make them flicker, and each flicker costs widget messages that a search of
a few milliseconds feels). Its named controls are in ``controls``
(``view.controls["run"].click()`` presses the main button, as a browser would). Views are built
on the main thread; the session's changes reach them on the view thread, where every widget
update happens.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, ClassVar

import ipywidgets as widgets
import traitlets

from ovnb.runtime.views import later
from ovnb.sessions.base import Session
from ovnb.widgets.render import error_html, grey
from ovnb.widgets.style import ROOT_CLASS, stylesheet

BUSY_DELAY = 0.1  # seconds a run goes on before its controls show it (about what eyes notice)


class View(widgets.VBox):
    """Base of the views: a session, its status and error lines, and busy-aware controls."""

    def __init__(self, session: Session, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class(ROOT_CLASS)
        self.session = session
        self.controls: dict[str, widgets.Widget] = {}
        self.status_line = widgets.HTML()
        self.error_line = widgets.HTML()
        self._while_busy: list[widgets.Widget] = []
        self._while_idle: list[widgets.Widget] = []
        session.observe(self._show_status, "status")
        session.observe(self._show_error, ["last_error", "error_details"])
        session.observe(self._show_busy, "busy")
        self._show_status()
        self._show_error()

    @traitlets.validate("children")
    def _with_stylesheet(self, proposal: Any) -> tuple[widgets.Widget, ...]:
        """Whatever a view shows, it carries ovnb's stylesheet (hidden) as its first child."""
        sheet = stylesheet()
        return (sheet, *(child for child in proposal["value"] if child is not sheet))

    def press_stop(self, button: Any = None) -> None:
        """What a Stop button does: stop the session's run in progress."""
        self.session.stop()

    def busy_controls(self, run: Iterable[widgets.Widget], stop: Iterable[widgets.Widget] = ()
                      ) -> None:
        """``run`` controls disabled while the session is busy, ``stop`` ones enabled only then."""
        self._while_idle += list(run)
        self._while_busy += list(stop)
        self._show_busy()

    def _show_busy(self, change: Any = None) -> None:
        """The controls as the session is busy: at once when a run ends, ``BUSY_DELAY`` after it
        begins (by then it may have ended, and nothing changes)."""
        if change is not None and change["new"]:
            later(BUSY_DELAY, self._show_busy)
            return
        busy = self.session.busy
        for control in self._while_idle:
            control.disabled = busy
        for control in self._while_busy:
            control.disabled = not busy

    def _show_status(self, change: Any = None) -> None:
        self.status_line.value = grey(self.session.status)

    def _show_error(self, change: Any = None) -> None:
        self.error_line.value = error_html(self.session.last_error, self.session.error_details)


class Front:
    """A pipeline widget: ``session`` does the work, ``view`` shows it (see the module)."""

    session_class: ClassVar[type[Session]]
    view_class: ClassVar[type[View]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        session, options = self._make_session(*args, **kwargs)
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "view", self.view_class(session, **options))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "session_class" in cls.__dict__:  # help() and completion show the session's arguments
            cls.__signature__ = inspect.signature(cls.session_class)  # type: ignore[attr-defined]

    def _make_session(self, *args: Any, **kwargs: Any) -> tuple[Session, dict[str, Any]]:
        """The session made of the widget's arguments, and what the view needs besides it (a
        LoRA mixer, for families that take adapters)."""
        bound = inspect.signature(self.session_class).bind(*args, **kwargs)
        options: dict[str, Any] = {}
        if "adapters" in bound.arguments:
            from ovnb.widgets.lora import mixer_for

            mixer = mixer_for(bound.arguments["adapters"])
            bound.arguments["adapters"] = mixer.strengths if mixer is not None else None
            options["mixer"] = mixer
        elif "adapters" in inspect.signature(self.session_class).parameters:
            options["mixer"] = None
        return self.session_class(*bound.args, **bound.kwargs), options

    @property
    def mixer(self) -> Any:
        """The LoRA strength sliders of a family that takes adapters (a ``LoraMixer``; None for
        a widget made without adapters or of another family)."""
        return getattr(self.view, "mixer", None)

    # the session's, as the widget's own -------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("session", "view"):
            raise AttributeError(name)
        try:
            return getattr(self.session, name)
        except AttributeError:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        elif self.session.has_trait(name):
            setattr(self.session, name, value)  # validated by the session; the view follows
        else:
            raise AttributeError(f"{type(self).__name__} has no setting or state {name!r}: its "
                                 f"traits are {', '.join(self.session.trait_names())}")

    def __dir__(self) -> list[str]:
        public = [n for n in dir(self.session) if not n.startswith("_")]
        return sorted({*super().__dir__(), *public})

    # display --------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.view._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.session.status or 'new'})"
