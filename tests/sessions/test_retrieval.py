"""RetrieverSession on tiny-embed and tiny-rerank (f32), and ChatSession grounded on it (tiny-llm).

The index is checked against brute force over bare-pipeline vectors; the grounded chat against a
bare LLMPipeline given the same prompt. Tiny random models rank by noise: these tests check the
arithmetic and the plumbing, tests/sessions/test_rag.py the meaning (real models).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from traitlets import TraitError

from ovnb import passages
from ovnb.sessions.chat import ChatSession
from ovnb.sessions.embedding import EmbedderSession, RerankerSession
from ovnb.sessions.retrieval import GROUNDING, Index, RetrieverSession
from tests.conftest import F32, _prepared
from tests.sessions.test_chat import bare_greedy
from tests.sessions.test_embedding import bare_embedder, one_by_one

tiny_embed = _prepared("tiny-embed")
tiny_rerank = _prepared("tiny-rerank")

DATA = passages.sample()
TEXTS = ["The cat sat on the mat. It was warm there.", "Paris is the capital of France.",
         "Rivers run to the sea.\n\nThe sea is deep and cold."]


@pytest.fixture()
def embedder(tiny_embed: Path) -> EmbedderSession:
    return EmbedderSession(tiny_embed, properties=F32)


@pytest.fixture()
def retriever(embedder: EmbedderSession) -> RetrieverSession:
    return RetrieverSession(embedder)


def brute_force(folder: Path, passages: list[str], query: str) -> np.ndarray:
    bare = bare_embedder(folder)
    return np.array(bare.embed_documents(passages)) @ np.array(bare.embed_query(query))


def test_search_equals_brute_force_over_the_bare_vectors(retriever: RetrieverSession,
                                                         tiny_embed: Path) -> None:
    assert retriever.add(TEXTS) == 3 and retriever.add(DATA) == 9
    assert len(retriever) == retriever.count == 12 and retriever.vectors.shape == (12, 32)
    assert retriever.sources[:4] == ["text 1", "text 2", "text 3", "fern-house.md"]
    assert retriever.status == "12 passages from 8 documents"
    query = "when does the ferry leave?"
    scores = brute_force(tiny_embed, retriever.passages, query)
    found = retriever.search(query, k=4)
    assert [str(p) for p, _ in found] == [retriever.passages[i] for i in np.argsort(-scores)[:4]]
    assert [s for _, s in found] == pytest.approx(sorted(scores, reverse=True)[:4], abs=1e-5)
    assert retriever.results == found and retriever.query == query
    assert len(retriever.search(query)) == retriever.k == 3
    assert len(retriever.search(query, k=50)) == 12  # k past the index: every passage


def test_passages_know_their_source_and_texts_are_numbered_on(retriever: RetrieverSession) -> None:
    retriever.add(TEXTS[:1])
    retriever.add([TEXTS[2], DATA / "visiting.md"])
    labels = [p.label for p in retriever.passages]
    assert labels == ["text 1 #1", "text 2 #1", "visiting.md #1", "visiting.md #2"]
    retriever.max_chars = 40
    retriever.add("Short one. Then a second sentence follows here.")
    assert [p.label for p in retriever.passages[4:]] == ["text 3 #1", "text 3 #2"]
    assert all(len(p) <= 40 for p in retriever.passages[4:])


def test_the_reranker_reorders_the_closest_candidates(embedder: EmbedderSession, tiny_embed: Path,
                                                      tiny_rerank: Path) -> None:
    retriever = RetrieverSession(embedder, RerankerSession(tiny_rerank, properties=F32),
                                 candidates=6, k=2)
    retriever.add(DATA)
    query = "how do ferns make new plants?"
    scores = brute_force(tiny_embed, retriever.passages, query)
    pool = [retriever.passages[i] for i in np.argsort(-scores)[:6]]
    judged = one_by_one(tiny_rerank, query, pool)
    best = sorted(range(6), key=lambda i: (-judged[i], i))[:2]
    found = retriever.search(query)
    assert [str(p) for p, _ in found] == [pool[i] for i in best]
    assert [s for _, s in found] == pytest.approx([judged[i] for i in best], abs=1e-5)
    assert retriever.metrics["reranked"] == 6


def test_adding_is_all_or_nothing(retriever: RetrieverSession, tmp_path: Path) -> None:
    retriever.add(TEXTS)
    kept = (retriever.passages, retriever.vectors.copy(), retriever.sources)
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert retriever.add([DATA / "visiting.md", picture]) == 0
    assert retriever.last_error.startswith("tiny-embed embeds texts only, not pictures "
                                           "(photo.png)")
    assert (retriever.passages, retriever.sources) == (kept[0], kept[2])
    np.testing.assert_array_equal(retriever.vectors, kept[1])
    assert retriever.add(DATA / "visiting.md") == 2 and retriever.last_error == ""


def test_refusals_are_one_line(retriever: RetrieverSession) -> None:
    assert retriever.search("anything") == []
    assert retriever.last_error == ("nothing to search yet: add documents first "
                                    "(retriever.add(texts or files))")
    assert retriever.add([]) == 0 and retriever.last_error.startswith("no documents given")
    assert retriever.add(["", "  \n"]) == 0
    assert retriever.last_error == "the documents hold no text: nothing was added"
    retriever.add(["kept", ""])
    assert retriever.note == "text 2 held no text" and retriever.sources == ["text 1"]
    assert retriever.search("  ") == [] and retriever.last_error.startswith("empty query")
    with pytest.raises(ValueError, match="k must be a whole number of at least 1"):
        retriever.search("x", k=0)
    with pytest.raises(TypeError, match="the query must be a str"):
        retriever.search(7)  # type: ignore[arg-type]


def test_a_query_longer_than_the_embedder_reads_is_cut_and_said(retriever: RetrieverSession
                                                                ) -> None:
    retriever.add(TEXTS)
    found = retriever.search("river " * 300)
    assert len(found) == 3 and retriever.last_error == ""
    assert retriever.note.startswith("the query is 302 tokens, more than the 128 this model reads")
    retriever.search("river")
    assert retriever.note == ""


def test_settings_are_validated(retriever: RetrieverSession, embedder: EmbedderSession,
                                tiny_rerank: Path) -> None:
    with pytest.raises(TraitError, match="k must be between 1 and 20"):
        retriever.k = 0
    with pytest.raises(TraitError, match="template must hold {question}"):
        retriever.template = "{sources} only"
    with pytest.raises(TypeError, match="no setting 'top_k'"):
        RetrieverSession(embedder, top_k=3)
    with pytest.raises(TypeError, match=r"expected an ovnb.Embedder \(or its session\), not "
                                        "RerankerSession"):
        RetrieverSession(RerankerSession(tiny_rerank))


def test_stop_reaches_the_embedding_and_adds_nothing(tiny_embed: Path) -> None:
    holder: list[RetrieverSession] = []

    class StopsTheRetriever(EmbedderSession):  # Stop pressed while the embedder runs
        def _length_note(self, texts, query):
            holder[0].stop()
            return ""

    retriever = RetrieverSession(StopsTheRetriever(tiny_embed, properties=F32))
    holder.append(retriever)
    assert retriever.add(TEXTS) == 0
    assert retriever.status == "stopped after 0 of 3 texts: nothing was kept"
    assert retriever.last_error == "" and len(retriever) == 0 and not retriever.busy


def test_ground_quotes_numbered_sources(retriever: RetrieverSession) -> None:
    retriever.add(TEXTS)
    prompt, sources = retriever.ground("What is the capital of France?", k=2)
    assert [s["n"] for s in sources] == [1, 2] and {"source", "number", "text", "score"} <= set(
        sources[0])
    quoted = "\n\n".join(f"[{s['n']}] ({s['source']}) {s['text']}" for s in sources)
    assert prompt == GROUNDING.replace("{sources}", quoted).replace(
        "{question}", "What is the capital of France?")


def test_the_index_keeps_its_dimension() -> None:
    index = Index().plus(["a"], np.ones((1, 4), np.float32))
    with pytest.raises(Exception, match="use one embedder for one index"):
        index.plus(["b"], np.ones((1, 3), np.float32))
    assert index.nearest(np.ones(4, np.float32), 5) == [("a", 4.0)]


# ------------------------------------------------------------------------------ grounded chat
GREEDY = {"max_new_tokens": 12, "repetition_penalty": 1.0}


def test_a_grounded_chat_asks_with_sources_and_keeps_them(retriever: RetrieverSession,
                                                          llm: Path) -> None:
    retriever.add(TEXTS)
    chat = ChatSession(llm, properties=F32, retriever=retriever, **GREEDY)
    question = "What is the capital of France?"
    prompt, sources = retriever.ground(question)
    answer = chat.send(question)
    assert answer and answer == bare_greedy(llm, [{"role": "user", "content": prompt}], 12)
    asked, reply = chat.messages
    assert asked == {"role": "user", "content": question}  # kept as asked, not as prompted
    assert reply["sources"] == sources and reply["content"] == answer
    follow = "And of Italy?"
    second_prompt, _ = retriever.ground(follow)
    assert chat.send(follow) == bare_greedy(
        llm, [asked, {"role": "assistant", "content": answer},
              {"role": "user", "content": second_prompt}], 12)
    assert [len(m.get("sources", [])) for m in chat.messages] == [0, 3, 0, 3]


def test_a_grounded_agent_reads_the_sources_once_and_keeps_them_on_its_answer(
        retriever: RetrieverSession, llm: Path) -> None:
    from tests.sessions.test_chat_structured import add

    retriever.add(TEXTS)
    asked: list[str] = []
    ground = retriever.ground
    retriever.ground = lambda query: asked.append(query) or ground(query)  # type: ignore[method-assign]
    chat = ChatSession(llm, properties=F32, retriever=retriever, tools=[add],
                       tool_choice="required", max_new_tokens=96, repetition_penalty=1.0)
    chat.send("What is 2 plus 3?")
    roles = [m["role"] for m in chat.messages]
    assert roles == ["user", "assistant", "tool", "assistant"] and chat.last_error == ""
    assert asked == ["What is 2 plus 3?"]  # grounded once per question, not per step
    assert chat.messages[0] == {"role": "user", "content": "What is 2 plus 3?"}
    assert [len(m.get("sources", [])) for m in chat.messages] == [0, 0, 0, 3]


def test_a_grounded_chat_before_any_document_says_so(retriever: RetrieverSession,
                                                     llm: Path) -> None:
    chat = ChatSession(llm, properties=F32, retriever=retriever, **GREEDY)
    assert chat.send("Hello?") == ""
    assert chat.last_error == ("nothing to search yet: add documents first "
                               "(retriever.add(texts or files))")
    assert chat.messages == [] and not chat.busy
    retriever.add(TEXTS)
    assert chat.send("Hello?") and len(chat.messages) == 2


def test_a_grounded_chat_starts_without_a_repetition_penalty(retriever: RetrieverSession,
                                                             llm: Path) -> None:
    """The answer must repeat its sources' words; a chosen penalty is kept."""
    assert ChatSession(llm, retriever=retriever).repetition_penalty == 1.0
    assert ChatSession(llm, retriever=retriever, repetition_penalty=1.2).repetition_penalty == 1.2
    assert ChatSession(llm).repetition_penalty == 1.1


def test_a_grounded_chat_keeps_its_defaults_over_the_models(retriever: RetrieverSession,
                                                            llm: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A model's own sampling and penalties (SmolLM2's card) fill the rest, not these."""
    card = {"do_sample": True, "temperature": 0.2, "top_p": 0.9, "repetition_penalty": 1.1,
            "presence_penalty": 0.5}
    monkeypatch.setattr("ovnb.sessions.chat.model_defaults", lambda folder: card)
    grounded = ChatSession(llm, retriever=retriever, presence_penalty=0.25)
    plain = ChatSession(llm)
    grounded.wait_loaded(), plain.wait_loaded()
    assert (grounded.do_sample, grounded.repetition_penalty, grounded.presence_penalty) == \
        (False, 1.0, 0.25)
    assert (grounded.temperature, grounded.top_p) == (0.2, 0.9)
    assert (plain.do_sample, plain.repetition_penalty, plain.presence_penalty) == (True, 1.1, 0.5)


def test_a_chat_takes_only_a_retriever(llm: Path) -> None:
    with pytest.raises(TypeError, match="retriever must be an ovnb.Retriever, not str"):
        ChatSession(llm, retriever="documents")


def test_a_str_naming_a_folder_is_read_as_one_and_a_missing_one_is_refused(
        retriever: RetrieverSession, tmp_path: Path) -> None:
    """The README's own ``retriever.add(folder)`` with a str: its files are indexed, never the
    path's text as a passage; a path that names nothing is refused and adds nothing."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "boats.md").write_text("A red boat sails on the lake.\n")
    (folder / "sky.txt").write_text("The sky over the lake is blue.\n")
    assert retriever.add(str(folder)) == 2 and retriever.sources == ["boats.md", "sky.txt"]
    assert all(str(folder) not in str(p) for p in retriever.passages)
    assert retriever.add(str(tmp_path / "gone")) == 0
    assert retriever.last_error.startswith(f"no such file or folder: {tmp_path / 'gone'}")
    assert retriever.sources == ["boats.md", "sky.txt"] and len(retriever) == 2
