"""Each thread keeps its signal stack while OpenVINO builds (a workaround, Linux only).

OpenVINO's CPU plugin (2026.4) gives the thread that creates it a signal stack of its own
(``sigaltstack``, made for AMX's large signal frames) and, when destroyed, puts back the stack it
replaced, if its own is still the thread's, then unmaps its own. openvino_genai makes a plugin per
pipeline (and per Tokenizer), so two pipelines that end in the order they were made (a pipeline
rebuilt with new settings: the new one is made before the old one goes) leave the thread with the
first one's unmapped stack. The next signal handled on that thread, a Ctrl-C or a Jupyter kernel
interrupt, then kills the process with SIGSEGV and no traceback (``tests/runtime/test_sigstack.py``
shows it with two bare pipelines). ovnb makes every OpenVINO object inside ``kept()``, which puts
the thread's stack back once the object exists: a plugin's stack is then no thread's, and the
plugin's end only unmaps it. Python's own (faulthandler's) stack is large enough for AMX frames.

Bare pipelines a learner makes in a notebook are OpenVINO's alone (a cell run twice, then ``del``:
the same stale stack). So in an IPython kernel ovnb gives the main thread a stack of its own, never
freed, at import and again after every cell (``guard_kernel``): a kernel interrupt between cells
then always finds a live stack.
"""
from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SS_DISABLE = 2  # <signal.h>: the thread has no alternate signal stack
HOME_SIZE = 64 * 1024  # bytes: above any signal frame's need (AMX's is about 11 KB)


class _Stack(ctypes.Structure):
    """``stack_t`` of <signal.h> (Linux)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


def _libc() -> ctypes.CDLL | None:
    return ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


_LIBC = _libc()


def current() -> tuple[int, int, int] | None:
    """This thread's alternate signal stack as (address, size, flags); None off Linux."""
    if _LIBC is None:
        return None
    stack = _Stack()
    if _LIBC.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return stack.ss_sp or 0, stack.ss_size, stack.ss_flags


def restore(saved: tuple[int, int, int] | None) -> None:
    """Make ``saved`` (from ``current()``) this thread's signal stack again, if it changed."""
    if _LIBC is None or saved is None or current() == saved:
        return
    address, size, flags = saved
    stack = _Stack(address or None, flags & SS_DISABLE, size)
    _LIBC.sigaltstack(ctypes.byref(stack), None)


@contextmanager
def kept() -> Iterator[None]:
    """Run the body (which makes OpenVINO objects), then give this thread its own stack back."""
    saved = current()
    try:
        yield
    finally:
        restore(saved)


_HOME: list[ctypes.Array[ctypes.c_char]] = []  # the kernel's own stack, made once, never freed


def home() -> tuple[int, int, int]:
    """ovnb's signal stack for the kernel's main thread, as ``current()`` gives stacks."""
    if not _HOME:
        _HOME.append(ctypes.create_string_buffer(HOME_SIZE))
    return ctypes.addressof(_HOME[0]), HOME_SIZE, 0


def _home_again(*_: Any) -> None:
    restore(home())


def guard_kernel() -> None:
    """In an IPython shell (a Jupyter kernel), give its main thread ovnb's stack now and after
    every cell; outside IPython, off Linux, or once done, nothing."""
    shell = _ipython()
    if shell is None or _LIBC is None:
        return
    callbacks = shell.events.callbacks["post_run_cell"]
    if _home_again not in callbacks:
        _home_again()
        shell.events.register("post_run_cell", _home_again)


def _ipython() -> Any:
    if "IPython" not in sys.modules:  # never import IPython for this
        return None
    from IPython import get_ipython

    return get_ipython()
