"""``Upload``: a button opening the browser's file chooser; the chosen files reach the kernel.

What ipywidgets' ``FileUpload`` does, without the "(0)" count it adds to its label, which learners
read as an error. ``value`` holds the files in FileUpload's own form (a tuple of dicts: name, type,
size, last_modified, content), so views observe and tests set it as they would FileUpload's. The
files travel once, as a custom message with binary buffers (as ``Recorder``'s recordings do), not
as synced state that every view opened later would copy.
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import anywidget
import traitlets
from ipywidgets.widgets.trait_types import TypedTuple

STATIC = Path(__file__).with_name("static")


class Upload(anywidget.AnyWidget):
    """An upload button labelled with its description; ``value`` is the files last chosen."""

    _esm = STATIC / "upload.js"
    description = traitlets.Unicode("Upload", help="the button's label").tag(sync=True)
    icon = traitlets.Unicode("upload", help="a Font Awesome 4 icon name ('' for none)").tag(
        sync=True)
    accept = traitlets.Unicode("", help="file types the chooser offers, e.g. image/*").tag(
        sync=True)
    multiple = traitlets.Bool(False, help="whether several files can be chosen at once").tag(
        sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    value = TypedTuple(trait=traitlets.Dict(), help="the files last chosen: name, type, size, "
                       "last_modified (UTC datetime) and content (a memoryview)")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._on_front)

    def _on_front(self, _: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("kind") != "files":
            return
        described = content.get("files") or []
        if len(described) != len(buffers or []):
            return
        self.value = tuple(_file(meta, buffer) for meta, buffer in zip(described, buffers))


def _file(meta: dict[str, Any], buffer: Any) -> dict[str, Any]:
    """One chosen file as FileUpload gives it."""
    millis = float(meta.get("last_modified") or 0)
    return {"name": str(meta.get("name", "")), "type": str(meta.get("type", "")),
            "size": int(meta.get("size", 0)), "content": memoryview(bytes(buffer)),
            "last_modified": datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc)}
