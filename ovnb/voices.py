"""Voices of text-to-speech models: speaker embeddings from files or arrays, checked before use.

A voice is a float32 array of ``Text2SpeechPipeline.get_speaker_embedding_shape()`` values
([1, 512] for SpeechT5; [510, 1, 256] for a Kokoro voice pack, given as -1 rows). Two file
formats hold one: a raw float32 ``.bin`` (what a model's ``voices/`` folder ships) and a NumPy
``.npy``. Any other file would be read as noise bytes, so it is refused by its suffix, and a
``.npy`` is read without pickle: a text or pickle file named .npy is said to be one, not met
with numpy's "allow_pickle" advice. NaN or infinite values are refused too: the model would
speak garbage.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.files import expand

VOICES = "voices"  # a text-to-speech model's folder of NAME.bin speaker embeddings
BIN, NPY = ".bin", ".npy"
NPY_MAGIC = b"\x93NUMPY"  # how every file numpy.save writes starts
FLOAT_BYTES = 4


def speakers(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """The voices a model folder ships: name -> ``voices/NAME.bin`` (empty when none)."""
    voices = Path(folder) / VOICES
    if not voices.is_dir():
        return {}
    return {p.stem: p for p in sorted(voices.iterdir())
            if p.suffix.lower() == BIN and p.is_file()}


def read_voice(source: str | os.PathLike[str] | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A voice as the pipeline takes it (float32 of ``shape``), from a .bin, a .npy or an array."""
    if isinstance(source, np.ndarray):
        return fit_speaker(source, shape, "the array")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"a voice is a file path (str or pathlib.Path) or a numpy array, not "
                        f"{type(source).__name__}")
    path = _voice_file(source)
    if path.suffix.lower() == BIN:
        return read_speaker(path, shape)
    return fit_speaker(read_npy(path), shape, path.name)


def read_speaker(path: str | os.PathLike[str], shape: tuple[int, ...]) -> np.ndarray:
    """A raw float32 ``.bin`` voice as float32 of ``shape``; a wrong size is one line."""
    name = Path(path).name
    data = _read(Path(path))
    if len(data) % FLOAT_BYTES:
        raise OvnbError(f"{name} is {len(data)} bytes, not a whole number of float32 values "
                        f"({FLOAT_BYTES} bytes each): use a voice made for this model")
    values = np.frombuffer(data, np.float32)
    if not _fits(values.size, shape):
        raise OvnbError(f"{name} holds {values.size} float32 values, but this model's speaker "
                        f"embedding is {_shown(shape)}: use a voice made for this model")
    return _finite(values, name).reshape(shape)


def fit_speaker(data: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """An array as the speaker embedding of ``shape`` (-1: any number of rows); one line if not."""
    array = np.asarray(data)
    if not _fits(array.size, shape) or array.dtype.kind != "f":
        raise OvnbError(f"{name} holds {array.size} {array.dtype} values shaped "
                        f"{_shown(array.shape) or 'scalar'}, but this model's speaker embedding "
                        f"is {_shown(shape)} float values: use a voice made for this model")
    return _finite(array, name).reshape(shape)


def read_npy(path: Path) -> np.ndarray:
    """The array in a ``.npy`` file, read without pickle; one line when it is not one."""
    data = _read(path)
    if not data.startswith(NPY_MAGIC):
        raise OvnbError(f"{path.name} is not a NumPy array file: save the embedding with "
                        "numpy.save, or give a raw float32 .bin")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "Object arrays" in str(exc):
            raise OvnbError(f"{path.name} holds Python objects, not numbers: save a float32 array "
                            "with numpy.save") from None
        raise OvnbError(f"{path.name} is a damaged NumPy file (cut short?): save it again with "
                        "numpy.save") from None
    except (OSError, EOFError):
        raise OvnbError(f"{path.name} is a damaged NumPy file (cut short?): save it again with "
                        "numpy.save") from None


def _voice_file(source: str | os.PathLike[str]) -> Path:
    """``source`` as an existing .bin or .npy file; one line for anything else."""
    text = os.fspath(source)
    if isinstance(text, str) and not text.strip():
        raise OvnbError("no voice file given: give the path of a .bin or .npy speaker embedding")
    path = expand(text)
    if path.suffix.lower() not in (BIN, NPY):
        raise OvnbError(f"cannot read a voice from {path.name}: give a raw float32 .bin file or a "
                        "NumPy .npy file")
    if path.is_dir():
        raise OvnbError(f"{path} is a folder, not a speaker embedding file: give a .bin or .npy "
                        "file")
    if not path.is_file():
        raise OvnbError(f"no such speaker embedding file: {path}: check the path")
    return path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OvnbError(f"cannot read the speaker embedding {path} ({exc.strerror}): check its "
                        "permissions, or copy it somewhere you can read") from None


def _fits(size: int, shape: tuple[int, ...]) -> bool:
    """Whether ``size`` values make ``shape`` (a -1 takes any whole number of rows)."""
    want = int(np.prod([d for d in shape if d > 0])) if shape else 0
    return bool(want) and size > 0 and (size == want or (-1 in shape and size % want == 0))


def _finite(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` as a float32 copy; NaN or infinite values (the model speaks noise) refused."""
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise OvnbError(f"{name} holds NaN or infinite values: use another voice, or make it again")
    return values


def _shown(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)
