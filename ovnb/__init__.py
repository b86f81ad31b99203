"""ovnb: a Jupyter-native kit for OpenVINO GenAI.

Public names are resolved lazily (PEP 562) so that ``import ovnb`` stays instant:
openvino, torch, transformers and optimum load only when a name that needs them is used.
"""
from __future__ import annotations

import importlib
from typing import Any

from ovnb.families import public_names
from ovnb.runtime.genai_env import pin_tokenizers_path
from ovnb.runtime.sigstack import guard_kernel

__version__ = "0.1.0"

pin_tokenizers_path()  # before any pipeline is built: openvino_genai's builds race on it otherwise
guard_kernel()  # a kernel interrupt must find a live signal stack, whatever pipelines a cell made

# public name -> module that defines it: every family's widgets (from the registry), and the rest
_LAZY = {
    "prepare": "ovnb.models",
    "adapters": "ovnb.models",
    "catalog": "ovnb.catalogs",
    "load_ipython_extension": "ovnb.magics",
    **public_names(),
    "DevicePicker": "ovnb.widgets.pickers", "ModelPicker": "ovnb.widgets.pickers",
    **dict.fromkeys(("LoraMixer", "lora_grid", "lora_compare"), "ovnb.widgets.lora"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ovnb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
