"""Reading images for vision-language models: any file, upload, PIL image or array -> RGB HWC uint8.

Masks for inpainting come through the same doors (``load_mask``): one channel, white = repaint.

VLMPipeline takes ``openvino.Tensor``s of RGB pixels, height x width x 3, uint8, while people bring
phone photos (rotated by an EXIF tag, 12+ megapixels), PNGs with transparency, grayscale scans and
float arrays. Everything goes through one path here; 16-bit, 32-bit and float grayscale are
scaled to 8 bits, not clipped as Pillow's own conversion does. A huge image is shrunk to
``MAX_SIDE`` while it is read (JPEGs are decoded at a reduced scale directly), since no VLM looks at
more pixels than that and a full-size decode only costs memory and time.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.progress import say

if TYPE_CHECKING:
    from PIL import Image as PILImage

# The largest side an image keeps: the biggest inputs common VLMs use (MiniCPM-V and Phi-3-vision
# slice up to 1344 px); beyond it a model only gets slower.
MAX_SIDE = 1344
THUMB_SIDE = 160  # the widget's preview
MASK_LEVEL = 128  # a mask pixel this bright or brighter repaints (openvino_genai binarizes at half)
BACKGROUND = (255, 255, 255)  # what transparent pixels become
SAMPLES = Path(__file__).parent / "data" / "images"
# EXIF orientations that swap width and height (rotations by 90 or 270 degrees)
_TRANSPOSED = {5, 6, 7, 8}
# full scale of Pillow's 32-bit integer mode "I" for values past 16 bits (it is signed)
I32_FULL = 2**31 - 1
F32_FIX = 'properties={"INFERENCE_PRECISION_HINT": "f32"}'  # what a blank result should try

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | np.ndarray | Any


@dataclass(frozen=True)
class Picture:
    """An image ready for a VLM: RGB pixels (H, W, 3) uint8, its name and its size as given."""

    pixels: np.ndarray = field(repr=False)
    name: str
    original_size: tuple[int, int]  # (width, height) as stored, upright

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of ``pixels``."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def downscaled(self) -> bool:
        return self.size != self.original_size

    def tensor(self) -> Any:
        return to_tensor(self.pixels)

    def thumbnail_png(self, side: int = THUMB_SIDE) -> bytes:
        return thumbnail_png(self.pixels, side)


@dataclass(frozen=True)
class Mask:
    """Where inpainting repaints: pixels (H, W) uint8, 255 (white) = repaint, 0 (black) = keep."""

    pixels: np.ndarray = field(repr=False)
    name: str
    original_size: tuple[int, int]  # (width, height) as given, upright

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of ``pixels``."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def coverage(self) -> float:
        """The share of the pixels that are repainted (0: none, 1: all)."""
        return float(np.count_nonzero(self.pixels)) / max(self.pixels.size, 1)

    @property
    def share(self) -> str:
        """``coverage`` as every line shows it ("5.8%"): one rounding wherever it is read."""
        return f"{self.coverage:.1%}"

    def png(self) -> bytes:
        """The mask as a grayscale PNG (what the mask painter shows and sends)."""
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(self.pixels).save(out, format="PNG")
        return out.getvalue()


def samples() -> dict[str, Path]:
    """The bundled sample images (made for ovnb, CC0) by name: ``{"house": Path(...), ...}``."""
    return {path.stem: path for path in sorted(SAMPLES.glob("*.png"))}


def load_image(source: Source, name: str | None = None, max_side: int = MAX_SIDE) -> Picture:
    """``source`` as a Picture whose longest side is at most ``max_side``.

    ``source`` is a file path, the name of a bundled sample (``samples()``: "house"), the bytes of
    an image file (an upload; ``name`` is used in messages), a PIL image, or an array shaped
    (H, W), (H, W, 1|3|4) or (1|3|4, H, W), uint8 or float in [0, 1].
    Raises OvnbError (one line naming the fix) for a missing file or one that is not an image.
    """
    from PIL import Image

    if isinstance(source, (str, os.PathLike)):
        path = image_path(source)
        return _read(path, name or path.name, max_side)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise OvnbError(f"{name or 'the upload'} is empty: choose an image file")
        return _read(io.BytesIO(bytes(source)), name or "the upload", max_side)
    if isinstance(source, Image.Image):
        return _finish(source, name or "the image", source.size, max_side)
    if isinstance(source, np.ndarray):
        image = Image.fromarray(_as_uint8(_as_hwc(source)))
        return _finish(image, name or "the array", image.size, max_side)
    raise TypeError(f"cannot read an image from {type(source).__name__}: give a file path, "
                    "file bytes, a PIL image or a numpy array")


def load_mask(source: Source, name: str | None = None, max_side: int = MAX_SIDE) -> Mask:
    """``source`` as an inpainting mask: white (bright) repaints, black (dark) keeps.

    Sources are those of ``load_image``; a bool array's True repaints. Colours count by their
    brightness, split at ``MASK_LEVEL`` as openvino_genai does; transparent pixels keep (a mask
    painted on a transparent layer marks with its strokes, not its background).
    """
    from PIL import Image

    if isinstance(source, (str, os.PathLike)):
        path = _existing_file(source)
        return _read(path, name or path.name, max_side, _finish_mask)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise OvnbError(f"{name or 'the mask upload'} is empty: choose a mask image file")
        return _read(io.BytesIO(bytes(source)), name or "the mask upload", max_side, _finish_mask)
    if isinstance(source, Image.Image):
        return _finish_mask(source, name or "the mask", source.size, max_side)
    if isinstance(source, np.ndarray):
        image = Image.fromarray(_as_uint8(_as_hwc(source)))
        return _finish_mask(image, name or "the mask array", image.size, max_side)
    raise TypeError(f"cannot read a mask from {type(source).__name__}: give a file path, file "
                    "bytes, a PIL image or a numpy array (white = repaint)")


def to_tensor(pixels: np.ndarray) -> Any:
    """RGB HWC uint8 pixels as the ``openvino.Tensor`` VLMPipeline takes."""
    import openvino

    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise OvnbError(f"expected RGB pixels (H, W, 3) uint8, got {pixels.shape} {pixels.dtype}: "
                        "read the image with ovnb.images.load_image")
    return openvino.Tensor(np.ascontiguousarray(pixels))


def blank(pixels: np.ndarray) -> str | None:
    """Why a generated image (H, W, 3) or clip (F, H, W, 3) is no result, in one line naming the
    fix; None when it is one. Leading batch axes of size 1 are fine.

    A diffusion run whose latents went NaN (an overflow in fp16/bf16, or a scheduler pushed past
    its range) raises nothing: it decodes to one flat colour, black for NaN, and would be shown as
    if it were the picture. Non-finite values (a float result) are refused likewise. Cheap: one
    comparison with the first pixel. Call it on a finished run: a stopped run's empty tensor is no
    result either, but not a broken one.
    """
    array = np.asarray(pixels)
    what = "clip" if array.ndim >= 4 and array.shape[-4] > 1 else "image"
    fix = f"run the model in f32 ({F32_FIX}), or try another size or seed"
    if not array.size:
        return f"the {what} is empty: nothing was generated; generate again"
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        return f"the {what} holds NaN or infinite values (the model's numbers overflowed): {fix}"
    channels = array.shape[-1] if array.ndim >= 3 else 1
    flat = array.reshape(-1, channels)
    if (flat != flat[0]).any():
        return None
    values = [f"{v:g}" for v in flat[0].tolist()]
    colour = values[0] if len(values) == 1 else f"({', '.join(values)})"
    return (f"the {what} came out blank (every pixel is {colour}; NaN latents decode to black): "
            f"{fix}")


def thumbnail_png(pixels: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    """A small PNG of the pixels (longest side ``side``), for previews: cheap to send to a page."""
    from PIL import Image

    image = Image.fromarray(pixels)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def image_path(source: str | os.PathLike[str]) -> Path:
    """The image file ``source`` names: a path, or else a bundled sample's name ("house").

    A file wins over a sample of the same name (a path means what it says). A bare word (no
    folder, no suffix) that is neither is refused in one line that lists the samples, since a
    learner who typed it most likely meant one of them."""
    path = Path(source).expanduser()
    if isinstance(source, str) and is_bare_name(source) and not path.exists():
        found = samples().get(source.strip())
        if found is None:
            raise OvnbError(f"no image file or sample named {source.strip()!r}: give an image's "
                            f"path, or a sample: {', '.join(samples())}")
        return found
    return _existing_file(source)


def is_bare_name(text: str) -> bool:
    """Whether ``text`` is a word such as "house": no folder, no suffix, not empty."""
    text = text.strip()
    return bool(text) and not any(c in text for c in "/\\~.") and "\n" not in text


def _existing_file(source: str | os.PathLike[str]) -> Path:
    path = Path(source).expanduser()
    if path.is_dir():
        raise OvnbError(f"{path} is a folder: give the path of an image file")
    if not path.is_file():
        raise OvnbError(f"no such image file: {path}: check the path")
    return path


def _read(file: Path | io.BytesIO, name: str, max_side: int, finish: Any = None) -> Any:
    """Open an image file, decoding a big JPEG at a reduced scale, and ``finish`` it (as a
    Picture unless told otherwise)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(file)
        size = image.size
        if image.getexif().get(0x0112) in _TRANSPOSED:
            size = size[::-1]
        image.draft("RGB", (max_side, max_side))  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
        return (finish or _finish)(image, name, size, max_side)
    except UnidentifiedImageError:
        raise OvnbError(f"{name} is not an image Pillow can read: choose a PNG, JPEG, GIF, BMP, "
                        "TIFF or WebP file") from None
    except Image.DecompressionBombError:
        raise OvnbError(f"{name} is too large to open safely: save a smaller copy "
                        f"(at most {max_side} pixels a side is plenty)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated, corrupt or unreadable
        raise OvnbError(f"cannot read {name} as an image ({exc}): choose another file") from None


def _finish(image: PILImage.Image, name: str, size: tuple[int, int], max_side: int) -> Picture:
    """Upright, at most ``max_side`` a side, RGB on white: the one form every VLM takes."""
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image) or image
    if image.mode.startswith("I;16"):
        image = image.convert("I")  # same values; thumbnail() cannot reduce I;16
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # shrinks only; keeps aspect
    if image.mode in ("I", "F"):
        image = _eight_bit(image, name)
    return Picture(np.asarray(_rgb(image)), name, size)


def _finish_mask(image: PILImage.Image, name: str, size: tuple[int, int], max_side: int) -> Mask:
    """Upright, at most ``max_side`` a side (nearest pixels: it stays sharp), black and white."""
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image) or image
    if image.mode.startswith("I;16"):
        image = image.convert("I")
    image.thumbnail((max_side, max_side), Image.Resampling.NEAREST)
    if image.mode in ("I", "F"):
        image = _eight_bit(image, name)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        flat = Image.new("RGBA", image.size, (0, 0, 0, 255))  # transparent keeps: black
        flat.alpha_composite(image.convert("RGBA"))
        image = flat
    gray = np.asarray(image.convert("L"))
    return Mask(np.where(gray >= MASK_LEVEL, 255, 0).astype(np.uint8), name, size)


def _eight_bit(image: PILImage.Image, name: str) -> PILImage.Image:
    """8-bit grayscale from 16/32-bit integer or float grayscale, scaled rather than clipped.

    Pillow's own conversion clips at 255 (a 16-bit ramp came out 99.6 % white, a float one
    black). Integers 0..65535 are 16-bit data (16-bit PNG/TIFF/PGM), wider ones 32-bit; floats
    in [0, 1] are fractions of white, as in float arrays. Anything else (negative values, a
    depth map) is stretched from its lowest to its highest value, and said so.
    """
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    if not np.isfinite(values).all():
        raise OvnbError(f"{name} has NaN or infinite pixels: save it again from the program "
                        "that made it, or pass finite values")
    low, high = float(values.min()), float(values.max())
    if image.mode == "F" and 0 <= low and high <= 1:
        low, high = 0.0, 1.0
    elif image.mode == "I" and low >= 0:
        low, high = 0.0, 65535.0 if high <= 65535 else float(I32_FULL)
    else:
        say(f"{name} holds values from {low:g} to {high:g}: stretched to black..white")
    span = high - low or 1.0
    return Image.fromarray(np.rint((values - low) * (255 / span)).astype(np.uint8))


def _rgb(image: PILImage.Image) -> PILImage.Image:
    """RGB, with transparent pixels laid over white (not black, as a plain convert would do)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        flat = Image.new("RGBA", image.size, (*BACKGROUND, 255))
        flat.alpha_composite(image.convert("RGBA"))
        return flat.convert("RGB")
    return image.convert("RGB")


def _as_hwc(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C) or channels-first (C, H, W > 4), C in 1, 3, 4 -> (H, W) or (H, W, C)."""
    channels = (1, 3, 4)
    if array.ndim == 3 and array.shape[0] in channels and array.shape[2] > 4:
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in channels) \
            or not array.size:
        raise OvnbError(f"cannot use an array shaped {array.shape} as an image: pass (H, W), "
                        "(H, W, 3) or (H, W, 4)")
    return array


def _as_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 pixels from uint8, bool, other integers in 0..255, or floats in [0, 1]."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise OvnbError("a float image array must hold values in [0, 1]: divide by 255 "
                            "or pass uint8")
        return np.rint(array * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() <= 255:
        return array.astype(np.uint8)
    raise OvnbError(f"cannot use a {array.dtype} array as an image: pass uint8 in 0..255 "
                    "or float in [0, 1]")
