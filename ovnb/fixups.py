"""Repairs applied to an exported folder so that its openvino_genai pipeline loads it right.

Each fix is for a known gap between what an exporter writes and what a pipeline reads.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ovnb.families import Family, as_family, resolve
from ovnb.progress import say

PREPROCESSOR = "preprocessor_config.json"
VIDEO_PREPROCESSOR = "video_preprocessor_config.json"
PROCESSOR = "processor_config.json"
CHAT_TEMPLATE_JSON, CHAT_TEMPLATE_JINJA = "chat_template.json", "chat_template.jinja"
GENERATION = "generation_config.json"
# sentence-transformers files that say how an embedder pools, normalizes, truncates and prompts
SENTENCE_TRANSFORMERS = ("modules.json", "sentence_bert_config.json",
                         "config_sentence_transformers.json")
SPEECH_SETTINGS = ("minlenratio", "maxlenratio", "threshold")  # SpeechGenerationConfig reads these
# what OmniPipeline's talker reads from generation_config.json (genai's speech_pipeline.cpp)
TALKER_SETTINGS = ("talker_temperature", "talker_top_k", "talker_repetition_penalty",
                   "talker_max_new_tokens", "cp_temperature", "cp_top_k")
MISAKI_LEXICONS = ("us_gold.json", "us_silver.json", "gb_gold.json", "gb_silver.json")


def apply(family: Family | str, src: Path, out: Path) -> None:
    """Apply every fix the family's record names to the exported folder ``out``, in order."""
    for fix in as_family(family).fixups:
        resolve(fix)(src, out)


def preprocessor_config(src: Path, out: Path) -> None:
    """Give a VLM folder the ``preprocessor_config.json`` VLMPipeline reads its image sizes from.

    transformers 5 saves a processor as one ``processor_config.json`` (image processor nested under
    "image_processor"); VLMPipeline reads only ``preprocessor_config.json`` and, without it, feeds
    the vision model images of a default size (336 for LLaVA): a shape error at the first image.
    The source's own file is the most faithful copy; else the nested image-processor settings are
    written out, as transformers 4 did. A folder that has the file is left alone.
    """
    target = out / PREPROCESSOR
    if target.is_file():
        return
    if (src / PREPROCESSOR).is_file():
        shutil.copyfile(src / PREPROCESSOR, target)
        return
    settings = _processor_part(out) or _processor_part(src)
    if settings is None:
        say(f"{out.name}: no image-processor settings found; the pipeline will use its defaults")
        return
    target.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def video_preprocessor_config(src: Path, out: Path) -> None:
    """Give a video-capable VLM folder the ``video_preprocessor_config.json`` VLMPipeline reads.

    Without it VLMPipeline sizes video frames with preprocessor_config.json, else its defaults
    (Qwen2-VL: up to 12.8 M pixels per frame, far more tokens than the model was made for). The
    export drops the source's file (seen with Qwen2-VL): copy it, else write the "video_processor"
    part of a transformers 5 processor_config.json. Models without video settings get nothing.
    """
    target = out / VIDEO_PREPROCESSOR
    if target.is_file():
        return
    if (src / VIDEO_PREPROCESSOR).is_file():
        shutil.copyfile(src / VIDEO_PREPROCESSOR, target)
        return
    settings = _processor_part(out, "video_processor") or \
        _processor_part(src, "video_processor")
    if settings is not None:
        target.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def chat_template_json(src: Path, out: Path) -> None:
    """Write the processor's ``chat_template.json`` (the file a VLM repo ships) from the
    ``chat_template.jinja`` transformers 5 saves instead, so processors that read the older file
    find the template. openvino_genai itself reads the template inside openvino_tokenizer.xml."""
    target = out / CHAT_TEMPLATE_JSON
    if target.is_file():
        return
    if (src / CHAT_TEMPLATE_JSON).is_file():
        shutil.copyfile(src / CHAT_TEMPLATE_JSON, target)
        return
    for folder in (out, src):
        if (folder / CHAT_TEMPLATE_JINJA).is_file():
            template = (folder / CHAT_TEMPLATE_JINJA).read_text()
            target.write_text(json.dumps({"chat_template": template}, indent=2) + "\n")
            return


def _processor_part(folder: Path, part: str = "image_processor") -> dict[str, Any] | None:
    """The ``part`` of ``folder``'s processor_config.json (None if it has none)."""
    try:
        processor = json.loads((folder / PROCESSOR).read_text())
    except (OSError, ValueError):
        return None
    settings = processor.get(part) if isinstance(processor, dict) else None
    if not isinstance(settings, dict):
        return None
    if "processor_class" in processor:
        settings = {**settings, "processor_class": processor["processor_class"]}
    return settings


def sentence_transformers_files(src: Path, out: Path) -> None:
    """Keep an embedder's pooling files: optimum's feature-extraction export drops them, and
    ``ovnb.layout.embedding_config`` reads the pooling and normalization from them (modules.json,
    each module's config.json such as 1_Pooling/config.json, the max length and prompts)."""
    for name in SENTENCE_TRANSFORMERS:
        if (src / name).is_file() and not (out / name).is_file():
            shutil.copyfile(src / name, out / name)
    try:
        modules = json.loads((src / "modules.json").read_text())
    except (OSError, ValueError):
        return
    for module in modules if isinstance(modules, list) else []:
        path = module.get("path", "") if isinstance(module, dict) else ""
        config = src / path / "config.json"
        if path and config.is_file() and not (out / path / "config.json").is_file():
            (out / path).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config, out / path / "config.json")


def speech_settings(src: Path, out: Path) -> None:
    """Carry the source's speech-length settings into the exported generation_config.json.

    optimum-intel rewrites generation_config.json from the model config and drops minlenratio,
    maxlenratio and threshold, which Text2SpeechPipeline reads from there.
    """
    _carry_generation_settings(src, out, SPEECH_SETTINGS)


def talker_settings(src: Path, out: Path) -> None:
    """Carry the source's talker settings into the exported generation_config.json.

    OmniPipeline's talker reads its sampling defaults and its cap on speech length
    (``talker_max_new_tokens``, else 4096 codec frames: minutes of audio) from there; optimum-intel
    rewrites the file from the model config and drops them, as it drops SpeechT5's settings.
    """
    _carry_generation_settings(src, out, TALKER_SETTINGS)


def _carry_generation_settings(src: Path, out: Path, keys: tuple[str, ...]) -> None:
    """Copy ``keys`` of the source's generation_config.json into the exported one."""
    try:
        wanted = json.loads((src / GENERATION).read_text())
    except (OSError, ValueError):
        return
    settings = {k: wanted[k] for k in keys if k in wanted}
    if not settings:
        return
    try:
        current = json.loads((out / GENERATION).read_text())
    except (OSError, ValueError):
        current = {}
    merged = {**current, **settings}
    (out / GENERATION).write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def vocoder_windows(src: Path, out: Path) -> None:
    """Rewrite a SpeechT5 folder's vocoder to work in windows of frames (``ovnb.vocoder``): its
    memory then stays at one window's instead of growing with the longest sentence spoken."""
    from ovnb.vocoder import FILE, window_vocoder

    if (out / FILE).is_file():
        window_vocoder(out)


def decoder_last_frame(src: Path, out: Path) -> None:
    """Rewrite a SpeechT5 folder's decoder to run its prenet on the newest frame only
    (``ovnb.prenet``): the same speech, without preparing the prenet again at every step."""
    from ovnb.prenet import FILE, rewrite_decoder

    if (out / FILE).is_file() and (out / "openvino_postnet.xml").is_file():
        rewrite_decoder(out)


def kokoro_lexicon(src: Path, out: Path) -> None:
    """Give a Kokoro folder the misaki lexicons its G2P reads from ``data/``.

    optimum-intel downloads them from GitHub during the export and only warns when it cannot; the
    ``misaki`` package (which the ``kokoro`` export needs anyway) ships the same files.
    """
    import importlib.util

    if not (out / "openvino_model.xml").is_file() or all(
            (out / "data" / name).is_file() for name in MISAKI_LEXICONS):
        return
    spec = importlib.util.find_spec("misaki")
    places = spec.submodule_search_locations if spec else None
    data = Path(places[0]) / "data" if places else None
    if data is None or not all((data / name).is_file() for name in MISAKI_LEXICONS):
        say(f"{out.name}: no misaki lexicons found (pip install misaki); Kokoro will fall back to "
            "espeak-ng for English words")
        return
    (out / "data").mkdir(exist_ok=True)
    for name in MISAKI_LEXICONS:
        shutil.copyfile(data / name, out / "data" / name)
