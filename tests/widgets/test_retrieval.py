"""Embedder, Reranker and Retriever as views of their sessions, and Chat showing sources.

The sessions' own behaviour is tested in tests/sessions/test_embedding.py and test_retrieval.py;
here: the buttons run the same path as the methods, the tables show what the sessions found, and
the conversation panel shows the sources under a grounded answer.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import pytest

import ovnb
from ovnb import passages
from tests.conftest import F32, _prepared

tiny_embed = _prepared("tiny-embed")
tiny_rerank = _prepared("tiny-rerank")

DATA = passages.sample()
LINES = "the cat sat on the mat\nparis is the capital of france\n\nrivers run to the sea\n"


def upload(name: str, data: bytes) -> dict:
    """One file of a FileUpload value, as the browser sends it."""
    return {"name": name, "type": "", "size": len(data), "content": memoryview(data),
            "last_modified": datetime.datetime.now(datetime.timezone.utc)}


def test_the_embedder_ranks_the_lines_typed(tiny_embed: Path) -> None:
    embedder = ovnb.Embedder(tiny_embed, properties=F32)
    embedder.view.controls["texts"].value = LINES
    embedder.view.controls["query"].value = "capital of france"  # Enter: the view ranks on a worker
    embedder.session.join()
    texts = ["the cat sat on the mat", "paris is the capital of france", "rivers run to the sea"]
    assert embedder.texts == texts and embedder.ranking == embedder.rank("capital of france",
                                                                          texts)
    table = embedder.view.table.value
    assert table.count("<tr>") == 4 and "line 2" in table and "paris is the capital" in table
    assert "texts/s" in embedder.view.figures_line.value and not embedder.busy
    assert "made vectors" not in embedder.view.figures_line.value  # the table shows the ranking
    assert embedder.embed(texts).shape == (3, embedder.dim) == (3, 32)
    assert "3 texts in " in embedder.view.figures_line.value  # a call from code shows what it made
    assert "made vectors 3×32" in embedder.view.figures_line.value


def test_the_embedder_view_says_what_it_cut(tiny_embed: Path) -> None:
    embedder = ovnb.Embedder(tiny_embed, properties=F32)
    embedder.view.controls["texts"].value = " ".join(["river"] * 300) + "\nsea"
    embedder.view.controls["run"].click()
    embedder.view.controls["query"].value = "sea"
    embedder.session.join()
    assert "1 of 2 texts are longer than the 128 tokens" in embedder.view.note.value
    embedder.view.controls["texts"].value = ""
    embedder.view.controls["run"].click()
    assert embedder.last_error.startswith("no texts to rank") and embedder.last_error in \
        embedder.view.error_line.value


def test_the_reranker_view_and_method_agree(tiny_rerank: Path) -> None:
    reranker = ovnb.Reranker(tiny_rerank, properties=F32)
    reranker.view.controls["texts"].value = LINES
    reranker.view.controls["query"].value = "capital of france"
    reranker.session.join()
    shown = reranker.ranking
    assert reranker.rerank("capital of france", reranker.texts) == shown and len(shown) == 3
    assert reranker.view.table.value.count("<tr>") == 4 and reranker.view.controls["run"].description == "Rerank"


def test_the_retriever_adds_uploads_and_searches_from_its_box(tiny_embed: Path) -> None:
    retriever = ovnb.Retriever(ovnb.Embedder(tiny_embed, properties=F32), k=2)
    assert "no documents yet" in retriever.view.sources.value
    retriever.view.controls["upload"].value = (upload("notes.txt", b"Ferns grow spores.\n\nSeals rest on sand."),
                               upload("more.md", (DATA / "visiting.md").read_bytes()))
    retriever.session.join()
    assert retriever.sources == ["notes.txt", "more.md"] and len(retriever) == 3
    assert "notes.txt, more.md" in retriever.view.sources.value
    assert retriever.status == "3 passages from 2 documents"
    retriever.view.controls["query"].value = "when does the ferry leave?"
    retriever.session.join()
    assert len(retriever.results) == 2 and retriever.view.table.value.count("<tr>") == 3
    assert retriever.results[0][0].label in retriever.view.table.value
    retriever.view.controls["k"].value = 3  # the slider is the trait
    assert retriever.k == retriever.session.k == 3
    assert len(retriever.search("ferry")) == 3


def test_passages_show_their_markdown_safely(tiny_embed: Path) -> None:
    retriever = ovnb.Retriever(ovnb.Embedder(tiny_embed, properties=F32), k=3)
    retriever.add(DATA / "wildlife.md")  # two passages, the first opening with its heading
    retriever.add(["Seals <b>rest</b> on *sand*.\n\n- one\n\n- two"])
    assert len(retriever.search("seals")) == 3  # from code: the table shows what it found
    table = retriever.view.table.value
    assert "<h1>Wildlife of Harrow Bay</h1>" in table and "# Wildlife" not in table
    assert "<p>Since 2019 a grey heron" in table  # the body a paragraph of its own
    assert "<em>sand</em>" in table and "<li>" in table and "wildlife.md #1" in table
    assert "&lt;b&gt;rest&lt;/b&gt;" in table and "<b>rest" not in table  # raw HTML stays text
    assert table.count("<div class='ovnb-passage'>") == 3


def test_a_bad_upload_is_one_line_and_adds_nothing(tiny_embed: Path) -> None:
    retriever = ovnb.Retriever(tiny_embed)
    retriever.add(DATA / "wildlife.md")
    retriever.view.controls["upload"].value = (upload("scan.pdf", b"%PDF-1.7\x00\x01\x02\x03"),)
    assert retriever.last_error.startswith("scan.pdf is not a text file (it holds binary data)")
    assert retriever.last_error in retriever.view.error_line.value
    assert retriever.sources == ["wildlife.md"] and len(retriever) == 2


def test_chat_shows_numbered_sources_under_a_grounded_answer(tiny_embed: Path, llm: Path) -> None:
    retriever = ovnb.Retriever(ovnb.Embedder(tiny_embed, properties=F32))
    retriever.add(["Lumen is the heron. <b>bold</b> stays text.", "Seals come in winter."])
    chat = ovnb.Chat(llm, properties=F32, retriever=retriever, max_new_tokens=8)
    answer = chat.send("Who is Lumen?")
    assert answer and chat.session.retriever is retriever.session
    user, model = chat.view.panel.turns
    assert "sources" not in user and model["html"]
    shown = model["sources"]
    first, second = chat.messages[1]["sources"]  # ranked by a random embedder: either order
    assert f"[1] {first['source']} #1" in shown and f"[2] {second['source']} #1" in shown
    assert {first["source"], second["source"]} == {"text 1", "text 2"} and "Sources" in shown
    assert "&lt;b&gt;bold&lt;/b&gt;" in shown and "<b>bold</b>" not in shown  # escaped
    assert [s["n"] for s in chat.messages[1]["sources"]] == [1, 2]
    chat.view.controls["clear"].click()
    assert chat.view.panel.turns == []


@pytest.mark.parametrize("name", ["Embedder", "Reranker", "Retriever"])
def test_the_names_are_lazy_and_documented(name: str) -> None:
    widget = getattr(ovnb, name)
    assert widget.__module__ == "ovnb.widgets.retrieval" and widget.__doc__
    assert name in dir(ovnb)
