"""Which pipeline a folder is for, what it lacks, and what an embedder or a speaker folder says."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ovnb import layout
from ovnb.layout import kind_of, missing_files, takes_video
from ovnb.errors import OvnbError

WHISPER = ("openvino_encoder_model.xml", "openvino_decoder_model.xml")
SPEECHT5 = (*WHISPER, "openvino_postnet.xml", "openvino_vocoder.xml")
VLM = ("openvino_language_model.xml", "openvino_text_embeddings_model.xml")
SD = ("model_index.json", "unet/openvino_model.xml")
OMNI = (*VLM, "openvino_audio_encoder_model.xml")


def folder(root: Path, names: tuple[str, ...], **jsons: Any) -> Path:
    """A folder holding empty files ``names`` and json files ``jsons`` (``a__b`` = ``a/b.json``)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    for stem, content in jsons.items():
        path = root / (stem.replace("__", "/") + ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    return root


# kind_of ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("names", "config", "task"), [
    (VLM + ("openvino_model.xml",), {"model_type": "llava"}, "vision-chat"),
    (OMNI + layout.TALKER_PARTS, {"model_type": "qwen3_omni_moe"}, "omni"),
    (OMNI, {"model_type": "qwen3_omni_moe", "enable_audio_output": False}, "omni"),
    (OMNI, {"model_type": "phi4mm"}, "vision-chat"),  # an audio encoder, but VLMPipeline's
    (WHISPER, {"model_type": "whisper"}, "speech"),
    (SD, {}, "image"),
    (("openvino_model.xml",), {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}, "chat"),
    (("openvino_model.xml",), {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}, "chat"),
    (("openvino_model.xml",), {}, "chat"),
    (SPEECHT5, {"architectures": ["SpeechT5ForTextToSpeech"]}, "text-to-speech"),
    (("openvino_model.xml",), {"model_type": "kokoro", "vocab": {"a": 1}}, "text-to-speech"),
    (("openvino_model.xml",), {"istftnet": {}, "vocab": {"a": 1}}, "text-to-speech"),
    (("openvino_model.xml",), {"architectures": ["BertModel"], "model_type": "bert"}, "embedding"),
    (("openvino_model.xml",), {"architectures": ["XLMRobertaForSequenceClassification"],
                               "model_type": "xlm-roberta"}, "rerank"),
    (("tokenizer.json",), {"model_type": "bert"}, None),
    # a VLM's files: a chat model unless it has no language-model head (an embedder)
    (VLM, {"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl"},
     "vision-chat"),
    (VLM, {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava"},
     "vision-chat"),
    (VLM, {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat"}, "vision-chat"),
    (VLM, {"architectures": ["Qwen3VLModel"], "model_type": "qwen3_vl"}, "multimodal-embedding"),
    (VLM, {"architectures": ["Qwen3VLForEmbedding"], "model_type": "qwen3_vl"},
     "multimodal-embedding"),
])
def test_kind_of_by_files_then_config(tmp_path: Path, names: tuple[str, ...],
                                      config: dict[str, Any], task: str | None) -> None:
    assert layout.kind_of(folder(tmp_path / "m", names, config=config)) == task


def test_the_manifest_names_the_task_first(tmp_path: Path) -> None:
    """A Qwen3 reranker or embedder is a causal-LM export: only ovnb's manifest tells it apart."""
    qwen3 = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3"}
    for task in ("rerank", "embedding", "chat"):
        path = folder(tmp_path / task, ("openvino_model.xml",), config=qwen3, ovnb={"task": task})
        assert layout.kind_of(path) == task
    speech = folder(tmp_path / "w", WHISPER, ovnb={"task": "speech"})
    assert layout.kind_of(speech) == "speech"
    not_a_model = folder(tmp_path / "src", ("model.safetensors",), ovnb={"task": "embedding"})
    assert layout.kind_of(not_a_model) is None
    unknown = folder(tmp_path / "u", WHISPER, ovnb={"task": "nope"})
    assert layout.kind_of(unknown) == "speech"


def test_a_vlm_folder_that_says_how_it_pools_is_an_embedder(tmp_path: Path) -> None:
    chat = {"architectures": ["Qwen3VLForConditionalGeneration"], "model_type": "qwen3_vl"}
    assert layout.kind_of(folder(tmp_path / "chat", VLM, config=chat)) == "vision-chat"
    pooled = folder(tmp_path / "embed", VLM, config=chat, modules=[])
    assert layout.kind_of(pooled) == "multimodal-embedding"
    named = folder(tmp_path / "named", VLM, config=chat, ovnb={"task": "multimodal-embedding"})
    assert layout.kind_of(named) == "multimodal-embedding"


def test_the_tiny_vlm_folders_stay_vision_chat(vlm: Path, cache: Path, tmp_path: Path) -> None:
    import shutil

    import ovnb

    qwen2_vl = ovnb.prepare("tiny-qwen2-vl", cache_dir=cache)
    for prepared in (vlm, qwen2_vl):
        assert layout.kind_of(prepared) == "vision-chat"
        bare = folder(tmp_path / prepared.parent.parent.name, VLM)  # its files, no manifest
        for config in prepared.glob("*.json"):
            if config.name != "ovnb.json":
                shutil.copyfile(config, bare / config.name)
        assert layout.kind_of(bare) == "vision-chat"


def test_an_omni_folder_has_a_talker_when_its_config_and_files_say_so(tmp_path: Path) -> None:
    speaks = {"model_type": "qwen3_omni_moe", "enable_audio_output": True}
    assert layout.has_talker(folder(tmp_path / "a", OMNI + layout.TALKER_PARTS, config=speaks))
    assert not layout.has_talker(folder(tmp_path / "b", OMNI, config=speaks))
    thinking = {**speaks, "enable_audio_output": False}
    assert not layout.has_talker(folder(tmp_path / "c", OMNI + layout.TALKER_PARTS,
                                        config=thinking))


def test_an_omni_context_is_its_thinkers(tmp_path: Path) -> None:
    config = {"model_type": "qwen3_omni_moe",
              "thinker_config": {"text_config": {"max_position_embeddings": 65536}}}
    assert layout.context_length(folder(tmp_path / "o", OMNI, config=config)) == 65536


def test_missing_files_per_task(tmp_path: Path) -> None:
    speecht5 = folder(tmp_path / "t5", SPEECHT5 + ("openvino_tokenizer.xml",))
    assert layout.missing_files(speecht5, "text-to-speech") == [
        n[:-4] + ".bin" for n in (*SPEECHT5, "openvino_tokenizer.xml")]
    kokoro = folder(tmp_path / "k", ("openvino_model.xml", "openvino_model.bin"),
                    config={"model_type": "kokoro"})
    assert layout.missing_files(kokoro, "text-to-speech") == []
    embedder = folder(tmp_path / "e", ("openvino_model.xml", "openvino_model.bin",
                                       "openvino_tokenizer.xml", "openvino_tokenizer.bin"))
    assert layout.missing_files(embedder, "embedding") == []  # no detokenizer needed
    assert layout.missing_files(embedder, "rerank") == []
    assert layout.missing_files(embedder, "chat") == ["openvino_detokenizer.xml",
                                                      "openvino_detokenizer.bin"]


# embedding_config ---------------------------------------------------------------------------------
MODULES = [{"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
           {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
           {"idx": 2, "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]


def pooling(mode: str) -> dict[str, Any]:
    return {"word_embedding_dimension": 8, "pooling_mode_cls_token": mode == "cls",
            "pooling_mode_mean_tokens": mode == "mean", "pooling_mode_max_tokens": mode == "max",
            "pooling_mode_lasttoken": mode == "last"}


@pytest.mark.parametrize(("mode", "name"), [("cls", "CLS"), ("mean", "MEAN"), ("last", "LAST_TOKEN")])
def test_embedding_config_reads_the_pooling_module(tmp_path: Path, mode: str, name: str) -> None:
    path = folder(tmp_path / mode, (), modules=MODULES, **{"1_Pooling__config": pooling(mode)},
                  sentence_bert_config={"max_seq_length": 256})
    assert layout.embedding_config(path) == {"pooling_type": name, "normalize": True,
                                             "max_length": 256}


def test_embedding_config_without_normalize_or_files(tmp_path: Path) -> None:
    path = folder(tmp_path / "raw", (), modules=MODULES[:2], **{"1_Pooling__config": pooling("mean")})
    assert layout.embedding_config(path) == {"pooling_type": "MEAN", "normalize": False}
    assert layout.embedding_config(folder(tmp_path / "bare", ())) == {"pooling_type": "CLS",
                                                                      "normalize": True}


def test_embedding_config_refuses_a_pooling_genai_lacks(tmp_path: Path) -> None:
    path = folder(tmp_path / "max", (), modules=MODULES, **{"1_Pooling__config": pooling("max")})
    with pytest.raises(OvnbError, match="pooling_mode_max_tokens.*CLS, mean or last token"):
        layout.embedding_config(path)


def test_instructions_come_from_the_manifest_else_the_model(tmp_path: Path) -> None:
    prompts = {"prompts": {"query": "query: ", "passage": "passage: "}}
    own = folder(tmp_path / "own", (), config_sentence_transformers=prompts)
    assert layout.embedding_config(own) == {"pooling_type": "CLS", "normalize": True,
                                            "query_instruction": "query: ",
                                            "embed_instruction": "passage: "}
    given = folder(tmp_path / "given", (), config_sentence_transformers=prompts,
                   ovnb={"task": "embedding", "instructions": {"query": "Q: "}})
    config = layout.embedding_config(given)
    assert config["query_instruction"] == "Q: " and "embed_instruction" not in config


def test_rerank_format_defaults_to_plain_text(tmp_path: Path) -> None:
    assert layout.rerank_format(folder(tmp_path / "plain", ())) == {"query": "{query}",
                                                                     "document": "{document}"}
    made = {"query": "<Query>: {query}\n", "document": "<Document>: {document}!"}
    path = folder(tmp_path / "qwen3", (), ovnb={"task": "rerank", "instructions": made})
    assert layout.rerank_format(path) == made


# speakers ---------------------------------------------------------------------------------------
DIFFUSERS_PARTS = ("transformer", "text_encoder", "vae_decoder")


def diffusers_folder(root: Path, class_name: str) -> Path:
    """A folder with the files of an exported transformer-based diffusers pipeline."""
    (root / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    for part in DIFFUSERS_PARTS:
        (root / part).mkdir()
        (root / part / "openvino_model.xml").write_text("<net/>")
        (root / part / "openvino_model.bin").write_bytes(b"")
    (root / "tokenizer").mkdir()
    for name in ("openvino_tokenizer.xml", "openvino_tokenizer.bin"):
        (root / "tokenizer" / name).write_text("")
    return root


def test_an_ltx_folder_is_a_complete_video_model(tmp_path: Path) -> None:
    folder = diffusers_folder(tmp_path, "LTXPipeline")
    assert kind_of(folder) == "video"
    assert missing_files(folder, "video") == []
    (folder / "vae_decoder" / "openvino_model.bin").unlink()
    assert missing_files(folder, "video") == ["vae_decoder/openvino_model.bin"]


@pytest.mark.parametrize("class_name", ["FluxPipeline", "StableDiffusion3Pipeline"])
def test_other_transformer_pipelines_are_not_video(tmp_path: Path, class_name: str) -> None:
    assert kind_of(diffusers_folder(tmp_path, class_name)) is None


def test_a_broken_model_index_is_no_video(tmp_path: Path) -> None:
    folder = diffusers_folder(tmp_path, "LTXPipeline")
    (folder / "model_index.json").write_text("{not json")
    assert kind_of(folder) is None


@pytest.mark.parametrize(("model_type", "video"), [
    ("qwen2_vl", True), ("qwen2_5_vl", True), ("qwen3_vl", True), ("llava_next_video", True),
    ("llava", False), ("internvl_chat", False), ("minicpmv", False)])
def test_takes_video_by_model_type(tmp_path: Path, model_type: str, video: bool) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    assert takes_video(tmp_path) is video


def test_takes_video_without_a_readable_config(tmp_path: Path) -> None:
    assert takes_video(tmp_path) is False
    (tmp_path / "config.json").write_text("[1, 2]")
    assert takes_video(tmp_path) is False
