"""The prepared folder a session loads: a catalog id or a folder, checked to be of the right kind."""
from __future__ import annotations

from pathlib import Path
from typing import Any



def model_folder(model: Any, kind: str, precision: str | None = None) -> Path:
    """The prepared folder for ``model`` (catalog id or folder), checked to be of ``kind``.

    ``precision`` applies to catalog ids (e.g. "int4-npu" for an NPU); a folder is taken as is.
    """
    from ovnb.models import check_folder, prepare

    if not isinstance(model, (str, Path)) and not hasattr(model, "__fspath__"):
        raise TypeError(f"model must be a catalog id or a folder path, not {type(model).__name__}")
    folder = prepare(model, precision)
    check_folder(folder, kind)  # kind, completeness, tokenizers: before any pipeline is built
    return folder
