"""``%ovnb check``: a notebook's exercise checks run in the learner's own shell, a line each.

The shell is IPython's, with ``__session__`` set to the notebook's path as ipykernel sets it for
a notebook opened in JupyterLab; the lesson is tests/lessons.py's. Whatever a check meets (a wrong
answer, a missing one, an exception, a loop), the shell and the learner's variables stay.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbgrader.preprocessors import ClearSolutions

from ovnb import exercises
from tests.lessons import ANSWERS, TUTORIAL, lesson


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ovnb")
    return ip


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """The lesson as a learner fetches it: each answer replaced by nbgrader's stub."""
    notebook, _ = ClearSolutions().preprocess(lesson(), {})
    path = tmp_path / "01-lesson.ipynb"
    nbformat.write(notebook, path)
    return path


def checked(shell: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str) -> list[str]:
    capsys.readouterr()
    shell.run_line_magic("ovnb", line)
    return capsys.readouterr().out.splitlines()


def test_exercises_are_read_from_the_notebook(released: Path, tmp_path: Path) -> None:
    found = exercises.exercises(released)
    assert [(e.number, e.points, e.untouched) for e in found] == [(n, 1, True) for n in ANSWERS]
    assert found[0].check.startswith("assert two == 2")
    source = tmp_path / "source.ipynb"
    nbformat.write(lesson(), source)
    assert not any(e.untouched for e in exercises.exercises(source))


def test_check_says_a_line_per_exercise_and_keeps_the_learner_s_work(
        shell: InteractiveShell, released: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("two", "half", "words", "square", "total"):  # a fresh learner
        shell.user_ns.pop(name, None)
    shell.user_ns["__session__"] = str(released)  # what ipykernel sets in JupyterLab
    shell.run_cell(TUTORIAL)
    shell.run_cell("two = 3")  # wrong
    shell.run_cell("half = base / 2")  # right
    lines = checked(shell, capsys, "check")
    assert lines == [
        "Exercise 1 (1 point): not yet: two should be 2",
        "Exercise 2 (1 point): passed",
        "Exercise 3 (1 point): not yet: not answered: write your answer in its cell "
        "(it still raises NotImplementedError), run it, then check again",
        "Exercise 4 (1 point): not yet: not answered: write your answer in its cell "
        "(it still raises NotImplementedError), run it, then check again",
        "Exercise 5 (1 point): not yet: not answered: write your answer in its cell "
        "(it still raises NotImplementedError), run it, then check again",
        "1 of 5 passed: 1 of 5 points"]
    assert shell.user_ns["two"] == 3 and shell.user_ns["base"] == 40  # nothing lost
    shell.run_cell("two = base // 20")
    assert checked(shell, capsys, f"check 1 2 {released}") == [
        "Exercise 1 (1 point): passed", "Exercise 2 (1 point): passed",
        "2 of 2 passed: 2 of 2 points"]


def test_an_answer_that_raises_or_loops_fails_its_exercise_only(released: Path) -> None:
    found = exercises.exercises(released)
    namespace: dict[str, object] = {"base": 40, "words": "x"}
    assert exercises.run(found[2], namespace).line() == \
        "Exercise 3 (1 point): not yet: two words"
    namespace["words"] = None  # len(None): a TypeError, reported in one line
    assert exercises.run(found[2], namespace).why == \
        "TypeError: object of type 'NoneType' has no len()"
    looping = exercises.Exercise(9, 1, "", "while True:\n    pass")
    verdict = exercises.run(looping, namespace, seconds=0.2)
    assert not verdict.passed and "took longer than 0.2 s" in verdict.why
    edited = exercises.Exercise(8, 2, "total = 1", "assert total")  # answered but not run
    assert exercises.run(edited, {}).why == "name 'total' is not defined: run your answer's cell first"


def test_check_names_the_fix_when_it_cannot_run(
        shell: InteractiveShell, released: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    shell.user_ns.pop("__session__", None)
    assert checked(shell, capsys, "check") == [
        "this kernel does not know its notebook: name it, e.g. %ovnb check 03-chat.ipynb"]
    assert checked(shell, capsys, f"check {tmp_path / 'gone.ipynb'}") == [
        f"no notebook at {tmp_path / 'gone.ipynb'}: give its path, e.g. %ovnb check 03-chat.ipynb"]
    assert checked(shell, capsys, f"check 7 {released}") == [
        "01-lesson.ipynb has no exercise 7: its exercises are 1, 2, 3, 4, 5"]
    empty = tmp_path / "empty.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), empty)
    assert checked(shell, capsys, f"check {empty}") == ["empty.ipynb has no exercises to check"]
    assert checked(shell, capsys, "grade")[0].startswith("usage: %ovnb check")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    assert checked(shell, capsys, f"check {broken}")[0].startswith(
        f"cannot read {broken} as a notebook")
