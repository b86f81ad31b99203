"""fixups: an exported VLM folder gets the preprocessor_config.json that VLMPipeline reads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovnb import fixups

IMAGE_PROCESSOR = {
    "crop_size": {"height": 32, "width": 32},
    "size": {"shortest_edge": 32},
    "image_mean": [0.5, 0.4, 0.3],
    "image_std": [0.2, 0.3, 0.4],
    "image_processor_type": "CLIPImageProcessor",
}
# what transformers 5 writes for a LLaVA processor: image processor settings nested
PROCESSOR = {"image_processor": IMAGE_PROCESSOR, "image_token": "<image>", "patch_size": 8,
             "processor_class": "LlavaProcessor"}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    return folder


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "processor_config.json").write_text(json.dumps(PROCESSOR))
    return folder


def written(out: Path) -> dict:
    return json.loads((out / "preprocessor_config.json").read_text())


def test_writes_the_image_processor_part_of_processor_config(src: Path, out: Path) -> None:
    fixups.apply("vision-chat", src, out)
    assert written(out) == {**IMAGE_PROCESSOR, "processor_class": "LlavaProcessor"}


def test_reads_the_source_processor_config_when_the_export_has_none(src: Path, out: Path) -> None:
    (out / "processor_config.json").replace(src / "processor_config.json")
    fixups.apply("vision-chat", src, out)
    assert written(out)["crop_size"] == {"height": 32, "width": 32}


def test_copies_the_sources_own_preprocessor_config(src: Path, out: Path) -> None:
    original = json.dumps({**IMAGE_PROCESSOR, "crop_size": {"height": 48, "width": 48}}, indent=1)
    (src / "preprocessor_config.json").write_text(original)
    fixups.apply("vision-chat", src, out)
    assert (out / "preprocessor_config.json").read_text() == original


def test_leaves_a_correct_folder_alone(src: Path, out: Path) -> None:
    stale = {"crop_size": {"height": 1, "width": 1}}
    (src / "preprocessor_config.json").write_text(json.dumps(stale))
    present = json.dumps({**IMAGE_PROCESSOR, "crop_size": {"height": 64, "width": 64}})
    (out / "preprocessor_config.json").write_text(present)
    before = sorted(p.name for p in out.iterdir())
    fixups.apply("vision-chat", src, out)
    assert (out / "preprocessor_config.json").read_text() == present
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.parametrize("processor", [{"image_token": "<image>"}, "not json", None])
def test_writes_nothing_without_image_processor_settings(src: Path, out: Path,
                                                         processor: dict | str | None) -> None:
    if processor is None:
        (out / "processor_config.json").unlink()
    else:
        text = processor if isinstance(processor, str) else json.dumps(processor)
        (out / "processor_config.json").write_text(text)
    fixups.apply("vision-chat", src, out)
    assert not (out / "preprocessor_config.json").exists()


@pytest.mark.parametrize("task", ["chat", "speech", "image"])
def test_other_tasks_are_untouched(src: Path, out: Path, task: str) -> None:
    fixups.apply(task, src, out)
    assert not (out / "preprocessor_config.json").exists()


VIDEO_PROCESSOR = {"size": {"shortest_edge": 784, "longest_edge": 3136}, "merge_size": 2,
                   "temporal_patch_size": 2, "video_processor_type": "Qwen2VLVideoProcessor"}


def video_written(out: Path) -> dict:
    return json.loads((out / "video_preprocessor_config.json").read_text())


def test_copies_the_sources_video_preprocessor_config(src: Path, out: Path) -> None:
    (src / "video_preprocessor_config.json").write_text(json.dumps(VIDEO_PROCESSOR))
    fixups.apply("vision-chat", src, out)
    assert video_written(out) == VIDEO_PROCESSOR


def test_writes_the_video_processor_part_of_processor_config(src: Path, out: Path) -> None:
    both = {**PROCESSOR, "video_processor": VIDEO_PROCESSOR}
    (out / "processor_config.json").write_text(json.dumps(both))
    fixups.apply("vision-chat", src, out)
    assert video_written(out) == {**VIDEO_PROCESSOR, "processor_class": "LlavaProcessor"}


def test_no_video_settings_no_video_file(src: Path, out: Path) -> None:
    fixups.apply("vision-chat", src, out)
    assert not (out / "video_preprocessor_config.json").exists()


def test_chat_template_json_from_the_jinja_file(src: Path, out: Path) -> None:
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    (out / "chat_template.jinja").write_text(template)
    fixups.apply("vision-chat", src, out)
    assert json.loads((out / "chat_template.json").read_text()) == {"chat_template": template}


def test_chat_template_json_of_the_source_wins(src: Path, out: Path) -> None:
    (src / "chat_template.json").write_text('{"chat_template": "source"}')
    (out / "chat_template.jinja").write_text("exported")
    fixups.apply("vision-chat", src, out)
    assert json.loads((out / "chat_template.json").read_text()) == {"chat_template": "source"}


# text-to-speech and embedding folders --------------------------------------------------------------
def test_speech_settings_reach_the_exported_generation_config(src: Path, out: Path) -> None:
    (src / "generation_config.json").write_text(json.dumps({"maxlenratio": 4.0, "threshold": 0.4,
                                                             "bos_token_id": 0}))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 0, "pad_token_id": 1}))
    fixups.apply("text-to-speech", src, out)
    assert json.loads((out / "generation_config.json").read_text()) == {
        "bos_token_id": 0, "pad_token_id": 1, "maxlenratio": 4.0, "threshold": 0.4}


def test_talker_settings_reach_the_exported_generation_config(src: Path, out: Path) -> None:
    (src / "generation_config.json").write_text(json.dumps({
        "talker_max_new_tokens": 64, "cp_top_k": 20, "max_new_tokens": 64, "bos_token_id": 0}))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 0,
                                                            "max_new_tokens": 64}))
    fixups.talker_settings(src, out)
    assert json.loads((out / "generation_config.json").read_text()) == {
        "bos_token_id": 0, "max_new_tokens": 64, "talker_max_new_tokens": 64, "cp_top_k": 20}


def test_an_embedder_keeps_its_sentence_transformers_files(src: Path, out: Path) -> None:
    modules = [{"idx": 0, "path": ""}, {"idx": 1, "path": "1_Pooling"},
               {"idx": 2, "path": "2_Normalize"}]
    (src / "modules.json").write_text(json.dumps(modules))
    (src / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256}))
    (src / "1_Pooling").mkdir()
    (src / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    fixups.apply("embedding", src, out)
    for name in ("modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert not (out / "2_Normalize").exists()  # nothing to copy: Normalize has no files


def test_kokoro_gets_misaki_lexicons(src: Path, out: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (out / "openvino_model.xml").write_text("")
    data = tmp_path / "site" / "misaki" / "data"
    data.mkdir(parents=True)
    (data.parent / "__init__.py").write_text("")
    for name in fixups.MISAKI_LEXICONS:
        (data / name).write_text(json.dumps({name: "word"}))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    fixups.apply("text-to-speech", src, out)
    for name in fixups.MISAKI_LEXICONS:
        assert (out / "data" / name).read_bytes() == (data / name).read_bytes()
