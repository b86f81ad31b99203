"""What a ready-to-run folder holds for each openvino_genai pipeline, and which kind a folder is.

One place for this knowledge: export checks its result with it, and widgets use it to refuse a
folder of the wrong kind with a clear message.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ovnb.cache import MANIFEST
from ovnb.errors import OvnbError

# task -> (openvino_genai pipeline class, files whose presence identifies the task). Tried in order:
# SpeechT5 before Whisper (both have an encoder and a decoder; only SpeechT5 has a postnet and a
# vocoder); embedding and rerank folders look like chat ones (one openvino_model.xml), so
# ``kind_of`` tells them apart by the manifest or the config, never by files alone.
PIPELINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "vision-chat": ("VLMPipeline", ("openvino_language_model.xml", "openvino_text_embeddings_model.xml")),
    "text-to-speech": ("Text2SpeechPipeline", ("openvino_encoder_model.xml", "openvino_decoder_model.xml",
                                               "openvino_postnet.xml", "openvino_vocoder.xml")),
    "speech": ("WhisperPipeline", ("openvino_encoder_model.xml", "openvino_decoder_model.xml")),
    "image": ("Text2ImagePipeline", ("model_index.json", "unet/openvino_model.xml")),
    "video": ("Text2VideoPipeline", ("model_index.json", "transformer/openvino_model.xml")),
    "chat": ("LLMPipeline", ("openvino_model.xml",)),
    "embedding": ("TextEmbeddingPipeline", ("openvino_model.xml",)),
    "rerank": ("TextRerankPipeline", ("openvino_model.xml",)),
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
    "text-to-speech": "text-to-audio",
    "embedding": "feature-extraction",
    "rerank": "text-classification",
}

# diffusers pipeline classes (model_index.json "_class_name") Text2VideoPipeline runs: a Flux or SD3
# folder has the same transformer/ layout and must not pass for a video model
VIDEO_PIPELINE_CLASSES = ("LTXPipeline",)

# config.json model_type of the VLM families whose VLMPipeline takes ``videos=`` (openvino_genai
# 2026.4: the families with a native video tag in its visual-processing docs; each overrides
# encode_videos in the installed library). VideoChat-Flash takes video only, no images.
VIDEO_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava_next_video",
                     "videochat_flash_qwen", "gemma4", "muse_glimmer")

# transformers model types that are encoders only: never a chat model, so a folder of one with a
# single openvino_model.xml is an embedder, or a reranker when it has a classification head
ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "modernbert", "electra",
                 "deberta", "deberta-v2", "camembert", "albert", "nomic_bert")
VOICES = "voices"  # speaker embeddings, NAME.bin of float32 (Kokoro's export writes them there too)
SPEECHT5_SPEAKER_SHAPE = (1, 512)  # Text2SpeechPipeline.get_speaker_embedding_shape() for SpeechT5
# sentence-transformers pooling modes -> TextEmbeddingPipeline.PoolingType names
POOLING_MODES = {"pooling_mode_cls_token": "CLS", "pooling_mode_mean_tokens": "MEAN",
                 "pooling_mode_lasttoken": "LAST_TOKEN"}
NORMALIZE = "sentence_transformers.models.Normalize"
POOLING = "sentence_transformers.models.Pooling"
# names sentence-transformers gives the document prompt in config_sentence_transformers.json
DOCUMENT_PROMPTS = ("document", "passage", "doc", "text")


def kind_of(folder: Path) -> str | None:
    """The task of a prepared folder (a key of ``PIPELINES``), or None.

    ovnb's manifest names the task of what it prepared; other folders are told by their files
    (a video folder also by its diffusers class), and a one-model folder (chat-like) by its
    config: Kokoro, or an encoder-only model.
    """
    task = _json(folder / MANIFEST).get("task")
    if task in PIPELINES and (_has_marks(folder, task) or (folder / "openvino_model.xml").is_file()):
        return task
    for task, (_, marks) in PIPELINES.items():
        if not all((folder / mark).is_file() for mark in marks):
            continue
        if task == "video" and _diffusers_class(folder) not in VIDEO_PIPELINE_CLASSES:
            continue
        return one_model_task(_json(folder / "config.json")) if task == "chat" else task
    return None


def takes_video(folder: Path) -> bool:
    """Whether the vision-chat model in ``folder`` takes ``videos=`` (told by its model_type)."""
    return _json(folder / "config.json").get("model_type") in VIDEO_MODEL_TYPES


def _diffusers_class(folder: Path) -> str | None:
    return _json(folder / "model_index.json").get("_class_name")


def _has_marks(folder: Path, task: str) -> bool:
    return all((folder / mark).is_file() for mark in PIPELINES[task][1])


def one_model_task(config: dict[str, Any]) -> str:
    """The task of a one-model folder (one openvino_model.xml) from its config.json: chat, unless
    the config is Kokoro's (text-to-speech) or an encoder's (embedding, rerank)."""
    if is_kokoro(config):
        return "text-to-speech"
    if config.get("model_type") in ENCODER_TYPES:
        archs = config.get("architectures") or []
        return "rerank" if any(a.endswith("ForSequenceClassification") for a in archs) else "embedding"
    return "chat"


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


def missing_files(folder: Path, task: str) -> list[str]:
    """Files the ``task`` pipeline needs that ``folder`` lacks (empty when it is ready)."""
    needed = list(PIPELINES[task][1])
    if task in ("image", "video"):
        needed += ["text_encoder/openvino_model.xml", "vae_decoder/openvino_model.xml",
                   "tokenizer/openvino_tokenizer.xml"]
    elif task == "text-to-speech" and is_kokoro(_json(folder / "config.json")):
        needed = ["openvino_model.xml"]  # Kokoro: one model, its own phonemizer, no tokenizer IR
    elif task in ("text-to-speech", "embedding", "rerank"):
        needed.append(TOKENIZER_FILES[0])  # these never decode tokens back to text
    else:
        needed += list(TOKENIZER_FILES)
    needed += [n[:-4] + ".bin" for n in needed if n.endswith(".xml")]
    return [n for n in needed if not (folder / n).is_file()]


def speakers(folder: Path) -> dict[str, Path]:
    """The speaker embeddings a text-to-speech folder offers: name -> ``voices/NAME.bin``.

    Each file is raw float32 of ``Text2SpeechPipeline.get_speaker_embedding_shape()`` values
    ([1, 512] for SpeechT5, [510, 1, 256] for Kokoro voices): ``read_speaker`` loads one. An empty
    dict means none shipped; SpeechT5 then speaks in openvino_genai's built-in voice when
    ``generate`` gets no embedding (Kokoro always needs one).
    """
    voices = folder / VOICES
    return {p.stem: p for p in sorted(voices.glob("*.bin"))} if voices.is_dir() else {}


def read_speaker(path: Path, shape: tuple[int, ...]) -> Any:  # -> np.ndarray float32 of ``shape``
    """A speaker embedding file as the pipeline wants it; a wrong size is one clear line.

    For Kokoro, ``shape`` may have -1 first (voice packs hold one style row per text length).
    """
    import numpy as np

    try:
        data = np.fromfile(path, dtype=np.float32)
    except OSError as exc:
        raise OvnbError(f"cannot read the speaker embedding {path} ({exc.strerror})") from None
    want = int(np.prod([d for d in shape if d > 0]))
    if data.size == 0 or data.size % want or (-1 not in shape and data.size != want):
        shown = "x".join(str(d) for d in shape)
        raise OvnbError(f"{Path(path).name} holds {data.size} float32 values, but this model's "
                        f"speaker embedding is {shown}: use a voice made for this model "
                        "(ovnb.layout.speakers lists them)")
    return data.reshape(shape)


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
