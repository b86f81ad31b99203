"""Keep notebooks free of outputs, except the few cells nbval checks.

A committed output is either a reference nbval compares against (a cell marked
``# NBVAL_CHECK_OUTPUT``) or noise: timings, paths, widget ids and big diffs. This tool strips the
noise, and records the references by running a notebook in tiny mode, the way CI runs it:

    python notebooks/tools/outputs.py                        # strip every notebook
    python notebooks/tools/outputs.py --record 02-export-and-compress.ipynb
    python notebooks/tools/outputs.py --check                # list notebooks that need stripping
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

import nbformat

FOLDER = Path(__file__).resolve().parent.parent
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
CHECK_TAG = "nbval-check-output"
KEPT_CELL_METADATA = ("tags", "nbgrader", "jupyter")  # exercises keep nbgrader's marks and folds
KEPT_NB_METADATA = ("kernelspec", "language_info")  # widget state is dropped


def checked(cell: nbformat.NotebookNode) -> bool:
    """Whether nbval compares this cell's output (a ``# NBVAL_CHECK_OUTPUT`` line, or its tag)."""
    if cell.cell_type != "code":
        return False
    lines = {line.strip() for line in cell.source.splitlines()}
    return CHECK_MARK in lines or CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def stripped(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy with no volatile metadata, and outputs (and counts) only in checked cells."""
    nb = copy.deepcopy(nb)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEPT_NB_METADATA}
    nb.metadata["language_info"] = {"name": "python"}  # versions differ between machines
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA}
    for number, cell in enumerate(code, 1):
        # nbval skips a reference cell that looks unrun: a checked cell keeps a count, its
        # position (stable across runs), and the others none
        cell.execution_count = number if checked(cell) and cell.outputs else None
        kept = cell.outputs if checked(cell) else []
        cell.outputs = [_clean(o, cell.execution_count) for o in kept]
    return nb


def _clean(output: nbformat.NotebookNode, count: int | None) -> nbformat.NotebookNode:
    output = copy.deepcopy(output)
    if "execution_count" in output:
        output.execution_count = count
    output.pop("metadata", None)
    if output.output_type in ("execute_result", "display_data"):
        output.metadata = {}
    return output


def record(path: Path, timeout: int = 1200) -> nbformat.NotebookNode:
    """Run ``path`` top to bottom in tiny mode, keeping the checked cells' fresh outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ["OVNB_TINY"] = "1"  # the kernel inherits this process's environment
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return stripped(nb)


def text_of(nb: nbformat.NotebookNode) -> str:
    """The file content JupyterLab would write for ``nb``."""
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: all in notebooks/")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--record", action="store_true",
                      help="run in tiny mode, keep checked outputs")
    mode.add_argument("--check", action="store_true", help="only list notebooks to strip")
    args = parser.parse_args(argv)
    paths = [p if p.parent != Path() else FOLDER / p for p in args.notebooks] \
        or sorted(FOLDER.glob("*.ipynb"))
    dirty = []
    for path in paths:
        nb = record(path) if args.record else stripped(nbformat.read(path, as_version=4))
        if text_of(nb) == path.read_text():
            continue
        dirty.append(path.name)
        if not args.check:
            path.write_text(text_of(nb))
        print(f"{'needs stripping' if args.check else 'written'}: {path.name}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
