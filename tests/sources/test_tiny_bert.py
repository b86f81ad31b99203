"""tiny-embed and tiny-rerank: random BERTs that TextEmbeddingPipeline and TextRerankPipeline run,
checked against transformers on the same weights."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

import ovnb
from ovnb import layout
from ovnb.cache import MANIFEST, read_manifest
from ovnb.errors import OvnbError
from ovnb.models import source_folder
from ovnb.sources import tiny_bert
from tests.conftest import F32

pytestmark = pytest.mark.slow  # builds and exports models

DOCS = ["the cat sat on the mat", "paris is the capital of france", "rivers run to the sea",
        "a quick brown fox"]
QUERY = "what is the capital of france?"
# sha256 over the seeded weights (names, shapes, bytes): the same on every machine.
WEIGHTS_SHA256 = {
    "tiny-embed": "e55f8cb6c04c4fef8b92b1321478ee3e1dc451accfb676460380a8c9a8156fa6",
    "tiny-rerank": "051ab846c958950d178d210d3df267a7ff7814ef47ca91d8327c4e6a66ebb75c",
}


@pytest.fixture(scope="module")
def embed(cache: Path) -> Path:
    return ovnb.prepare("tiny-embed", cache_dir=cache)


@pytest.fixture(scope="module")
def rerank(cache: Path) -> Path:
    return ovnb.prepare("tiny-rerank", cache_dir=cache)


def source_of(model_id: str, cache: Path) -> Path:
    entry = ovnb.catalogs.find(model_id)
    return source_folder(entry, entry["sources"][0], cache)


def genai_config(folder: Path):  # -> openvino_genai.TextEmbeddingPipeline.Config
    import openvino_genai

    config = layout.embedding_config(folder)
    kind = openvino_genai.TextEmbeddingPipeline.PoolingType.__members__[config.pop("pooling_type")]
    return openvino_genai.TextEmbeddingPipeline.Config(pooling_type=kind, **config)


def torch_mean_pooled(src: Path, texts: list[str]) -> np.ndarray:
    """sentence-transformers' recipe by hand: mean over the real tokens, then unit length."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModel.from_pretrained(src).eval()
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(mean, dim=-1).numpy()


def test_folders_are_told_apart_from_chat(embed: Path, rerank: Path, tmp_path: Path) -> None:
    assert layout.kind_of(embed) == "embedding" and layout.kind_of(rerank) == "rerank"
    for folder in (embed, rerank):  # without ovnb's manifest, the encoder config tells
        bare = tmp_path / folder.parent.name
        shutil.copytree(folder, bare, ignore=shutil.ignore_patterns(MANIFEST))
        assert layout.kind_of(bare) == layout.kind_of(folder)


def test_embedder_keeps_its_pooling_files(embed: Path) -> None:
    assert layout.embedding_config(embed) == {"pooling_type": "MEAN", "normalize": True,
                                              "max_length": 128}
    assert (embed / "1_Pooling" / "config.json").is_file()


def test_embeddings_match_transformers_mean_pooling(embed: Path, cache: Path) -> None:
    import openvino_genai

    pipe = openvino_genai.TextEmbeddingPipeline(str(embed), "CPU", genai_config(embed), **F32)
    docs = np.array(pipe.embed_documents(DOCS))
    query = np.array(pipe.embed_query(QUERY))
    assert docs.shape == (len(DOCS), tiny_bert.HIDDEN) and query.shape == (tiny_bert.HIDDEN,)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    expected = torch_mean_pooled(source_of("tiny-embed", cache), [*DOCS, QUERY])
    np.testing.assert_allclose(docs, expected[:-1], atol=2e-3)  # the export stores fp16 weights
    np.testing.assert_allclose(query, expected[-1], atol=2e-3)
    cls = openvino_genai.TextEmbeddingPipeline(str(embed), "CPU", **F32)  # genai's default: CLS
    assert np.abs(np.array(cls.embed_documents(DOCS)) - docs).max() > 0.05


def test_reranker_scores_are_the_cross_encoder_sigmoids(rerank: Path, cache: Path) -> None:
    import openvino_genai
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    src = source_of("tiny-rerank", cache)
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForSequenceClassification.from_pretrained(src).eval()
    with torch.no_grad():
        logits = model(**tok([QUERY] * len(DOCS), DOCS, padding=True, return_tensors="pt")).logits
    expected = torch.sigmoid(logits[:, 0]).numpy()
    config = openvino_genai.TextRerankPipeline.Config(top_n=len(DOCS))
    ranked = openvino_genai.TextRerankPipeline(str(rerank), "CPU", config, **F32).rerank(QUERY, DOCS)
    assert [i for i, _ in ranked] == list(np.argsort(-expected))
    np.testing.assert_allclose([s for _, s in ranked], np.sort(expected)[::-1], atol=2e-3)
    default = openvino_genai.TextRerankPipeline(str(rerank), "CPU", **F32).rerank(QUERY, DOCS)
    assert default == ranked[:3]  # top_n defaults to 3


def test_many_texts_rerank_in_calls_of_four(rerank: Path) -> None:
    """openvino_tokenizers 2026.4.1 pairs one query with 5 or more texts wrongly: rerank raises
    (CombineSegments) or the process aborts on a corrupted heap (seen with this model and with
    all-MiniLM-L6-v2's tokenizer). Calls of at most four texts were always right here, so a session
    scores many texts four at a time; the merged ranking equals one-by-one scoring."""
    import openvino_genai

    texts = [f"{word} is near the river" for word in tiny_bert.WORDS[:11]]
    pipe = openvino_genai.TextRerankPipeline(
        str(rerank), "CPU", openvino_genai.TextRerankPipeline.Config(top_n=4), **F32)
    chunked = [(start + i, score) for start in range(0, len(texts), 4)
               for i, score in pipe.rerank(QUERY, texts[start:start + 4])]
    single = [(i, pipe.rerank(QUERY, [text])[0][1]) for i, text in enumerate(texts)]
    assert sorted(chunked) == pytest.approx(sorted(single), abs=1e-5)


def test_manifest_names_the_task(embed: Path, rerank: Path) -> None:
    assert read_manifest(embed)["task"] == "embedding"
    assert read_manifest(rerank)["task"] == "rerank"
    assert "--task" in read_manifest(rerank)["export_args"]
    args = read_manifest(rerank)["export_args"]
    assert args[args.index("--task") + 1] == "text-classification"


def weights_digest(folder: Path) -> str:
    from safetensors.numpy import load_file

    digest = hashlib.sha256()
    for name, array in sorted(load_file(folder / "model.safetensors").items()):
        digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("model_id", list(tiny_bert.MODELS))
def test_build_is_bit_identical(tmp_path: Path, model_id: str) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        tiny_bert.build(model_id, out)
    for name in ("model.safetensors", "tokenizer.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert weights_digest(first) == WEIGHTS_SHA256[model_id]


def test_tokenizer_spells_unknown_words_and_refuses_other_ids(tmp_path: Path) -> None:
    tok = tiny_bert.make_tokenizer()
    assert tok.tokenize("The capital of France, Zebra42") == [
        "the", "capital", "of", "france", ",", "z", "##e", "##b", "##r", "##a", "##4", "##2"]
    with pytest.raises(OvnbError, match="builds tiny-embed and tiny-rerank"):
        tiny_bert.build("tiny-bert", tmp_path)
