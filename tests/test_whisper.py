"""Whisper's languages and tasks, read from a model folder, and settings checked against them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovnb import whisper
from ovnb.errors import OvnbError


def test_a_multilingual_model_lists_its_languages_and_tasks(tiny_whisper: Path) -> None:
    languages, tasks = whisper.options(tiny_whisper)
    assert len(languages) == 99 and languages[:2] == ["<|en|>", "<|zh|>"]  # OpenAI's id order
    assert tasks == ["transcribe", "translate"]


def test_an_english_only_or_unreadable_folder_has_none(tiny_en: Path, tmp_path: Path) -> None:
    assert whisper.options(tiny_en) == ([], [])
    (tmp_path / "generation_config.json").write_text("{not json")
    assert whisper.options(tmp_path) == ([], [])


@pytest.mark.parametrize("language", [None, "auto", "fr", "<|fr|>", "haw"])
def test_known_languages_pass(tiny_whisper: Path, language: str | None) -> None:
    whisper.check_options(tiny_whisper, language, "translate")


def test_an_english_only_model_ignores_language_and_task(tiny_en: Path) -> None:
    whisper.check_options(tiny_en, "xx", "nonsense")  # the widget drops both for a .en model


@pytest.mark.parametrize(("language", "task", "expect"), [
    ("xx", None, "language 'xx' is not one this model knows: use a code such as en, fr or de "
                 "(99 in all, in lang_to_id of its generation_config.json), or 'auto' to detect it"),
    ("<|FR|>", None, "language 'FR' is not one this model knows: did you mean 'fr'?"),
    ("eng", None, "language 'eng' is not one this model knows: did you mean 'en'?"),
    ("fr", "translat", "task 'translat' is not one this model knows: use transcribe or translate"),
])
def test_unknown_languages_and_tasks_are_refused_in_one_line(tiny_whisper: Path, language: str,
                                                             task: str | None, expect: str) -> None:
    with pytest.raises(OvnbError) as err:
        whisper.check_options(tiny_whisper, language, task)
    assert str(err.value).startswith(expect) and "\n" not in str(err.value)


def test_a_folder_without_lang_to_id_is_english_only(tmp_path: Path) -> None:
    (tmp_path / "generation_config.json").write_text(json.dumps({"is_multilingual": True}))
    assert whisper.options(tmp_path) == ([], [])
