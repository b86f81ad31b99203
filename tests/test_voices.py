"""ovnb.voices: speaker embeddings from a model's voices/ folder, a .bin, a .npy or an array; every
file that is not one is refused in one line naming the two formats or the fix."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from ovnb.errors import OvnbError
from ovnb.voices import fit_speaker, read_speaker, read_voice, speakers

SHAPE = (1, 512)  # SpeechT5's speaker embedding
KOKORO = (-1, 1, 4)  # a voice pack: one style row per text length (small here)


def voice(seed: int = 0, size: int = 512) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32)


def refused(expect: str, source: object, shape: tuple[int, ...] = SHAPE) -> None:
    with pytest.raises(OvnbError) as caught:
        read_voice(source, shape)  # type: ignore[arg-type]
    assert str(caught.value) == expect


def test_the_voices_folder_lists_its_bin_files(tmp_path: Path) -> None:
    assert speakers(tmp_path) == {}
    folder = tmp_path / "voices"
    folder.mkdir()
    for name in ("b.bin", "a.BIN", "notes.txt"):
        (folder / name).write_bytes(voice().tobytes())
    (folder / "dir.bin").mkdir()
    assert speakers(str(tmp_path)) == {"a": folder / "a.BIN", "b": folder / "b.bin"}


def test_a_bin_an_npy_and_an_array_read_alike(tmp_path: Path) -> None:
    data = voice()
    (tmp_path / "v.bin").write_bytes(data.tobytes())
    np.save(tmp_path / "v.npy", data.astype(np.float64).reshape(SHAPE))
    for source in (tmp_path / "v.bin", str(tmp_path / "v.npy"), data, data.astype(np.float16)):
        got = read_voice(source, SHAPE)
        assert got.shape == SHAPE and got.dtype == np.float32
        np.testing.assert_allclose(got.reshape(-1), data, rtol=1e-3)
    assert read_speaker(tmp_path / "v.bin", SHAPE).flags.writeable


def test_a_voice_pack_takes_any_number_of_rows(tmp_path: Path) -> None:
    (tmp_path / "pack.bin").write_bytes(voice(size=12).tobytes())
    assert read_voice(tmp_path / "pack.bin", KOKORO).shape == (3, 1, 4)
    with pytest.raises(OvnbError, match="pack.bin holds 12 float32 values, but this model's "
                                        "speaker embedding is -1x1x5"):
        read_voice(tmp_path / "pack.bin", (-1, 1, 5))


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "me.bin").write_bytes(voice().tobytes())
    assert read_voice("~/me.bin", SHAPE).shape == SHAPE


@pytest.mark.parametrize("name", ["voice.wav", "voice.pt", "voice", "voice.npz", "voice.txt"])
def test_other_suffixes_are_refused_naming_the_two_formats(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(voice().tobytes())  # bytes that would have "fit" before
    refused(f"cannot read a voice from {name}: give a raw float32 .bin file or a NumPy .npy file",
            tmp_path / name)


def test_a_missing_file_or_a_folder(tmp_path: Path) -> None:
    refused(f"no such speaker embedding file: {tmp_path / 'gone.bin'}: check the path",
            tmp_path / "gone.bin")
    (tmp_path / "d.npy").mkdir()
    refused(f"{tmp_path / 'd.npy'} is a folder, not a speaker embedding file: give a .bin or .npy "
            "file", tmp_path / "d.npy")
    refused("no voice file given: give the path of a .bin or .npy speaker embedding", "  ")


NOT_NUMPY = "{name} is not a NumPy array file: save the embedding with numpy.save, or give a raw " \
            "float32 .bin"


@pytest.mark.parametrize("make, expect", [
    (lambda: b"0.1 0.2 0.3\n" * 200, NOT_NUMPY),
    (lambda: pickle.dumps(voice()), NOT_NUMPY),
    (lambda: b"", NOT_NUMPY),
    (lambda: _npy(voice())[:300], "{name} is a damaged NumPy file (cut short?): save it again with "
                                  "numpy.save"),
    (lambda: _npy(np.array([voice()], dtype=object)), "{name} holds Python objects, not numbers: "
                                                       "save a float32 array with numpy.save"),
])
def test_an_npy_that_is_no_numpy_array_says_so(tmp_path: Path, make: object, expect: str) -> None:
    path = tmp_path / "voice.npy"
    path.write_bytes(make())  # type: ignore[operator]
    refused(expect.format(name="voice.npy"), path)


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_a_bin_of_the_wrong_size(tmp_path: Path) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(voice(size=256).tobytes())
    refused("small.bin holds 256 float32 values, but this model's speaker embedding is 1x512: use "
            "a voice made for this model", path)
    path.write_bytes(voice().tobytes()[:-2])
    refused("small.bin is 2046 bytes, not a whole number of float32 values (4 bytes each): use a "
            "voice made for this model", path)


@pytest.mark.parametrize("array, expect", [
    (voice(size=256), "the array holds 256 float32 values shaped 256, but this model's speaker "
                      "embedding is 1x512 float values: use a voice made for this model"),
    (np.zeros(512, np.int64), "the array holds 512 int64 values shaped 512, but this model's "
                              "speaker embedding is 1x512 float values"),
    (np.zeros(512, np.complex64), "the array holds 512 complex64 values"),
    (np.float32(1.0), "the array holds 1 float32 values shaped scalar"),
    (np.full(512, np.nan, np.float32), "the array holds NaN or infinite values: use another voice, "
                                       "or make it again"),
])
def test_an_array_of_the_wrong_size_or_type(array: np.ndarray, expect: str) -> None:
    with pytest.raises(OvnbError) as caught:
        read_voice(np.asarray(array), SHAPE)
    assert str(caught.value).startswith(expect) and "\n" not in str(caught.value)


def test_nan_in_a_file_is_refused(tmp_path: Path) -> None:
    data = voice()
    data[7] = np.inf
    (tmp_path / "bad.bin").write_bytes(data.tobytes())
    refused("bad.bin holds NaN or infinite values: use another voice, or make it again",
            tmp_path / "bad.bin")


def test_fit_speaker_names_what_it_was_given() -> None:
    with pytest.raises(OvnbError, match=re.escape("alice holds 3 float64 values shaped 3")):
        fit_speaker([0.1, 0.2, 0.3], SHAPE, "alice")


def test_other_types_are_type_errors() -> None:
    with pytest.raises(TypeError, match="a voice is a file path \\(str or pathlib.Path\\) or a "
                                        "numpy array, not list"):
        read_voice([0.0] * 512, SHAPE)  # type: ignore[arg-type]


def test_speakers_lists_voices_and_read_speaker_checks_the_size(tmp_path: Path) -> None:
    folder = tmp_path / "m" / "voices"
    folder.mkdir(parents=True)
    np.arange(512, dtype=np.float32).tofile(folder / "b.bin")
    np.ones(256 * 3, dtype=np.float32).tofile(folder / "a.bin")
    (folder / "notes.txt").write_text("not a voice")
    found = speakers(tmp_path / "m")
    assert list(found) == ["a", "b"] and found["b"] == folder / "b.bin"
    assert speakers(tmp_path) == {}
    vector = read_speaker(found["b"], (1, 512))
    assert vector.shape == (1, 512) and vector.dtype == np.float32 and vector[0, 5] == 5.0
    assert read_speaker(found["a"], (-1, 1, 256)).shape == (3, 1, 256)  # a Kokoro pack
    with pytest.raises(OvnbError, match=r"a.bin holds 768 float32 values, but this model's speaker "
                                        r"embedding is 1x512"):
        read_speaker(found["a"], (1, 512))
    with pytest.raises(OvnbError, match="cannot read the speaker embedding"):
        read_speaker(tmp_path / "none.bin", (1, 512))
