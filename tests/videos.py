"""Small test videos made with PyAV directly (not with ovnb): flat colours that name their frame.

A frame's colour encodes its index (red = index % 16, green = index // 16 % 16, in steps of 16),
so a sampled frame is identified after lossy compression by its nearest colour (``which``).
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

W, H = 64, 48
GOP = 24  # a keyframe every GOP frames: seeking decodes at most this many per sample


def colour(index: int) -> np.ndarray:
    frame = np.zeros((H, W, 3), np.uint8)
    frame[..., 0] = 8 + 16 * (index % 16)
    frame[..., 1] = 8 + 16 * (index // 16 % 16)
    frame[..., 2] = 128
    return frame


def which(frame: np.ndarray) -> int:
    """The index a decoded flat frame stands for."""
    r, g = frame[..., 0].mean(), frame[..., 1].mean()
    return int(round((r - 8) / 16)) + 16 * int(round((g - 8) / 16))


def encode_file(path: Path, count: int, fps: int = 30, codec: str = "libx264") -> Path:
    """A video of ``count`` colour frames, written with PyAV directly (not with ovnb)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = W, H
        stream.pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        stream.codec_context.gop_size = GOP
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(colour(index), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def zero_frame_avi(path: Path) -> Path:
    """An AVI with a video stream and not one frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        container.start_encoding()
    return path


def cut_mp4(path: Path) -> Path:
    """An MP4 whose index promises frames its data no longer holds (a download cut short)."""
    frames = [colour(i) for i in range(30)]
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"mdat") + 4])
    return path


def no_video_mp4(path: Path) -> Path:
    """An MP4 written without frames: it ends up with no video track at all."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        container.start_encoding()  # the MP4 muxer drops a track without frames
    return path
