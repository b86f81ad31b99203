"""Convert a transformers/diffusers folder into a ready-to-run OpenVINO folder with optimum-intel.

The export runs ``optimum-cli export openvino`` in a child process: the parent never imports torch
(a notebook stays light), and the memory the export needs is returned when it ends.
Weight compression (int8/int4) is NNCF's, through optimum-intel's quantization options.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ovnb import families, fixups
from ovnb.errors import OvnbError
from ovnb.exportcli import LIFT_VERSION_CEILING
from ovnb.families import TEXT_TO_SPEECH
from ovnb.layout import diffusers_class, is_kokoro, missing_files, model_type
from ovnb.voices import VOICES
from ovnb.progress import run_tool

# diffusers pipelines (model_index.json's class) whose export ovnb.exportcli patches, by the name
# it patches them under: LTX-Video's VAE decoder is traced on a small latent (see there)
PATCHED_PIPELINES = {"LTXPipeline": "ltx-video"}

# folders of a source that the prepared folder keeps as they are: LoRA adapters, speaker voices
KEPT_FOLDERS = ("adapters", VOICES)


def precision_args(precision: str, options: dict[str, Any]) -> list[str]:
    """optimum-cli arguments for a precision, with the catalog entry's export options."""
    if precision == "fp16":
        return ["--weight-format", "fp16"]
    if precision == "int8":
        return ["--weight-format", "int8"]
    if precision == "int4-npu":  # NPU: symmetric, channel-wise, every layer in int4
        return ["--weight-format", "int4", "--sym", "--group-size", "-1", "--ratio", "1.0"]
    if precision != "int4":
        raise OvnbError(f"unknown precision {precision!r}")
    args = ["--weight-format", "int4", "--group-size", str(options.get("group_size", 128)),
            "--ratio", str(options.get("ratio", 1.0)), "--group-size-fallback", "adjust"]
    if options.get("sym"):
        args.append("--sym")
    if options.get("awq"):
        args += ["--awq", "--dataset", options.get("dataset", "wikitext2")]
    return args


def export(src: Path, out: Path, task: str, precision: str, options: dict[str, Any]) -> dict[str, Any]:
    """Export ``src`` into the empty folder ``out``; returns facts for the manifest."""
    family = families.family(task)
    optimum_task = options.get("task", family.export_task)  # e.g. Qwen3-Reranker: a causal LM
    chosen = ["--task", optimum_task, *precision_args(precision, options)]
    if options.get("trust_remote_code"):
        chosen.append("--trust-remote-code")
    if family is TEXT_TO_SPEECH:
        chosen += speech_args(src, options)
    args = [*exporter(src), "export", "openvino", "-m", str(src), *chosen, str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run_tool(args, f"exporting to OpenVINO {precision} ({task})", env=env)
    for name in KEPT_FOLDERS:
        if (src / name).is_dir() and not (out / name).is_dir():
            shutil.copytree(src / name, out / name)
    fixups.apply(family, src, out)
    missing = missing_files(out, family)
    if missing:
        raise OvnbError(f"the export of {src.name} lacks {', '.join(missing[:3])}: "
                        "the source model may not fit this task")
    return {"exporter": "optimum-intel", "precision": precision, "export_args": chosen}


def exporter(src: Path) -> list[str]:
    """The command that runs optimum-cli for ``src``: ovnb.exportcli for a model type whose
    transformers-version ceiling must be lifted or a pipeline whose export it patches, else
    optimum-cli itself."""
    patched = model_type(src)
    if patched not in LIFT_VERSION_CEILING:
        patched = PATCHED_PIPELINES.get(diffusers_class(src))
    if patched is not None:
        return [sys.executable, "-m", "ovnb.exportcli", patched]
    return [sys.executable, "-m", "optimum.commands.optimum_cli"]


def speech_args(src: Path, options: dict[str, Any]) -> list[str]:
    """optimum-cli arguments a text-to-speech source needs: SpeechT5's vocoder, which the source
    holds in ``vocoder/`` (the hub source downloads the entry's ``vocoder`` repo there); Kokoro
    needs the ``kokoro`` package in the exporting Python."""
    try:
        config = json.loads((src / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    if is_kokoro(config):
        if importlib.util.find_spec("kokoro") is None:
            raise OvnbError("exporting Kokoro needs the kokoro package (its model code): "
                            "pip install kokoro, then prepare again")
        return []
    if (src / "vocoder" / "config.json").is_file():
        return ["--model-kwargs", json.dumps({"vocoder": str(src / "vocoder")})]
    named = options.get("vocoder")
    raise OvnbError(f"{src.name} has no vocoder/ folder: SpeechT5 needs its vocoder"
                    + (f" ({named}); prepare it again so the source downloads both" if named else
                       "; name one in the catalog entry's export options (vocoder)"))
