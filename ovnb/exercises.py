"""Exercises that check themselves, in the learner's own kernel.

Each exercise in the notebooks is nbgrader's pair of cells: an answer cell (its code between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, which nbgrader replaces with a stub when it releases
the notebook to a class) and a check cell worth points, whose asserts hold for any correct answer on
tiny and real models alike. nbgrader grades the check cells on the classroom hub
(``ovnb classroom --course``); ``%ovnb check`` runs the same cells here, on Binder too, and says in
one line per exercise whether it passed or what failed. Grade ids name the pairs: ``ex3-answer``
and ``ex3-check`` are exercise 3's.
"""
from __future__ import annotations

import json
import os
import re
import signal
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError

GRADE_ID = re.compile(r"ex(\d+)-(answer|check)")
STUB = "raise NotImplementedError"  # what nbgrader's stub raises where an answer is missing
TIME_LIMIT = 60.0  # seconds one check may take before it counts as failed


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook: its answer cell and its check cell (as saved on disk)."""

    number: int
    points: float
    answer: str
    check: str

    @property
    def untouched(self) -> bool:
        """The answer cell is still nbgrader's stub: the learner has not written (or saved) one."""
        return STUB in self.answer


@dataclass(frozen=True)
class Verdict:
    """What running one exercise's check said."""

    number: int
    points: float
    passed: bool
    why: str = ""

    def line(self) -> str:
        """One line for the learner: passed, or what failed and where to look."""
        head = f"Exercise {self.number} ({self.points:g} point{'' if self.points == 1 else 's'})"
        return f"{head}: passed" if self.passed else f"{head}: not yet: {self.why}"


def cells(notebook: Mapping[str, Any]) -> Iterator[tuple[int, str, float, str]]:
    """(exercise number, "answer" or "check", points, source) of each exercise cell, in order."""
    for cell in notebook.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        found = GRADE_ID.fullmatch(meta.get("grade_id", ""))
        if cell.get("cell_type") == "code" and found:
            source = cell["source"]
            text = "".join(source) if isinstance(source, list) else source
            yield int(found[1]), found[2], float(meta.get("points", 0)), text


def exercises(path: str | os.PathLike[str]) -> list[Exercise]:
    """Every exercise of the notebook at ``path``, by number."""
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OvnbError(f"no notebook at {path}: give its path, e.g. %ovnb check 03-chat.ipynb")
    except (OSError, ValueError) as error:
        raise OvnbError(f"cannot read {path} as a notebook ({error}): save it and try again")
    answers: dict[int, str] = {}
    checks: dict[int, tuple[float, str]] = {}
    for number, role, points, text in cells(notebook):
        if role == "answer":
            answers[number] = text
        else:
            checks[number] = (points, text)
    return [Exercise(n, points, answers.get(n, ""), text)
            for n, (points, text) in sorted(checks.items())]


def notebook_path(namespace: Mapping[str, Any]) -> Path:
    """The notebook this kernel runs: JupyterLab tells a kernel its notebook in ``__session__``."""
    session = namespace.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if not session:
        raise OvnbError("this kernel does not know its notebook: name it, "
                        "e.g. %ovnb check 03-chat.ipynb")
    return Path(session)


class CheckTimeout(Exception):
    """A check ran past its time limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise CheckTimeout in this thread after ``seconds`` (main thread only: an alarm signal)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise CheckTimeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else ""


def run(exercise: Exercise, namespace: MutableMapping[str, Any],
        seconds: float = TIME_LIMIT) -> Verdict:
    """Run ``exercise``'s check in ``namespace`` (the learner's variables) and judge it."""
    def failed(why: str) -> Verdict:
        return Verdict(exercise.number, exercise.points, False, why)

    code = compile(exercise.check, f"<exercise {exercise.number} check>", "exec")
    try:
        with time_limit(seconds):
            exec(code, namespace)  # noqa: S102 (the notebook's own check cell, as if run by hand)
    except CheckTimeout:
        return failed(f"the check took longer than {seconds:g} s: does your answer loop forever?")
    except AssertionError as error:
        return failed(first_line(error) or "an assert of the check failed: read its cell")
    except NameError as error:
        if exercise.untouched:
            return failed("not answered: write your answer in its cell (it still raises "
                          "NotImplementedError), run it, then check again")
        return failed(f"{first_line(error)}: run your answer's cell first")
    except Exception as error:  # a learner's code may raise anything: report it, keep the kernel
        return failed(f"{type(error).__name__}: {first_line(error)}")
    return Verdict(exercise.number, exercise.points, True)


def check(path: str | os.PathLike[str], namespace: MutableMapping[str, Any],
          numbers: list[int] | None = None, seconds: float = TIME_LIMIT) -> list[Verdict]:
    """Run the checks of the exercises ``numbers`` (all if None) of the notebook at ``path``."""
    found = exercises(path)
    if not found:
        raise OvnbError(f"{Path(path).name} has no exercises to check")
    known = {exercise.number for exercise in found}
    missing = sorted(set(numbers or []) - known)
    if missing:
        raise OvnbError(f"{Path(path).name} has no exercise {missing[0]}: its exercises are "
                        f"{', '.join(map(str, sorted(known)))}")
    return [run(exercise, namespace, seconds) for exercise in found
            if not numbers or exercise.number in numbers]


def summary(verdicts: list[Verdict]) -> str:
    """The verdicts, one line each, and the score."""
    got = sum(v.points for v in verdicts if v.passed)
    total = sum(v.points for v in verdicts)
    lines = [v.line() for v in verdicts]
    lines.append(f"{sum(v.passed for v in verdicts)} of {len(verdicts)} passed: "
                 f"{got:g} of {total:g} points")
    return "\n".join(lines)
