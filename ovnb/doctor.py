"""``ovnb doctor``: check a machine before a workshop, with one fix per problem.

Checks the key packages against the versions ovnb pins, the devices, free RAM and disk, the model
cache (entries, sizes, broken ones) and the hub. It never writes to the model cache: a read-only
shared cache stays untouched. A "fail" blocks use (exit code 1); a "warn" limits it.
"""
from __future__ import annotations

import importlib.metadata as metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ovnb.cache import cache_root, problem, read_manifest
from ovnb.catalogs import Table, html_table

if TYPE_CHECKING:
    from ovnb.classroom import Plan

HUB_TIMEOUT = 5.0  # seconds: a dead network answers "unreachable" quickly
# the runtime trio must come from one OpenVINO release (their native libraries are built together)
OPENVINO_TRIO = ("openvino", "openvino-genai", "openvino-tokenizers")
LOW_RAM_GB, TOO_LOW_RAM_GB = 2.0, 0.5
LOW_DISK_GB = 2.0


@dataclass
class Check:
    """One finding: its area, "ok" / "warn" / "fail", what was seen, and the one fix."""

    area: str
    level: str
    message: str
    fix: str = ""


def run(cache_dir: str | os.PathLike[str] | None = None,
        timeout: float = HUB_TIMEOUT, classroom: int | None = None) -> list[Check]:
    """Every check, in the order a person reads them; with ``classroom``, whether that many
    learners fit this machine."""
    root = cache_root(cache_dir)
    checks = [*check_packages(), *check_devices(root), check_memory(), check_disk(root),
              *check_cache(root), check_hub(timeout)]
    return checks + (check_classroom(root, classroom) if classroom is not None else [])


def report(checks: list[Check], cache_dir: str | os.PathLike[str] | None = None) -> str:
    """The checks as aligned lines, each problem followed by its fix, then a verdict."""
    lines = [f"ovnb doctor (model cache: {cache_root(cache_dir)})"]
    for check in checks:
        lines.append(f"  {check.level.upper() if check.level != 'ok' else 'ok':5} "
                     f"{check.area:9} {check.message}")
        if check.fix and check.level != "ok":
            lines.append(f"  {'':5} {'':9} fix: {check.fix}")
    fails = sum(c.level == "fail" for c in checks)
    warns = sum(c.level == "warn" for c in checks)
    verdict = (f"{fails} problem(s) block use" if fails else "ready to use") + f", {warns} warning(s)"
    return "\n".join([*lines, verdict])


def view(checks: list[Check], cache_dir: str | os.PathLike[str] | None = None) -> Table:
    """The report for a notebook: an HTML table (one row per check, its fix beside it) and the
    verdict under it; its text form is ``report``'s. Long lines of text wrap mid-word in a
    notebook's output; a table wraps between words, in its own column."""
    import html

    rows = [(c.level.upper() if c.level != "ok" else "ok", c.area, c.message,
             c.fix if c.level != "ok" else "") for c in checks]
    text = report(checks, cache_dir)
    head, verdict = text.splitlines()[0], text.splitlines()[-1]
    markup = (f"<div><b>{html.escape(head)}</b>"
              f"{html_table(('', 'AREA', 'WHAT WAS SEEN', 'FIX'), rows, nowrap=(0, 1))}"
              f"<b>{html.escape(verdict)}</b></div>")
    return Table(text, markup)


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.level == "fail" for c in checks) else 0


# packages ------------------------------------------------------------------------------------
def requirements() -> list[str]:
    """ovnb's requirement lines: from pyproject.toml in a source checkout (the truth there, even
    when the installed metadata is older), else from the installed package's metadata."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        import tomllib

        project = tomllib.loads(pyproject.read_text())["project"]
        if project["name"] != "ovnb":
            raise KeyError("name")
        export = project.get("optional-dependencies", {}).get("export", [])
        return [*project["dependencies"], *(f'{r}; extra == "export"' for r in export)]
    except (ImportError, OSError, KeyError, ValueError):
        pass
    try:
        return metadata.requires("ovnb") or []
    except metadata.PackageNotFoundError:
        return []


def pins() -> dict[str, tuple[str, bool]]:
    """Package -> (version specifier ovnb was tested with, needed to run rather than to export)."""
    from packaging.requirements import Requirement

    found = {}
    for line in requirements():
        req = Requirement(line)
        if req.marker is None:
            found[req.name.lower()] = (str(req.specifier), True)
        elif req.marker.evaluate({"extra": "export"}):
            found[req.name.lower()] = (str(req.specifier), False)
    return found


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_packages() -> list[Check]:
    from packaging.specifiers import SpecifierSet

    wanted = pins()
    if not wanted:
        return [Check("packages", "warn", "ovnb's pinned versions are unknown (no pyproject.toml "
                      "and no installed metadata)", "pip install -e . in the ovnb folder")]
    checks, missing_export, good = [], [], []
    for name, (spec, needed) in wanted.items():
        version = installed(name)
        if version is None:
            if needed:
                checks.append(Check("packages", "fail", f"{name} is not installed",
                                    f"pip install '{name}{spec}'"))
            else:
                missing_export.append(f"{name}{spec}")
        elif not SpecifierSet(spec).contains(version, prereleases=True):
            checks.append(Check("packages", "warn", f"{name} {version} is installed; ovnb was "
                                f"tested with {name}{spec}", f"pip install '{name}{spec}'"))
        else:
            good.append(f"{name} {version}")
    if missing_export:
        checks.append(Check("packages", "warn", f"export tools missing ({', '.join(missing_export)}):"
                            " only already prepared models can be used",
                            "pip install 'ovnb[export]'"))
    checks += _trio() + _imports() + _torchvision()
    if good:
        checks.insert(0, Check("packages", "ok", f"{len(good)} match the tested versions: "
                               + ", ".join(good)))
    return checks


def _trio() -> list[Check]:
    """openvino, openvino-genai and openvino-tokenizers from different releases fail at import."""
    versions = {name: installed(name) for name in OPENVINO_TRIO}
    releases = {".".join(v.split(".")[:3]) for v in versions.values() if v}
    if len(releases) <= 1:
        return []
    base = versions["openvino"] or sorted(releases)[-1]
    shown = ", ".join(f"{n} {v}" for n, v in versions.items() if v)
    fix = " ".join(f"'{n}=={base}{'.0' if n != 'openvino' else ''}'" for n in OPENVINO_TRIO)
    return [Check("packages", "fail", f"OpenVINO packages from different releases ({shown})",
                  f"pip install {fix}")]


def _imports() -> list[Check]:
    """The runtime must import: a version match on paper can still hide a broken install."""
    from ovnb.errors import explain

    try:
        import openvino_genai  # noqa: F401
    except Exception as exc:
        return [Check("packages", "fail", f"openvino_genai does not import ({explain(exc)})",
                      "pip install --force-reinstall 'openvino-genai==2026.4.1.0'")]
    return []


def _torchvision() -> list[Check]:
    """PyPI's torchvision beside torch 2.13 CPU breaks transformers imports (GENAI-FACTS)."""
    if installed("torchvision") is None or installed("torch") is None:
        return []
    return [Check("packages", "warn", f"torchvision {installed('torchvision')} is installed: it "
                  "can break transformers (and so exports) beside this torch",
                  "pip uninstall -y torchvision (ovnb does not need it)")]


# devices, memory, disk -----------------------------------------------------------------------
def check_devices(root: Path) -> list[Check]:
    from ovnb.devices import compile_cache_dir, full_names
    from ovnb.errors import OvnbError
    from ovnb.errors import explain

    try:
        names = full_names()
    except Exception as exc:  # a broken openvino install: report it, do not crash the doctor
        return [Check("devices", "fail", f"OpenVINO cannot list devices ({explain(exc)})",
                      "pip install --force-reinstall 'openvino==2026.4.1'")]
    checks = [Check("devices", "ok", ", ".join(f"{n} ({full})" for n, full in names.items()))]
    try:
        checks.append(Check("devices", "ok", f"compiled models are cached in "
                            f"{compile_cache_dir(root)}"))
    except OvnbError as exc:
        checks.append(Check("devices", "warn", str(exc),
                            "export OVNB_COMPILE_CACHE=/a/writable/folder"))
    return checks


def check_memory() -> Check:
    from ovnb.devices import free_ram_gb

    free = free_ram_gb()
    if free is None:
        return Check("memory", "warn", "free RAM unknown (no /proc/meminfo)",
                     "check it yourself: models need their RAM estimate from `ovnb list`")
    message = f"{free:.1f} GB RAM available"
    if free < TOO_LOW_RAM_GB:
        return Check("memory", "fail", message + ": too little to load a model",
                     "close other notebooks or programs (or restart idle kernels)")
    if free < LOW_RAM_GB:
        return Check("memory", "warn", message + ": only tiny and small int4 models fit",
                     "close other programs, or pick models whose RAM in `ovnb list` fits")
    return Check("memory", "ok", message)


def check_disk(root: Path) -> Check:
    from ovnb.devices import free_disk_gb, writable

    blocker = _file_in_the_way(root)
    if blocker is not None:  # not "read-only": no permission would help
        where = "is a file" if blocker == root else f"is under a file ({blocker})"
        return Check("disk", "fail", f"the cache {root} {where}, not a folder",
                     "export OVNB_CACHE=/a/writable/folder (or move the file away)")
    free = free_disk_gb(root)
    message = f"{free:.1f} GB free at the cache"
    if not writable(root):
        if _entries(root):
            return Check("disk", "ok", f"{message}; the cache is read-only (shared): its models "
                         "load, new ones cannot be prepared there")
        return Check("disk", "fail", f"the cache {root} is read-only and holds no model",
                     "export OVNB_CACHE=/a/writable/folder (or ask for a staged cache)")
    if free < LOW_DISK_GB:
        return Check("disk", "warn", message + ": little room for new models",
                     "free disk space, or export OVNB_CACHE=/a/bigger/disk")
    return Check("disk", "ok", message)


def _file_in_the_way(root: Path) -> Path | None:
    """The file that stands where the cache (or one of its parent folders) should be, if any."""
    path = Path(root).expanduser()
    while not path.exists() and path != path.parent:
        path = path.parent
    return None if path.is_dir() else path


# the cache -----------------------------------------------------------------------------------
def _entries(root: Path) -> list[Path]:
    """Model entries: models/<id>/<precision>, skipping temporary and trash folders."""
    return sorted(p for p in root.glob("models/*/*")
                  if p.is_dir() and not p.name.startswith(".") and not p.parent.name.startswith("."))


def check_cache(root: Path) -> list[Check]:
    from ovnb.magics import human_size

    entries = _entries(root)
    if not entries:
        return [Check("cache", "ok", "no model prepared yet (`ovnb prepare --all-defaults` stages "
                      "a workshop's models)")]
    checks, good = [], []
    for folder in entries:
        model_id = (read_manifest(folder) or {}).get("id") or folder.parent.name.replace("--", "/")
        reason = problem(folder)
        if reason is None:
            size = sum((read_manifest(folder) or {}).get("files", {}).values())
            good.append(f"{model_id} {folder.name} {human_size(size)}")
        else:
            checks.append(Check("cache", "fail", f"{model_id} ({folder.name}) is broken: {reason}",
                                f"ovnb prepare {model_id} --precision {folder.name} (rebuilds it; "
                                f"a read-only cache needs its owner to run it)"))
    if good:
        checks.insert(0, Check("cache", "ok", f"{len(good)} model(s) ready: " + ", ".join(good)))
    return checks


# the hub -------------------------------------------------------------------------------------
def check_hub(timeout: float = HUB_TIMEOUT) -> Check:
    from ovnb.catalogs import offline_ids
    from ovnb.sources.hub import endpoint_now, offline_now

    endpoint = endpoint_now()
    if offline_now():
        return Check("hub", "ok", f"HF_HUB_OFFLINE is set: the hub ({endpoint}) is not contacted; "
                     "offline and cached models work")
    reason = hub_problem(endpoint, timeout)
    if reason is None:
        return Check("hub", "ok", f"{endpoint} answers")
    return Check("hub", "warn", f"cannot reach the hub at {endpoint} ({reason}); models that "
                 f"prepare offline: {', '.join(offline_ids())}",
                 "check the network or proxy, set HF_ENDPOINT to a mirror you can reach, or set "
                 "HF_HUB_OFFLINE=1 to use offline models without waiting")


def hub_problem(endpoint: str, timeout: float = HUB_TIMEOUT) -> str | None:
    """Why the hub at ``endpoint`` cannot be used (None when it answers), within ``timeout``."""
    import httpx

    try:
        response = httpx.get(f"{endpoint}/api/models", params={"limit": 1}, timeout=timeout)
    except httpx.HTTPError as exc:
        text = " ".join(str(exc).split())[:100] or "no detail"
        return f"{type(exc).__name__}: {text}"
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    return None


# a classroom ---------------------------------------------------------------------------------
def check_classroom(root: Path, learners: int, ram_gb: float | None = None) -> list[Check]:
    """Whether ``learners`` fit this machine's free RAM (or ``ram_gb``), each with every staged
    model loaded: one line per model, then the verdict.

    From the catalog's estimate (ovnb.classroom): each learner needs the estimate of every model
    plus its Jupyter server and kernel; the weights files are mapped from the cache, so the
    machine holds them once (benchmarks/classroom.py measures what is really shared).
    """
    from ovnb import classroom
    from ovnb.devices import free_ram_gb

    room = classroom.plan(learners, root)
    if not room.models:
        return [Check("classroom", "fail", f"no model is staged in {root}",
                      f"stage the workshop's models: ovnb prepare --from FILE --cache-dir {root}")]
    checks = [Check("classroom", "ok", f"{m.model_id} {m.precision}: {m.ram_gb:.2f} GB per learner"
                    f" ({'catalog estimate' if m.from_catalog else 'estimated from its files'}),"
                    f" of which {m.mapped_gb:.2f} GB weights shared by all") for m in room.models]
    ram = free_ram_gb() if ram_gb is None else ram_gb
    return checks + [_room_verdict(room, ram)]


def _room_verdict(room: Plan, ram: float | None) -> Check:
    n = room.learners
    each = (f"{room.per_learner_gb:.2f} GB per learner with every staged model loaded "
            f"(server and kernel included)")
    if ram is None:
        return Check("classroom", "warn", f"free RAM unknown (no /proc/meminfo); {each}",
                     f"make sure {room.sharing_gb:.1f} GB are free for {n} learners")
    fewer = "stage fewer or smaller models (int4; `ovnb list` shows RAM), or use a bigger machine"
    most = room.most(ram)
    if room.nothing_shared_gb <= ram:
        return Check("classroom", "ok", f"{n} learners fit: {room.nothing_shared_gb:.1f} GB even "
                     f"if nothing were shared, {ram:.1f} GB available; {each}; at most {most} fit")
    if room.sharing_gb <= ram:
        return Check("classroom", "warn", f"{n} learners fit only because they share the weights: "
                     f"{room.sharing_gb:.1f} GB of {ram:.1f} GB available "
                     f"({room.nothing_shared_gb:.1f} GB if nothing were shared); {each}; "
                     f"at most {most} fit", f"little headroom: {fewer}")
    return Check("classroom", "fail", f"{n} learners do not fit: {room.sharing_gb:.1f} GB needed "
                 f"even sharing the weights, {ram:.1f} GB available; {each}; at most {most} fit",
                 fewer)
