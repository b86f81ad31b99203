"""Memory for kernels of new input shapes, kept under a budget by rebuilding the pipeline.

OpenVINO's CPU plugin compiles kernels for each input shape a model meets and keeps them (its
runtime cache, and oneDNN's process-wide primitive cache). SpeechT5's decoder meets a new shape
at every step of every new text length, and nothing can be padded (its encoder attends to every
token: padding changes the speech), so a kernel that speaks many sentences grows without bound,
while a length seen before costs nothing and runs 3-4x faster than a new one. Measured on a
random model of microsoft/speecht5_tts's size (which runs every sentence to its longest, 10
decoder steps a token): the first sentence after a build costs the most, its steps' kernels
(343 MB for 4 characters, 533 MB for 38, 1011 MB for 109); each new length after it 50-100 MB.

Bounding the runtime cache (``CPU_RUNTIME_CACHE_CAPACITY``) does not bound this: 500 entries
still reached 1.1 GB on tiny-speecht5 and made every sentence 7x slower (each recompiled);
``malloc_trim`` alone frees nothing (the kernels are live). Dropping the pipeline frees its
kernels (down to 49 MB), except those oneDNN's primitive cache still holds (174 MB after one
build, 291 MB after four), unless that cache is off (``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0``
before the first CPU model of the process is compiled). So ``ShapeBudget`` counts what new
lengths cost since the pipeline was built and asks for a rebuild before a new length would pass
the budget; lengths seen since then stay as fast as ever. What it bounds is the growth: the
peak is the longest sentence's first cost plus the budget.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

PRIMITIVE_CACHE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
PER_LENGTH = 50  # what a new length costs beside its characters (units, not MB)
BUDGET = 500  # peaks at speecht5_tts size, 24 lengths: 1340 MB at 800, 1225 at 500, 1203 at 350
# (the first sentence after each rebuild dominates, see above); tiny-speecht5: 651


@dataclass(eq=False)
class ShapeBudget:
    """What the lengths met since the last build cost, against ``limit``."""

    limit: int = BUDGET
    seen: set[int] = field(default_factory=set)
    spent: int = 0
    rebuilds: int = 0  # how many times the pipeline was rebuilt to stay under the limit

    @staticmethod
    def cost(length: int) -> int:
        """A new length's kernels: a part for each step of its speech (steps grow with the
        characters) and a fixed part."""
        return length + PER_LENGTH

    def due(self, length: int) -> bool:
        """Whether a text of ``length`` must wait for a rebuild: it is new and would pass the
        limit (a first length always fits: a rebuild would not make it smaller)."""
        return (length not in self.seen and bool(self.seen)
                and self.spent + self.cost(length) > self.limit)

    def add(self, length: int) -> None:
        if length not in self.seen:
            self.seen.add(length)
            self.spent += self.cost(length)

    def rebuilt(self) -> None:
        self.seen.clear()
        self.spent = 0
        self.rebuilds += 1


_BUDGETS: weakref.WeakKeyDictionary[Any, ShapeBudget] = weakref.WeakKeyDictionary()


def budget_of(loaded: Any) -> ShapeBudget:
    """The budget of a loaded pipeline (shared by every session that shares the pipeline)."""
    budget = _BUDGETS.get(loaded)
    if budget is None:
        budget = _BUDGETS[loaded] = ShapeBudget()
    return budget


def free_primitive_cache() -> None:
    """Turn oneDNN's process-wide primitive cache off (a user's own value is kept), so a dropped
    pipeline's kernels are freed: read once, when the process compiles its first CPU model."""
    os.environ.setdefault(PRIMITIVE_CACHE, "0")


def release_memory() -> None:
    """Give freed heap back to the system (glibc keeps it otherwise); a no-op elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's malloc_trim, looked up once (find_library runs ldconfig), or None."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
