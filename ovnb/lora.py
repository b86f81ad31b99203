"""LoRA adapters: refusing files that do not fit a model, and passing strengths around genai's quirks.

openvino_genai applies a LoRA tensor to every MatMul/Convolution whose name contains the tensor's
layer name, and silently ignores tensors that match nothing (or prints a warning to the C++ stderr,
which a notebook never shows). So a wrong adapter just changes nothing. ``check_adapter`` reads the
safetensors header (JSON after an 8-byte length: no torch, no weights read) and matches every LoRA
layer against the names and weight shapes in the model's IR files, so a file that does not fit is
refused with one line that says why.

Per call, ``choose`` works around a genai 2026.4 bug (seen for LLM, VLM and text-to-image): with two
or more adapters registered, a call whose adapter list names the previous call's adapters in the same
order with only the alphas changed is silently ignored, or fails with "Tensor was not initialized".
"""
from __future__ import annotations

import functools
import json
import re
import struct
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ovnb import families
from ovnb.errors import OvnbError
from ovnb.families import IMAGE, Family

Pairs = list[tuple[Path, float]]
# a LoRA tensor name -> (layer name, part): PEFT "x.lora_A.weight", kohya "x.lora_down.weight"
_PART = re.compile(r"^(?P<layer>.+?)[._]lora[._](?P<part>A|B|down|up)(?:\.default)?\.weight$")
MAX_HEADER = 100_000_000  # bytes: safetensors' own limit


@dataclass(frozen=True)
class Layer:
    """A LoRA layer of an adapter file: its name and the weight shape it updates."""

    name: str
    inputs: int
    outputs: int
    kernel: tuple[int, ...] = ()  # convolution kernel size (empty for a Linear)


def read_header(path: Path) -> dict[str, Any]:
    """The tensor table of a safetensors file (names -> dtype, shape, offsets), read without torch."""
    path = Path(path)
    if not path.is_file():
        raise OvnbError(f"adapter {path} not found: pass a .safetensors file that exists "
                        "(ovnb.adapters(model_id) lists a model's own)")
    try:
        with path.open("rb") as stream:
            (size,) = struct.unpack("<Q", stream.read(8))
            if not 2 <= size <= min(MAX_HEADER, path.stat().st_size - 8):
                raise ValueError("bad header size")
            header = json.loads(stream.read(size))
        if not isinstance(header, dict):
            raise TypeError("header is not a table")
    except (OSError, ValueError, TypeError, struct.error) as exc:
        raise OvnbError(f"{path.name} is not a safetensors file ({exc}): LoRA adapters must be "
                        ".safetensors files in PEFT or kohya format") from None
    header.pop("__metadata__", None)
    return header


def lora_layers(path: Path) -> list[Layer]:
    """The layers an adapter file changes, with the weight shapes its A/B (down/up) pairs imply."""
    parts: dict[str, dict[str, list[int]]] = {}
    for name, info in read_header(path).items():
        match = _PART.match(name)
        if match and isinstance(info, dict):
            side = "A" if match["part"] in ("A", "down") else "B"
            parts.setdefault(match["layer"], {})[side] = list(info.get("shape", []))
    if not parts:
        raise OvnbError(f"{Path(path).name} holds no LoRA weights (lora_A/lora_B or "
                        "lora_down/lora_up tensors): it is not a LoRA adapter")
    layers = []
    for name, shapes in sorted(parts.items()):
        a, b = shapes.get("A"), shapes.get("B")
        if not a or not b or len(a) < 2:
            raise OvnbError(f"{Path(path).name} is damaged: layer {name} lacks its "
                            f"{'A (down)' if not a else 'B (up)'} matrix")
        layers.append(Layer(name, a[1], b[0], tuple(a[2:])))
    return layers


def _canon(name: str) -> str:
    """A layer name with every run of separators as one ``_``, padded for whole-word matching."""
    return "_" + re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_") + "_"


@functools.lru_cache(maxsize=16)
def _ir_layers(xml: str, stamp: int) -> tuple[tuple[str, int, int], ...]:
    """(canonical name, inputs, outputs) of the MatMul/Convolution layers with a static weight."""
    import xml.etree.ElementTree as ET

    found = []
    for _, element in ET.iterparse(xml, events=("end",)):
        if element.tag != "layer":
            continue
        kind = element.get("type")
        if kind in ("MatMul", "Convolution"):
            ports = element.findall("./input/port")
            dims = [int(d.text or -1) for d in ports[1].findall("dim")] if len(ports) > 1 else []
            if dims and min(dims) > 0:
                if kind == "Convolution" and len(dims) >= 2:
                    found.append((_canon(element.get("name", "")), dims[1], dims[0]))
                elif kind == "MatMul" and len(dims) == 2:
                    data = element.find("data")
                    flipped = data is not None and data.get("transpose_b") == "true"
                    outputs, inputs = dims if flipped else dims[::-1]
                    found.append((_canon(element.get("name", "")), inputs, outputs))
        element.clear()
    return tuple(found)


def model_layers(folder: Path, part: str = "") -> list[tuple[str, int, int]]:
    """The adaptable layers of a prepared model folder (or of one sub-model, e.g. ``unet``)."""
    root = Path(folder) / part if part else Path(folder)
    found: list[tuple[str, int, int]] = []
    for xml in sorted(root.rglob("*.xml")):
        if "tokenizer" not in xml.name:
            found += _ir_layers(str(xml), xml.stat().st_mtime_ns)
    return found


def _split(name: str, family: Family) -> tuple[str, str] | None:
    """(sub-model, layer name) genai looks for, or None when genai ignores the name in ``family``.

    Each family's record lists the layer-name prefixes genai strips and the sub-model ("" = the
    whole folder) it then searches. Seen: an LLM ignores names without the PEFT prefix;
    text-to-image maps kohya names and bare diffusers names to the UNet, so "unet.down_blocks..."
    (diffusers' PEFT form) matches nothing."""
    for prefix, part in family.lora:
        if name.startswith(prefix):
            return part, name[len(prefix):]
    return None


def check_adapter(path: Path, folder: Path, kind: Family | str) -> list[Layer]:
    """Refuse an adapter that does not fit the model in ``folder``: one line saying why.

    Every LoRA layer must name a layer of the model (as genai matches names) whose weight has the
    shape the LoRA matrices imply; non-pointwise convolution LoRA is refused too (genai fails on it).
    """
    path, model, family = Path(path), model_name(folder), families.as_family(kind)
    layers = lora_layers(path)
    tables: dict[str, list[tuple[str, int, int]]] = {}
    missing: list[str] = []
    for layer in layers:
        if any(k > 1 for k in layer.kernel):
            raise OvnbError(f"{path.name} changes convolutions with a {'×'.join(map(str, layer.kernel))}"
                            " kernel (LoCon), which OpenVINO GenAI cannot apply: use a LoRA of "
                            "linear layers only")
        split = _split(layer.name, family)
        if split is None:
            missing.append(layer.name)
            continue
        part, name = split
        table = tables.setdefault(part, model_layers(folder, part) if (Path(folder) / part).exists()
                                  else [])
        hits = [(i, o) for ir, i, o in table if _canon(name) in ir]
        if not hits:
            missing.append(layer.name)
        elif (layer.inputs, layer.outputs) not in hits:
            inputs, outputs = hits[0]
            raise OvnbError(f"{path.name} does not fit {model}: layer {name} is {inputs}→{outputs} "
                            f"here but {layer.inputs}→{layer.outputs} in the adapter (made for another "
                            f"size of model): pick an adapter made for {model}")
    if missing and family is IMAGE and missing[0].startswith(("unet.", "text_encoder.")):
        raise OvnbError(f"{path.name} names its layers in diffusers' PEFT form ({missing[0]}), "
                        "which OpenVINO GenAI does not map: use a kohya-format file (lora_unet_…)")
    if missing:
        which = (f"none of its {len(layers)} LoRA layers (e.g. {missing[0]}) is"
                 if len(missing) == len(layers) else
                 f"{len(missing)} of its {len(layers)} LoRA layers (e.g. {missing[0]}) are not")
        raise OvnbError(f"{path.name} does not fit {model}: {which} in this model: pick an adapter "
                        f"made for {model}")
    return layers


def model_name(folder: Path) -> str:
    """The model's id from the folder's ovnb manifest, else the folder's name."""
    from ovnb.cache import read_manifest

    manifest = read_manifest(Path(folder)) or {}
    return str(manifest.get("id") or Path(folder).name)


def choose(alphas: dict[Path, float], previous: Pairs | None,
           registered: Iterable[Path] = ()) -> Pairs:
    """The (adapter, alpha) list to pass for ``alphas``, given the list the pipeline's last call got.

    Adapters at alpha 0 are left out (the same result, no work). The genai bug (module docstring):
    when the adapters are the previous call's, in the same order, and only alphas changed, they go
    in reversed order; a lone adapter gets a spare one of the ``registered`` beside it at alpha 0
    (exactly the same result). Both were checked against fresh pipelines for LLM, VLM and text-to-image; going
    through an empty list works too, but would cost a whole extra call.
    """
    pairs = [(path, alpha) for path, alpha in alphas.items() if alpha != 0]
    names = [path for path, _ in pairs]
    if previous is None or not pairs or pairs == previous or names != [p for p, _ in previous]:
        return pairs
    if len(pairs) > 1:
        return pairs[::-1]
    spare = [path for path in [*registered, *alphas] if path not in names]
    return [*pairs, (spare[0], 0.0)] if spare else pairs


@dataclass(eq=False)
class Registered:
    """What one shared pipeline was built with: its Adapter objects, and its last call's list.

    Per pipeline, not per widget: the bug depends on the pipeline's previous call, whoever made it.
    Only touched under the pipeline's lock (every generate runs under it).
    """

    adapters: dict[Path, Any] = field(default_factory=dict)
    last: Pairs | None = None

    def config(self, alphas: dict[Path, float]) -> Any:
        """The AdapterConfig for a call with these strengths (adapters not registered: refused)."""
        import openvino_genai as ov_genai

        stray = [p for p in alphas if p not in self.adapters]
        if stray:
            raise OvnbError(f"adapter {stray[0].name} was not given when the pipeline was built: "
                            "pass every adapter to the widget (adapters=[...]) when you make it")
        pairs = choose(alphas, self.last, self.adapters)
        self.last = pairs  # applied as the call starts, even if it is stopped later
        chosen = [(self.adapters[path], alpha) for path, alpha in pairs]
        return ov_genai.AdapterConfig(chosen) if chosen else ov_genai.AdapterConfig()


_REGISTERED: weakref.WeakKeyDictionary[Any, Registered] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def build_kwargs(files: Iterable[Path], kind: Family | str, made: dict[Path, Any]
                 ) -> dict[str, Any]:
    """Pipeline constructor arguments registering ``files`` (filling ``made`` with the Adapters).

    All adapters are registered now, in a mode that honours per-call changes (genai's default):
    one first named in a later call would be silently ignored. Chat pipelines also get prefix
    caching off: cached prompt state computed under other adapters would be reused otherwise (seen
    for LLM and VLM: every switch went wrong with it on).
    """
    import openvino_genai as ov_genai

    made.update({Path(p): ov_genai.Adapter(str(p)) for p in files})
    if not made:
        return {}
    kwargs: dict[str, Any] = {"adapters": ov_genai.AdapterConfig([(a, 1.0) for a in made.values()])}
    if families.as_family(kind).prefix_caching:
        scheduler = ov_genai.SchedulerConfig()
        scheduler.enable_prefix_caching = False
        kwargs["scheduler_config"] = scheduler
    return kwargs


def attach(loaded: Any, made: dict[Path, Any]) -> Registered:
    """Remember the Adapters a shared pipeline was built with (the first builder's, if shared)."""
    with _LOCK:
        return _REGISTERED.setdefault(loaded, Registered(dict(made)))


def call_kwargs(loaded: Any, alphas: dict[Path, float]) -> dict[str, Any]:
    """``adapters=`` for one generate on ``loaded`` with these strengths ({} without adapters)."""
    registered = _REGISTERED.get(loaded)
    if registered is None or not registered.adapters:
        return {}
    return {"adapters": registered.config(alphas)}


# a session's adapters ------------------------------------------------------------------------------
def strengths_of(adapters: Any) -> dict[Path, float]:
    """``{file: strength}`` from one file, a list of files (strength 1), a dict, or anything with
    ``alphas()`` (a LoraMixer: its current values)."""
    import os

    if adapters is None:
        return {}
    if hasattr(adapters, "alphas"):
        return dict(adapters.alphas())
    if isinstance(adapters, (str, os.PathLike)):
        adapters = [adapters]
    if isinstance(adapters, dict):
        return {Path(p): float(a) for p, a in adapters.items()}
    return {Path(p): 1.0 for p in adapters}


def short_names(files: list[Path]) -> dict[Path, str]:
    """File stems, with the folder name added where two files share a stem."""
    stems = [p.stem for p in files]
    return {p: p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}/{p.stem}" for p in files}


class AdapterSet:
    """The adapters a session registers once, at build, and looks up by file or name per call."""

    def __init__(self, given: Any = None) -> None:
        self.initial = strengths_of(given)
        self.files = list(self.initial)
        self.names = short_names(self.files)

    def __bool__(self) -> bool:
        return bool(self.files)

    def key(self) -> tuple[str, ...]:
        """Part of the shared pipeline's key: pipelines built with other adapters differ."""
        return tuple(sorted(str(p) for p in self.files))

    def lookup(self, adapter: Any) -> Path | None:
        """The file of an adapter given by file or name, None if there is no such adapter."""
        for path in self.files:
            if str(adapter) in (str(path), self.names[path], path.stem) or Path(adapter) == path:
                return path
        return None

    def known(self) -> str:
        """The adapters' names, for messages."""
        return ", ".join(self.names.values()) or "none"

    def resolve(self, requested: Any) -> dict[Path, float]:
        """Strengths by file or name -> by file; an adapter not registered is refused in one line."""
        resolved = {}
        for key, alpha in dict(requested).items():
            path = self.lookup(key)
            if path is None:
                raise OvnbError(f"adapter {key} was not given when the pipeline was made (given: "
                                f"{self.known()}): pass every adapter in adapters=[...] when you "
                                "make it")
            resolved[path] = float(alpha)
        return resolved

    def check(self, folder: Path, kind: Family | str) -> None:
        """Refuse, before building anything, an adapter file that does not fit the model."""
        for path in self.files:
            check_adapter(path, folder, kind)
