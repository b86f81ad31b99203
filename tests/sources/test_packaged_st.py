"""all-MiniLM-L6-v2 from a pinned PyPI package: copied, exported, and retrieving the right passage."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import ovnb
from ovnb import catalogs, layout
from ovnb.cache import list_files, read_manifest
from ovnb.errors import OvnbError
from ovnb.export import export
from ovnb.models import source_folder
from ovnb.sources import packaged_st
from tests.conftest import F32
from tests.fakehub import FakeHub, fake_hub  # noqa: F401

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PASSAGES = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen.",
    "The Pacific is the largest and deepest of the world's oceans.",
    "A violin has four strings and is played with a bow.",
    "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level.",
]
QUESTIONS = {  # question -> index of the passage that answers it
    "When was the Eiffel Tower finished?": 0,
    "How do plants make food from light?": 1,
    "Which ocean is the biggest?": 2,
    "How many strings does a violin have?": 3,
    "What is the tallest mountain on Earth?": 4,
}


def pipeline(folder: Path):  # -> openvino_genai.TextEmbeddingPipeline with the model's own pooling
    import openvino_genai

    config = layout.embedding_config(folder)
    kind = openvino_genai.TextEmbeddingPipeline.PoolingType.__members__[config.pop("pooling_type")]
    return openvino_genai.TextEmbeddingPipeline(
        str(folder), "CPU", openvino_genai.TextEmbeddingPipeline.Config(pooling_type=kind, **config),
        **F32)


def similarities(folder: Path) -> np.ndarray:
    """Cosines [question, passage]; the vectors are normalized, so a dot product."""
    pipe = pipeline(folder)
    docs = np.array(pipe.embed_documents(PASSAGES))
    queries = np.array([pipe.embed_query(q) for q in QUESTIONS])
    return queries @ docs.T


@pytest.fixture(scope="module")
def folder(cache: Path) -> Path:
    return ovnb.prepare(MODEL, cache_dir=cache)


def test_find_model_needs_exactly_one(tmp_path: Path) -> None:
    with pytest.raises(OvnbError, match="found 0"):
        packaged_st.find_model([tmp_path])
    for name in ("a", "b"):
        for file in ("modules.json", "config.json", "model.safetensors"):
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / file).write_text("{}")
    with pytest.raises(OvnbError, match="found 2"):
        packaged_st.find_model([tmp_path])


@pytest.mark.slow
def test_pooling_comes_from_the_model(folder: Path) -> None:
    assert layout.kind_of(folder) == "embedding"
    assert layout.embedding_config(folder) == {"pooling_type": "MEAN", "normalize": True,
                                               "max_length": 256}


@pytest.mark.slow
def test_retrieves_the_passage_that_answers(folder: Path) -> None:
    sims = similarities(folder)
    for (question, want), row in zip(QUESTIONS.items(), sims):
        print(f"{question!r}: " + " ".join(f"{s:.2f}" for s in row))
        assert int(np.argmax(row)) == want, question
    right = sims[np.arange(len(QUESTIONS)), list(QUESTIONS.values())]
    assert right.min() > np.where(np.eye(len(PASSAGES), dtype=bool), -1, sims).max(axis=1).min()
    assert sims.shape == (len(QUESTIONS), len(PASSAGES))


@pytest.mark.slow
def test_vectors_are_384_d_and_unit_length(folder: Path) -> None:
    vectors = np.array(pipeline(folder).embed_documents(PASSAGES[:2]))
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_manifest_records_the_offline_package(folder: Path) -> None:
    source = read_manifest(folder)["source"]
    assert source["kind"] == "offline" and source["module"] == "ovnb.sources.packaged_st"
    pinned = catalogs.find(MODEL)["sources"][0]["packages"][0]
    assert source["packages"] == [pinned]


@pytest.mark.slow
def test_hub_source_keeps_the_pooling_files(fake_hub: FakeHub, cache: Path,  # noqa: F811
                                            tmp_path: Path, folder: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The same model served by a (fake) hub: its nested 1_Pooling/config.json must come along."""
    entry = catalogs.find(MODEL)
    offline = source_folder(entry, entry["sources"][0], cache)
    served = tmp_path / "served"
    shutil.copytree(offline, served)
    (served / "onnx").mkdir()
    (served / "onnx" / "model.onnx").write_bytes(b"another format")
    fake_hub.add(MODEL, served, pipeline_tag="sentence-similarity")
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    src = source_folder(entry, entry["sources"][1], tmp_path / "cache")
    assert "1_Pooling/config.json" in list_files(src) and "onnx/model.onnx" not in list_files(src)
    out = tmp_path / "exported"
    export(src, out, "embedding", "fp16", {})
    assert layout.embedding_config(out) == layout.embedding_config(folder)
    np.testing.assert_allclose(similarities(out), similarities(folder), atol=1e-5)
