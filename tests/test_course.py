"""The series as an nbgrader course, without a hub: lay out, release, fetch, submit, grade.

A small notebook of five exercises stands for a lesson: nbgrader really generates, releases,
collects and autogrades it (its kernels run this Python), and learners fetch and submit with
nbgrader's own commands, as from a terminal on the hub. The bad answers a learner can give (one
that raises, one that hangs, one that kills its kernel) each cost their own exercise only.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ovnb import course, exercises
from ovnb.errors import OvnbError
from tests.lessons import ANSWERS, lesson

def answered(path: Path, which: dict[int, str]) -> None:
    """Write ``which`` answers into a fetched notebook's answer cells, as a learner would."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        number = int(grade_id[2:].split("-")[0]) if grade_id.endswith("-answer") else None
        if number in which:
            cell.source = which[number]
    nbformat.write(notebook, path)


def nbgrader(home: Path, learner: str, c: course.Course, *command: str) -> str:
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(c.learner_config_dir),
           "JUPYTERHUB_USER": learner}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *command], cwd=home, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> course.Course:
    root = tmp_path_factory.mktemp("course")
    source = root / "lessons" / "01-lesson.ipynb"
    source.parent.mkdir()
    nbformat.write(lesson(), source)
    made = course.lay_out(root / "course", root / "exchange", notebooks=[source], time_limit=10)
    assert course.release(made) == ["01-lesson"]
    return made


def test_the_course_is_laid_out_for_nbgrader_and_its_learners(released: course.Course) -> None:
    source = released.root / "source" / "01-lesson" / "01-lesson.ipynb"
    answers = [c for c in nbformat.read(source, as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == 5 and not any("jupyter" in c.metadata for c in answers)  # unfolded
    outbound = released.exchange / "ovnb" / "outbound" / "01-lesson" / "01-lesson.ipynb"
    stubbed = exercises.exercises(outbound)
    assert [e.untouched for e in stubbed] == [True] * 5
    assert all("### BEGIN SOLUTION" not in e.answer for e in stubbed)
    assert course.open_course(released.root) == released
    # what learners may do in the exchange: read the release, write (not list) submissions
    inbound = released.exchange / "ovnb" / "inbound"
    assert stat.S_IMODE(inbound.stat().st_mode) & 0o777 == 0o733
    assert stat.S_IMODE(released.exchange.stat().st_mode) == 0o1777  # kept by nbgrader's release
    assert not outbound.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    assert outbound.stat().st_mode & stat.S_IROTH


def test_learners_submit_and_each_bad_answer_costs_its_own_exercise(
        released: course.Course, tmp_path: Path) -> None:
    learners = {
        "ada": {n: right for n, (right, _) in ANSWERS.items()},  # all right: 5
        "linus": {},  # submits the release untouched: 0
        "mel": {n: wrong for n, (_, wrong) in ANSWERS.items()} | {5: ANSWERS[5][0]},  # 1
    }
    for learner, which in learners.items():
        home = tmp_path / learner
        home.mkdir()
        nbgrader(home, learner, released, "fetch_assignment", "01-lesson")
        answered(home / "01-lesson" / "01-lesson.ipynb", which)
        nbgrader(home, learner, released, "submit", "01-lesson")
    submitted = sorted((released.exchange / "ovnb" / "inbound").iterdir())
    assert [p.name.split("+")[0] for p in submitted] == sorted(learners)
    assert all(len(p.name.split("+")) == 4 for p in submitted)  # a random part: not guessable
    scores = course.grade(released)
    assert scores == {"ada": {"01-lesson": 5}, "linus": {"01-lesson": 0}, "mel": {"01-lesson": 1}}
    graded = nbformat.read(released.root / "autograded" / "mel" / "01-lesson" / "01-lesson.ipynb",
                           as_version=4)
    errors = [o.ename for c in graded.cells for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert {"ZeroDivisionError", "CellTimeoutError", "KernelDied"} <= set(errors)
    table = course.table(released).splitlines()
    assert table[0].split() == ["learner", "01-lesson"]
    assert [row.split() for row in table[1:]] == [["ada", "5/5"], ["linus", "0/5"], ["mel", "1/5"]]


def test_a_folder_that_is_not_a_course_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match="ovnb classroom --course"):
        course.open_course(tmp_path)
    with pytest.raises(OvnbError, match="--notebooks"):
        course.lay_out(tmp_path / "c", tmp_path / "x", notebooks=course.with_exercises(tmp_path))


def test_the_series_makes_a_course(tmp_path: Path) -> None:
    made = course.lay_out(tmp_path / "course", tmp_path / "exchange")
    names = made.assignments()
    assert names == [p.stem for p in course.with_exercises()] and "03-chat" in names
    assert "00-index" not in names
    config = json.loads((made.root / course.RECORD).read_text())
    assert config == {"course_id": "ovnb", "exchange": str(made.exchange)}


def test_a_lesson_nbgrader_cannot_release_is_named_with_the_reason(tmp_path: Path) -> None:
    broken = lesson()
    broken.cells[4].source = "### BEGIN SOLUTION\ntwo = 2"  # its end marker lost in an edit
    path = tmp_path / "02-broken.ipynb"
    nbformat.write(broken, path)
    made = course.lay_out(tmp_path / "course", tmp_path / "exchange", notebooks=[path])
    with pytest.raises(OvnbError, match="could not generate assignment 02-broken: "
                                        "RuntimeError: no end solution statement found"):
        course.release(made)
