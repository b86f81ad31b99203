"""ovnb.video: sampling frames from files and memory, never decoding a video whole; writing MP4.

Frames are flat colours that name their index (``tests.videos``), so a sampled frame is identified
after lossy compression. Decoding cost is counted in frames (``VideoClip.decoded``), never timed.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from ovnb import video
from ovnb.errors import OvnbError
from ovnb.video import load_video, sample_indices, write_video
from tests.videos import GOP, H, W, colour, cut_mp4, encode_file, no_video_mp4, which, \
    zero_frame_avi

@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {"short": encode_file(folder / "short.mp4", 30),
            "long": encode_file(folder / "long.mp4", 1200),
            "webm": encode_file(folder / "clip.webm", 40, codec="libvpx-vp9"),
            "gif": encode_file(folder / "clip.gif", 20, fps=10, codec="gif")}


def test_sample_indices_are_even_and_keep_both_ends() -> None:
    assert sample_indices(30, 8) == [0, 4, 8, 12, 17, 21, 25, 29]
    assert sample_indices(5, 8) == [0, 1, 2, 3, 4]
    assert sample_indices(9, 1) == [4]
    assert sample_indices(1200, 3) == [0, 600, 1199]


def test_a_short_file_is_read_in_one_pass_keeping_only_the_chosen_frames(
        files: dict[str, Path]) -> None:
    clip = load_video(files["short"])
    assert clip.indices == (0, 4, 8, 12, 17, 21, 25, 29) and clip.total_frames == 30
    assert [which(f) for f in clip.frames] == list(clip.indices)
    assert clip.decoded == 30 and clip.fps == 30.0 and clip.name == "short.mp4"
    assert clip.frames.shape == (8, H, W, 3) and clip.frames.dtype == np.uint8
    assert clip.timestamps == pytest.approx([i / 30 for i in clip.indices])
    assert not clip.downscaled


def test_a_long_file_is_read_by_seeking_and_never_decoded_whole(files: dict[str, Path]) -> None:
    clip = load_video(files["long"], max_frames=6)
    assert clip.total_frames == 1200 and clip.indices == tuple(sample_indices(1200, 6))
    assert [which(f) % 256 for f in clip.frames] == [i % 256 for i in clip.indices]
    assert clip.decoded <= 6 * GOP  # a GOP per sample at most: under an eighth of the video
    assert clip.decoded < 1200 / 8


def test_webm_and_gif_without_frame_counts_in_their_headers(files: dict[str, Path]) -> None:
    webm = load_video(files["webm"], max_frames=4)
    assert webm.total_frames == 40 and [which(f) for f in webm.frames] == list(webm.indices)
    gif = load_video(files["gif"], max_frames=5)
    assert gif.total_frames == 20 and gif.indices == (0, 5, 10, 14, 19)
    assert gif.count == 5


def test_a_raw_stream_whose_header_counts_nothing_is_counted_then_read(tmp_path: Path) -> None:
    """A raw H.264 stream has no frame count and no duration: its packets are counted (read, not
    decoded) in a container of their own, since such a stream cannot seek back to its start."""
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for index in range(40):
            frame = av.VideoFrame.from_ndarray(colour(index), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    for source in (path, path.read_bytes()):
        clip = load_video(source, "raw.h264", max_frames=5)
        assert clip.total_frames == 40 and [which(f) for f in clip.frames] == [0, 10, 20, 29, 39]
        assert clip.decoded == 40


def test_a_file_cut_in_the_middle_is_sampled_over_what_is_left(tmp_path: Path) -> None:
    """Its index promises 30 frames, 15 decode: the frames are spread over those 15."""
    path = tmp_path / "half.mp4"
    noise = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for index in range(30):  # a noisy band keeps the packets of similar size
            frame = colour(index)
            frame[:8] = noise.integers(0, 256, (8, W, 3))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    start = data.index(b"mdat")
    path.write_bytes(data[:start + (len(data) - start) * 6 // 10])
    clip = load_video(path, max_frames=4)
    assert clip.indices == (0, 5, 9, 14) and [which(f[8:]) for f in clip.frames] == [0, 5, 9, 14]
    assert clip.decoded == 30  # two passes over the 15 that decode


def test_bytes_of_an_upload_read_like_the_file(files: dict[str, Path]) -> None:
    clip = load_video(files["short"].read_bytes(), "my clip.mp4")
    assert clip.name == "my clip.mp4"
    assert np.array_equal(clip.frames, load_video(files["short"]).frames)


def test_frames_are_shrunk_while_decoding(files: dict[str, Path]) -> None:
    clip = load_video(files["short"], max_side=32)
    assert clip.size == (32, 24) and clip.original_size == (W, H) and clip.downscaled


def test_metadata_dates_each_sampled_frame_at_its_time_in_the_source(
        files: dict[str, Path]) -> None:
    clip = load_video(files["short"])
    metadata = clip.metadata()
    assert list(metadata.frames_indices) == list(range(8))  # genai takes every frame it gets
    # genai dates frame k at k / fps: its time in the source, within half a frame (indices are
    # whole frames), first and last exactly
    times = np.array([k / metadata.fps for k in range(clip.count)])
    assert np.abs(times - np.array(clip.timestamps)).max() <= 0.5 / 30
    assert times[0] == 0 and times[-1] == pytest.approx(29 / 30)
    assert list(clip.tensor().shape) == [8, H, W, 3]


def test_frames_in_memory_are_sampled_and_made_alike() -> None:
    frames = [Image.fromarray(colour(i)) for i in range(20)]
    frames[3] = frames[3].resize((32, 24))  # another size: brought to the first one's
    clip = load_video(frames, max_frames=20, fps=10)
    assert clip.count == 20 and clip.frames.shape == (20, H, W, 3) and clip.fps == 10
    assert clip.notes == ("1 of 20 frames was another size (32×24) and was scaled to the first "
                          "one's 64×48",)
    assert clip.notes[0] in repr(clip)
    stack = np.stack([colour(i) for i in range(10)])
    assert load_video(stack, max_frames=4).indices == (0, 3, 6, 9)
    grey = [np.full((H, W), 0.5) for _ in range(3)]  # float greyscale in [0, 1], as images take
    assert load_video(grey).frames[0, 0, 0].tolist() == [128, 128, 128]
    resampled = load_video(clip, max_frames=5)
    assert resampled.indices == (0, 5, 10, 14, 19) and resampled.fps == 10
    assert resampled.notes == clip.notes


def test_frames_of_one_size_have_no_note_and_files_are_frames_too(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for i, path in enumerate(paths):
        Image.fromarray(colour(i)).save(path)
    clip = load_video([str(p) for p in paths])
    assert clip.notes == () and clip.original_size == (W, H) and clip.count == 3


def test_frames_scaled_to_the_first_are_counted_and_their_sizes_named() -> None:
    frames = [colour(i) for i in range(8)]
    for i in (2, 5):
        frames[i] = np.asarray(Image.fromarray(colour(i)).resize((128, 96)))
    frames[6] = np.asarray(Image.fromarray(colour(6)).resize((32, 24)))
    clip = load_video(frames)
    assert clip.frames.shape == (8, H, W, 3)
    assert clip.notes == ("3 of 8 frames were another size (128×96, 32×24) and were scaled to the "
                          "first one's 64×48",)


def test_frames_of_another_shape_are_refused_not_stretched() -> None:
    frames = [colour(i) for i in range(8)]
    frames[3] = np.zeros((W, H, 3), np.uint8)  # portrait among landscape
    with pytest.raises(OvnbError) as caught:
        load_video(frames)
    assert str(caught.value) == ("frame 3 of the frames is 48×64 but frame 0 is 64×48: scaling it "
                                 "to that shape would distort it; crop the frames to one shape, "
                                 "or send them as images")
    frames[3] = np.zeros((H, W + 1, 3), np.uint8)  # within the tolerance: scaled
    assert load_video(frames).notes[0].startswith("1 of 8 frames was another size (65×48)")


def test_a_clip_written_reads_back_frame_for_frame(tmp_path: Path) -> None:
    frames = [Image.fromarray(colour(i)) for i in range(9)]
    path = write_video(frames, tmp_path / "out" / "clip.mp4", fps=12)
    back = load_video(path, max_frames=100)
    assert back.count == 9 and back.fps == 12 and [which(f) for f in back.frames] == list(range(9))
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    webm = video.encode(frames, 12, "webm")
    assert load_video(webm, "clip.webm", max_frames=100).count == 9
    odd = video.encode([np.zeros((33, 31, 3), np.uint8)] * 3)
    assert load_video(odd, max_frames=9).size == (32, 34)  # padded to even, nothing cut


BAD = {
    "text-as-mp4": (lambda tmp, f: _write(tmp / "cat.mp4", b"hello, I am not a video\n"),
                    "cat.mp4 is not a video PyAV can read"),
    "zero-frames": (lambda tmp, f: zero_frame_avi(tmp / "empty.avi"), "empty.avi has no frames"),
    "cut-short": (lambda tmp, f: cut_mp4(tmp / "cut.mp4"),
                  "cut.mp4 has no frames that decode (its header promises 30)"),
    "no-video-track": (lambda tmp, f: no_video_mp4(tmp / "none.mp4"), "none.mp4 has no video"),
    "still-image": (lambda tmp, f: _png(tmp / "photo.png"), "photo.png is a still image"),
    "folder": (lambda tmp, f: tmp, "is a folder"),
    "missing": (lambda tmp, f: tmp / "gone.mp4", "no such video file"),
    "empty-upload": (lambda tmp, f: b"", "the upload is empty"),
    "no-frames": (lambda tmp, f: [], "holds no frames"),
    "bad-frame": (lambda tmp, f: [colour(0), np.zeros((4, 4, 2))], "frame 1 of the frames"),
}


def test_a_source_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot read a video from int"):
        load_video(42)  # type: ignore[arg-type]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png(path: Path) -> Path:
    Image.fromarray(colour(0)).save(path)
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_what_is_not_a_video_is_refused_in_one_line(files: dict[str, Path], tmp_path: Path,
                                                    case: str) -> None:
    make, expect = BAD[case]
    with pytest.raises(OvnbError) as caught:
        load_video(make(tmp_path, files))
    assert expect in str(caught.value) and "\n" not in str(caught.value)


def test_frames_too_large_are_refused_before_any_is_decoded(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", W * H - 1)
    decoded: list[object] = []
    monkeypatch.setattr(video, "_pixels", lambda frame, side: decoded.append(frame))
    with pytest.raises(OvnbError, match="64×48 frames, too large to decode safely"):
        load_video(files["long"])
    assert decoded == []


def test_writing_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match="no frames to write"):
        video.encode([])
    with pytest.raises(OvnbError, match="name it .mp4"):
        write_video([colour(0)], tmp_path / "clip.avi")
    with pytest.raises(OvnbError, match="share one size"):
        video.encode([colour(0), np.zeros((32, 32, 3), np.uint8)])
    (tmp_path / "notes").write_text("a file")
    with pytest.raises(OvnbError) as caught:
        write_video([colour(0)], tmp_path / "notes" / "clip.mp4")
    assert str(caught.value) == (f"cannot save to {tmp_path}/notes/clip.mp4: {tmp_path}/notes "
                                 "is a file, not a folder: choose another path")


def test_a_clip_named_without_a_suffix_is_saved_as_mp4(tmp_path: Path) -> None:
    path = write_video([colour(0), colour(1)], tmp_path / "clip", fps=12)
    assert path == tmp_path / "clip.mp4" and load_video(path).count == 2


def test_the_bundled_sample_is_a_short_real_video() -> None:
    sample = video.samples()["sailboat"]
    clip = load_video(sample)
    assert (clip.total_frames, clip.fps, clip.size) == (30, 10.0, (320, 240))
    assert sample.stat().st_size < 40_000
    # the boat sails right: the white sail's columns move from frame to frame
    sail = [np.nonzero((f[60:180].min(axis=2) > 225).any(axis=0))[0].mean() for f in clip.frames]
    assert all(b > a for a, b in zip(sail, sail[1:]))
