"""``ovnb.Embedder``, ``ovnb.Reranker`` and ``ovnb.Retriever``: small views of their sessions.

Each is a query box, a button and a ranked table: the embedder and the reranker rank texts typed
one per line; the retriever searches the documents added to it (an upload, or ``add`` from code).
Pictures a retriever finds (with a multimodal embedder) show as a grid of thumbnails with their
scores, beside the table of passages. The work, its errors and its notes are the sessions'
(``ovnb.sessions.embedding``, ``ovnb.sessions.multimodal``, ``ovnb.sessions.retrieval``).
"""
from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ovnb import pictures
from ovnb.passages import Passage
from ovnb.sessions.embedding import EmbedderSession, RerankerSession, ScoringSession
from ovnb.sessions.retrieval import RetrieverSession
from ovnb.widgets.base import Front, View
from ovnb.widgets.render import grey, metrics_line, passage_html, setting_controls
from ovnb.widgets.upload import Upload



def ranked_table(rows: list[tuple[str, str, str]],
                 text_html: Callable[[str], str] = html.escape) -> str:
    """An HTML table of ranked rows (score, where, text), best first; every cell escaped (the
    text by ``text_html``: a passage's markdown is rendered, safely)."""
    if not rows:
        return ""
    cell = "padding:2px 8px;vertical-align:top;text-align:left"
    body = "".join(
        f"<tr><td class='ovnb-quiet' style='{cell}'>{n}</td><td style='{cell}'>{html.escape(score)}</td>"
        f"<td style='{cell};white-space:nowrap'>{html.escape(where)}</td>"
        f"<td style='{cell}'>{text_html(text)}</td></tr>"
        for n, (score, where, text) in enumerate(rows, 1))
    head = "".join(f"<th style='{cell}'>{h}</th>" for h in ("#", "score", "", "text"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def gallery_html(found: list[tuple[Path, float]]) -> str:
    """Pictures found as a grid of thumbnails, each with its place, score and name (a clip marked
    ▶; one that cannot be read now says so in its place); every name escaped."""
    if not found:
        return ""
    cells = []
    for n, (path, score) in enumerate(found, 1):
        thumb = pictures.thumbnail(path)
        shown = (f"<img src='data:image/png;base64,{base64.b64encode(thumb).decode()}' "
                 f"alt='{html.escape(path.name)}' style='max-width:{pictures.THUMB_SIDE}px;"
                 f"max-height:{pictures.THUMB_SIDE}px'>" if thumb else
                 "<div class='ovnb-error' style='padding:2em 0'>cannot be read now</div>")
        mark = "▶ " if pictures.is_clip(path) else ""
        cells.append(f"<figure style='margin:0;width:{pictures.THUMB_SIDE + 8}px;"
                     f"text-align:center'>{shown}<figcaption style='font-size:90%'>"
                     f"<span class='ovnb-quiet'>{n}</span> · {score:.3f}<br>{mark}"
                     f"{html.escape(path.name)}</figcaption></figure>")
    return f"<div style='display:flex;flex-wrap:wrap;gap:8px'>{''.join(cells)}</div>"


def upload_types(session: RetrieverSession) -> str:
    """What the upload button offers: text files, and pictures when the embedder takes them."""
    texts = ".txt,.md,.rst,text/plain"
    if not session.embedder.takes_pictures:
        return texts
    return ",".join([texts, *pictures.IMAGE_SUFFIXES, *pictures.CLIP_SUFFIXES])


def note_html(note: str) -> str:
    """A run's note (text cut to the model's length...) as a quiet warning line."""
    return f"<span class='ovnb-warn'>✂ {html.escape(note)}</span>" if note else ""


class RankingView(View):
    """An embedder's or reranker's view: texts one per line, a query, a button, the ranking."""

    session: ScoringSession

    def __init__(self, session: ScoringSession) -> None:
        super().__init__(session)
        action = "Rerank" if isinstance(session, RerankerSession) else "Rank"
        self.controls.update(
            texts=widgets.Textarea(placeholder="texts to rank, one per line",
                                   layout=widgets.Layout(width="auto", height="7em")),
            query=widgets.Text(placeholder="a query, then press Enter or the button",
                               continuous_update=False, layout=widgets.Layout(width="70%")),
            run=widgets.Button(description=action, button_style="primary",
                               icon="sort-amount-down"))
        c = self.controls
        self.table, self.note, self.figures_line = widgets.HTML(), widgets.HTML(), widgets.HTML()
        c["run"].on_click(self._rank)
        c["query"].observe(self._rank, "value")
        self.busy_controls([c["run"]])
        session.observe(self._show, ["ranking", "note", "metrics"])
        session.observe(self._show_texts, ["texts", "query"])
        self.children = [c["texts"], widgets.HBox([c["query"], c["run"]]), self.table,
                         self.note, self.figures_line, self.status_line, self.error_line]

    def _lines(self) -> list[str]:
        return [line.strip() for line in self.controls["texts"].value.splitlines()
                if line.strip()]

    def _rank(self, change: Any = None) -> None:
        """The button: rank on a worker, so the page stays live (refused while busy)."""
        query, texts = self.controls["query"].value, self._lines()
        if isinstance(self.session, RerankerSession):
            self.session.submit_rerank(query, texts)
        else:
            self.session.submit_rank(query, texts)

    def _show_texts(self, change: Any = None) -> None:
        """The boxes show what was ranked last (also when code ranked it)."""
        session = self.session
        if session.texts and self._lines() != list(session.texts):
            self.controls["texts"].value = "\n".join(session.texts)
        if session.query and self.controls["query"].value != session.query:
            self.controls["query"].value = session.query

    def _show(self, change: Any = None) -> None:
        session = self.session
        self.table.value = ranked_table([(f"{score:.3f}", f"line {i + 1}", session.texts[i])
                                          for i, score in session.ranking
                                          if i < len(session.texts)])
        self.note.value = note_html(session.note)
        m = session.metrics
        count = m.get("texts", 0) if m else 0
        made = [f"made vectors {m['made']}"] if m and m.get("made") else []
        self.figures_line.value = metrics_line([
            f"{count} text{'s' * (count != 1)} in {m['seconds'] * 1000:.0f} ms",
            f"{m['texts_per_s']:.0f} texts/s", *made]) if m else ""


class Embedder(Front):
    """Embeddings: ``Embedder("sentence-transformers/all-MiniLM-L6-v2").embed(texts)``.

    Its arguments are ``EmbedderSession``'s: ``embed(texts) -> np.ndarray [n, dim]`` (documents,
    unit rows), ``embed_query(text) -> np.ndarray [dim]`` (with the model's query instruction),
    ``rank(query, texts) -> [(index, cosine)]``; the view ranks the lines typed in its box. A
    multimodal model (``"tiny-qwen3-vl-embed"``, Qwen3-VL-Embedding) also takes pictures:
    ``embed(texts, images=[...], videos=[...])`` gives a row per text, image and clip, one space.
    """

    session_class = EmbedderSession
    view_class = RankingView


class Reranker(Front):
    """A cross-encoder reranker: ``Reranker("tiny-rerank").rerank(query, texts, top_n=None)``.

    Its arguments are ``RerankerSession``'s: every text as (index, score), best first (the best
    ``top_n`` when given); the view reranks the lines typed in its box.
    """

    session_class = RerankerSession
    view_class = RankingView


class RetrieverView(View):
    """The view of a RetrieverSession: a search box, its settings, results, documents to add."""

    session: RetrieverSession

    def __init__(self, session: RetrieverSession) -> None:
        super().__init__(session)
        self.controls.update(
            upload=Upload(accept=upload_types(session), multiple=True,
                          description="Add files"),
            query=widgets.Text(placeholder="search the documents, then press Enter",
                               continuous_update=False, layout=widgets.Layout(width="70%")),
            run=widgets.Button(description="Search", button_style="primary", icon="search"),
            **setting_controls(session))
        c = self.controls
        self.table, self.note, self.sources = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.gallery = widgets.HTML()  # the pictures found, as thumbnails
        c["upload"].observe(self._on_upload, "value")
        c["run"].on_click(self._search)
        c["query"].observe(self._search, "value")
        self.busy_controls([c["run"], c["upload"]])
        session.observe(self._show_results, ["results", "note"])
        session.observe(self._show_sources, "sources")
        self._show_sources()
        settings = [c[n] for n in session.trait_names(setting=True, control=True)]
        self.children = [widgets.HBox([c["query"], c["run"]]), *settings, self.gallery,
                         self.table, self.note, widgets.HBox([c["upload"], self.sources]), self.status_line,
                         self.error_line]

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if files:
            self.session.submit_add([(f.get("name") or "upload", bytes(f["content"]))
                                     for f in files])

    def _search(self, change: Any = None) -> None:
        self.session.submit_search(self.controls["query"].value)

    def _show_results(self, change: Any = None) -> None:
        """Passages in the table, pictures in the grid, each numbered in its own order (the
        scores say how they rank against each other)."""
        results = self.session.results
        self.table.value = ranked_table([(f"{score:.3f}", p.label, str(p))
                                          for p, score in results if isinstance(p, Passage)],
                                         passage_html)
        self.gallery.value = gallery_html([(p, score) for p, score in results
                                           if isinstance(p, Path)])
        self.note.value = note_html(self.session.note)

    def _show_sources(self, change: Any = None) -> None:
        sources = self.session.sources
        names = ", ".join(sources[:8]) + (" …" if len(sources) > 8 else "")
        self.sources.value = grey(f"documents: {names}" if names else "no documents yet")


class Retriever(Front):
    """Search documents by meaning: ``Retriever(embedder, reranker=None)``.

    Its arguments are ``RetrieverSession``'s: ``add(texts or files) -> items added``,
    ``search(query, k=None) -> [(item, score)]`` (a passage is a str with ``.source``; with a
    multimodal embedder a folder's pictures are indexed too, a picture's item its Path), and
    ``Chat(model, retriever=retriever)`` answers from what it finds. ``embedder``: an Embedder
    (or its session, or a model); ``reranker``: a Reranker (or session, or model), optional.
    """

    session_class = RetrieverSession
    view_class = RetrieverView

    def __len__(self) -> int:
        return len(self.session)
