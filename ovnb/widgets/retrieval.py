"""``ovnb.Embedder``, ``ovnb.Reranker`` and ``ovnb.Retriever``: small views of their sessions.

Each is a query box, a button and a ranked table: the embedder and the reranker rank texts typed
one per line; the retriever searches the documents added to it (an upload, or ``add`` from code).
The work, its errors and its notes are the sessions' (``ovnb.sessions.embedding``,
``ovnb.sessions.retrieval``).
"""
from __future__ import annotations

import html
import os
from typing import Any

import ipywidgets as widgets
import numpy as np

from ovnb.sessions.embedding import EmbedderSession, Ranking, RankingState, RerankerSession
from ovnb.sessions.retrieval import Found, RetrieverSession, RetrieverSettings, RetrieverState
from ovnb.widgets.base import PipelineWidget
from ovnb.widgets.render import grey, metrics_line, setting_controls

NOTE_COLOR = "#a15c00"


def ranked_table(rows: list[tuple[str, str, str]]) -> str:
    """An HTML table of ranked rows (score, where, text), best first; every cell escaped."""
    if not rows:
        return ""
    cell = "padding:2px 8px;vertical-align:top;text-align:left"
    body = "".join(
        f"<tr><td style='{cell};color:#555'>{n}</td><td style='{cell}'>{html.escape(score)}</td>"
        f"<td style='{cell};white-space:nowrap'>{html.escape(where)}</td>"
        f"<td style='{cell}'>{html.escape(text)}</td></tr>"
        for n, (score, where, text) in enumerate(rows, 1))
    head = "".join(f"<th style='{cell}'>{h}</th>" for h in ("#", "score", "", "text"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def note_html(note: str) -> str:
    """A run's note (text cut to the model's length...) as a quiet warning line."""
    return f"<span style='color:{NOTE_COLOR}'>✂ {html.escape(note)}</span>" if note else ""


class RankingWidget(PipelineWidget, RankingState):
    """An embedder's or reranker's view: texts one per line, a query, a button, the ranking."""

    action = "Rank"

    def __init__(self, session: EmbedderSession | RerankerSession) -> None:
        super().__init__(session)
        self._texts = widgets.Textarea(placeholder="texts to rank, one per line",
                                       layout=widgets.Layout(width="100%", height="7em"))
        self._query = widgets.Text(placeholder="a query, then press Enter or the button",
                                   continuous_update=False, layout=widgets.Layout(width="70%"))
        self._run_btn = widgets.Button(description=self.action, button_style="primary",
                                       icon="sort-amount-down")
        self._table, self._note, self._metrics_line = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self._run_btn.on_click(lambda _: self._rank_from_view())
        self._query.observe(lambda _: self._rank_from_view(), "value")
        self._busy_controls([self._run_btn], [])
        self.observe(lambda _: self._show(), ["ranking", "note", "metrics"])
        self.children = [self._texts, widgets.HBox([self._query, self._run_btn]), self._table,
                         self._note, self._metrics_line, self._status, self._error]

    def _lines(self) -> list[str]:
        return [line.strip() for line in self._texts.value.splitlines() if line.strip()]

    def _rank_from_view(self) -> None:
        """The button: rank on a worker, so the page stays live (refused while busy)."""
        raise NotImplementedError

    def _show(self) -> None:
        self._table.value = ranked_table([(f"{score:.3f}", f"line {i + 1}", self.texts[i])
                                          for i, score in self.ranking if i < len(self.texts)])
        self._note.value = note_html(self.note)
        m = self.metrics
        self._metrics_line.value = metrics_line([
            f"{m['texts']} texts in {m['seconds'] * 1000:.0f} ms",
            f"{m['texts_per_s']:.0f} texts/s"]) if m else ""


class Embedder(RankingWidget):
    """Text embeddings: ``Embedder("sentence-transformers/all-MiniLM-L6-v2").embed(texts)``.

    A view of ``EmbedderSession``: ``embed(texts) -> np.ndarray [n, dim]`` (documents, unit
    rows), ``embed_query(text) -> np.ndarray [dim]`` (with the model's query instruction),
    ``rank(query, texts) -> [(index, cosine)]``; the view ranks the lines typed in its box.
    ``**config``: TextEmbeddingPipeline.Config fields overriding the model's own (pooling_type,
    normalize, max_length, query_instruction, embed_instruction...).
    """

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **config: Any) -> None:
        super().__init__(EmbedderSession(model, device, properties, **config))

    @property
    def dim(self) -> int:
        """The vectors' length (0 before the first embedding)."""
        return self.session.dim

    def embed(self, texts: Any) -> np.ndarray | None:
        """Document vectors [n, dim]; None on error (``last_error`` says why)."""
        return self.session.embed(texts)

    def embed_query(self, text: str) -> np.ndarray | None:
        """The query vector [dim]; None on error."""
        return self.session.embed_query(text)

    def rank(self, query: str, texts: Any) -> Ranking:
        """(index, cosine similarity) of every text, most similar first; [] on error."""
        return self.session.rank(query, texts)

    def _rank_from_view(self) -> None:
        self.session.submit_rank(self._query.value, self._lines())


class Reranker(RankingWidget):
    """A cross-encoder reranker: ``Reranker("tiny-rerank").rerank(query, texts, top_n=None)``.

    A view of ``RerankerSession``: every text as (index, score), best first (the best ``top_n``
    when given); the view reranks the lines typed in its box.
    """

    action = "Rerank"

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **config: Any) -> None:
        super().__init__(RerankerSession(model, device, properties, **config))

    def rerank(self, query: str, texts: Any, top_n: int | None = None) -> Ranking:
        """(index, score) of each text, best first; [] on error (``last_error`` says why)."""
        return self.session.rerank(query, texts, top_n)

    def _rank_from_view(self) -> None:
        self.session.submit_rerank(self._query.value, self._lines())


class Retriever(PipelineWidget, RetrieverState, RetrieverSettings):
    """Search documents by meaning: ``Retriever(embedder, reranker=None)``.

    A view of ``RetrieverSession``: ``add(texts or files) -> passages added``,
    ``search(query, k=None) -> [(passage, score)]`` (a passage is a str with ``.source``), and
    ``Chat(model, retriever=retriever)`` answers from what it finds. ``embedder``: an Embedder (or
    its session, or a model); ``reranker``: a Reranker (or session, or model), optional.
    ``**settings``: k, candidates, max_chars, overlap, template (traits of the widget).
    """

    def __init__(self, embedder: Any, reranker: Any = None, **settings: Any) -> None:
        super().__init__(RetrieverSession(embedder, reranker, **settings))
        self._upload = widgets.FileUpload(accept=".txt,.md,.rst,text/plain", multiple=True,
                                          description="Add files")
        self._query = widgets.Text(placeholder="search the documents, then press Enter",
                                   continuous_update=False, layout=widgets.Layout(width="70%"))
        self._search_btn = widgets.Button(description="Search", button_style="primary",
                                          icon="search")
        self._controls = setting_controls(self)
        self._table, self._note, self._sources = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self._wire()
        self.children = [widgets.HBox([self._query, self._search_btn]), *self._controls.values(),
                         self._table, self._note, widgets.HBox([self._upload, self._sources]),
                         self._status, self._error]

    def _wire(self) -> None:
        self._upload.observe(lambda change: self._on_upload(change["new"]), "value")
        self._search_btn.on_click(lambda _: self._search_from_view())
        self._query.observe(lambda _: self._search_from_view(), "value")
        self._busy_controls([self._search_btn, self._upload], [])
        self.observe(lambda _: self._show_results(), ["results", "note"])
        self.observe(lambda _: self._show_sources(), "sources")
        self._show_sources()

    @property
    def passages(self) -> list[Any]:
        """Every passage of the index, in the order added."""
        return self.session.passages

    @property
    def vectors(self) -> np.ndarray:
        """The index's unit vectors [passages, dim], row i for ``passages[i]``."""
        return self.session.vectors

    def __len__(self) -> int:
        return len(self.session)

    def add(self, items: Any) -> int:
        """Add texts (str) and files (Path: a text file or a folder of them); passages added."""
        return self.session.add(items)

    def search(self, query: str, k: int | None = None) -> Found:
        """The best ``k`` passages for ``query`` as (passage, score); [] on error."""
        return self.session.search(query, k)

    def clear(self) -> None:
        """Empty the index."""
        self.session.clear()

    def _on_upload(self, files: Any) -> None:
        if files:
            self.session.submit_add([(f.get("name") or "upload", bytes(f["content"]))
                                     for f in files])

    def _search_from_view(self) -> None:
        self.session.submit_search(self._query.value)

    def _show_results(self) -> None:
        self._table.value = ranked_table([(f"{score:.3f}", p.label, str(p))
                                          for p, score in self.results])
        self._note.value = note_html(self.note)

    def _show_sources(self) -> None:
        names = ", ".join(self.sources[:8]) + (" …" if len(self.sources) > 8 else "")
        self._sources.value = grey(f"documents: {names}" if names else "no documents yet")
