"""A classroom on one machine: what each learner costs for the staged models, and how many fit.

Many learners on one JupyterHub load their models from one read-only cache. OpenVINO maps the
weights files (``*.bin``) from disk, so learners who load the same folder share those pages: each
learner adds its private memory (heap, compiled buffers, KV cache), and the weights count once.
``benchmarks/classroom.py`` measures this (from /proc/PID/smaps_rollup); here the planning figures
come from the catalog's estimate (``ovnb.catalogs.estimate``) and the sizes of the staged files, so
``ovnb doctor --classroom N`` answers at once, before the room fills. The example
``jupyterhub_config.py`` (``ovnb classroom --config``) sets each learner's memory limit from here.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ovnb import catalogs
from ovnb.cache import cache_root, problem, read_manifest
from ovnb.errors import OvnbError

# A learner's single-user Jupyter server plus a kernel with ovnb imported, before any model:
# benchmarks/classroom.py measured about 0.11 GB + 0.07 GB resident here; rounded up.
LEARNER_BASE_GB = 0.2
CONFIG_FILE = Path(__file__).with_name("data") / "jupyterhub_config.py"
GB = 1e9


@dataclass(frozen=True)
class Staged:
    """A model staged in the cache and what it costs each learner who loads it."""

    model_id: str
    precision: str
    folder: Path
    ram_gb: float  # loaded and answering: the catalog's estimate (from the files if not listed)
    mapped_gb: float  # its weights files, mapped from the cache: shared by all who load it
    from_catalog: bool


def entries(root: Path) -> list[Path]:
    """Complete model folders in a cache (models/<id>/<precision>), skipping temporary ones."""
    found = sorted(p for p in root.glob("models/*/*") if p.is_dir()
                   and not p.name.startswith(".") and not p.parent.name.startswith("."))
    return [p for p in found if problem(p) is None]


def staged(cache_dir: str | os.PathLike[str] | None = None) -> list[Staged]:
    """Every complete model in the cache with its per-learner cost; reads, never writes."""
    return [describe(folder) for folder in entries(cache_root(cache_dir))]


def describe(folder: Path) -> Staged:
    """A complete model folder with its per-learner cost."""
    manifest = read_manifest(folder) or {}
    model_id = manifest.get("id") or folder.parent.name.replace("--", "/")
    files = manifest.get("files", {})
    mapped = sum(size for name, size in files.items() if name.endswith(".bin")) / GB
    entry = catalogs.find(model_id)
    if entry is not None and folder.name in catalogs.PRECISIONS:
        ram = catalogs.estimate(entry, folder.name)["ram_gb"]
    else:  # not in the catalog: the estimate's runtime base and slack on the weights it holds
        ram = catalogs.BASE_GB + mapped * (1 + catalogs.SLACK)
    return Staged(model_id, folder.name, folder, round(ram, 3), round(mapped, 3),
                  entry is not None)


@dataclass(frozen=True)
class Plan:
    """What ``learners`` need with ``models`` loaded in each kernel, in GB."""

    learners: int
    models: tuple[Staged, ...]

    @property
    def per_learner_gb(self) -> float:
        """One learner alone: server and kernel, every model loaded (weights included)."""
        return LEARNER_BASE_GB + sum(m.ram_gb for m in self.models)

    @property
    def shared_gb(self) -> float:
        """The weights, mapped from the cache once for the whole room."""
        return sum(min(m.mapped_gb, m.ram_gb) for m in self.models)

    @property
    def nothing_shared_gb(self) -> float:
        return self.learners * self.per_learner_gb

    @property
    def sharing_gb(self) -> float:
        return self.shared_gb + self.learners * (self.per_learner_gb - self.shared_gb)

    def most(self, ram_gb: float, sharing: bool = True) -> int:
        """How many learners fit in ``ram_gb``."""
        private = self.per_learner_gb - (self.shared_gb if sharing else 0)
        room = ram_gb - (self.shared_gb if sharing else 0)
        return max(0, math.floor(room / private + 1e-9))


def plan(learners: int, cache_dir: str | os.PathLike[str] | None = None) -> Plan:
    return Plan(learners, tuple(staged(cache_dir)))


def memory_limit(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """A per-learner memory limit for JupyterHub's ``Spawner.mem_limit`` ("1.0G", rounded up).

    It is the whole per-learner estimate, weights included: a cgroup limit (systemd, containers)
    charges shared file pages to the learner whose kernel read them first, so each learner must
    have room for them even though the machine holds them once.
    """
    room = plan(1, cache_dir)
    if not room.models:
        root = cache_root(cache_dir)
        raise OvnbError(f"no model is staged in {root}: stage the workshop's models first "
                        f"(ovnb prepare --from FILE --cache-dir {root})")
    gib = room.per_learner_gb * GB / 2**30  # JupyterHub's "G" is 2**30 bytes
    return f"{math.ceil(gib * 10 - 1e-9) / 10:.1f}G"


def config_text() -> str:
    """The example ``jupyterhub_config.py`` for instructors."""
    return CONFIG_FILE.read_text()
