"""The runtime core every session shares: pipelines, their locks, the view thread, token streams.

- A pipeline is built once per (kind, folder, device, properties, extras) and shared while in use.
  Building holds a lock of that key only: loading one model never waits for another.
- A run calls ``generate`` on a worker thread (it releases the GIL, so the kernel stays responsive
  and Stop is heard); the pipeline's lock serializes runs, since two concurrent generates on one
  pipeline fail.
- Every state change a run makes is published on ovnb's one long-lived *view thread*: observers
  (and so every widget update) run there, never on a worker or a native genai thread.
- Streamed tokens are collected as ids by a ``TokenStream`` (the cheapest streamer there is: a
  list append per token) and decoded on the view thread at a bounded rate.
- Every exception becomes one line (plus details); nothing propagates into the kernel.
"""
from __future__ import annotations

import functools
import json
import logging
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
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}
_KEYS = threading.Lock()  # guards _KEY_LOCKS only, never held while building


def _freeze(value: Any) -> Hashable:
    """A hashable form of nested dicts/lists/paths, for the pipeline cache key."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return str(value) if isinstance(value, Path) else value


def load(kind: str, folder: Path, device: str, properties: dict[str, Any] | None = None,
         build: Callable[[], Any] | None = None, extra_key: Hashable = None) -> Loaded:
    """The shared pipeline for these settings, built with ``build()`` (or the default) if needed.

    Two sessions asking for the same key wait for one build; other keys build in parallel.
    """
    key = (kind, str(folder), device, _freeze(properties or {}), extra_key)
    with _KEYS:
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
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


def details(exc: BaseException) -> str:
    """The full traceback, for the folded details under an error line."""
    return "".join(traceback.format_exception(exc))


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


def prompt_tokens(loaded: Loaded, history: Any) -> int:
    """How many tokens ``history`` takes once the chat template is applied."""
    tokenizer = loaded.pipe.get_tokenizer()
    prompt = tokenizer.apply_chat_template(history, add_generation_prompt=True)
    return int(tokenizer.encode(prompt, add_special_tokens=False).input_ids.get_shape()[1])


def check_context(loaded: Loaded, history: Any) -> tuple[int, int | None]:
    """(prompt tokens, context) for ``history``; refuses a conversation longer than the context.

    openvino_genai runs it anyway (seen: 5000 tokens into a 2048-token model, no error), and the
    positions past the context give nonsense: better one line that says how to make room.
    """
    limit = context_length(loaded.folder)
    if limit is None:
        return 0, None
    count = prompt_tokens(loaded, history)
    if count >= limit:
        raise OvnbError(f"the conversation is {count} tokens, more than this model's context of "
                        f"{limit}: shorten the prompt, or press Clear to start a new conversation")
    return count, limit


@functools.cache
def devices() -> tuple[str, ...]:
    """Devices OpenVINO sees on this machine (e.g. ('CPU',)); asked once per process."""
    import openvino

    return tuple(openvino.Core().available_devices)


# the view thread ---------------------------------------------------------------------------------
_VIEW_JOBS: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any] | None]] = queue.SimpleQueue()
_VIEW_START = threading.Lock()
_view_thread: threading.Thread | None = None
_STREAMS: set[TokenStream] = set()  # streams the view thread decodes while they run


def on_view_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on ovnb's one long-lived view thread, wait, and return (or raise) what it did.

    openvino_genai calls streamers on native threads, which Python sees as a new "dummy" thread
    nearly every time. ipykernel opens a ZMQ socket for each thread that sends widget updates and
    closes it when the thread ends, which a dummy thread never does: about one socket leaked per
    two chat turns, until ZMQ's limit of 1023 sockets breaks the kernel's output ("Too many open
    files", seen after ~1300 turns in one kernel). Updates sent from one thread cost one socket.
    """
    if in_view_thread():
        return fn()
    future: Future[Any] = Future()
    _VIEW_JOBS.put((fn, future))
    _ensure_view_thread()
    return future.result()


def post(fn: Callable[[], Any]) -> None:
    """Queue ``fn`` for the view thread without waiting (native callbacks must never block)."""
    _VIEW_JOBS.put((fn, None))
    _ensure_view_thread()


def in_view_thread() -> bool:
    return threading.current_thread() is _view_thread


def settle() -> None:
    """Return once everything posted so far has run on the view thread.

    Workers never wait for the view thread (it may be busy in an observer that waits for them);
    whoever waits for a worker settles afterwards, and then sees every change it published.
    """
    if not in_view_thread():
        on_view_thread(lambda: None)
        return
    while not _VIEW_JOBS.empty():
        _serve_once(0)


def wait_for(event: threading.Event) -> None:
    """Wait for ``event``; on the view thread, keep serving its queue meanwhile.

    A call made from an observer (which runs on the view thread) would otherwise deadlock: the
    run it waits for publishes its results through this very thread.
    """
    if not in_view_thread():
        event.wait()
        return
    while not event.is_set():
        _serve_once(0.02)


def _ensure_view_thread() -> None:
    global _view_thread
    if _view_thread is not None and _view_thread.is_alive():
        return
    with _VIEW_START:
        if _view_thread is None or not _view_thread.is_alive():
            _view_thread = threading.Thread(target=_run_views, daemon=True, name="ovnb-view")
            _view_thread.start()


def _run_views() -> None:
    while True:
        _serve_once(FLUSH_INTERVAL if _STREAMS else None)


def _serve_once(timeout: float | None) -> None:
    """Run one queued job (waiting up to ``timeout``), then decode the streams that are due."""
    try:
        fn, future = _VIEW_JOBS.get(timeout=timeout)
    except queue.Empty:
        fn, future = None, None
    if fn is not None:
        try:
            value = fn()
        except BaseException as exc:  # the caller gets it; this thread must live on
            if future is not None:
                future.set_exception(exc)
            else:  # nobody waits for a posted job: a broken view update must still be seen
                logging.getLogger("ovnb").error("a view update failed", exc_info=exc)
        else:
            if future is not None:
                future.set_result(value)
    for stream in list(_STREAMS):
        stream.tick()


class TokenStream:
    """A streamer for openvino_genai: collects token ids, is decoded on the view thread.

    ``write`` does as little as a streamer can (append, one flag, the stop check): openvino_genai's
    per-token call into Python is the floor of any streaming view, and this stays at it. The view
    thread decodes the ids at most every ``interval`` seconds (and at once after the first token)
    and hands the text so far to ``on_text``. ``stopped`` is read by ``write``: True stops the run
    (``StreamingStatus.STOP``: the text so far is kept).
    """

    def __init__(self, decode: Callable[[list[int]], str],
                 on_text: Callable[[str], None] | None = None,
                 interval: float = FLUSH_INTERVAL) -> None:
        self.ids: list[int] = []
        self.stopped = False
        self.decode = decode
        self.on_text = on_text
        self.interval = interval
        self.flushes = 0
        self.first_at: float | None = None
        self.error: BaseException | None = None
        self._shown = 0
        self._due = 0.0
        self._fresh = True
        self._streamer: Any = None

    def streamer(self) -> Any:
        """The openvino_genai StreamerBase to pass to ``generate`` (one per stream)."""
        if self._streamer is None:
            self._streamer = _streamer_class()(self)
        return self._streamer

    def start(self) -> None:
        """Decode on the view thread from now on (call before ``generate``)."""
        post(lambda: _STREAMS.add(self))

    def finish(self) -> None:
        """The last decode, then no more (posted: it runs before anything published after it)."""
        def last() -> None:
            _STREAMS.discard(self)
            self.tick(force=True)

        post(last)

    def first_token(self) -> None:
        """Called once, from ``write``: ask for a decode at once (first text shows without delay)."""
        self.first_at = time.perf_counter()
        post(lambda: self.tick(force=True))

    def tick(self, force: bool = False) -> None:
        """On the view thread: decode and hand over the text if new tokens came and it is time."""
        count = len(self.ids)
        now = time.perf_counter()
        if count == self._shown or (not force and now < self._due):
            return
        self._shown, self._due = count, now + self.interval
        if self.on_text is None:
            return
        self.flushes += 1
        try:
            self.on_text(self.decode(self.ids[:count]))
        except Exception as exc:  # a broken view must not break generation
            self.error = exc


@functools.cache
def _streamer_class() -> type:
    """The StreamerBase subclass (made on first use: importing openvino_genai is not free)."""
    import openvino_genai as ov_genai

    running, stop = ov_genai.StreamingStatus.RUNNING, ov_genai.StreamingStatus.STOP

    class Streamer(ov_genai.StreamerBase):
        def __init__(self, stream: TokenStream) -> None:
            super().__init__()
            self.stream = stream
            self.ids = stream.ids

        def write(self, token: Any) -> Any:
            if type(token) is int:
                self.ids.append(token)
            else:
                self.ids.extend(token)
            stream = self.stream
            if stream._fresh:
                stream._fresh = False
                stream.first_token()
            return stop if stream.stopped else running

        def end(self) -> None:
            pass

    return Streamer


# jobs --------------------------------------------------------------------------------------------
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
    """Run one call on a worker thread.

    Any exception is kept as the Outcome's one-line error and details, never raised into the
    kernel. ``after(outcome)`` runs on the worker thread before ``wait()`` returns: results are
    published there, so a caller that waits sees the final state.
    """

    def __init__(self, fn: Callable[[], Any], after: Callable[[Outcome], None] | None = None,
                 name: str = "ovnb-run") -> None:
        self.fn = fn
        self.after = after
        self.outcome = Outcome()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> Job:
        self.thread.start()
        return self

    def wait(self) -> Outcome:
        """Block until the job (and its ``after``) ended and what it published is applied."""
        wait_for(self.done)
        settle()
        return self.outcome

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            self.outcome.value = self.fn()
        except BaseException as exc:  # everything: the kernel must survive
            self.outcome.error = explain(exc)
            self.outcome.details = details(exc)
        self.outcome.seconds = time.perf_counter() - start
        try:
            if self.after is not None:
                self.after(self.outcome)
        finally:
            self.done.set()
