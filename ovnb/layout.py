"""What a ready-to-run folder holds, and which family a folder is.

The files each family needs are its registry record's (``ovnb.families``); this module reads a
folder against them: export checks its result with it, and sessions refuse a folder of the wrong
kind with a clear message. It also reads what a model's own files say a pipeline should know: its
context length, its embedding pooling and instructions (voice files are ``ovnb.voices``').
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ovnb import families
from ovnb.cache import MANIFEST
from ovnb.errors import OvnbError
from ovnb.families import (EMBEDDING, MULTIMODAL_EMBEDDING, OMNI, RERANK, TEXT_TO_SPEECH,
                           VISION_CHAT, Family)

# config.json model_type of the VLM families whose VLMPipeline (or OmniPipeline) takes ``videos=``
# (openvino_genai 2026.4: the families with a native video tag in its visual-processing docs; each
# overrides encode_videos in the installed library). VideoChat-Flash takes video only, no images.
VIDEO_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava_next_video",
                     "videochat_flash_qwen", "gemma4", "muse_glimmer",
                     "qwen3_omni_moe")  # OmniPipeline's thinker: Qwen3-VL's video path

# config.json model_type of the models OmniPipeline runs (openvino_genai 2026.4.1: Qwen3-Omni),
# and the parts of their talker (speech out) beside the thinker's
OMNI_MODEL_TYPES = ("qwen3_omni_moe",)
TALKER_PARTS = ("openvino_talker_model.xml", "openvino_talker_text_embeddings_model.xml",
                "openvino_talker_projections_model.xml", "openvino_code_predictor_model.xml",
                "openvino_code2wav_model.xml")

# transformers' VLM classes without a language-model head: exported for feature extraction, their
# last hidden state is an embedding (EmbeddingPipeline's multimodal models)
BARE_VLM_MODELS = ("Qwen2VLModel", "Qwen2_5_VLModel", "Qwen3VLModel")

# transformers model types that are encoders only: never a chat model, so a folder of one with a
# single openvino_model.xml is an embedder, or a reranker when it has a classification head
ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "modernbert", "electra",
                 "deberta", "deberta-v2", "camembert", "albert", "nomic_bert")
# sentence-transformers pooling modes -> TextEmbeddingPipeline.PoolingType names
POOLING_MODES = {"pooling_mode_cls_token": "CLS", "pooling_mode_mean_tokens": "MEAN",
                 "pooling_mode_lasttoken": "LAST_TOKEN"}
NORMALIZE = "sentence_transformers.models.Normalize"
POOLING = "sentence_transformers.models.Pooling"
# names sentence-transformers gives the document prompt in config_sentence_transformers.json
DOCUMENT_PROMPTS = ("document", "passage", "doc", "text")


def kind_of(folder: Path) -> str | None:
    """The task of a prepared folder, or None.

    ovnb's manifest names the task of what it prepared; other folders are told by their files,
    in the registry's order (a diffusers folder also by its class), and a one-model folder
    (chat-like) by its config: Kokoro, or an encoder-only model.
    """
    family = family_of(folder)
    return family.task if family is not None else None


def family_of(folder: Path) -> Family | None:
    """The family of a prepared folder (see ``kind_of``), or None."""
    task = _json(folder / MANIFEST).get("task")
    if task in families.TASKS:
        named = families.family(task)
        if _has_marks(folder, named) or (folder / "openvino_model.xml").is_file():
            return named
    for family in families.FOLDER_FAMILIES:
        if not _has_marks(folder, family):
            continue
        if family.classes and diffusers_class(folder) not in family.classes:
            continue
        if family is OMNI and not is_omni(_json(folder / "config.json")):
            continue  # another VLM with an audio encoder (Phi-4-multimodal): VLMPipeline's
        if family is VISION_CHAT:
            return vlm_family(folder)
        return one_model_family(_json(folder / "config.json")) if family is families.CHAT \
            else family
    return None


def vlm_family(folder: Path) -> Family:
    """The family of a folder with a VLM's models: vision chat, or multimodal embedding when it
    holds an embedder. Both exports have the same files (a language model giving "logits"); an
    embedder's says how it pools (sentence-transformers' ``modules.json``) or its config names a
    model with no language-model head (``Qwen3VLModel``, ``...ForEmbedding``)."""
    archs = _json(folder / "config.json").get("architectures") or []
    bare = any(a in BARE_VLM_MODELS or a.endswith("ForEmbedding") for a in archs)
    return MULTIMODAL_EMBEDDING if bare or (folder / "modules.json").is_file() else VISION_CHAT


def is_omni(config: dict[str, Any]) -> bool:
    """Whether a config.json is an omni model's (OmniPipeline runs Qwen3-Omni only)."""
    return config.get("model_type") in OMNI_MODEL_TYPES


def has_talker(folder: Path) -> bool:
    """Whether an omni folder can speak: its config enables audio output and the talker's parts
    are there (a Thinking model has neither; OmniPipeline refuses such a folder)."""
    return (_json(folder / "config.json").get("enable_audio_output") is True
            and all((folder / name).is_file() for name in TALKER_PARTS))


def takes_video(folder: Path) -> bool:
    """Whether the vision-chat model in ``folder`` takes ``videos=`` (told by its model_type)."""
    return model_type(folder) in VIDEO_MODEL_TYPES


def diffusers_class(folder: Path) -> str | None:
    """The pipeline class a diffusers folder names (None for any other folder)."""
    return _json(folder / "model_index.json").get("_class_name")


def model_type(folder: Path) -> str | None:
    """The transformers model_type of ``folder`` (None for a diffusers folder)."""
    return _json(folder / "config.json").get("model_type")


def _has_marks(folder: Path, family: Family) -> bool:
    return all((folder / mark).is_file() for mark in family.marks)


def one_model_family(config: dict[str, Any]) -> Family:
    """The family of a one-model folder (one openvino_model.xml) from its config.json: chat,
    unless the config is Kokoro's (text to speech) or an encoder's (embedding, rerank)."""
    if is_kokoro(config):
        return TEXT_TO_SPEECH
    if config.get("model_type") in ENCODER_TYPES:
        archs = config.get("architectures") or []
        return RERANK if any(a.endswith("ForSequenceClassification") for a in archs) else EMBEDDING
    return families.CHAT


def is_kokoro(config: dict[str, Any]) -> bool:
    """Whether a config.json is Kokoro's (optimum-intel and openvino_genai tell it this way)."""
    archs = config.get("architectures") or []
    return (config.get("model_type") == "kokoro" or any("Kokoro" in a for a in archs)
            or ("istftnet" in config and "vocab" in config))


def _json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} when it is missing or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def missing_files(folder: Path, task: Family | str) -> list[str]:
    """Files the ``task`` pipeline needs that ``folder`` lacks (empty when it is ready)."""
    family = families.as_family(task)
    needed = [*family.marks, *family.needs]
    if family is TEXT_TO_SPEECH and is_kokoro(_json(folder / "config.json")):
        needed = ["openvino_model.xml"]  # Kokoro: one model, its own phonemizer, no tokenizer IR
    needed += [n[:-4] + ".bin" for n in needed if n.endswith(".xml")]
    return [n for n in needed if not (folder / n).is_file()]


def context_length(folder: Path) -> int | None:
    """How many tokens the model's positions cover (config.json), None when it does not say."""
    config = _json(Path(folder) / "config.json")
    thinker = config.get("thinker_config") or {}  # an omni model's language model is its thinker's
    for part in (config.get("text_config") or {}, thinker.get("text_config") or {}, config):
        value = part.get("max_position_embeddings") or part.get("n_positions")
        if isinstance(value, int) and value > 0:
            return value
    return None


def embedding_config(folder: Path) -> dict[str, Any]:
    """TextEmbeddingPipeline.Config fields for this model, from its own sentence-transformers files.

    ``pooling_type`` (a ``TextEmbeddingPipeline.PoolingType`` name: CLS, MEAN or LAST_TOKEN) comes
    from the Pooling module named in ``modules.json``; ``normalize`` from whether a Normalize module
    follows; ``max_length`` from ``sentence_bert_config.json``; ``query_instruction`` and
    ``embed_instruction`` from the prompts the catalog recorded in the manifest, else from
    ``config_sentence_transformers.json``. A folder without these files gets openvino_genai's
    defaults (CLS pooling, normalized). Use it as ``Config(**{**cfg, "pooling_type":
    PoolingType.__members__[cfg["pooling_type"]]})`` (Config takes no string for the enum).
    """
    modules = _modules(folder)
    config: dict[str, Any] = {"pooling_type": "CLS", "normalize": True}
    if modules:
        config["pooling_type"] = _pooling(folder, modules)
        config["normalize"] = any(m.get("type") == NORMALIZE for m in modules)
    max_length = _json(folder / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(max_length, int) and max_length > 0:
        config["max_length"] = max_length
    query, document = _instructions(folder)
    if query:
        config["query_instruction"] = query
    if document:
        config["embed_instruction"] = document
    return config


def rerank_format(folder: Path) -> dict[str, str]:
    """How to dress a query and each text before ``TextRerankPipeline.rerank``: templates with
    ``{query}`` / ``{document}``. Cross-encoders take them plain; Qwen3-Reranker wants its prompt,
    which the catalog records in the manifest."""
    given = _json(folder / MANIFEST).get("instructions") or {}
    return {"query": given.get("query", "{query}"), "document": given.get("document", "{document}")}


def _modules(folder: Path) -> list[dict[str, Any]]:
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError):
        return []
    return [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []


def _pooling(folder: Path, modules: list[dict[str, Any]]) -> str:
    """The PoolingType name of the model's Pooling module (CLS when it has none)."""
    pooling = next((m for m in modules if m.get("type") == POOLING), None)
    if pooling is None:
        return "CLS"
    modes = _json(folder / pooling.get("path", "") / "config.json")
    chosen = [name for name, on in modes.items() if name.startswith("pooling_mode_") and on is True]
    if len(chosen) == 1 and chosen[0] in POOLING_MODES:
        return POOLING_MODES[chosen[0]]
    raise OvnbError(f"{folder.name} pools with {', '.join(chosen) or 'no mode'}; "
                    "TextEmbeddingPipeline pools only by CLS, mean or last token: "
                    "pick another embedding model")


def _instructions(folder: Path) -> tuple[str, str]:
    """The (query, document) prompts: the manifest's (from the catalog), else the model's own."""
    given = _json(folder / MANIFEST).get("instructions")
    if isinstance(given, dict):
        return given.get("query", ""), given.get("document", "")
    prompts = _json(folder / "config_sentence_transformers.json").get("prompts") or {}
    document = next((prompts[k] for k in DOCUMENT_PROMPTS if prompts.get(k)), "")
    return prompts.get("query", ""), document
