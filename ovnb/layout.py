"""What a ready-to-run folder holds for each openvino_genai pipeline, and which kind a folder is.

One place for this knowledge: export checks its result with it, and widgets use it to refuse a
folder of the wrong kind with a clear message.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# task -> (openvino_genai pipeline class, files whose presence identifies the task)
PIPELINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "vision-chat": ("VLMPipeline", ("openvino_language_model.xml", "openvino_text_embeddings_model.xml")),
    "speech": ("WhisperPipeline", ("openvino_encoder_model.xml", "openvino_decoder_model.xml")),
    "image": ("Text2ImagePipeline", ("model_index.json", "unet/openvino_model.xml")),
    "video": ("Text2VideoPipeline", ("model_index.json", "transformer/openvino_model.xml")),
    "chat": ("LLMPipeline", ("openvino_model.xml",)),
}

# files every text pipeline needs beside its models
TOKENIZER_FILES = ("openvino_tokenizer.xml", "openvino_detokenizer.xml")

# task -> optimum-intel export task
EXPORT_TASKS = {
    "chat": "text-generation-with-past",
    "speech": "automatic-speech-recognition-with-past",
    "image": "text-to-image",
    "vision-chat": "image-text-to-text",
    "video": "text-to-video",
}

# diffusers pipeline classes (model_index.json "_class_name") Text2VideoPipeline runs: a Flux or SD3
# folder has the same transformer/ layout and must not pass for a video model
VIDEO_PIPELINE_CLASSES = ("LTXPipeline",)

# config.json model_type of the VLM families whose VLMPipeline takes ``videos=`` (openvino_genai
# 2026.4: the families with a native video tag in its visual-processing docs; each overrides
# encode_videos in the installed library). VideoChat-Flash takes video only, no images.
VIDEO_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava_next_video",
                     "videochat_flash_qwen", "gemma4", "muse_glimmer")


def kind_of(folder: Path) -> str | None:
    """The task of a prepared folder ("chat", "speech", "image", "vision-chat", "video"), or None."""
    for task, (_, marks) in PIPELINES.items():
        if all((folder / mark).is_file() for mark in marks) and (
                task != "video" or _diffusers_class(folder) in VIDEO_PIPELINE_CLASSES):
            return task
    return None


def takes_video(folder: Path) -> bool:
    """Whether the vision-chat model in ``folder`` takes ``videos=`` (told by its model_type)."""
    return _json(folder / "config.json").get("model_type") in VIDEO_MODEL_TYPES


def _diffusers_class(folder: Path) -> str | None:
    return _json(folder / "model_index.json").get("_class_name")


def _json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when it is missing or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def missing_files(folder: Path, task: str) -> list[str]:
    """Files the ``task`` pipeline needs that ``folder`` lacks (empty when it is ready)."""
    needed = list(PIPELINES[task][1])
    if task in ("image", "video"):
        needed += ["text_encoder/openvino_model.xml", "vae_decoder/openvino_model.xml",
                   "tokenizer/openvino_tokenizer.xml"]
    else:
        needed += list(TOKENIZER_FILES)
    needed += [n[:-4] + ".bin" for n in needed if n.endswith(".xml")]
    return [n for n in needed if not (folder / n).is_file()]
