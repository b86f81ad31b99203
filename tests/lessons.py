"""A small lesson notebook in the series' exercise form, for the exercise and course tests.

Five exercises on one line of tutorial state; for each, a right answer and the kind of wrong one a
learner gives (wrong, raising, hanging, killing the kernel, and a right one after that).
"""
from __future__ import annotations

import nbformat

TUTORIAL = "base = 40  # the lesson's state, which answers build on"
ANSWERS = {  # exercise -> (a right answer, what a learner who gets it wrong writes)
    1: ("two = base // 20", "two = 3"),
    2: ("half = base / 2", "half = base / 0"),  # raises
    3: ("words = ['a', 'b']", "import time\ntime.sleep(600)\nwords = []"),  # hangs
    4: ("square = 4", "import os\nos._exit(3)"),  # kills the kernel
    5: ("total = base + 2", "total = base + 1"),  # after the kernel died: needs base again
}
CHECKS = {1: "assert two == 2, 'two should be 2'",
          2: "assert half == 20, 'half should be half of base'",
          3: "assert len(words) == 2, 'two words'",
          4: "assert square == 4",
          5: "assert total == 42, 'total should be base + 2'"}


def lesson() -> nbformat.NotebookNode:
    """The lesson with its right answers in place, as the series keeps them."""
    cells = [nbformat.v4.new_markdown_cell("# A lesson"), nbformat.v4.new_code_cell(TUTORIAL),
             nbformat.v4.new_markdown_cell("## Exercises")]
    for number, (right, _) in ANSWERS.items():
        answer = nbformat.v4.new_code_cell(f"### BEGIN SOLUTION\n{right}\n### END SOLUTION")
        answer.metadata = {"jupyter": {"source_hidden": True}, "nbgrader": {
            "grade": False, "grade_id": f"ex{number}-answer", "locked": False,
            "schema_version": 3, "solution": True, "task": False}}
        check = nbformat.v4.new_code_cell(CHECKS[number])
        check.metadata = {"nbgrader": {"grade": True, "grade_id": f"ex{number}-check",
                                       "locked": True, "points": 1, "schema_version": 3,
                                       "solution": False, "task": False}}
        cells += [nbformat.v4.new_markdown_cell(f"**{number}.** ..."), answer, check]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook
