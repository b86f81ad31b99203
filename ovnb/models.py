"""Getting a ready-to-run model folder: catalog -> source -> export -> cache.

``prepare`` is the one door: it returns a cached folder at once, or builds it from the first source
that works (tiny builder, offline package, hub), exporting and compressing it, atomically.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ovnb import catalogs, families
from ovnb.cache import MANIFEST, build_entry, cache_root, problem, read_manifest, slug
from ovnb.errors import HubUnreachable, OvnbError
from ovnb.families import DETOKENIZER, TOKENIZER, Family
from ovnb.layout import family_of, missing_files
from ovnb.progress import say


def prepare(model_id: str | os.PathLike[str], precision: str | None = None,
            cache_dir: str | os.PathLike[str] | None = None, trust_remote_code: bool = False) -> Path:
    """A folder ready for the model's openvino_genai pipeline, built on first use and cached.

    ``model_id`` is a catalog id, a Hugging Face id, or the path of a prepared folder (returned as is).
    ``precision`` is fp16, int8, int4 or int4-npu (default: the catalog's choice for the model).
    ``trust_remote_code`` opts in to running a repo's own code, which some exports need.
    """
    local = _as_folder(model_id)
    if local is not None:
        return local
    model_id = str(model_id)
    root = cache_root(cache_dir)
    if precision is not None:
        catalogs.check_precision(precision)
    found = cached(model_id, precision, root)
    if found is not None:
        return found
    entry = _entry(model_id)
    precision = precision or entry.get("default_precision", "fp16")
    allowed = entry.get("precisions", catalogs.PRECISIONS)
    if precision not in allowed:
        raise OvnbError(f"{entry['id']} comes in {', '.join(allowed)}, not {precision}")
    if trust_remote_code:
        entry["export"] = {**entry.get("export", {}), "trust_remote_code": True}
    final = root / "models" / slug(entry["id"]) / precision
    return build_entry(final, lambda tmp: _build(entry, precision, tmp, root),
                       f"{entry['id']} ({precision})", stale)


def adapters(model_id: str | os.PathLike[str], precision: str | None = None,
             cache_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The LoRA adapters (safetensors) that come with a model, preparing it if needed."""
    folder = prepare(model_id, precision, cache_dir)
    return sorted((folder / "adapters").glob("*.safetensors"))


def _as_folder(model_id: str | os.PathLike[str]) -> Path | None:
    """The prepared folder ``model_id`` names, None if it is an id; errors for a bad folder."""
    text = str(model_id)
    path = Path(text).expanduser()
    looks_like_path = isinstance(model_id, os.PathLike) or text.startswith((".", "/", "~"))
    if not path.is_dir():
        if looks_like_path:
            raise OvnbError(f"no such folder: {text}: give an existing model folder or a catalog id")
        return None
    check_folder(path)
    return path


def check_folder(folder: Path, kind: Family | str | None = None) -> None:
    """Refuse, in one line naming the fix, a folder its pipeline would fail on (or abort on).

    ``kind`` is the family the caller needs (None: whatever the folder holds).
    A folder with a manifest (a copied cache entry) is checked as the cache checks its entries;
    any folder must hold every file its pipeline needs, and no truncated model IR. Without a
    detokenizer openvino_genai aborts the whole process when a streamer is given: this refuses
    it before a pipeline is built.
    """
    found = family_of(folder)
    if found is None:
        raise OvnbError(f"{folder} is not an OpenVINO model folder: prepare one with "
                        "`ovnb prepare MODEL_ID` and pass the folder it prints")
    manifest = read_manifest(folder)
    wanted = families.as_family(kind) if kind is not None else found
    if found is not wanted:
        name = (manifest or {}).get("id") or folder  # a cache entry by its id, not its path
        raise OvnbError(f"{name} holds {_a(found.label)} model, not {_a(wanted.label)} one: pick "
                        f"{_a(wanted.label)} model (`ovnb list --task {wanted.task}`)")
    again = _prepare_again(manifest)
    reason = problem(folder) if (folder / MANIFEST).exists() else None
    if reason is not None:
        raise OvnbError(f"{folder} is truncated or damaged ({reason}): prepare it again "
                        f"({again}) or copy the whole folder again")
    missing = missing_files(folder, found)
    if missing:
        raise OvnbError(_missing(folder, missing[0], again))
    for ir in _model_irs(folder):
        if _cut_short(ir):
            raise OvnbError(f"{folder}: {ir.relative_to(folder).as_posix()} is truncated or "
                            f"damaged (it stops before its end): copy the whole folder again, or "
                            f"prepare the model again ({again})")


def _a(label: str) -> str:
    """``label`` with its article: "a chat", "an image"."""
    return f"{'an' if label[:1] in 'aeiou' else 'a'} {label}"


def _prepare_again(manifest: dict[str, Any] | None) -> str:
    """The command that rebuilds the model of a folder: exact when its manifest names it."""
    if manifest and manifest.get("id") and manifest.get("precision"):
        return f"`ovnb prepare {manifest['id']} --precision {manifest['precision']}`"
    return "`ovnb prepare MODEL_ID`"


def _missing(folder: Path, rel: str, again: str) -> str:
    """What a folder lacking ``rel`` should do: tokenizers can be converted in place."""
    name = Path(rel).name
    if name.replace(".bin", ".xml") not in (TOKENIZER, DETOKENIZER):
        return f"{folder} has no {rel}: copy the whole folder again, or use the folder {again} makes"
    why = ("openvino_genai would abort the kernel without it" if "detokenizer" in name
           else "openvino_genai cannot read a prompt without it")
    target = (folder / rel).parent
    return (f"{folder} has no {rel} ({why}): convert the tokenizer with `convert_tokenizer "
            f"ORIGINAL_MODEL --with-detokenizer -o {target}`, or use the folder {again} makes")


def _model_irs(folder: Path) -> list[Path]:
    """The OpenVINO IR files (``openvino_*.xml``) of a folder and its subfolders."""
    return sorted(p for p in folder.rglob("openvino_*.xml")
                  if not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _cut_short(ir: Path) -> bool:
    """Whether an IR file stops before its closing ``</net>`` (a copy or download cut short).

    Reads only its last bytes: cheap enough to run on every load.
    """
    try:
        with open(ir, "rb") as fh:
            fh.seek(max(0, ir.stat().st_size - 64))
            return not fh.read().rstrip().endswith(b"</net>")
    except OSError:
        return True


def _entry(model_id: str) -> dict[str, Any]:
    """The catalog entry, or a hub entry for an ``owner/name`` id; unknown ids get suggestions."""
    entry = catalogs.find(model_id)
    if entry is not None:
        return entry
    if "/" in model_id:
        from ovnb.sources import hub

        try:
            return hub.entry_for(model_id)
        except HubUnreachable as exc:
            raise HubUnreachable(f"{model_id} needs the Hugging Face hub, which is not reachable "
                                 f"({exc}); {_offline_models()}") from None
    close = catalogs.close_ids(model_id)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise OvnbError(f"unknown model id {model_id!r}: {hint}(`ovnb list` shows the catalog; "
                    "Hugging Face ids look like owner/name)")


def _build(entry: dict[str, Any], precision: str, out: Path, root: Path) -> dict[str, Any]:
    """Fill ``out`` from the first source of ``entry`` that works."""
    failures: list[str] = []
    for source in entry["sources"]:
        if source["kind"] == "hub-ov" and source.get("precision") != precision:
            continue
        try:
            return _from_source(entry, source, precision, out, root)
        except HubUnreachable as exc:
            failures.append(str(exc))
    raise HubUnreachable(f"{entry['id']} ({precision}) needs the Hugging Face hub, which is not "
                         f"reachable ({failures[-1] if failures else 'no source'}); "
                         f"{_offline_models()}")


def _offline_models() -> str:
    return f"models that prepare offline: {', '.join(catalogs.offline_ids())}"


def cached(model_id: str, precision: str | None = None,
           cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The complete, up-to-date cached folder of a model, or None; reads the cache and nothing else.

    A hub id outside the catalog has no known default precision: any complete one will do, so a
    model prepared once reopens with no network.
    """
    root = cache_root(cache_dir)
    entry = catalogs.find(model_id)
    if entry is not None:
        model_id = entry["id"]
        wanted = [precision or entry.get("default_precision", "fp16")]
    else:
        wanted = [precision] if precision else list(catalogs.PRECISIONS)
    for name in wanted:
        folder = root / "models" / slug(model_id) / name
        if problem(folder) is None and stale(folder) is None:
            return folder
    return None


def stale(folder: Path) -> str | None:
    """Why a complete cache entry is out of date (None if it is not): a tiny model built by
    another revision of its module. ``prepare`` rebuilds it, so no old build lingers silently."""
    from ovnb.sources import outdated

    return outdated((read_manifest(folder) or {}).get("source"))


def _from_source(entry: dict[str, Any], source: dict[str, Any], precision: str,
                 out: Path, root: Path) -> dict[str, Any]:
    from ovnb.export import export

    facts = {"id": entry["id"], "task": entry["task"], "precision": precision}
    if entry.get("instructions"):  # an embedder's or reranker's prompts (ovnb.layout reads them)
        facts["instructions"] = entry["instructions"]
    if source["kind"] == "hub-ov":
        from ovnb.sources import hub

        return {**facts, "source": hub.download_prepared(source["repo"], out)}
    if entry.get("trust_remote_code") and not entry.get("export", {}).get("trust_remote_code"):
        raise OvnbError(f"{entry['id']} runs code from its repo to export: pass "
                        "trust_remote_code=True (--trust-remote-code) if you trust that repo")
    src = source_folder(entry, source, root)
    made = export(src, out, entry["task"], precision, entry.get("export", {}))
    return {**facts, "source": read_manifest(src)["source"], **made}


def source_folder(entry: dict[str, Any], source: dict[str, Any], root: Path) -> Path:
    """The cached transformers/diffusers-format folder of ``entry`` from ``source``."""
    final = root / "sources" / slug(entry["id"]) / source["kind"]

    def build(tmp: Path) -> dict[str, Any]:
        say(f"building {entry['id']} from its {source['kind']} source")
        if source["kind"] == "hub":
            from ovnb.sources import hub

            vocoder = entry.get("export", {}).get("vocoder")  # SpeechT5: its vocoder repo too
            return {"source": hub.download_original(source["repo"], tmp, vocoder=vocoder)}
        from ovnb.sources import build_local

        return {"source": build_local(source, entry["id"], tmp, root)}

    return build_entry(final, build, f"{entry['id']} source ({source['kind']})", stale)
