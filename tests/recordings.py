"""Browser-like recordings made offline: webm/opus, as Chromium's MediaRecorder gives them."""
from __future__ import annotations

import io

import numpy as np

OPUS_RATE = 48000  # the rate opus always encodes at


def webm_opus(samples: np.ndarray, rate: int) -> bytes:
    """``samples`` (mono float32 at ``rate``) encoded as webm/opus by PyAV, in memory."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=OPUS_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.asarray(samples, np.float32).reshape(1, -1),
                                           format="flt", layout="mono")
        frame.rate = rate
        mixer = av.AudioResampler(format=stream.codec_context.format.name, layout="mono",
                                  rate=OPUS_RATE)
        for piece in [*mixer.resample(frame), None]:
            for packet in stream.encode(piece):
                container.mux(packet)
    return out.getvalue()
