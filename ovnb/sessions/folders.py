"""The prepared folder a session loads: a catalog id or a folder, checked to be of the right kind."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError


def model_folder(model: Any, kind: str, precision: str | None = None) -> Path:
    """The prepared folder for ``model`` (catalog id or folder), checked to be of ``kind``.

    ``precision`` applies to catalog ids (e.g. "int4-npu" for an NPU); a folder is taken as is.
    """
    from ovnb.layout import PIPELINES, kind_of
    from ovnb.models import prepare

    if not isinstance(model, (str, Path)) and not hasattr(model, "__fspath__"):
        raise TypeError(f"model must be a catalog id or a folder path, not {type(model).__name__}")
    folder = prepare(model, precision)
    found = kind_of(folder)
    if found != kind:
        from ovnb.lora import model_name

        want = PIPELINES[kind][0]
        raise OvnbError(f"{model_name(folder)} holds a {found or 'non-model'} model, not one for {want}: "
                        f"pick a {kind} model (`ovnb list --task {kind}`)")
    return folder
