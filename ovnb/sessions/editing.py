"""Image-to-image and inpainting beside text to image: one set of compiled models, three modes.

openvino_genai builds each image pipeline class from another, sharing the compiled text encoder,
UNet and VAE, and with them the LoRA adapters registered at build (one adapter state for all:
a strength change made in one mode is what the next call in any mode starts from). So one
pipeline is built from the folder and compiled, and the other modes are made from it on first
use, in well under a millisecond. That root is the ``InpaintingPipeline``: in 2026.4 an
InpaintingPipeline made from an Image2ImagePipeline crashes the process at its first
``generate`` (its mask processors are never made; seen here), while both other classes are made
from an InpaintingPipeline safely. A folder without a VAE encoder (exported for text to image
only), or of a family genai cannot inpaint, gets a Text2ImagePipeline root, and the editing
modes are refused in one line.

An edit runs at the input image's size, within the width × height settings (the model's own size
unless set: larger costs time quadratically and diffusion models draw best near their size), in
multiples of the model's size step; the result comes back at the input's size. (Inpainting alone
would answer at the pipeline's default size, whatever the input.)
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.images import Mask, Picture, Source, load_image, load_mask
from ovnb.runtime import sigstack

TEXT, IMAGE, INPAINT = "text2image", "image2image", "inpainting"
MODES = (TEXT, IMAGE, INPAINT)
LABELS = {TEXT: "text to image", IMAGE: "image to image", INPAINT: "inpainting"}
CLASSES = {TEXT: "Text2ImagePipeline", IMAGE: "Image2ImagePipeline", INPAINT: "InpaintingPipeline"}
# model_index.json classes InpaintingPipeline(folder) takes in openvino_genai 2026.4
INPAINTABLE = ("StableDiffusionPipeline", "LatentConsistencyModelPipeline",
               "StableDiffusionInpaintPipeline", "StableDiffusionXLPipeline",
               "StableDiffusionXLInpaintPipeline", "FluxPipeline", "FluxInpaintPipeline",
               "FluxFillPipeline", "StableDiffusion3Pipeline", "StableDiffusion3InpaintPipeline")
TINT, TINT_ALPHA = (255, 40, 40), 0.45  # how a mask shows over its image (the painter's too)
ASPECT_SLACK = 0.02  # a mask this close to the image's aspect ratio is scaled to it, not refused


class ImagePipelines:
    """The image pipelines of one folder on one set of compiled models (``loaded.pipe``).

    ``get(mode)`` gives the pipeline of a mode, made from the root on first use; ``builds``
    counts the pipelines compiled from the folder (always 1), ``made`` the modes made so far.
    Used under the shared pipeline's lock only (the modes share their infer requests too).
    """

    def __init__(self, root: Any, root_mode: str, folder: Path) -> None:
        self.root, self.root_mode, self.folder = root, root_mode, Path(folder)
        self.builds = 1
        self._made: dict[str, Any] = {root_mode: root}
        self._lock = threading.Lock()

    @property
    def made(self) -> tuple[str, ...]:
        """The modes whose pipeline exists now, in MODES order."""
        return tuple(m for m in MODES if m in self._made)

    def get(self, mode: str) -> Any:
        """The pipeline for ``mode``; one line (OvnbError) when this model cannot run it."""
        import openvino_genai as ov_genai

        with self._lock:
            if mode in self._made:
                return self._made[mode]
            if self.root_mode == TEXT:
                raise OvnbError(_no_editing(self.folder))
            try:
                with sigstack.kept():
                    pipe = getattr(ov_genai, CLASSES[mode])(self.root)
            except RuntimeError as exc:  # e.g. a text or image-to-image mode of an inpainting model
                raise OvnbError(f"this model cannot run {LABELS[mode]} ({_last_line(exc)}): "
                                "it was made for inpainting: give an image and a mask") from None
            self._made[mode] = pipe
            return pipe

    def __repr__(self) -> str:
        return f"ImagePipelines({self.folder.name}: {', '.join(self.made)})"


def root_mode(folder: Path) -> str:
    """The mode whose pipeline is built from ``folder``: inpainting where genai can, else text."""
    try:
        name = json.loads((Path(folder) / "model_index.json").read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError):
        name = None
    encoder = (Path(folder) / "vae_encoder" / "openvino_model.xml").is_file()
    return INPAINT if encoder and name in INPAINTABLE else TEXT


def build(family: Any, folder: Path, device: str, properties: dict[str, Any],
          **options: Any) -> ImagePipelines:
    """The image family's builder: compile the folder's root pipeline (``options``: the
    adapters) on ``device``; the other modes are made from it on first use."""
    import openvino_genai as ov_genai

    mode = root_mode(folder)
    root = getattr(ov_genai, CLASSES[mode])(str(folder), device, **options, **properties)
    return ImagePipelines(root, mode, folder)


def _no_editing(folder: Path) -> str:
    if not (Path(folder) / "vae_encoder" / "openvino_model.xml").is_file():
        return (f"{Path(folder).name} has no VAE encoder (vae_encoder/), which image to image and "
                "inpainting need: export the model again with optimum-cli --task text-to-image")
    return (f"OpenVINO GenAI runs this model ({Path(folder).name}) for text to image only: "
            "generate without image= and mask=")


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:160] if lines else type(exc).__name__


# what an edit takes ------------------------------------------------------------------------------
def check_strength(value: Any) -> float:
    """``value`` if it is a strength openvino_genai takes sensibly, (0, 1]; else one line."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise OvnbError(f"strength must be more than 0 and at most 1, not {value!r}: 0.3 keeps "
                        "most of the image, 1 repaints it all")
    return float(value)


@dataclass
class Edit:
    """What a run starts from: its mode, the input image and mask, and notes for the learner."""

    mode: str = TEXT
    picture: Picture | None = None
    mask: Mask | None = None
    notes: list[str] = field(default_factory=list)


def edit_for(image: Source | Picture | None, mask: Source | Mask | None) -> Edit:
    """The mode and checked inputs of ``generate(image=, mask=)``; one line for a bad input."""
    if image is None:
        if mask is not None:
            raise OvnbError("a mask needs an image: give image= too (the mask marks the part of it "
                            "to repaint), or drop the mask for text to image")
        return Edit()
    picture = as_picture(image)
    notes = [f"image downscaled from {_size(picture.original_size)} to {_size(picture.size)}"
             ] if picture.downscaled else []
    if mask is None:
        return Edit(IMAGE, picture, None, notes)
    fitted, note = fit_mask(as_mask(mask), picture)
    return Edit(INPAINT, picture, fitted, notes + ([note] if note else []))


def as_picture(source: Source | Picture) -> Picture:
    return source if isinstance(source, Picture) else load_image(source)


def as_mask(source: Source | Mask) -> Mask:
    return source if isinstance(source, Mask) else load_mask(source)


def fit_mask(mask: Mask, picture: Picture) -> tuple[Mask, str]:
    """``mask`` at the picture's size, and a note when it was scaled; refuses what cannot fit.

    A mask of the picture's shape at another scale (painted on a thumbnail, or made for the
    full-size photo the picture was downscaled from) is scaled to it, nearest pixel, and said so.
    A mask of another shape is refused: stretched, it would repaint the wrong part.
    """
    from PIL import Image

    if mask.size != picture.size:
        (mw, mh), (w, h) = mask.size, picture.size
        if abs(mw / mh - w / h) > ASPECT_SLACK * (w / h):
            raise OvnbError(f"{mask.name} is {_size(mask.size)} but the image is {_size(picture.size)},"
                            " another shape: give a mask of the image's shape (white = repaint; "
                            "one of another size is scaled to fit)")
        scaled = Image.fromarray(mask.pixels).resize(picture.size, Image.Resampling.NEAREST)
        note = f"{mask.name} scaled from {_size(mask.size)} to the image's {_size(picture.size)}"
        mask = Mask(np.asarray(scaled), mask.name, mask.original_size)
    else:
        note = ""
    check_coverage(mask)
    return mask, note


def check_coverage(mask: Mask) -> None:
    """Refuse a mask that repaints nothing, or everything (that is image to image at strength 1)."""
    if mask.coverage == 0:
        raise OvnbError(f"{mask.name} is all black, so nothing would be repainted: paint the part "
                        "to change in white (or drop the mask for image to image)")
    if mask.coverage == 1:
        raise OvnbError(f"{mask.name} is all white, so the whole image would be repainted: leave "
                        "black what to keep (or drop the mask and use image to image, strength 1)")


# the run's tensors -------------------------------------------------------------------------------
def work_size(size: tuple[int, int], limit: tuple[int, int], step: int) -> tuple[int, int]:
    """The size an edit runs at: ``size`` shrunk to fit ``limit`` (aspect kept), in multiples of
    ``step``, at least one step a side."""
    (w, h), (lw, lh) = size, limit
    scale = min(1.0, lw / w, lh / h)
    return (max(step, int(w * scale) // step * step), max(step, int(h * scale) // step * step))


def tensors(edit: Edit, size: tuple[int, int]) -> tuple[Any, ...]:
    """The image (and mask) tensors at ``size``, as the edit's pipeline takes them positionally.

    A mask is shrunk keeping every pixel any of its stroke touched (a box average, then anything
    above black repaints): a thin stroke must not vanish on the way down.
    """
    import openvino
    from PIL import Image

    assert edit.picture is not None
    image = Image.fromarray(edit.picture.pixels)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    out = [openvino.Tensor(np.ascontiguousarray(np.asarray(image)[None]))]
    if edit.mask is not None:
        mask = Image.fromarray(edit.mask.pixels)
        if mask.size != size:
            mask = mask.resize(size, Image.Resampling.BOX)
        pixels = np.where(np.asarray(mask) > 0, 255, 0).astype(np.uint8)
        out.append(openvino.Tensor(np.ascontiguousarray(pixels[None, :, :, None])))
    return tuple(out)


def overlay(picture: Picture, mask: Mask | None) -> Any:
    """The picture as a PIL image, with the mask's repainted part tinted (the "before" view)."""
    from PIL import Image

    pixels = picture.pixels
    if mask is not None:
        tint = np.array(TINT, dtype=np.float32)
        chosen = mask.pixels > 0
        pixels = pixels.copy()
        pixels[chosen] = np.rint(pixels[chosen] * (1 - TINT_ALPHA) + tint * TINT_ALPHA)
    return Image.fromarray(pixels)


def _size(size: tuple[int, int]) -> str:
    return "×".join(map(str, size))
