"""Token streams: ids collected by the streamer, decoded on the view thread, stopped on request."""
from __future__ import annotations

from ovnb.runtime.streams import TokenStream
from ovnb.runtime.views import in_view_thread, settle


def test_a_token_stream_decodes_on_the_view_thread_and_stops_on_request() -> None:
    import openvino_genai as ov_genai

    shown: list[tuple[str, bool]] = []
    firsts: list[int] = []
    stream = TokenStream(lambda ids: "".join(chr(96 + i) for i in ids),
                         lambda text: shown.append((text, in_view_thread())),
                         on_first=lambda: firsts.append(1))
    streamer = stream.streamer()
    stream.start()
    running = streamer.write(1)
    streamer.write([2, 3])  # a speculative step writes several tokens at once
    stream.stop()
    stopped = streamer.write(4)
    stream.finish()
    settle()
    assert running == ov_genai.StreamingStatus.RUNNING and stopped == ov_genai.StreamingStatus.STOP
    assert shown[-1] == ("abcd", True) and all(on_view for _, on_view in shown)
    assert stream.first_at is not None and 1 <= stream.flushes <= 4 and firsts == [1]


def test_a_blank_first_token_does_not_delay_the_first_text() -> None:
    """Whisper's first token may decode to nothing: the next one is decoded at once, not at the
    next tick of the interval (here an hour, so only the first-text rule can show it)."""
    shown: list[str] = []
    firsts: list[int] = []
    stream = TokenStream(lambda ids: "".join(" " if i == 0 else chr(96 + i) for i in ids),
                         shown.append, interval=3600, on_first=lambda: firsts.append(1))
    streamer = stream.streamer()
    stream.start()
    streamer.write(0)  # blank
    settle()
    streamer.write(1)  # "a": shown at once
    settle()
    streamer.write(2)  # within the interval: waits for the end
    settle()
    assert shown == [" ", " a"] and firsts == [1]
    stream.finish()
    settle()
    assert shown[-1] == " ab"
