"""The series as an nbgrader course: assignments released to a class, graded by their checks.

``ovnb classroom --course DIR`` makes DIR an nbgrader course folder: each notebook with exercises
becomes a source assignment (``source/03-chat/03-chat.ipynb``, answers unfolded), nbgrader
generates the learners' version (answers replaced by a stub) and releases it into an exchange
folder on the hub's machine. Learners fetch and submit from JupyterLab's Assignments tab (the
hub's config points their servers at ``DIR-learners/nbgrader_config.py``); ``--grade`` collects
the submissions, grades them with the notebooks' check cells (one exercise failing, hanging or
killing its kernel costs that exercise only: ``ovnb.grading``) and prints who got where.
nbgrader does the work: ovnb only lays out the folders and the configuration.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ovnb import exercises
from ovnb.errors import OvnbError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
COURSE_ID = "ovnb"
EXCHANGE = Path("/srv/nbgrader/exchange")  # nbgrader's default: one exchange for a machine's courses
RECORD = "ovnb-course.json"  # what lay_out made, for the commands that come back to the course
CELL_TIME_LIMIT = 300  # seconds a cell may run when graded: a model's first load fits, a hang not
INSTRUCTOR_CONFIG = '''\
# nbgrader's configuration for the ovnb course (written by `ovnb classroom --course`)
c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
c.Exchange.path_includes_course = False
c.Execute.timeout = {timeout}  # per cell; a cell past it is interrupted and fails alone
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}

from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata,  # noqa: E402
                                    IgnorePattern, LimitOutput, SaveAutoGrades)

from ovnb.grading import ExerciseExecute  # noqa: E402

# nbgrader's own list, with an Execute that survives a kernel killed by one exercise
c.Autograde.autograde_preprocessors = [ExerciseExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
'''
LEARNER_CONFIG = '''\
# nbgrader's configuration for the learners of the ovnb course (written by `ovnb classroom --course`)
import os

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
c.Exchange.path_includes_course = False
# who submits: the hub's name for the learner (the same as the account's with real accounts;
# with a spawner that runs everyone as one system user, the only way to tell learners apart)
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
'''


@dataclass(frozen=True)
class Course:
    """An nbgrader course folder laid out for the series."""

    root: Path
    exchange: Path
    course_id: str = COURSE_ID

    @property
    def learner_config_dir(self) -> Path:
        """The folder to put on the learners' JUPYTER_CONFIG_PATH: beside the course folder,
        which holds the solutions and the gradebook and so is the instructor's alone."""
        return self.root.with_name(self.root.name + "-learners")

    def assignments(self) -> list[str]:
        return sorted(p.name for p in (self.root / "source").iterdir() if p.is_dir())


def with_exercises(folder: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks of the series that have exercises, in order."""
    if not folder.is_dir():
        raise OvnbError(f"no notebooks at {folder}: give the series' folder, "
                        f"e.g. --notebooks ovnb/notebooks")
    return [path for path in sorted(folder.glob("[0-9][0-9]-*.ipynb"))
            if exercises.exercises(path)]


def unfolded(path: Path) -> str:
    """A notebook's text with its answer cells unfolded: learners write in them."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell["metadata"].pop("jupyter", None)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def lay_out(root: Path, exchange: Path, course_id: str = COURSE_ID,
            notebooks: Iterable[Path] | None = None, time_limit: int = CELL_TIME_LIMIT) -> Course:
    """Write the course folder: configs, one source assignment per notebook, the exchange."""
    course = Course(root.resolve(), exchange.resolve(), course_id)
    paths = list(notebooks) if notebooks is not None else with_exercises()
    if not paths:
        raise OvnbError("no notebook with exercises found: give the series' folder, "
                        "e.g. --notebooks ovnb/notebooks")
    values = {"root": str(course.root), "course_id": course_id,
              "exchange": str(course.exchange), "timeout": time_limit}
    course.root.mkdir(parents=True, exist_ok=True)
    course.root.chmod(stat.S_IRWXU)  # solutions and grades: the instructor's alone
    (course.root / "nbgrader_config.py").write_text(INSTRUCTOR_CONFIG.format(**values))
    (course.root / RECORD).write_text(json.dumps({"course_id": course_id,
                                                  "exchange": str(course.exchange)}) + "\n")
    course.learner_config_dir.mkdir(exist_ok=True)
    (course.learner_config_dir / "nbgrader_config.py").write_text(LEARNER_CONFIG.format(**values))
    for path in paths:
        folder = course.root / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_text(unfolded(path), encoding="utf-8")
        data = path.parent / "data"
        if data.is_dir() and "data/" in path.read_text(encoding="utf-8"):
            shutil.copytree(data, folder / "data", dirs_exist_ok=True)
    # the exchange: everybody may write into it (nbgrader makes each course's folders inside),
    # sticky like /tmp, so that nobody renames or removes what another made there
    course.exchange.mkdir(parents=True, exist_ok=True)
    course.exchange.chmod(stat.S_ISVTX | stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
    return course


def api(course: Course):  # noqa: ANN201 (nbgrader's API class is untyped)
    """nbgrader's API for the course, configured from its nbgrader_config.py."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", str(course.root)).load_config()
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def release(course: Course, names: Iterable[str] | None = None) -> list[str]:
    """Generate the learners' version of each assignment and release it to the exchange."""
    grader = api(course)
    released = []
    for name in names or course.assignments():
        for step in (grader.generate_assignment, grader.release_assignment):
            result = step(name)
            if not result["success"]:
                raise OvnbError(f"nbgrader could not {step.__name__.replace('_', ' ')} {name}: "
                                f"{last_line(result.get('log') or result.get('error', ''))}")
        released.append(name)
    return released


def grade(course: Course, names: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """Collect and autograde every submission; {learner: {assignment: score}}."""
    grader = api(course)
    for name in names or course.assignments():
        collected = grader.collect(name)
        if not collected["success"]:
            raise OvnbError(f"nbgrader could not collect {name}: "
                            f"{last_line(collected.get('error', ''))}")
        for learner in sorted(grader.get_submitted_students(name)):
            graded = grader.autograde(name, learner)
            if not graded["success"]:
                raise OvnbError(f"nbgrader could not grade {learner}'s {name}: "
                                f"{last_line(graded.get('log') or graded.get('error', ''))}")
    return scores(course)


def scores(course: Course) -> dict[str, dict[str, float]]:
    """The gradebook: {learner: {assignment: score}} for every graded submission."""
    from nbgrader.api import Gradebook

    found: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as book:
        for assignment in book.assignments:
            for submission in assignment.submissions:
                found.setdefault(submission.student.id, {})[assignment.name] = submission.score
    return found


def maxima(course: Course) -> dict[str, float]:
    """What each assignment is worth."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course.course_id) as book:
        return {assignment.name: assignment.max_score for assignment in book.assignments}


def table(course: Course) -> str:
    """The gradebook as text: a row per learner, a column per graded assignment."""
    got, worth = scores(course), maxima(course)
    names = sorted({name for row in got.values() for name in row})
    width = max([len("learner"), *map(len, got)])
    lines = [" ".join(["learner".ljust(width), *names])]
    for learner in sorted(got):
        cells = [f"{got[learner][n]:g}/{worth[n]:g}".ljust(len(n)) if n in got[learner]
                 else "-".ljust(len(n)) for n in names]
        lines.append(" ".join([learner.ljust(width), *cells]))
    return "\n".join(lines)


def last_line(text: str) -> str:
    """The reason in an nbgrader log: its last exception line, else its last line."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"[\w.]*(Error|Exception): ", line)
              and "see the the above traceback" not in line]
    return (raised or lines or ["no detail given"])[-1]


def open_course(value: str | os.PathLike[str]) -> Course:
    """The course laid out at ``value`` (as ``lay_out`` recorded it)."""
    root = Path(value).resolve()
    try:
        record = json.loads((root / RECORD).read_text())
    except (OSError, ValueError):
        raise OvnbError(f"{root} is not an ovnb course: make it with "
                        f"ovnb classroom --course {root}") from None
    return Course(root, Path(record["exchange"]), record["course_id"])
