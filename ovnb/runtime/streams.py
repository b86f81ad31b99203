"""Token streams: the cheapest streamer there is, decoded on the view thread at a bounded rate.

``write`` does as little as a streamer can (append, one flag, the stop check): openvino_genai's
per-token call into Python is the floor of any streaming view, and this stays at it. The view
thread decodes the ids at most every ``interval`` seconds (and at once after the first token) and
hands the text so far to ``on_text``. A first token that decodes to nothing visible (a space, a
special token) does not count as the first: the next token asks for a decode at once again.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from ovnb.runtime.views import FLUSH_INTERVAL, post, unwatch, watch


class TokenStream:
    """A streamer for openvino_genai: collects token ids, is decoded on the view thread.

    ``stop()`` makes the next ``write`` return ``StreamingStatus.STOP`` (the text so far is kept).
    ``on_first`` is called once, from the native thread, at the first token.
    """

    def __init__(self, decode: Callable[[list[int]], str],
                 on_text: Callable[[str], None] | None = None,
                 interval: float = FLUSH_INTERVAL,
                 on_first: Callable[[], None] | None = None) -> None:
        self.ids: list[int] = []
        self.stopped = False
        self.decode = decode
        self.on_text = on_text
        self.on_first = on_first
        self.interval = interval
        self.flushes = 0
        self.first_at: float | None = None
        self.error: BaseException | None = None
        self._shown = 0
        self._due = 0.0
        self._fresh = True
        self._visible = False  # a text with something to see has been handed over
        self._streamer: Any = None

    def streamer(self) -> Any:
        """The openvino_genai StreamerBase to pass to ``generate`` (one per stream)."""
        if self._streamer is None:
            self._streamer = _streamer_class()(self)
        return self._streamer

    def stop(self) -> None:
        """Stop the run at its next token."""
        self.stopped = True

    def start(self) -> None:
        """Decode on the view thread from now on (call before ``generate``)."""
        watch(self)

    def finish(self) -> None:
        """The last decode, then no more (posted: it runs before anything published after it)."""
        unwatch(self, lambda: self.tick(force=True))

    def first_token(self) -> None:
        """Called from ``write`` until a text shows: ask for a decode at once (the first text
        shows without delay); the first call notes the time and calls ``on_first``."""
        post(lambda: self.tick(force=True))
        if self.first_at is None:
            self.first_at = time.perf_counter()
            if self.on_first is not None:
                self.on_first()

    def tick(self, force: bool = False) -> None:
        """On the view thread: decode and hand over the text if new tokens came and it is time;
        while the text is blank, the next token asks for a decode at once again."""
        count = len(self.ids)
        now = time.perf_counter()
        if count == self._shown or (not force and now < self._due):
            return
        self._shown, self._due = count, now + self.interval
        if self.on_text is None:
            return
        self.flushes += 1
        try:
            text = self.decode(self.ids[:count])
            self.on_text(text)
        except Exception as exc:  # a broken view must not break generation
            self.error = exc
            return
        if not self._visible:
            self._visible = bool(text.strip())
            self._fresh = not self._visible  # nothing to see yet: the next token decodes at once


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
