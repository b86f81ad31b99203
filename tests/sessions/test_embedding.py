"""EmbedderSession and RerankerSession on tiny-embed and tiny-rerank (f32), against bare pipelines.

Every check compares with openvino_genai called directly, counts events, and races no clock.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ovnb import layout
from ovnb.sessions.embedding import (EMBED_BATCH, RERANK_BATCH, SPECIAL_TOKENS, EmbedderSession,
                                     RerankerSession)
from tests.conftest import F32, _prepared

tiny_embed = _prepared("tiny-embed")
tiny_rerank = _prepared("tiny-rerank")

DOCS = ["the cat sat on the mat", "paris is the capital of france", "rivers run to the sea",
        "a quick brown fox", "music and song", "the old man and the sea", "trees grow tall",
        "a red car on the road", "the sun is a star", "birds fly south", "ten green bottles"]
QUERY = "what is the capital of france?"
LONG = " ".join(["river"] * 300)  # 302 tokens with [CLS] and [SEP]: tiny-embed reads 128


def bare_embedder(folder: Path, **extra: object):  # -> TextEmbeddingPipeline as the model says
    import openvino_genai as ov_genai

    fields = {**layout.embedding_config(folder), **extra}
    kind = ov_genai.TextEmbeddingPipeline.PoolingType.__members__[fields.pop("pooling_type")]
    config = ov_genai.TextEmbeddingPipeline.Config(pooling_type=kind, **fields)
    return ov_genai.TextEmbeddingPipeline(str(folder), "CPU", config, **F32)


def one_by_one(folder: Path, query: str, texts: list[str]) -> list[float]:
    import openvino_genai as ov_genai

    pipe = ov_genai.TextRerankPipeline(str(folder), "CPU", **F32)
    return [pipe.rerank(query, [text])[0][1] for text in texts]


@pytest.fixture()
def embedder(tiny_embed: Path) -> EmbedderSession:
    return EmbedderSession(tiny_embed, properties=F32)


@pytest.fixture()
def reranker(tiny_rerank: Path) -> RerankerSession:
    return RerankerSession(tiny_rerank, properties=F32)


def test_documents_and_queries_equal_the_bare_pipeline(embedder: EmbedderSession,
                                                       tiny_embed: Path) -> None:
    bare = bare_embedder(tiny_embed)
    docs = embedder.embed(DOCS)
    assert docs.dtype == np.float32 and docs.shape == (len(DOCS), embedder.dim) == (11, 32)
    np.testing.assert_allclose(docs, np.array(bare.embed_documents(DOCS)), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query(QUERY)
    assert query.shape == (32,)
    np.testing.assert_allclose(query, np.array(bare.embed_query(QUERY)), atol=1e-6)
    assert embedder.config == {"pooling_type": "MEAN", "normalize": True, "max_length": 128}
    assert embedder.context_length == 128 and embedder.metrics["texts"] == 1


def test_many_texts_go_in_batches_with_the_same_vectors(embedder: EmbedderSession,
                                                        tiny_embed: Path) -> None:
    texts = [f"{DOCS[i % len(DOCS)]} {i}" for i in range(EMBED_BATCH * 2 + 5)]
    np.testing.assert_allclose(embedder.embed(texts),
                               np.array(bare_embedder(tiny_embed).embed_documents(texts)),
                               atol=1e-5)


def test_instructions_and_config_overrides_reach_the_pipeline(tiny_embed: Path) -> None:
    given = {"query_instruction": "query: ", "embed_instruction": "passage: "}
    session = EmbedderSession(tiny_embed, properties=F32, **given)
    bare = bare_embedder(tiny_embed, **given)
    np.testing.assert_allclose(session.embed_query(QUERY), bare.embed_query(QUERY), atol=1e-6)
    np.testing.assert_allclose(session.embed(DOCS[:2]), bare.embed_documents(DOCS[:2]), atol=1e-6)
    plain = bare_embedder(tiny_embed)
    assert np.abs(session.embed_query(QUERY) - np.array(plain.embed_query(QUERY))).max() > 1e-3
    assert session.config["query_instruction"] == "query: "


def test_rank_orders_by_cosine(embedder: EmbedderSession, tiny_embed: Path) -> None:
    bare = bare_embedder(tiny_embed)
    scores = np.array(bare.embed_documents(DOCS)) @ np.array(bare.embed_query(QUERY))
    ranking = embedder.rank(QUERY, DOCS)
    assert [i for i, _ in ranking] == list(np.argsort(-scores, kind="stable"))
    np.testing.assert_allclose([s for _, s in ranking], np.sort(scores)[::-1], atol=1e-5)
    assert embedder.query == QUERY and embedder.texts == DOCS and embedder.ranking == ranking


def test_a_text_longer_than_the_model_reads_is_cut_and_said(embedder: EmbedderSession,
                                                            tiny_embed: Path) -> None:
    """openvino_genai cuts silently (the vector equals that of the first 128 tokens)."""
    vectors = embedder.embed([LONG, "short"])
    assert embedder.note == ("1 of 2 texts are longer than the 128 tokens this model reads "
                             "(up to 302): each was embedded from its first 128 tokens")
    first = " ".join(["river"] * 126)  # 128 tokens with [CLS] and [SEP]
    np.testing.assert_allclose(vectors[0], embedder.embed([first])[0], atol=1e-5)
    assert embedder.note == "" and embedder.last_error == ""
    assert embedder.embed_query(LONG) is not None
    assert embedder.note == ("the query is 302 tokens, more than the 128 this model reads: it "
                             "was embedded from its first 128 tokens")



def test_no_text_takes_more_tokens_than_bytes_so_the_note_may_skip_short_ones(
        embedder: EmbedderSession) -> None:
    """Texts that provably fit are not tokenized for the note: the bound must hold for any text."""
    texts = ["a", "Ünïcödé façade", "日本語のテキスト", "emoji 🐈‍⬛🌊🌊", "x" * 200, "1,2;3:4!?",
             " spaced  out ", "\t\ttabs\n", "ñ" * 50, LONG]
    for text, count in zip(texts, embedder.token_counts(texts)):
        assert count <= len(text.encode()) + SPECIAL_TOKENS, text
    assert embedder.embed(["x" * 100]) is not None and embedder.note == ""

def test_bad_calls_are_one_line_or_type_errors(embedder: EmbedderSession, tiny_embed: Path) -> None:
    assert embedder.embed([]) is None and embedder.last_error == (
        "no texts to embed: pass a list of strings")
    assert embedder.rank("  ", DOCS) == [] and embedder.last_error.startswith("empty query")
    with pytest.raises(TypeError, match="texts must be a list of str, not a list holding int"):
        embedder.embed(["fine", 3])
    with pytest.raises(TypeError, match="the query must be a str, not NoneType"):
        embedder.embed_query(None)
    with pytest.raises(TypeError, match="no config field 'pooling'.*pooling_type"):
        EmbedderSession(tiny_embed, pooling="MEAN")
    assert embedder.embed("one text").shape == (1, 32)  # a str is one text


def test_stop_is_heard_between_batches(tiny_embed: Path) -> None:
    class StopsAtOnce(EmbedderSession):  # presses Stop as the run begins: deterministic
        def _length_note(self, texts, query):
            self.stop()
            return ""

    session = StopsAtOnce(tiny_embed, properties=F32)
    assert session.embed(DOCS) is None
    assert session.status == "stopped after 0 of 11 texts: nothing was kept"  # a note: no error
    assert session.last_error == "" and not session.busy


def test_rerank_returns_every_text_best_first_in_calls_of_four(reranker: RerankerSession,
                                                               tiny_rerank: Path) -> None:
    """11 texts: one call to openvino_genai 2026.4.1 would raise or abort the process."""
    assert len(DOCS) > RERANK_BATCH
    expected = one_by_one(tiny_rerank, QUERY, DOCS)
    ranking = reranker.rerank(QUERY, DOCS)
    assert sorted(i for i, _ in ranking) == list(range(len(DOCS)))
    assert [i for i, _ in ranking] == sorted(range(len(DOCS)), key=lambda i: (-expected[i], i))
    assert dict(ranking) == pytest.approx(dict(enumerate(expected)), abs=1e-5)
    assert reranker.rerank(QUERY, DOCS, top_n=3) == ranking[:3]
    assert reranker.ranking == ranking[:3] and reranker.metrics["texts"] == len(DOCS)


def test_rerank_refusals(reranker: RerankerSession) -> None:
    assert reranker.rerank(QUERY, []) == [] and reranker.last_error.startswith("no texts")
    assert reranker.rerank("", DOCS) == [] and reranker.last_error.startswith("empty query")
    with pytest.raises(ValueError, match="top_n must be a whole number of at least 1"):
        reranker.rerank(QUERY, DOCS, top_n=0)


def test_a_model_that_wants_a_prompt_gets_it(tiny_rerank: Path, tmp_path: Path) -> None:
    """Qwen3-Reranker's templates come from the catalog through the manifest; a tiny copy with
    templates of its own shows they are filled in before rerank."""
    folder = tmp_path / "dressed"
    shutil.copytree(tiny_rerank, folder)
    manifest = json.loads((folder / "ovnb.json").read_text())
    manifest["instructions"] = {"query": "question: {query}", "document": "answer: {document}"}
    (folder / "ovnb.json").write_text(json.dumps(manifest))
    session = RerankerSession(folder, properties=F32)
    dressed = one_by_one(tiny_rerank, f"question: {QUERY}", [f"answer: {d}" for d in DOCS[:3]])
    assert dict(session.rerank(QUERY, DOCS[:3])) == pytest.approx(dict(enumerate(dressed)),
                                                                  abs=1e-5)
    plain = one_by_one(tiny_rerank, QUERY, DOCS[:3])
    assert max(abs(a - b) for a, b in zip(dressed, plain)) > 1e-4


def test_a_model_of_another_kind_is_refused(tiny_rerank: Path, tiny_embed: Path) -> None:
    session = EmbedderSession(tiny_rerank)
    assert session.embed(DOCS) is None
    assert "holds a reranking model, not an embedding one" in session.last_error
    other = RerankerSession(tiny_embed)
    assert other.rerank(QUERY, DOCS) == []
    assert "holds an embedding model, not a reranking one" in other.last_error


def test_an_empty_text_is_refused_as_an_empty_query_is(embedder: EmbedderSession) -> None:
    """A blank text still got a unit vector (pointing nowhere in particular); like an empty
    query, it is refused in one line naming which text it is."""
    assert embedder.embed(["a red boat", "  "]) is None
    assert embedder.last_error == ("text 1 is empty: every text to embed needs some words (drop "
                                   "the empty ones)")
    assert embedder.embed([""]) is None and embedder.last_error.startswith("the text is empty")
    assert embedder.rank("boat", ["a red boat", ""]) == []
    assert embedder.embed(["a red boat"]) is not None and embedder.last_error == ""
