"""Pipelines and their locks: each built once per settings, shared while in use, one run at a time.

- A pipeline is built once per (family, folder, device, properties, key) and shared while some
  session holds it (a weak cache). Building holds a lock of that key only: loading one model
  never waits for another.
- Every family's pipeline is made by its one builder (``Family.builder``), through ``build`` here:
  the device is checked first and OpenVINO's errors become one line.
- A run calls ``generate`` under the pipeline's lock: two concurrent generates on one pipeline
  fail in openvino_genai.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from ovnb import devices
from ovnb.errors import OvnbError, explain
from ovnb.families import Family
from ovnb.runtime import sigstack

P = TypeVar("P")
Options = Callable[[], Mapping[str, Any]]


@dataclass(eq=False)
class Loaded(Generic[P]):
    """A built pipeline of one family, and the lock that serializes its calls (a session with
    no pipeline, a retriever's, has ``pipe`` and ``family`` None)."""

    pipe: P
    folder: Path
    device: str
    family: Family | None
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOADED: weakref.WeakValueDictionary[Hashable, Loaded[Any]] = weakref.WeakValueDictionary()
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}
_KEYS = threading.Lock()  # guards _KEY_LOCKS only, never held while building


def freeze(value: Any) -> Hashable:
    """A hashable form of nested dicts/lists/paths, for a pipeline's key."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return str(value) if isinstance(value, Path) else value


def load(family: Family, folder: Path, device: str, properties: Mapping[str, Any] | None = None,
         key: Hashable = None, options: Options | None = None) -> Loaded[Any]:
    """The shared pipeline of ``family`` for these settings, built if needed.

    ``options()`` gives the builder's other arguments (adapters, a draft model...; asked only when
    building); ``key`` is what, beside folder, device and properties, makes two such pipelines
    differ. Two sessions asking for the same key wait for one build; other keys build in parallel.
    """
    properties = dict(properties or {})
    full = (family.task, str(folder), device, freeze(properties), key)
    with _KEYS:
        lock = _KEY_LOCKS.setdefault(full, threading.Lock())
    with lock:
        loaded = _LOADED.get(full)
        if loaded is None:
            pipe = build(family, folder, device, properties, **(options() if options else {}))
            loaded = Loaded(pipe, Path(folder), device, family)
            _LOADED[full] = loaded
    return loaded


def build(family: Family, folder: Path, device: str, properties: Mapping[str, Any],
          **options: Any) -> Any:
    """A new pipeline of ``family`` from ``folder`` (not shared): its builder, on a checked
    device, OpenVINO's errors as one line, the thread's signal stack kept (``sigstack``)."""
    devices.check(device)
    try:
        with sigstack.kept():
            return family.builder()(family, Path(folder), device, dict(properties), **options)
    except RuntimeError as exc:
        raise OvnbError(explain(exc)) from exc


def open_tokenizer(folder: Path) -> Any:
    """openvino_genai's Tokenizer of a prepared folder, the thread's signal stack kept."""
    import openvino_genai as ov_genai

    with sigstack.kept():
        return ov_genai.Tokenizer(str(folder))


def construct(family: Family, folder: Path, device: str, properties: Mapping[str, Any],
              **options: Any) -> Any:
    """The default builder: the family's first openvino_genai class, made from the folder."""
    import openvino_genai as ov_genai

    return getattr(ov_genai, family.pipelines[0])(str(folder), device, **options, **properties)
