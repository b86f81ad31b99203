"""Repairs applied to an exported folder so that its openvino_genai pipeline loads it right.

Each fix is for a known gap between what an exporter writes and what a pipeline reads.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ovnb.progress import say

PREPROCESSOR = "preprocessor_config.json"
PROCESSOR = "processor_config.json"


def apply(task: str, src: Path, out: Path) -> None:
    """Apply every fix that concerns ``task`` to the exported folder ``out``."""
    if task == "vision-chat":
        preprocessor_config(src, out)


def preprocessor_config(src: Path, out: Path) -> None:
    """Give a VLM folder the ``preprocessor_config.json`` VLMPipeline reads its image sizes from.

    transformers 5 saves a processor as one ``processor_config.json`` (image processor nested under
    "image_processor"); VLMPipeline reads only ``preprocessor_config.json`` and, without it, feeds
    the vision model images of a default size (336 for LLaVA): a shape error at the first image.
    The source's own file is the most faithful copy; else the nested image-processor settings are
    written out, as transformers 4 did. A folder that has the file is left alone.
    """
    target = out / PREPROCESSOR
    if target.is_file():
        return
    if (src / PREPROCESSOR).is_file():
        shutil.copyfile(src / PREPROCESSOR, target)
        return
    settings = _image_processor_settings(out) or _image_processor_settings(src)
    if settings is None:
        say(f"{out.name}: no image-processor settings found; the pipeline will use its defaults")
        return
    target.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def _image_processor_settings(folder: Path) -> dict[str, Any] | None:
    """The "image_processor" part of ``folder``'s processor_config.json (None if it has none)."""
    try:
        processor = json.loads((folder / PROCESSOR).read_text())
    except (OSError, ValueError):
        return None
    settings = processor.get("image_processor") if isinstance(processor, dict) else None
    if not isinstance(settings, dict):
        return None
    if "processor_class" in processor:
        settings = {**settings, "processor_class": processor["processor_class"]}
    return settings
