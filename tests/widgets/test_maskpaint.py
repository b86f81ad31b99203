"""MaskPainter as its front end sees it: what it is sent, and what a stroke sends back."""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ovnb.widgets.maskpaint import BRUSH, VIEW_WIDTH, MaskPainter
from tests.widgets.conftest import RecordingComm


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def updates(widget: Any, name: str) -> int:
    """How many state updates (not echoes) carried ``name`` to the front end (binary values
    travel as buffers: their names are in ``buffer_paths``)."""
    return sum(1 for m in widget.comm.messages if m.get("method") == "update" and (
        name in m.get("state", {}) or [name] in m.get("buffer_paths", [])))


def test_show_sends_the_image_and_clears_the_mask(front_end: None) -> None:
    painter = MaskPainter()
    assert isinstance(painter.comm, RecordingComm) and painter.brush == BRUSH
    painter.mask = png(np.full((4, 6), 255, np.uint8))
    assert updates(painter, "mask") == 1
    painter.show(png(np.zeros((4, 6, 3), np.uint8)), 6)
    assert painter.mask == b"" and painter.image[:4] == b"\x89PNG"
    assert painter.view_width == VIEW_WIDTH[0]  # a small image is enlarged to paint on
    painter.show(png(np.zeros((4, 1000, 3), np.uint8)), 1000)
    assert painter.view_width == VIEW_WIDTH[1]  # a large one is shrunk to fit
    assert updates(painter, "image") == 2


def test_a_stroke_arrives_as_bytes_with_its_count(front_end: None) -> None:
    painter = MaskPainter()
    seen: list[tuple[bytes, int]] = []
    painter.observe(lambda change: seen.append((change["new"], painter.strokes)), "mask")
    stroke = np.zeros((4, 6), np.uint8)
    stroke[1:3, 2:5] = 255
    data = png(stroke)
    # the page sends the PNG as a binary buffer, with the stroke count, in one state message
    painter.set_state({"mask": memoryview(data), "strokes": 1})
    assert seen == [(data, 1)] and isinstance(painter.mask, bytes)
    assert updates(painter, "mask") == 0  # nothing sent back to the page that painted it
