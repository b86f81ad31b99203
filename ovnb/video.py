"""Video in and out: a file or frames -> a few sampled RGB frames with their times; frames -> MP4.

A vision-language model looks at a handful of frames, never a whole video. ``load_video`` picks
``max_frames`` evenly spaced frames (first and last included, as openvino_genai samples) and
remembers which source frame and which second each one is. It decodes only what it must: a short
video in one streaming pass that keeps just the chosen frames, a long one by seeking to the
keyframe before each chosen frame; each frame is shrunk to ``max_side`` as it is converted. So a
feature film costs a few small frames of memory, not the film.

Everything goes through PyAV (FFmpeg's libraries as a Python package): decoding, seeking and
H.264 encoding in-process, on file objects as well as paths (uploads never touch the disk), with
FFmpeg's own errors as exceptions; no ffmpeg binary, no subprocess, no temporary files.
"""
from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.files import save_target, write_bytes

MAX_FRAMES = 8  # frames a question carries unless told: Qwen2-VL pairs them (4 pairs)
MAX_SIDE = 448  # a frame's longest side: Qwen-VL models see video frames at about this size
SEEK_ABOVE = 240  # sources with more frames are read by seeking, not by one streaming pass
MAX_FRAME_PIXELS = 8192 * 8192  # larger frames are refused before any is decoded
SEQUENCE_FPS = 24.0  # the rate frames given in memory stand for, unless told (genai's default)
ASPECT_TOLERANCE = 0.02  # frames whose width/height differ more from the first's are refused
SHOWN_SIZES = 3  # at most this many other sizes are named in a note
FPS = 25.0  # the rate clips are written at unless told (LTX-Video's)
CODECS = {"mp4": "libx264", "webm": "libvpx-vp9"}  # what a browser's <video> plays
READABLE = "an MP4, WebM, MKV, MOV, AVI or GIF file"
SAMPLES = Path(__file__).parent / "data" / "videos"

VideoSource = Any  # a path, file bytes, a VideoClip, or frames (a sequence of PIL images or arrays)


@dataclass(frozen=True)
class VideoClip:
    """Frames sampled from a video: (F, H, W, 3) uint8, where they come from, and their times."""

    frames: np.ndarray
    name: str
    fps: float  # frames per second of the source
    indices: tuple[int, ...]  # the source frame each sampled frame is
    total_frames: int  # frames in the source (read from its header where it says)
    original_size: tuple[int, int]  # (width, height) of the source's frames
    decoded: int = 0  # frames decoded to pick these (0 for frames given in memory)
    notes: tuple[str, ...] = ()  # what was done to the frames that a user should know

    @property
    def count(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the sampled frames."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def downscaled(self) -> bool:
        return self.size != self.original_size

    @property
    def timestamps(self) -> tuple[float, ...]:
        """Seconds into the source of each sampled frame."""
        return tuple(i / self.fps for i in self.indices)

    @property
    def duration(self) -> float:
        """Seconds the source lasts."""
        return self.total_frames / self.fps

    @property
    def sample_fps(self) -> float:
        """The rate the sampled frames stand for: frame k of them is at k / sample_fps seconds."""
        span = self.indices[-1] - self.indices[0] if self.count > 1 else 0
        return self.fps * (self.count - 1) / span if span else self.fps

    def tensor(self) -> Any:
        """The frames as the ``openvino.Tensor`` [F, H, W, 3] VLMPipeline takes in ``videos=``."""
        import openvino

        return openvino.Tensor(np.ascontiguousarray(self.frames))

    def metadata(self) -> Any:
        """Their ``openvino_genai.VideoMetadata``: every frame taken, at ``sample_fps``.

        genai selects ``frames_indices`` from the tensor it is given and dates each frame at
        index / fps (Qwen3-VL writes those times into the prompt): the frames passed are already
        the sampled ones, so all are taken, at the rate that gives each its time in the source.
        """
        import openvino_genai

        metadata = openvino_genai.VideoMetadata()
        metadata.fps = float(self.sample_fps)
        metadata.frames_indices = list(range(self.count))
        return metadata

    def thumbnails(self, side: int = 64) -> list[bytes]:
        """A small PNG of each frame (longest side ``side``), for a strip of the frames sent."""
        from ovnb.images import thumbnail_png

        return [thumbnail_png(frame, side) for frame in self.frames]

    def __repr__(self) -> str:
        notes = "".join(f"; {note}" for note in self.notes)
        return (f"VideoClip({self.name!r}, {self.count} of {self.total_frames} frames, "
                f"{'×'.join(map(str, self.size))}, {self.fps:g} fps{notes})")


def samples() -> dict[str, Path]:
    """The bundled sample videos (made for ovnb, CC0) by name: ``{"sailboat": Path(...)}``."""
    return {path.stem: path for path in sorted(SAMPLES.glob("*.mp4"))}


def sample_indices(total: int, count: int) -> list[int]:
    """``count`` evenly spaced indices of ``total`` frames (first and last included; all if fewer)."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [(total - 1) // 2]
    return [round(k * (total - 1) / (count - 1)) for k in range(count)]


def load_video(source: VideoSource, name: str | None = None, max_frames: int = MAX_FRAMES,
               max_side: int = MAX_SIDE, fps: float | None = None) -> VideoClip:
    """``source`` as a VideoClip of at most ``max_frames`` frames, each at most ``max_side`` a side.

    ``source`` is a video file's path or bytes (an upload; ``name`` is used in messages), a clip,
    or frames: a sequence of PIL images or arrays, or one (F, H, W[, C]) array, taken at ``fps``
    (default 24). Raises OvnbError, one line naming the fix, for anything that is not a video.
    """
    check_source(source)
    if max_frames < 1:
        raise OvnbError(f"max_frames must be at least 1, not {max_frames}")
    if isinstance(source, VideoClip):
        return _resample(source, max_frames)
    if isinstance(source, (str, os.PathLike)):
        path = _existing_file(source)
        return _read_file(path, name or path.name, max_frames, max_side)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise OvnbError(f"{name or 'the upload'} is empty: choose a video file")
        return _read_file(io.BytesIO(bytes(source)), name or "the upload", max_frames, max_side)
    return _from_frames(source, name or "the frames", max_frames, max_side, fps or SEQUENCE_FPS)


def check_source(source: Any) -> None:
    """A TypeError, naming what a video may be, for a source of no kind ``load_video`` reads
    (cheap: nothing is opened, so a caller can refuse before any decoding)."""
    if isinstance(source, (VideoClip, str, os.PathLike, bytes, bytearray, memoryview)):
        return
    if isinstance(source, np.ndarray) and source.ndim in (3, 4) or _is_sequence(source):
        return
    raise TypeError(f"cannot read a video from {type(source).__name__}: give a file path, file "
                    "bytes, or a sequence of frames (PIL images or arrays)")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _existing_file(source: str | os.PathLike[str]) -> Path:
    path = Path(source).expanduser()
    if path.is_dir():
        raise OvnbError(f"{path} is a folder: give the path of a video file")
    if not path.is_file():
        raise OvnbError(f"no such video file: {path}: check the path")
    return path


# reading files -----------------------------------------------------------------------------------
def _read_file(file: Path | io.BytesIO, name: str, max_frames: int, max_side: int) -> VideoClip:
    import av

    def reopen() -> Any:  # a fresh container at the start (not every format can seek back)
        if isinstance(file, io.BytesIO):
            file.seek(0)
        return av.open(str(file) if isinstance(file, Path) else file)

    try:
        container = reopen()
    except av.FFmpegError:
        raise OvnbError(f"{name} is not a video PyAV can read: choose {READABLE}") from None
    try:
        with container:
            return _sample(container, reopen, name, max_frames, max_side)
    except av.FFmpegError as exc:  # damaged in a way the header did not show
        raise OvnbError(f"cannot read {name} as a video ({exc}): choose another file") from None


def _sample(container: Any, reopen: Any, name: str, max_frames: int, max_side: int) -> VideoClip:
    """The chosen frames of an open container, with what the header says about the source."""
    format_name = container.format.name
    if format_name == "image2" or format_name.endswith("_pipe"):
        raise OvnbError(f"{name} is a still image, not a video: send it as image=, or choose "
                        f"{READABLE}")
    if not container.streams.video:
        raise OvnbError(f"{name} has no video in it: choose {READABLE}")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_FRAME_PIXELS:
        raise OvnbError(f"{name} has {width}×{height} frames, too large to decode safely: save a "
                        "smaller copy (1920×1080 is plenty)")
    fps = _rate(stream)
    total = stream.frames or _frames_from_duration(container, stream, fps)
    if total <= 0:
        total = _count_packets(reopen)
    if total <= 0:
        raise OvnbError(f"{name} has no frames: choose another video, or record it again")
    wanted = sample_indices(total, max_frames)
    if total > SEEK_ABOVE:
        picked, decoded = _seek(container, _video(container), wanted, fps, max_side)
    else:
        picked, decoded = _stream(container, reopen, wanted, max_side)
    if not picked:
        raise OvnbError(f"{name} has no frames that decode (its header promises {total}): the "
                        "file is cut short or damaged; choose another, or copy it again")
    indices, frames = zip(*picked)
    return VideoClip(np.stack(frames), name, fps, tuple(indices), max(total, indices[-1] + 1),
                     (width, height), decoded)


def _video(container: Any) -> Any:
    """The first video stream, set to decode on all cores."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _rate(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate and float(rate) > 0 else SEQUENCE_FPS


def _frames_from_duration(container: Any, stream: Any, fps: float) -> int:
    """Frames the header's duration stands for (WebM and some others do not count frames)."""
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base) * fps)
    if container.duration:
        return round(container.duration / 1_000_000 * fps)
    return 0


def _count_packets(reopen: Any) -> int:
    """Frames of a stream whose header says nothing, counted by demuxing (reading, no decoding)."""
    with reopen() as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def _stream(container: Any, reopen: Any, wanted: list[int],
            max_side: int) -> tuple[list[tuple[int, np.ndarray]], int]:
    """One decoding pass from the start keeping the wanted frames (twice if the header lied)."""
    picked, decoded = _pass(container, wanted, max_side)
    if decoded and decoded <= wanted[-1]:  # fewer frames than the header said: sample those
        again = sample_indices(decoded, len(wanted))
        if again != [index for index, _ in picked]:
            with reopen() as fresh:
                picked, more = _pass(fresh, again, max_side)
            decoded += more
    return picked, decoded


def _pass(container: Any, wanted: list[int],
          max_side: int) -> tuple[list[tuple[int, np.ndarray]], int]:
    want = set(wanted)
    picked: list[tuple[int, np.ndarray]] = []
    decoded = 0
    for index, frame in enumerate(_frames(container, _video(container), picked)):
        decoded = index + 1
        if index in want:
            picked.append((index, _pixels(frame, max_side)))
        if index >= wanted[-1]:
            break
    return picked, decoded


def _seek(container: Any, stream: Any, wanted: list[int], fps: float,
          max_side: int) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Per wanted frame: seek to the keyframe before it, decode up to it (a GOP at most)."""
    base = stream.time_base
    start = stream.start_time or 0
    picked: list[tuple[int, np.ndarray]] = []
    decoded = 0
    for index in wanted:
        target = index / fps
        container.seek(start + int(target / base), stream=stream, backward=True)
        chosen = None
        for frame in _frames(container, stream, picked):
            decoded += 1
            chosen = frame
            if frame.pts is None or (frame.pts - start) * base >= target - 0.5 / fps:
                break
        if chosen is not None:
            at = index if chosen.pts is None else round(float((chosen.pts - start) * base) * fps)
            if not picked or at > picked[-1][0]:
                picked.append((at, _pixels(chosen, max_side)))
    return picked, decoded


def _frames(container: Any, stream: Any, picked: list[Any]) -> Any:
    """Decoded frames; a decoding error after some frames were picked ends the pass quietly."""
    import av

    try:
        yield from container.decode(stream)
    except av.FFmpegError:
        if not picked:
            raise


def _pixels(frame: Any, max_side: int) -> np.ndarray:
    """A decoded frame as RGB (H, W, 3) uint8, shrunk by FFmpeg so its longest side <= max_side."""
    width, height = frame.width, frame.height
    scale = min(1.0, max_side / max(width, height))
    size = max(1, round(width * scale)), max(1, round(height * scale))
    return frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")


# frames given in memory --------------------------------------------------------------------------
def _from_frames(frames: Any, name: str, max_frames: int, max_side: int, fps: float) -> VideoClip:
    """Frames given in memory (or as image files) sampled and brought to the first one's size.

    A video's frames share one size. A frame of the same shape at another resolution is scaled
    to the first one's, with a note; one of another shape (a portrait among landscapes) is
    refused, since scaling would stretch it: which part to keep is the user's choice (crop).
    """
    from ovnb.images import load_image

    total = len(frames)
    if not total:
        raise OvnbError(f"{name} holds no frames: pass at least one image")
    if fps <= 0:
        raise OvnbError(f"fps must be more than 0, not {fps}")
    indices = sample_indices(total, max_frames)
    pictures = []
    for index in indices:
        try:
            pictures.append(load_image(frames[index], max_side=max_side))
        except OvnbError as exc:
            raise OvnbError(f"frame {index} of {name}: {exc}") from None
    _check_shapes(pictures, indices, name)
    pixels, notes = _same_size(pictures)
    return VideoClip(np.stack(pixels), name, fps, tuple(indices), total,
                     pictures[0].original_size, notes=notes)


def _check_shapes(pictures: list[Any], indices: list[int], name: str) -> None:
    """Refuse a frame whose width/height differs from the first's by more than the tolerance."""
    width, height = pictures[0].original_size
    for index, picture in zip(indices, pictures):
        w, h = picture.original_size
        if abs((w / h) / (width / height) - 1) > ASPECT_TOLERANCE:
            raise OvnbError(f"frame {index} of {name} is {w}×{h} but frame {indices[0]} is "
                            f"{width}×{height}: scaling it to that shape would distort it; crop "
                            "the frames to one shape, or send them as images")


def _same_size(pictures: list[Any]) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Every frame's pixels at the first one's size, and a note when some had to be scaled."""
    from PIL import Image

    height, width = pictures[0].pixels.shape[:2]
    other = [p for p in pictures if p.pixels.shape[:2] != (height, width)]
    pixels = [p.pixels if p.pixels.shape[:2] == (height, width) else
              np.asarray(Image.fromarray(p.pixels).resize((width, height),
                                                          Image.Resampling.LANCZOS))
              for p in pictures]
    return pixels, (_scaled_note(other, len(pictures), pictures[0].original_size),) if other else ()


def _scaled_note(other: list[Any], count: int, first: tuple[int, int]) -> str:
    """"3 of 8 frames were another size (480×640) and were scaled to the first one's 640×480"."""
    sizes = list(dict.fromkeys("×".join(map(str, p.original_size)) for p in other))
    shown = ", ".join(sizes[:SHOWN_SIZES]) + (", …" if len(sizes) > SHOWN_SIZES else "")
    verb = "was" if len(other) == 1 else "were"
    return (f"{len(other)} of {count} frames {verb} another size ({shown}) and {verb} scaled to "
            f"the first one's {'×'.join(map(str, first))}")


def _resample(clip: VideoClip, max_frames: int) -> VideoClip:
    if clip.count <= max_frames:
        return clip
    keep = sample_indices(clip.count, max_frames)
    return VideoClip(clip.frames[keep], clip.name, clip.fps, tuple(clip.indices[k] for k in keep),
                     clip.total_frames, clip.original_size, clip.decoded, clip.notes)


# writing -----------------------------------------------------------------------------------------
def encode(frames: Any, fps: float = FPS, format: str = "mp4") -> bytes:
    """The frames (PIL images or arrays, or one (F, H, W, 3) array) as an MP4 or WebM file's bytes.

    H.264 in MP4 (VP9 in WebM): what a browser's video element plays. Odd sizes are padded by one
    pixel (4:2:0 video needs even ones). Written in memory, so the index comes last (MP4's
    "faststart" needs a second pass over a real file), which a player given the whole file
    does not mind.
    """
    buffer = io.BytesIO()
    _write(buffer, frames, fps, format)
    return buffer.getvalue()


def write_video(frames: Any, path: str | os.PathLike[str], fps: float = FPS) -> Path:
    """Write the frames to ``path`` (.mp4, or .webm; ".mp4" added to a name without a suffix)
    and return it; the path is checked (``ovnb.files``) before any frame is encoded."""
    suffix = Path(os.fspath(path)).suffix.lower() if isinstance(path, (str, os.PathLike)) else ""
    if suffix and suffix[1:] not in CODECS:
        raise OvnbError(f"cannot write {Path(path).name}: name it .mp4 (or .webm)")
    target = save_target(path, tuple(f".{f}" for f in CODECS), ".mp4", "video")
    return write_bytes(target, encode(frames, fps, target.suffix.lower()[1:]))


def _write(file: io.BytesIO, frames: Any, fps: float, format: str) -> None:
    import av

    arrays = [_even(np.asarray(frame.convert("RGB") if hasattr(frame, "convert") else frame))
              for frame in frames]
    if not arrays:
        raise OvnbError("no frames to write: generate a clip first")
    if not fps > 0:
        raise OvnbError(f"fps must be more than 0, not {fps}")
    height, width = arrays[0].shape[:2]
    with av.open(file, mode="w", format=format) as container:
        codec = {"crf": "18", "preset": "veryfast"} if format == "mp4" else {"crf": "30"}
        stream = container.add_stream(CODECS[format], rate=Fraction(fps).limit_denominator(1001),
                                      options=codec)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for array in arrays:
            if array.shape[:2] != (height, width):
                raise OvnbError("the frames differ in size: a video's frames must share one size")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode(None))


def _even(array: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) with even height and width (the last row/column repeated if odd)."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise OvnbError(f"a frame to write must be RGB (H, W, 3) uint8, not {array.shape} "
                        f"{array.dtype}")
    pad = ((0, array.shape[0] % 2), (0, array.shape[1] % 2), (0, 0))
    return np.ascontiguousarray(np.pad(array, pad, mode="edge") if any(p[1] for p in pad[:2])
                                else array)
