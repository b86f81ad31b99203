"""The Hugging Face hub source, against a fake hub on 127.0.0.1: the real hub is never contacted."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import F32
from tests.fakehub import TOKEN, FakeHub, Repo, closed_port, fake_hub, silent_server  # noqa: F401

import ovnb
from ovnb import catalogs
from ovnb.cache import MANIFEST, list_files, read_manifest
from ovnb.errors import HubUnreachable, OvnbError
from ovnb.models import source_folder
from ovnb.sources import hub

LLAMA = "fake-org/tiny-llama-chat"
CONVERTED = "OpenVINO/tiny-llm-fp16-ov"
# served beside the real weights; an export needs none of them, so none may be requested
JUNK = ("pytorch_model.bin", "model.onnx", "flax_model.msgpack", "model.gguf", "onnx/model.onnx",
        "checkpoint-10/model.safetensors")
OV_JUNK = ("model.safetensors", "onnx/model.onnx")  # beside the OpenVINO files of a converted repo


def _online(hub_: FakeHub, mp: pytest.MonkeyPatch) -> None:
    mp.setenv("HF_ENDPOINT", hub_.url)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        mp.delenv(name, raising=False)


@pytest.fixture
def online(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """HF_ENDPOINT points at the fake hub, with no offline switch or token set."""
    _online(fake_hub, monkeypatch)
    return fake_hub


@pytest.fixture(scope="module")
def llama_repo(fake_hub: FakeHub, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """tiny-llm's transformers folder, with files of other formats, served as LLAMA."""
    from ovnb.sources import tiny_llm

    folder = tmp_path_factory.mktemp("tiny-llama-chat")
    tiny_llm.build("tiny-llm", folder)
    for name in JUNK:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"not for an export")
    return fake_hub.add(LLAMA, folder, pipeline_tag="text-generation")


@pytest.fixture(scope="module")
def prepared(fake_hub: FakeHub, llama_repo: Repo, cache: Path) -> Path:
    """LLAMA prepared through the fake hub: downloaded, exported, cached."""
    with pytest.MonkeyPatch.context() as mp:
        _online(fake_hub, mp)
        start = time.monotonic()
        folder = ovnb.prepare(LLAMA, cache_dir=cache)
        print(f"prepare({LLAMA}) took {time.monotonic() - start:.1f} s")
        return folder


def _generate(folder: Path) -> tuple[str, int]:
    """Greedy text and token count of a fixed prompt, in f32 so runs compare exactly."""
    import openvino_genai

    pipe = openvino_genai.LLMPipeline(str(folder), "CPU", **F32)
    config = openvino_genai.GenerationConfig()
    config.max_new_tokens = 6
    config.ignore_eos = True
    result = pipe.generate(["Hello"], config)
    return result.texts[0], result.perf_metrics.get_num_generated_tokens()


def _files(folder: Path, files: dict[str, Any]) -> Path:
    """Write ``files`` (name -> json-able content, or None for an empty file) into ``folder``."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("" if content is None else json.dumps(content))
    return folder


# repo id -> (files, hub info overrides, expected task, sources, default precision)
KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], str, list[dict[str, str]], str]] = {
    "fake-org/whisper-ish": (
        {"config.json": {"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper"}},
        {"pipeline_tag": "automatic-speech-recognition"},
        "speech", [{"kind": "hub", "repo": "fake-org/whisper-ish"}], "fp16"),
    "fake-org/sd-ish": (
        {"model_index.json": {"_class_name": "StableDiffusionPipeline"}, "unet/config.json": {}},
        {}, "image", [{"kind": "hub", "repo": "fake-org/sd-ish"}], "fp16"),
    "fake-org/vlm-ish": (
        {"config.json": {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava"}},
        {"transformersInfo": {"auto_model": "AutoModelForImageTextToText"}},
        "vision-chat", [{"kind": "hub", "repo": "fake-org/vlm-ish"}], "fp16"),
    "fake-org/big-llm": (
        {"config.json": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}},
        {"safetensors": {"parameters": {"BF16": 7_000_000_000}, "total": 7_000_000_000}},
        "chat", [{"kind": "hub", "repo": "fake-org/big-llm"}], "int4"),
    "OpenVINO/some-vlm-int4-cw-ov": (
        {"openvino_language_model.xml": None, "openvino_text_embeddings_model.xml": None},
        {"cardData": {"base_model": "fake-org/vlm-ish"}},
        "vision-chat",
        [{"kind": "hub-ov", "repo": "OpenVINO/some-vlm-int4-cw-ov", "precision": "int4-npu"},
         {"kind": "hub", "repo": "fake-org/vlm-ish"}], "int4-npu"),
    "fake-org/minilm-ish": (
        {"config.json": {"architectures": ["BertModel"], "model_type": "bert"}},
        {"pipeline_tag": "sentence-similarity"},
        "embedding", [{"kind": "hub", "repo": "fake-org/minilm-ish"}], "fp16"),
    "fake-org/speecht5-ish": (
        {"config.json": {"architectures": ["SpeechT5ForTextToSpeech"], "model_type": "speecht5"}},
        {"pipeline_tag": "text-to-speech"},
        "text-to-speech", [{"kind": "hub", "repo": "fake-org/speecht5-ish"}], "fp16"),
    "OpenVINO/bge-ish-int8-ov": (
        {"openvino_model.xml": None,
         "config.json": {"architectures": ["BertModel"], "model_type": "bert"}},
        {"pipeline_tag": "feature-extraction"}, "embedding",
        [{"kind": "hub-ov", "repo": "OpenVINO/bge-ish-int8-ov", "precision": "int8"}], "int8"),
    "someone/plain-openvino": (
        {"openvino_model.xml": None, "openvino_config.json": {"quantization_config": {"bits": 8}}},
        {}, "chat", [{"kind": "hub-ov", "repo": "someone/plain-openvino", "precision": "int8"}], "int8"),
}


@pytest.fixture(scope="module")
def kinds(fake_hub: FakeHub, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Small repos of every kind (configs only) on the fake hub."""
    for repo_id, (files, info, *_) in KINDS.items():
        fake_hub.add(repo_id, _files(tmp_path_factory.mktemp("repo"), files), **info)
    bert = {"config.json": {"architectures": ["BertForMaskedLM"], "model_type": "bert"}}
    fake_hub.add("fake-org/bert-ish", _files(tmp_path_factory.mktemp("repo"), bert),
                 pipeline_tag="fill-mask")


@pytest.mark.parametrize("repo_id", list(KINDS))
def test_entry_for_infers_task_source_and_precision(online: FakeHub, kinds: None, repo_id: str) -> None:
    _, _, task, sources, precision = KINDS[repo_id]
    entry = hub.entry_for(repo_id.upper())  # the hub is case-insensitive; the entry has its real id
    assert entry == {"id": repo_id, "task": task, "default_precision": precision,
                     "sources": sources, "export": {}}


def test_entry_for_refuses_a_task_ovnb_cannot_run(online: FakeHub, kinds: None) -> None:
    with pytest.raises(OvnbError, match="fill-mask model: ovnb runs chat"):
        hub.entry_for("fake-org/bert-ish")


def test_wanted_files_keep_what_an_export_reads() -> None:
    llm = ["config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "tokenizer.model",
           "chat_template.jinja", "merges.txt", "training_args.bin", "modeling_x.py", "README.md",
           "flax_model.msgpack", "tf_model.h5", "onnx/config.json", "original/params.json"]
    assert hub.wanted_files(llm) == ["config.json", "model.safetensors", "tokenizer.json",
                                     "tokenizer.model", "chat_template.jinja", "merges.txt"]
    sd = ["model_index.json", "v1-5-pruned.safetensors", "unet/config.json",
          "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
          "unet/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.safetensors",
          "vae/diffusion_pytorch_model.bin", "onnx/unet/model.onnx", "tokenizer/vocab.json"]
    assert hub.wanted_files(sd) == ["model_index.json", "unet/config.json",
                                    "unet/diffusion_pytorch_model.safetensors",
                                    "vae/diffusion_pytorch_model.bin", "tokenizer/vocab.json"]


def test_wanted_files_keep_pooling_configs_and_kokoro_voices() -> None:
    minilm = ["config.json", "model.safetensors", "modules.json", "1_Pooling/config.json",
              "2_Dense/config.json", "onnx/model.onnx", "openvino/openvino_model.xml"]
    assert hub.wanted_files(minilm) == ["config.json", "model.safetensors", "modules.json",
                                        "1_Pooling/config.json", "2_Dense/config.json"]
    kokoro = ["config.json", "kokoro-v1_0.pth", "voices/af_heart.pt", "samples/a.wav", "README.md"]
    assert hub.wanted_files(kokoro) == ["config.json", "voices/af_heart.pt", "kokoro-v1_0.pth"]
    assert "training.pth" not in hub.wanted_files(["config.json", "model.safetensors",
                                                   "training.pth"])


def test_converted_files_skip_other_formats_but_keep_adapters() -> None:
    names = ["openvino_model.xml", "openvino_model.bin", "config.json", "model.safetensors",
             "pytorch_model.bin", "model.onnx", "onnx/model.onnx", "adapters/style.safetensors",
             "unet/openvino_model.bin"]
    assert hub.converted_files(names) == ["openvino_model.xml", "openvino_model.bin", "config.json",
                                          "adapters/style.safetensors", "unet/openvino_model.bin"]


@pytest.mark.slow
def test_prepare_downloads_the_original_exports_and_runs(
        online: FakeHub, llama_repo: Repo, prepared: Path, cache: Path) -> None:
    manifest = read_manifest(prepared)
    assert manifest is not None and manifest["id"] == LLAMA and manifest["exporter"] == "optimum-intel"
    source = manifest["source"]
    assert (source["kind"], source["repo"], source["revision"]) == ("hub", LLAMA, llama_repo.sha)
    assert source["endpoint"].startswith("http://127.0.0.1:")
    src = source_folder(hub.entry_for(LLAMA), {"kind": "hub", "repo": LLAMA}, cache)
    assert set(list_files(src)) == set(hub.wanted_files(list(llama_repo.files)))
    assert "model.safetensors" in list_files(src)
    assert not online.touched(LLAMA) & set(JUNK)
    text, tokens = _generate(prepared)
    assert tokens == 6 and text


@pytest.mark.slow
def test_a_converted_repo_is_downloaded_as_is(
        online: FakeHub, prepared: Path, cache: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    shutil.copytree(prepared, served, ignore=shutil.ignore_patterns(MANIFEST))
    expected = list_files(served)
    for name in OV_JUNK:
        (served / name).parent.mkdir(exist_ok=True)
        (served / name).write_bytes(b"another format")
    repo = online.add(CONVERTED, served, pipeline_tag="text-generation", cardData={"base_model": LLAMA})
    entry = hub.entry_for(CONVERTED)
    assert entry["sources"] == [{"kind": "hub-ov", "repo": CONVERTED, "precision": "fp16"},
                                {"kind": "hub", "repo": LLAMA}]
    folder = ovnb.prepare(CONVERTED, cache_dir=cache)
    manifest = read_manifest(folder)
    assert manifest is not None and "exporter" not in manifest  # nothing was exported
    assert manifest["source"]["kind"] == "hub-ov" and manifest["source"]["revision"] == repo.sha
    assert list_files(folder) == expected
    assert not online.touched(CONVERTED) & set(OV_JUNK)
    assert _generate(folder) == _generate(prepared)


def _offline_message(exc: pytest.ExceptionInfo[HubUnreachable], endpoint: str) -> str:
    message = str(exc.value)
    assert "\n" not in message and endpoint in message
    assert all(model_id in message for model_id in catalogs.offline_ids())
    return message


def test_closed_port_fails_naming_offline_models(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(HubUnreachable) as exc:
        ovnb.prepare(LLAMA, cache_dir=tmp_path)
    assert "HF_ENDPOINT" in _offline_message(exc, endpoint)


def test_a_hub_that_hangs_up_is_not_retried(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast failure, counted: one attempt (no retry loop with back-off), then the one line."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with silent_server(hang_up=True) as (endpoint, seen):
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        with pytest.raises(HubUnreachable) as exc:
            ovnb.prepare(LLAMA, cache_dir=tmp_path)
    assert 1 <= seen.count <= 2, seen.count
    _offline_message(exc, endpoint)


def test_hf_hub_offline_fails_at_once_without_a_request(
        online: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = len(online.requests)
    with pytest.raises(HubUnreachable) as exc:
        ovnb.prepare(LLAMA, cache_dir=tmp_path)
    assert "HF_HUB_OFFLINE" in _offline_message(exc, online.url)
    for call in (hub.download_original, hub.download_prepared):
        with pytest.raises(HubUnreachable, match="HF_HUB_OFFLINE"):
            call(LLAMA, tmp_path / "out")
    assert len(online.requests) == seen  # at once: not a single request was made


def test_a_hub_cut_off_after_import_still_counts(
        online: FakeHub, llama_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub read HF_HUB_OFFLINE at import; what the environment says now wins."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub.entry_for(LLAMA)["sources"] == [{"kind": "hub", "repo": LLAMA}]


def test_a_silent_hub_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "TIMEOUT", 1.0)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with silent_server() as (endpoint, seen):
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        with pytest.raises(HubUnreachable, match="Timeout"):
            hub.entry_for(LLAMA)
    assert 1 <= seen.count <= 2, seen.count  # the timeout ended it, not a string of retries


def test_unknown_repo_is_not_found_with_suggestions(online: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(OvnbError) as exc:
        ovnb.prepare("fake-org/tiny-lm", cache_dir=tmp_path)
    assert not isinstance(exc.value, HubUnreachable)
    assert "not found on the hub" in str(exc.value) and "tiny-llm" in str(exc.value)


def test_gated_repo_asks_for_a_login_then_downloads_with_a_token(
        online: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"config.json": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}}
    online.add("fake-org/gated-llm", _files(tmp_path / "repo", files), gated="manual")
    with pytest.raises(OvnbError, match="hf auth login.*HF_TOKEN") as exc:
        hub.download_original("fake-org/gated-llm", tmp_path / "denied")
    assert not isinstance(exc.value, HubUnreachable)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    facts = hub.download_original("fake-org/gated-llm", tmp_path / "granted")
    assert facts["repo"] == "fake-org/gated-llm"
    assert list_files(tmp_path / "granted") == list_files(tmp_path / "repo")
