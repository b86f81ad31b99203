"""nbgrader's notebook runner, made to grade one exercise at a time.

nbgrader runs a submission top to bottom in one kernel with a time limit per cell; a cell that
raises or runs out of time only fails itself. A cell that kills the kernel (out of memory, a
crash, ``os._exit``) fails the whole submission in nbgrader 0.9: no score at all. Here that cell
fails alone: it gets an error output, a new kernel replays the cells before it that ran without
error (their outputs kept as they were) and grading goes on, so the other exercises still count.
"""
from __future__ import annotations

import copy
from typing import Any

from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

KERNEL_DIED = "KernelDied"


class ExerciseExecute(Execute):
    """Execute, except that a dead kernel costs only the cell that killed it."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        self._skipped: set[int] = set()  # cells that failed or killed a kernel: never replayed
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        try:
            done = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.log.warning("cell %d killed the kernel: it fails, grading goes on", index)
            cell.outputs.append(died())
            self._skipped.add(index)
            run_sync(self._revive)(index)
            return cell, self.resources
        if any(output.output_type == "error" for output in cell.get("outputs", [])):
            self._skipped.add(index)  # raised or ran out of time: a replay would only repeat it
        return done

    async def _revive(self, index: int) -> None:
        """A fresh kernel in the state the cells before ``index`` leave (killers skipped)."""
        assert self.km is not None
        if self.kc is not None:
            self.kc.stop_channels()
        await self.km.restart_kernel(now=True)
        self.kc = await self.async_start_new_kernel_client()
        for before, cell in enumerate(self.nb.cells[:index]):
            if cell.cell_type == "code" and before not in self._skipped:
                try:  # a copy: the replay's outputs are not the submission's
                    await self.async_execute_cell(copy.deepcopy(cell), before)
                except DeadKernelError:  # dies again on replay: skip it too, start over
                    self._skipped.add(before)
                    return await self._revive(index)


def died() -> NotebookNode:
    """The error output of a cell whose kernel died while it ran."""
    message = ("the kernel died while this cell ran (out of memory, a crash or an exit): "
               "this cell fails, the others are graded in a new kernel")
    return NotebookNode(output_type="error", ename=KERNEL_DIED, evalue=message,
                        traceback=[f"{KERNEL_DIED}: {message}"])
