"""Errors as a learner sees them: the one exception type ovnb raises, and one line for any other.

``OvnbError`` is a problem a user can fix; its message names the fix. ``explain`` turns anything
else (OpenVINO's multi-line errors, memory, a damaged file) into one line, and ``details`` keeps
the traceback for the fold under it.
"""
from __future__ import annotations

import re
import traceback


class OvnbError(Exception):
    """A user-fixable problem, described in one line that says what to do."""


class Stopped(OvnbError):
    """A run stopped by Stop before it made anything worth keeping: its message says where it
    stopped (shown as the status, not as an error)."""


class HubUnreachable(OvnbError):
    """The Hugging Face hub (or the HF_ENDPOINT mirror) could not be reached or is switched off."""


# lines of OpenVINO's error text that say where, not what
_NOISE = re.compile(r"^(Exception from |Check '.*' failed at )")


def explain(exc: BaseException) -> str:
    """One line a learner can act on, for an exception raised by OpenVINO or ovnb."""
    if isinstance(exc, OvnbError):
        return str(exc)
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, MemoryError) or "bad_alloc" in lowered or "out of memory" in lowered:
        return "out of memory: choose a smaller model or a lower precision (int4), or free memory"
    if "incorrect weights in bin file" in lowered:  # OpenVINO's words for a truncated .bin
        return ("a weights file (.bin) of this model is truncated or damaged: prepare the model "
                "again (`ovnb prepare MODEL_ID`) or copy its whole folder again")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    telling = [line for line in lines if not _NOISE.match(line)] or lines or [""]
    return f"{type(exc).__name__}: {telling[-1][:300]}".rstrip(": ")


def details(exc: BaseException) -> str:
    """The full traceback, for the folded details under an error line."""
    return "".join(traceback.format_exception(exc))
