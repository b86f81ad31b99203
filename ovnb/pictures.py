"""Pictures for a multimodal embedder: images and video clips found in folders, read, previewed.

A multimodal embedder (``ovnb.Embedder`` on Qwen3-VL-Embedding) puts pictures in the space of its
texts, so a retriever can index a folder of photos and clips beside its notes. This module knows
which files are pictures (by suffix), reads one into what the pipeline takes (``ovnb.images``'
RGB uint8 pixels, ``ovnb.video``'s sampled frames with their times) and makes the thumbnails a
view shows. What a retriever is given is sorted here: text items go on to ``ovnb.passages``;
an uploaded picture is kept as a file (``keep_upload``), since an index names pictures by path.
"""
from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError
from ovnb.files import expand, write_bytes
from ovnb.images import Picture, load_image, thumbnail_png
from ovnb.passages import TEXT_SUFFIXES, named_path
from ovnb.video import VideoClip, load_video

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
CLIP_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")
THUMB_SIDE = 128  # a result's thumbnail in the view

Read = Picture | VideoClip  # a picture as the embedder takes it


def is_picture(path: Path) -> bool:
    """Whether a file is an image or a clip, by its suffix."""
    return path.suffix.lower() in IMAGE_SUFFIXES + CLIP_SUFFIXES


def is_clip(path: Path) -> bool:
    return path.suffix.lower() in CLIP_SUFFIXES


def pictures_in(folder: Path) -> list[Path]:
    """The images and clips under ``folder``, sorted (hidden files and folders left out)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_picture(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def has_text_files(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in TEXT_SUFFIXES for p in folder.rglob("*"))


@dataclass
class Sorted:
    """What ``Retriever.add`` was given, sorted: the items for ``ovnb.passages`` (texts, text
    files, folders holding text files, text uploads), and the pictures as (name, path) found in
    folders or given as files, or as (name, bytes) uploaded."""

    rest: list[Any] = field(default_factory=list)
    in_folders: list[tuple[str, Path]] = field(default_factory=list)
    files: list[tuple[str, Path]] = field(default_factory=list)
    uploads: list[tuple[str, bytes]] = field(default_factory=list)


def sort_items(items: Any) -> Sorted:
    """Sort what ``Retriever.add`` was given (see ``Sorted``): a folder gives its pictures and
    stays a text item when it holds text files too. Raises OvnbError for a path that names
    nothing."""
    if isinstance(items, (str, os.PathLike)) or not isinstance(items, Iterable):
        items = [items]  # a wrong type is left for ovnb.passages to name
    found = Sorted()
    for item in items:
        path = _path_of(item)
        if path is None and _is_picture_upload(item):
            found.uploads.append((item[0], bytes(item[1])))
        elif path is None:
            found.rest.append(item)
        elif path.is_dir():
            pictures = [(str(p.relative_to(path)), p) for p in pictures_in(path)]
            found.in_folders += pictures
            if has_text_files(path) or not pictures:
                found.rest.append(item)  # its texts (or passages' "holds no text files")
        elif is_picture(path):
            found.files.append((path.name, path))
        else:
            found.rest.append(item)
    return found


def _is_picture_upload(item: Any) -> bool:
    """Whether ``item`` is a (name, bytes) upload of a picture file (by its name's suffix)."""
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            and isinstance(item[1], (bytes, bytearray, memoryview)) and is_picture(Path(item[0])))


def keep_upload(name: str, data: bytes) -> Path:
    """An uploaded picture written to a folder of its own under the temporary folder, so that a
    retriever can name it by its path (and show it) for as long as the kernel runs."""
    folder = Path(tempfile.mkdtemp(prefix="ovnb-upload-"))
    return write_bytes(folder / (Path(name).name or "upload"), data)


def _path_of(item: Any) -> Path | None:
    """The file or folder an item names (None: a text, an upload or a wrong type)."""
    if isinstance(item, str):
        return named_path(item)
    if isinstance(item, os.PathLike):
        return expand(item)
    return None


def read(path: Path) -> Read:
    """A picture file as the embedder takes it; OvnbError (one line) when it cannot be read."""
    return load_video(path) if is_clip(path) else load_image(path)


@functools.lru_cache(maxsize=256)
def _thumbnail(path: str, modified: float, side: int) -> bytes:
    picture = read(Path(path))
    pixels = picture.frames[0] if isinstance(picture, VideoClip) else picture.pixels
    return thumbnail_png(pixels, side)


def thumbnail(path: Path, side: int = THUMB_SIDE) -> bytes | None:
    """A small PNG of a picture (a clip's first sampled frame); None when it cannot be read now
    (moved or changed since it was indexed). Cached by path and modification time."""
    try:
        return _thumbnail(str(path), path.stat().st_mtime, side)
    except (OSError, OvnbError):
        return None
