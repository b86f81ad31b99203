"""``MaskPainter``: paint an inpainting mask with the mouse, over the image it belongs to.

An anywidget of ovnb's own rather than ipycanvas: the strokes are drawn in the page, on a canvas
over the image (a tinted overlay), and the kernel gets the finished mask once per stroke, as one
grayscale PNG at the image's own pixel size. ipycanvas would send every mouse move to the kernel
and draw from there (a round trip per segment), and would be one more dependency to pin; anywidget
is already one and needs no build step. The mask is white where the strokes went (repaint) and
black elsewhere; the eraser paints black.
"""
from __future__ import annotations

from pathlib import Path
import anywidget
import traitlets
from ipywidgets.widgets.trait_types import bytes_serialization

STATIC = Path(__file__).with_name("static")
VIEW_WIDTH = (256, 384)  # css pixels the image shows at: small images are enlarged to paint on
BRUSH = 12  # the brush's diameter, in image pixels


class MaskPainter(anywidget.AnyWidget):
    """The image with its mask as a tinted overlay; the mouse paints (or erases) the mask.

    ``image`` is a PNG of the image to paint on; ``mask`` the mask's PNG (black and white, the
    image's size): set from Python it replaces what the page shows (b"" clears it), painted in
    the page it arrives here at the end of each stroke, ``strokes`` counting them.
    """

    _esm = STATIC / "maskpaint.js"
    _css = STATIC / "maskpaint.css"
    image = traitlets.Bytes(b"", help="PNG of the image the mask is painted on").tag(sync=True)
    mask = traitlets.Bytes(b"", help="PNG of the mask, white = repaint (b'': none)").tag(
        sync=True, **bytes_serialization)
    strokes = traitlets.Int(0, help="strokes painted in the page so far").tag(sync=True)
    brush = traitlets.Int(BRUSH, help="brush diameter in image pixels").tag(sync=True)
    erase = traitlets.Bool(False, help="True: the mouse erases the mask (paints black)").tag(
        sync=True)
    view_width = traitlets.Int(0, help="css pixels the image shows at (0: chosen from its size)"
                               ).tag(sync=True)

    def show(self, image_png: bytes, width: int) -> None:
        """Paint on this image (its PNG, ``width`` pixels wide) from now on; the mask is cleared."""
        with self.hold_sync():
            self.mask = b""
            self.image = image_png
            self.view_width = canvas_width(width) if width else 0

    def __repr__(self) -> str:
        return f"MaskPainter(strokes={self.strokes}, brush={self.brush})"


def canvas_width(width: int) -> int:
    """The css width an image ``width`` pixels wide paints at (small ones enlarged, big ones
    shrunk): an edit's before and after show at the same scale."""
    return min(max(width, VIEW_WIDTH[0]), VIEW_WIDTH[1])
