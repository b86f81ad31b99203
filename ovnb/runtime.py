"""The runtime core every widget shares: pipelines, the lock, the worker thread, throttled streaming.

- A pipeline is built once per (kind, folder, device, properties, extras) and shared while in use.
- ``generate`` runs on a worker thread (it releases the GIL, so the kernel stays responsive and a Stop
  click is heard); a per-pipeline lock serializes calls, since two concurrent generates on one
  pipeline fail.
- Streamed text goes into a buffer and is flushed to the view at a bounded rate, so a fast model is
  not slowed down by the view.
- Every exception becomes one line (plus details) for the widget; nothing propagates into the kernel.
"""
from __future__ import annotations

import functools
import json
import queue
import re
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovnb.devices import normalize
from ovnb.errors import OvnbError

FLUSH_INTERVAL = 0.1  # seconds between view updates while streaming (at most 10 per second)


@dataclass(eq=False)
class Loaded:
    """A built pipeline and the lock that serializes its calls."""

    pipe: Any
    folder: Path
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOADED: weakref.WeakValueDictionary[Hashable, Loaded] = weakref.WeakValueDictionary()
_LOADING = threading.Lock()


def _freeze(value: Any) -> Hashable:
    """A hashable form of nested dicts/lists/paths, for the pipeline cache key."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return str(value) if isinstance(value, Path) else value


def load(kind: str, folder: Path, device: str, properties: dict[str, Any] | None = None,
         build: Callable[[], Any] | None = None, extra_key: Hashable = None) -> Loaded:
    """The shared pipeline for these settings, built with ``build()`` (or the default) if needed."""
    key = (kind, str(folder), device, _freeze(properties or {}), extra_key)
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            maker = build or (lambda: construct(kind, folder, device, properties or {}))
            loaded = Loaded(pipe=maker(), folder=folder, device=device)
            _LOADED[key] = loaded
    return loaded


def construct(kind: str, folder: Path, device: str, properties: dict[str, Any], **kwargs: Any) -> Any:
    """Build an openvino_genai pipeline, turning its errors into one-line ``OvnbError``s."""
    import openvino_genai as ov_genai

    from ovnb.layout import PIPELINES

    check_device(device)
    cls = getattr(ov_genai, PIPELINES[kind][0])
    try:
        return cls(str(folder), device, **kwargs, **properties)
    except RuntimeError as exc:
        raise OvnbError(explain(exc)) from exc


def check_device(device: str, available: Sequence[str] | None = None) -> None:
    """Refuse a device OpenVINO does not see, before a pipeline fails on it in obscure ways.

    ``available`` replaces the devices of this machine (the device picker injects a list in tests).
    """
    here = tuple(available) if available is not None else devices()
    device = normalize(device, here)  # "cpu" is CPU; "" and "CPU:0" are refused in one line
    names = device.split(":", 1)[1] if ":" in device else device
    virtual = ("AUTO", "HETERO", "MULTI")
    for name in names.split(","):
        name = name.strip()
        if name in virtual or not name:
            continue
        if not _present(name, here):
            choices = [h for h in here if h not in virtual]
            raise OvnbError(f"device {name} is not available here: choose one of "
                            f"{', '.join([*choices, 'AUTO'])}")


def _present(name: str, here: Sequence[str]) -> bool:
    """Whether ``name`` is one of ``here``: "GPU" names GPU.0 when OpenVINO lists GPU.0 and
    GPU.1, and "GPU.0" is the "GPU" it lists when there is one."""
    base, _, index = name.partition(".")
    if name in here or (index == "0" and base in here):
        return True
    return not index and any(h.split(".")[0] == name for h in here)


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


def context_length(folder: Path) -> int | None:
    """How many tokens the model's positions cover (config.json), None when it does not say."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    for part in (config.get("text_config") or {}, config):
        value = part.get("max_position_embeddings") or part.get("n_positions")
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_context(loaded: Loaded, history: Any) -> None:
    """Refuse a conversation longer than the model's context.

    openvino_genai runs it anyway (seen: 5000 tokens into a 2048-token model, no error), and the
    positions past the context give nonsense: better one line that says how to make room.
    """
    limit = context_length(loaded.folder)
    if limit is None:
        return
    tokenizer = loaded.pipe.get_tokenizer()
    prompt = tokenizer.apply_chat_template(history, add_generation_prompt=True)
    count = tokenizer.encode(prompt, add_special_tokens=False).input_ids.get_shape()[1]
    if count > limit:
        raise OvnbError(f"the conversation is {count} tokens, more than this model's context of "
                        f"{limit}: shorten the prompt, or press Clear to start a new conversation")


@functools.cache
def devices() -> tuple[str, ...]:
    """Devices OpenVINO sees on this machine (e.g. ('CPU',)); asked once per process."""
    import openvino

    return tuple(openvino.Core().available_devices)


_VIEW_JOBS: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_VIEW_START = threading.Lock()
_view_thread: threading.Thread | None = None


def on_view_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on ovnb's one long-lived view thread, wait, and return (or raise) what it did.

    openvino_genai calls streamers on native threads, which Python sees as a new "dummy" thread
    nearly every time. ipykernel opens a ZMQ socket for each thread that sends widget updates and
    closes it when the thread ends, which a dummy thread never does: about one socket leaked per
    two chat turns, until ZMQ's limit of 1023 sockets breaks the kernel's output ("Too many open
    files", seen after ~1300 turns in one kernel). Updates sent from one thread cost one socket.
    """
    global _view_thread
    if threading.current_thread() is _view_thread:
        return fn()
    with _VIEW_START:
        if _view_thread is None or not _view_thread.is_alive():
            _view_thread = threading.Thread(target=_run_views, daemon=True, name="ovnb-view")
            _view_thread.start()
    future: Future[Any] = Future()
    _VIEW_JOBS.put((fn, future))
    return future.result()


def _run_views() -> None:
    while True:
        fn, future = _VIEW_JOBS.get()
        try:
            future.set_result(fn())
        except BaseException as exc:  # the caller gets it; this thread must live on
            future.set_exception(exc)


class TextSink:
    """A streamer callback: buffers text, flushes it at a bounded rate, stops on request.

    ``on_flush(text)`` receives the whole text so far (a view sets it as one value: cheap, unlike
    appending tokens to an Output widget). It runs on the view thread (``on_view_thread``) while
    generation waits, and must not raise; errors are kept and shown after generation.
    """

    def __init__(self, on_flush: Callable[[str], None] | None = None,
                 interval: float = FLUSH_INTERVAL) -> None:
        self.parts: list[str] = []
        self.stop_event = threading.Event()
        self.on_flush = on_flush
        self.interval = interval
        self.flushes = 0
        self.first_at: float | None = None
        self._last = 0.0
        self.flush_error: BaseException | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def __call__(self, chunk: str) -> Any:
        import openvino_genai as ov_genai

        self.parts.append(chunk)
        now = time.perf_counter()
        if self.first_at is None:
            self.first_at = now
        if now - self._last >= self.interval:
            self._last = now
            self.flush()
        return ov_genai.StreamingStatus.STOP if self.stop_event.is_set() else \
            ov_genai.StreamingStatus.RUNNING

    def flush(self) -> None:
        """Send the text so far to the view (also called once at the end)."""
        if self.on_flush is None:
            return
        self.flushes += 1
        text, on_flush = self.text, self.on_flush
        try:
            on_view_thread(lambda: on_flush(text))
        except Exception as exc:  # a broken view must not break generation
            self.flush_error = exc


@dataclass
class Outcome:
    """What a job produced: its value, or the one-line error and details."""

    value: Any = None
    error: str | None = None
    details: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Job:
    """Run one call on a worker thread (under a pipeline's lock when given one).

    Any exception is kept as the Outcome's one-line error and details, never raised into the
    kernel. ``after(outcome)`` runs on the worker thread before ``wait()`` returns: views update
    there, so a caller that waits sees the final view.
    """

    def __init__(self, loaded: Loaded | None, fn: Callable[[], Any],
                 after: Callable[[Outcome], None] | None = None) -> None:
        self.loaded = loaded
        self.fn = fn
        self.after = after
        self.outcome = Outcome()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="ovnb-generate")

    def start(self) -> Job:
        self.thread.start()
        return self

    def wait(self) -> Outcome:
        """Block until the job (and its ``after``) ended; returns its Outcome."""
        self.done.wait()
        return self.outcome

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            if self.loaded is None:
                self.outcome.value = self.fn()
            else:
                with self.loaded.lock:
                    self.outcome.value = self.fn()
        except BaseException as exc:  # everything: the kernel must survive
            self.outcome.error = explain(exc)
            self.outcome.details = "".join(traceback.format_exception(exc))
        self.outcome.seconds = time.perf_counter() - start
        try:
            if self.after is not None:
                self.after(self.outcome)
        finally:
            self.done.set()
