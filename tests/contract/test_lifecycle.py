"""The family contract: every widget of every family in the registry keeps the run lifecycle.

For each subject (``subjects.py``: each family's first widget on its tiny model, by the
registry's example, and a few composed widgets and modes), one widget goes through every case in
turn, and each case ends with the widget working again:

- a Stop pressed before a call is not carried into it;
- a Stop that comes before the run's work began (it waits for the pipeline) ends it unmade;
- a Stop while the run is held in its first native callback (its first token or step) ends it;
- Ctrl-C from code at that moment stops it, raises KeyboardInterrupt, and the next call works;
  (Stop and Ctrl-C while a tool runs are the chat's alone: ``tests/sessions/test_agent.py``)
- a call from an observer of any of the session's traits neither deadlocks nor is lost;
- a call made while another runs waits for it (never two runs at once) and then runs;
- the view's run and Stop buttons show a run that lasts, and never one that ends before they
  would show it (no flicker, no widget messages);
- a wrong type to any public method is a TypeError, ValueError or TraitError with a message.

Nothing here races a clock: runs are held by the test (the pipeline's lock, or the first
progress) and released when the case says so; a run that would never end fails after HANG s.
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import traitlets

from ovnb.runtime.jobs import Job
from ovnb.runtime.views import later, settle
from ovnb.sessions.base import Session
from ovnb.widgets import base
from tests.contract.subjects import SUBJECTS, Subject
from tests.threads import interrupt_when_waiting

HANG = 600.0  # seconds: a call still running after this is stuck (a failure, not a verdict)


@pytest.fixture(scope="module", params=SUBJECTS, ids=repr)
def subject(request: pytest.FixtureRequest) -> Subject:
    return request.param


@pytest.fixture(scope="module")
def widget(subject: Subject, cache: Path) -> Any:
    made = subject.make(cache)
    made.wait_loaded()
    assert made.last_error == "", made.last_error
    return made


@pytest.fixture(autouse=True)
def fresh(widget: Any) -> None:
    """Each case starts from a fresh conversation or collection (a learner presses Clear): the
    cases test the lifecycle, not a tiny model's context length."""
    widget.join()
    if hasattr(widget.session, "clear"):
        widget.clear()


def works(subject: Subject, widget: Any) -> Any:
    """The subject's call gives a result, with no error line and nothing left running."""
    value = subject.call(widget)
    assert widget.last_error == "" and not widget.running, widget.last_error
    assert _made(value), f"{subject.name} gave {value!r}"
    return value


def _made(value: Any) -> bool:
    """Whether a call's value is a result: text (a random model may say nothing), a non-empty
    array, list or (samples, rate), a count above 0, an image or a result object."""
    if isinstance(value, str):
        return True
    if isinstance(value, tuple):  # (samples, rate)
        return len(value[0]) > 0
    if isinstance(value, int) and not isinstance(value, bool):  # passages added
        return value > 0
    if value is None:
        return False
    return len(value) > 0 if hasattr(value, "__len__") else True


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """``fn`` on a thread of its own; its result (or exception) lands in the list."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # the test asserts on it
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def ended(thread: threading.Thread) -> None:
    thread.join(HANG)
    assert not thread.is_alive(), "the call never ended (a deadlock?)"


def run_lock(widget: Any) -> threading.Lock:
    """The lock a run of ``widget`` takes before its work (a composed widget's inner one)."""
    session = widget.session
    loaded = session.wait_loaded()
    if loaded.pipe is None:  # a retriever: its work is the embedder's
        return session.embedder.wait_loaded().lock
    if isinstance(loaded.pipe, tuple):  # the speculative benchmark: two pipelines
        return loaded.pipe[0].lock
    return loaded.lock


class Hold:
    """Holds the first job that makes progress inside ``progressed`` (its first token, step or
    sentence: a native callback where it has one) until Stop reaches it or the test lets go."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, on_reach: Callable[[], None] = None
                 ) -> None:
        self.job: Job[Any] | None = None
        self.reached, self.release = threading.Event(), threading.Event()
        original, hold = Job.progressed, self

        def progressed(job: Job[Any]) -> None:
            original(job)
            if hold.job is not None:
                return
            hold.job = job
            hold.reached.set()
            if on_reach is not None:
                on_reach()
            while not (job.stopped or hold.release.is_set()):
                hold.release.wait(0.005)

        monkeypatch.setattr(Job, "progressed", progressed)


# the cases --------------------------------------------------------------------------------------
def test_the_registry_example_works(subject: Subject, widget: Any) -> None:
    works(subject, widget)


def test_it_displays_before_and_after_a_run(subject: Subject, widget: Any) -> None:
    """What a notebook cell does with it: ipywidgets' repr reads every trait and calls methods
    of its own (a view's method named like one, ``_compare``, broke it once)."""
    assert "application/vnd.jupyter.widget-view+json" in widget._repr_mimebundle_()
    works(subject, widget)
    assert repr(widget) and widget._repr_mimebundle_()


def test_a_stop_before_a_call_is_not_carried_into_it(subject: Subject, widget: Any) -> None:
    widget.stop()
    works(subject, widget)
    assert not widget.status.startswith("stopped")


def test_a_stop_before_the_work_begins_ends_the_run_unmade(subject: Subject, widget: Any) -> None:
    with run_lock(widget):
        thread, box = in_thread(lambda: subject.call(widget))
        while not widget.running:  # the call took its turn; its work waits for the pipeline
            threading.Event().wait(0.005)
        widget.stop()
    ended(thread)
    assert not isinstance(box[0], BaseException), box[0]
    assert widget.last_error == "" and widget.status.startswith("stopped"), widget.status
    works(subject, widget)


def test_a_stop_in_the_first_native_callback_ends_the_run(subject: Subject, widget: Any,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    hold = Hold(monkeypatch)
    thread, box = in_thread(lambda: subject.call(widget))
    hold.reached.wait(HANG)
    assert hold.job is not None, "the run never made progress"
    widget.stop()
    ended(thread)
    assert not isinstance(box[0], BaseException), box[0]
    assert hold.job.stopped and widget.last_error == "" and not widget.running
    monkeypatch.undo()
    works(subject, widget)


def test_ctrl_c_from_code_stops_the_run_and_the_next_call_works(subject: Subject, widget: Any,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    main = threading.get_ident()
    hold = Hold(monkeypatch, on_reach=lambda: interrupt_when_waiting(main))
    with pytest.raises(KeyboardInterrupt):
        subject.call(widget)
    assert hold.job is not None and hold.job.stopped
    assert not widget.running and widget.last_error == ""
    monkeypatch.undo()
    works(subject, widget)


def test_a_call_from_an_observer_of_any_trait_neither_deadlocks_nor_is_lost(
        subject: Subject, widget: Any) -> None:
    """Observers run on the view thread; each of the first three traits to change calls the
    widget from there (a call the issue saw deadlock); all of them end with a result."""
    session: Session = widget.session
    started: list[str] = []
    values: dict[str, Any] = {}
    finished = threading.Semaphore(0)

    def observer(change: dict[str, Any]) -> None:
        name = change["name"]
        if name in started or len(started) >= 3:
            return
        started.append(name)
        try:
            values[name] = subject.call(widget)
        except BaseException as exc:  # the assertion below names it
            values[name] = exc
        finally:
            finished.release()

    names = [n for n in session.trait_names() if not n.startswith("_")]
    session.observe(observer, names)
    try:
        thread, box = in_thread(lambda: subject.call(widget))
        ended(thread)
        settle()  # the observers of the call's last changes have begun theirs
        waited = 0
        while waited < len(started):  # a call from an observer may start another (up to 3)
            assert finished.acquire(timeout=HANG), f"the call from {started[waited]} never ended"
            waited += 1
    finally:
        session.unobserve(observer, names)
    assert started, "no trait changed during a call"
    assert not isinstance(box[0], BaseException), box[0]
    assert all(_made(value) for value in values.values()), values
    settle()
    assert widget.last_error == "" and not widget.running


def test_a_call_made_while_another_runs_waits_for_it(subject: Subject, widget: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    busy: list[bool] = []
    widget.observe(lambda change: busy.append(change["new"]), "busy")
    hold = Hold(monkeypatch)
    first, first_box = in_thread(lambda: subject.call(widget))
    hold.reached.wait(HANG)
    second, second_box = in_thread(lambda: subject.call(widget))  # queued behind the first
    hold.release.set()
    ended(first)
    ended(second)
    settle()
    assert _made(first_box[0]) and _made(second_box[0])
    assert busy == [True, False, True, False]  # one run after the other, never two at once
    assert widget.last_error == ""


def test_a_start_refused_while_a_run_goes_on_says_busy_until_it_ends(
        subject: Subject, widget: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold(monkeypatch)
    first, box = in_thread(lambda: subject.call(widget))
    assert hold.reached.wait(HANG)
    session = widget.session
    assert session.start(lambda loaded, job: None) is None  # a button's start: refused
    assert session.status.startswith("busy: wait for the current run")
    hold.release.set()
    ended(first)
    settle()
    assert _made(box[0]) and not session.status.startswith("busy")


def buttons(widget: Any) -> tuple[Any, Any]:
    """The view's run button and its Stop button (None where runs are too short for one)."""
    controls = widget.view.controls
    assert "run" in controls, sorted(controls)
    return controls["run"], controls.get("stop")


def shows(widget: Any, busy: bool) -> bool:
    run, stop = buttons(widget)
    return run.disabled == busy and (stop is None or stop.disabled != busy)


def shown_late() -> None:
    """Return once every busy display already on its way has been made: delayed jobs run in the
    order they fall due, so one queued now with the same delay runs after them."""
    made = threading.Event()
    later(base.BUSY_DELAY, made.set)
    assert made.wait(HANG)


def test_the_buttons_show_a_run_that_lasts(subject: Subject, widget: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold(monkeypatch)
    thread, box = in_thread(lambda: subject.call(widget))
    assert hold.reached.wait(HANG)
    waited = 0.0
    while not shows(widget, busy=True) and waited < HANG:  # once BUSY_DELAY has passed
        threading.Event().wait(0.01)
        waited += 0.01
    assert shows(widget, busy=True), "the buttons never showed the run"
    hold.release.set()
    ended(thread)
    settle()
    assert _made(box[0]) and shows(widget, busy=False)


def test_the_buttons_never_show_a_run_that_ended_before_they_would(
        subject: Subject, widget: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the delay as long as HANG, every run ends first: not one button message is sent."""
    shown_late()  # a quick run of an earlier case may still have its busy display on the way
    monkeypatch.setattr(base, "BUSY_DELAY", HANG)
    changes: list[Any] = []
    shown = [b for b in buttons(widget) if b is not None]
    for button in shown:
        button.observe(changes.append, "disabled")
    try:
        works(subject, widget)
        settle()
    finally:
        for button in shown:
            button.unobserve(changes.append, "disabled")
    assert changes == [] and shows(widget, busy=False)


class Wrong:
    """An argument of a type no public method takes."""

    def __repr__(self) -> str:
        return "Wrong()"


def public_methods(widget: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The widget's public methods: its own and its session's, without the plumbing every
    session has for its family's code (``Session``'s own) and traitlets' API."""
    plumbing = ({*dir(Session), *dir(traitlets.HasTraits)} - {"stop", "join", "wait_loaded"})
    for name in sorted(n for n in dir(widget) if not n.startswith("_") and n not in plumbing):
        value = getattr(widget, name)
        if inspect.ismethod(value) or inspect.isfunction(value):
            yield name, value


def test_wrong_argument_types_are_refused_with_a_message(subject: Subject, widget: Any) -> None:
    checked = 0
    for name, method in public_methods(widget):
        parameters = [p for p in inspect.signature(method).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for parameter in parameters:
            args = [Wrong() if p is parameter or p.default is p.empty else p.default
                    for p in parameters]
            try:
                method(*args)
            except (TypeError, ValueError, traitlets.TraitError) as exc:
                assert str(exc), f"{name}({parameter.name}=Wrong()) said nothing"
                checked += 1
                continue
            except BaseException as exc:
                pytest.fail(f"{name}({parameter.name}=Wrong()) raised {exc!r}")
            pytest.fail(f"{name}({parameter.name}=Wrong()) was taken")
    assert checked
    works(subject, widget)
