"""Devices and the machine: what OpenVINO sees, which device to prefer, and per-device settings.

One place for the device knowledge the widgets need: the device picker offers the devices, a
pipeline's device is checked here before anything is built, and the pipeline widgets take their
properties from here (what each family needs on an NPU, read from its registry record; a compile
cache for GPU/NPU). Free RAM and disk are read here too, without psutil.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ovnb.errors import OvnbError
from ovnb.families import Family, as_family

AUTO_NAME = "AUTO (OpenVINO picks a device per model)"
# devices that stand for others, named after a colon ("AUTO:GPU,CPU")
VIRTUAL = ("AUTO", "HETERO", "MULTI", "BATCH")
# one device as OpenVINO spells it: CPU, GPU.1, NPU (BATCH takes a batch size: GPU(4))
_ONE = re.compile(r"[A-Z][A-Z0-9_]*(\.[0-9]+)?(\([0-9]+\))?")


def discover(devices: Sequence[str] | Mapping[str, str] | None = None) -> dict[str, str]:
    """Device name -> full name, AUTO last: OpenVINO's devices, or an injected list (for tests)."""
    if devices is None:
        found = full_names()
    elif isinstance(devices, Mapping):
        found = {str(k): str(v) for k, v in devices.items()}
    else:
        found = {str(name): str(name) for name in devices}
    found.pop("AUTO", None)
    return {**found, "AUTO": AUTO_NAME}


@functools.cache
def available() -> tuple[str, ...]:
    """Devices OpenVINO sees on this machine (e.g. ('CPU',)); asked once per process."""
    import openvino

    from ovnb.runtime import sigstack

    with sigstack.kept():  # the CPU plugin made here would leave its signal stack behind
        return tuple(openvino.Core().available_devices)


def check(device: str, here: Sequence[str] | None = None) -> None:
    """Refuse a device OpenVINO does not see, before a pipeline fails on it in obscure ways.

    ``here`` replaces the devices of this machine (the device picker injects a list in tests).
    """
    here = tuple(here) if here is not None else available()
    device = normalize(device, here)  # "cpu" is CPU; "" and "CPU:0" are refused in one line
    names = device.split(":", 1)[1] if ":" in device else device
    for name in names.split(","):
        name = name.strip()
        if name in VIRTUAL or not name:
            continue
        if not _present(name, here):
            choices = [h for h in here if h not in VIRTUAL]
            raise OvnbError(f"device {name} is not available here: choose one of "
                            f"{', '.join([*choices, 'AUTO'])}")


def _present(name: str, here: Sequence[str]) -> bool:
    """Whether ``name`` is one of ``here``: "GPU" names GPU.0 when OpenVINO lists GPU.0 and
    GPU.1, and "GPU.0" is the "GPU" it lists when there is one."""
    base, _, index = name.partition(".")
    if name in here or (index == "0" and base in here):
        return True
    return not index and any(h.split(".")[0] == name for h in here)


@functools.cache
def full_names() -> dict[str, str]:
    """This machine's devices with their FULL_DEVICE_NAME (asked once per process)."""
    import openvino

    from ovnb.runtime import sigstack

    names = {}
    with sigstack.kept():  # the CPU plugin made here would leave its signal stack behind
        core = openvino.Core()
        for name in available():
            try:
                names[name] = str(core.get_property(name, "FULL_DEVICE_NAME"))
            except RuntimeError:  # a device whose plugin cannot answer still counts
                names[name] = name
    return names


def rank(name: str, full_name: str = "") -> int:
    """Preference for chat on a laptop (lower is better): discrete GPU, integrated GPU, NPU, CPU.

    A GPU runs LLMs fastest and compiles any shape; the NPU saves power but compiles fixed shapes
    slowly on first use; the CPU always works. AUTO is never the default: learners should see
    which device runs their model.
    """
    kind = name.split(".")[0]
    if kind == "GPU":
        return 0 if "dGPU" in full_name else 1
    return {"NPU": 2, "CPU": 3}.get(kind, 4)


def best(found: Mapping[str, str]) -> str:
    """The preferred device among ``found`` (name -> full name); ties keep OpenVINO's order."""
    real = [name for name in found if name != "AUTO"] or list(found)
    return min(real, key=lambda name: rank(name, found[name]))


def kind(device: str) -> str:
    """"NPU" for "NPU", "GPU" for "GPU.1", "AUTO" for "AUTO:GPU,CPU"."""
    return device.split(":")[0].split(".")[0]


def normalize(device: str, here: Sequence[str] | None = None) -> str:
    """``device`` as OpenVINO spells it ("cpu" -> "CPU", "auto:gpu, cpu" -> "AUTO:GPU,CPU").

    OpenVINO's device names are all upper case, so the case of a name is never ambiguous; an
    empty or malformed name ("", "CPU:0") is refused in one line listing the choices (those of
    ``here``, else of this machine), where OpenVINO would answer with its own words.
    Whether the device is present is ``check``'s question.
    """
    canonical = _canonical(device)
    if canonical is not None:
        return canonical
    text = str(device).strip()
    head, colon, rest = text.upper().partition(":")
    if not text:
        raise OvnbError(f"no device given: choose one of {_choices(here)}")
    if colon and head in VIRTUAL and not rest.strip():
        raise OvnbError(f"{text} names no device after the colon: write e.g. {head}:GPU,CPU")
    if colon and head in VIRTUAL and "" in [part.strip() for part in rest.split(",")]:
        raise OvnbError(f"{text} names an empty device: list devices with one comma between "
                        f"them, e.g. {head}:GPU,CPU")
    hint = (f" (a second GPU is GPU.1, with a dot; a colon only follows "
            f"{', '.join(VIRTUAL[:-1])} or {VIRTUAL[-1]})") if colon else ""
    raise OvnbError(f"device {text} is not a device name: choose one of "
                    f"{_choices(here)}{hint}")


def _canonical(device: str) -> str | None:
    """The OpenVINO spelling of a well-formed device name, None for a malformed one."""
    head, colon, rest = str(device).strip().upper().partition(":")
    if not colon:
        return head if _ONE.fullmatch(head) else None
    parts = [part.strip() for part in rest.split(",")]
    if head not in VIRTUAL or not all(_ONE.fullmatch(part) for part in parts):
        return None
    return f"{head}:{','.join(parts)}"


def _choices(here: Sequence[str] | None) -> str:
    """The devices to offer in a message: the physical ones, then AUTO."""
    names = here if here is not None else available()
    return ", ".join([*(name for name in names if name not in VIRTUAL), "AUTO"])


def pipeline_properties(device: str, task: Family | str) -> dict[str, Any]:
    """The OpenVINO properties a ``task`` pipeline needs on ``device``."""
    props: dict[str, Any] = {}
    if kind(device) != "CPU":  # GPU/NPU compile slowly: keep the compiled blobs for next time
        props["CACHE_DIR"] = str(compile_cache_dir())
    if kind(device) == "NPU":
        props.update(as_family(task).npu_properties)
    if kind(device) == "CPU":  # not AUTO or HETERO: their other devices refuse CPU properties
        props.update(as_family(task).cpu_properties)
    return props


def resolve(device: Any, task: Family | str,
            properties: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The device name and the properties of a ``task`` pipeline on it.

    ``device`` is a name ("CPU", "NPU", "AUTO", "HETERO:GPU,CPU"...) or a DevicePicker (its
    value). The device's own needs come first (NPU limits, compile cache), the caller's
    ``properties`` on top, so a caller can still override any of them.
    """
    name = str(getattr(device, "value", device))
    name = _canonical(name) or name  # a malformed name is refused where the pipeline loads
    return name, {**pipeline_properties(name, task), **(properties or {})}


def precision_for(device: str, task: Family | str) -> str | None:
    """The precision ``device`` requires for ``task``, or None when the catalog's default is fine."""
    return "int4-npu" if kind(device) == "NPU" and as_family(task).npu_int4 else None


def compile_cache_dir(model_cache: Path | None = None) -> Path:
    """A writable per-user folder for compiled blobs, never inside the model cache.

    The model cache may be a read-only folder shared by a whole workshop; compiled blobs are per
    user and per driver, so they go to $OVNB_COMPILE_CACHE, else ~/.cache/ovnb-compiled, else a
    per-user folder in the temp dir.
    """
    from ovnb.cache import cache_root

    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    wanted = [os.environ.get("OVNB_COMPILE_CACHE"), Path(base) / "ovnb-compiled",
              Path(tempfile.gettempdir()) / f"ovnb-compiled-{os.getuid()}"]
    models = cache_root(model_cache).expanduser().resolve()
    for candidate in wanted:
        if not candidate:
            continue
        path = Path(candidate).expanduser().resolve()
        if path == models or models in path.parents:
            continue
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    raise OvnbError("no writable folder for compiled models: set OVNB_COMPILE_CACHE to one")


# the machine ---------------------------------------------------------------------------------
def free_ram_gb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """RAM available to a new process (MemAvailable), in GB; None where /proc/meminfo is absent."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 / 1e9
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_disk_gb(folder: Path) -> float:
    """Free space, in GB, on the disk that holds (or will hold) ``folder``."""
    path = Path(folder).expanduser()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free / 1e9


def writable(folder: Path) -> bool:
    """Whether ovnb could create entries under ``folder`` (checked without writing anything)."""
    path = Path(folder).expanduser()
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK | os.X_OK)
