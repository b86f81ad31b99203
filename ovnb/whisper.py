"""Whisper's languages and tasks, as a model folder declares them, and settings checked.

openvino_genai answers an unknown language with its own words ("'language' <|xx|> must be provided
in 'lang_to_id' map") and an English-only (``.en``) model refuses any language at all, so the
languages a model knows are read from its ``generation_config.json`` before a run.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

from ovnb.errors import OvnbError

AUTO = "auto"  # no language: the model detects it


def options(folder: Path) -> tuple[list[str], list[str]]:
    """(language tokens in id order, tasks with "transcribe" first); both empty for ``.en`` models."""
    try:
        gen = json.loads((Path(folder) / "generation_config.json").read_text())
    except (OSError, ValueError):
        return [], []
    languages = gen.get("lang_to_id") or {}
    if not gen.get("is_multilingual", bool(languages)) or not languages:
        return [], []
    tasks = sorted(gen.get("task_to_id") or {}, key=lambda task: task != "transcribe")
    return sorted(languages, key=languages.get), tasks


def model_type(folder: Path) -> str:
    """``model_type`` of the folder's config.json ("whisper", "qwen3_asr"...; '' if unreadable):
    ASRPipeline dispatches on it, and only Whisper gives word timestamps."""
    try:
        return str(json.loads((Path(folder) / "config.json").read_text()).get("model_type", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def check_options(folder: Path, language: str | None = None, task: str | None = None) -> None:
    """Refuse, in one line, a language or task the model in ``folder`` does not know.

    ``language`` is a code ("fr"), a token ("<|fr|>"), "auto" or None. English-only models take
    neither setting (callers leave both out), so nothing is refused for them.
    """
    languages, tasks = options(folder)
    if not languages:
        return
    if language and language != AUTO and _token(language) not in languages:
        raise OvnbError(_unknown_language(language, languages))
    if task and tasks and task not in tasks:
        raise OvnbError(f"task {task!r} is not one this model knows: use {' or '.join(tasks)}")


def _token(language: str) -> str:
    return language if language.startswith("<|") else f"<|{language}|>"


def _unknown_language(language: str, languages: list[str]) -> str:
    """The refusal, with the likeliest meant code when there is one ("FR" -> "fr", "eng" -> "en")."""
    code = language.strip().strip("<|>")
    codes = [token.strip("<|>") for token in languages]
    close = [c for c in codes if c == code.lower()] or difflib.get_close_matches(code.lower(),
                                                                                codes, 1)
    start = f"language {code!r} is not one this model knows: "
    if close:
        return start + f"did you mean {close[0]!r}? (or 'auto' to detect it)"
    examples = [c for c in ("en", "fr", "de") if c in codes] or codes[:3]
    return start + (f"use a code such as {', '.join(examples[:-1])} or {examples[-1]} "
                    f"({len(codes)} in all, in lang_to_id of its generation_config.json), "
                    "or 'auto' to detect it")
