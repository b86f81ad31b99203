"""Retrieval: documents split into passages, embedded into an exact in-memory index, searched.

``RetrieverSession(embedder, reranker=None)``: ``add(texts or files)`` splits them into passages
(``ovnb.passages``) and embeds them; ``search(query, k)`` embeds the query and returns the ``k``
passages whose vectors are closest (cosine similarity: the vectors have unit length, so a dot
product). With a reranker, the ``candidates`` closest passages are read again by the cross-encoder,
which is slower and better at telling "about the same topic" from "answers the question", and its
scores order the result. ``ground(question)`` makes the prompt a chat model answers from
(``ChatSession(retriever=...)`` calls it every turn).

Where a vector database takes over: the index is one float32 matrix searched exactly, every query
reading every vector (n × dim multiply-adds, n × dim × 4 bytes of RAM). With all-MiniLM-L6-v2's
384 dimensions, 10,000 passages take 15 MB and a search a few milliseconds: right for notebook-size
collections, up to about 100,000 passages. Past that, or when the index must outlive the kernel,
be shared, filtered by metadata or updated in place, use an approximate-nearest-neighbour index or
a vector database (FAISS, hnswlib, Qdrant, Milvus, LanceDB, pgvector): they trade a little recall
for searches that do not read every vector, and keep the index on disk. ``vectors`` and
``passages`` are what such a store is filled with.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import traitlets
from traitlets import Dict, Int, List, Unicode

from ovnb import passages as splitting
from ovnb.errors import OvnbError, Stopped
from ovnb.passages import Passage
from ovnb.runtime.jobs import Job
from ovnb.sessions.base import Session, check_text
from ovnb.sessions.embedding import EmbedderSession, RerankerSession
from ovnb.sessions.settings import Settings, setting

Found = list[tuple[Passage, float]]
# how a grounded question reads: the sources quoted with numbers, then the question
GROUNDING = ("Answer the question using only the numbered sources below, and cite the sources "
             "you use by their number, like [1]. If they do not hold the answer, say so.\n\n"
             "{sources}\n\nQuestion: {question}")


@dataclass
class Index:
    """An exact nearest-neighbour index: passages and their unit vectors [n, dim], in order."""

    passages: list[Passage] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def __len__(self) -> int:
        return len(self.passages)

    def plus(self, passages: list[Passage], vectors: np.ndarray) -> Index:
        """A new index with these passages added (the old one is left as it was)."""
        if len(self) and vectors.shape[1] != self.vectors.shape[1]:
            raise OvnbError(f"these vectors have {vectors.shape[1]} dimensions, the index "
                            f"{self.vectors.shape[1]}: use one embedder for one index")
        stacked = np.vstack([self.vectors, vectors]) if len(self) else vectors
        return Index([*self.passages, *passages], stacked)

    def nearest(self, query: np.ndarray, k: int) -> Found:
        """The ``k`` passages closest to ``query`` by cosine similarity, closest first."""
        scores = self.vectors @ query
        k = min(k, len(self))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(self) else np.arange(len(self))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.passages[i], float(scores[i])) for i in top]


class RetrieverSettings(Settings):
    """How passages are cut and how many a search returns."""

    k = setting(Int(3, help="passages a search returns (and a chat answer quotes)"),
                "passages (k)", 1, 20)
    candidates = setting(Int(12, help="with a reranker: the closest passages it reads again"),
                         "rerank candidates", 1, 200, control=False)
    max_chars = setting(Int(splitting.MAX_CHARS, help="the longest passage, in characters (for "
                            "the documents added next)"), "passage size", splitting.MIN_CHARS,
                        8000, control=False)
    overlap = setting(Int(None, allow_none=True, help="characters repeated where a paragraph is "
                          "cut (None: a fifth of max_chars, at most 120)"), "overlap", 0, 4000,
                      control=False)
    template = setting(Unicode(GROUNDING, help="the grounded question: {sources} and {question} "
                                               "are filled in"), "prompt template", control=False)

    @traitlets.validate("k", "candidates", "max_chars", "overlap", "template")
    def _check(self, proposal: Any) -> Any:
        if proposal["trait"].name == "template":
            missing = [p for p in ("{sources}", "{question}") if p not in proposal["value"]]
            if missing:
                raise traitlets.TraitError(f"template must hold {' and '.join(missing)}")
        return self._check_setting(proposal)


class RetrieverState(traitlets.HasTraits):
    """What a retriever shows: its collection, the last search, and a note."""

    sources = List(Unicode(), help="the documents added, by name, in order")
    count = Int(0, help="passages in the index")
    query = Unicode("", help="the last query")
    results = List(help="the last search: (passage, score), best first")
    note = Unicode("", help="what the last run had to change or skip ('' when nothing)")
    metrics = Dict(help="the last run: passages, seconds")


class RetrieverSession(Session, RetrieverState, RetrieverSettings):
    """Search documents by meaning: ``RetrieverSession(EmbedderSession(model)).add(texts)``.

    ``embedder`` is an EmbedderSession (or an Embedder widget, or a model for one); ``reranker`` an
    optional RerankerSession (or widget, or model). Adding is all or nothing: one unreadable file
    or failed embedding adds none of the call's documents. Errors are one line (``last_error``);
    ``add`` then returns 0 and ``search`` []. The index is exact and in memory: see the module's
    docstring for where a vector database takes over.
    """

    def __init__(self, embedder: Any, reranker: Any = None, **settings: Any) -> None:
        super().__init__()
        self._apply(settings, type(self).__name__)
        self.embedder: EmbedderSession = as_session(embedder, EmbedderSession)
        self.reranker: RerankerSession | None = (as_session(reranker, RerankerSession)
                                                 if reranker is not None else None)
        self._index = Index()
        self._sources: list[str] = []  # the documents indexed, by name
        self._texts = 0  # texts (str) added so far, to name the next ones "text N"
        self.no_pipeline("empty: add documents (texts or files)")

    @property
    def passages(self) -> list[Passage]:
        """Every passage of the index, in the order added."""
        return list(self._index.passages)

    @property
    def vectors(self) -> np.ndarray:
        """The index's unit vectors [passages, dim] (float32), row i for ``passages[i]``."""
        return self._index.vectors

    def __len__(self) -> int:
        return len(self._index)

    # adding ---------------------------------------------------------------------------------------
    def add(self, items: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> int:
        """Split texts (str) and files (Path: a text file, or a folder of them) into passages and
        index them; blocks. The number of passages added (0 on error, nothing added)."""
        return self.call(self.submit_add(items, queue=True), 0)

    def submit_add(self, items: Any, queue: bool = False) -> Job[int] | None:
        """Start adding without waiting (an upload); None when refused (read errors included)."""
        try:
            docs = splitting.documents(items, self._texts)
            cut = self._split(docs)
        except OvnbError as exc:
            self.refuse(str(exc))
            return None
        if not cut:
            self.refuse("the documents hold no text: nothing was added")
            return None
        return self.start(lambda _, job: self._add(job, docs, cut), queue=queue)

    def _split(self, docs: list[tuple[str, str]]) -> list[Passage]:
        return [Passage(text, name, i + 1) for name, body in docs
                for i, text in enumerate(splitting.split(body, self.max_chars, self.overlap))]

    def _add(self, job: Job[int], docs: list[tuple[str, str]], cut: list[Passage]) -> int:
        vectors, note = self._through(job, self.embedder, lambda: self.embedder.encode(cut))
        self._index = self._index.plus(cut, vectors)
        self._texts += sum(1 for name, _ in docs if re.fullmatch(r"text \d+", name))
        self._sources += [name for name, body in docs if body.strip()]
        empty = [name for name, body in docs if not body.strip()]
        skipped = f"{', '.join(empty)} held no text" if empty else ""
        self.publish(sources=list(self._sources), count=len(self._index),
                     note="; ".join(filter(None, [note, skipped])),
                     metrics={"passages": len(cut), **self.embedder.metrics},
                     status=f"{len(self._index)} passages from {len(self._sources)} documents")
        return len(cut)

    def clear(self) -> None:
        """Empty the index (refused while a run is in progress)."""
        if not self.running:
            self._index, self._texts, self._sources = Index(), 0, []
            self.succeed(sources=[], count=0, results=[], query="", note="",
                         status="empty: add documents (texts or files)")

    # searching ------------------------------------------------------------------------------------
    def search(self, query: str, k: int | None = None) -> Found:
        """The ``k`` (default: the ``k`` setting) passages that best match ``query``, as
        (passage, score), best first; blocks. [] on error (``last_error`` says why)."""
        return self.call(self.submit_search(query, k, queue=True), [])

    def submit_search(self, query: str, k: int | None = None, queue: bool = False
                      ) -> Job[Found] | None:
        """Start a search without waiting (the Search button); None when refused."""
        query = check_text(query, "the query").strip()
        check_k(k)
        if not query:
            self.refuse("empty query: type what to search for")
            return None
        return self.start(lambda _, job: self._search(job, query, k or self.k), queue=queue)

    def find(self, query: str, k: int | None = None) -> Found:
        """For another session's worker (a chat turn): the search's result; raises OvnbError."""
        query = check_text(query, "the query")
        check_k(k)
        outcome = self.run(lambda _, job: self._search(job, query, k or self.k))
        if not outcome.ok or outcome.value is None:
            raise Stopped(outcome.note) if outcome.note else OvnbError(outcome.error or
                                                                       "search failed")
        return outcome.value

    def _search(self, job: Job[Found], query: str, k: int) -> Found:
        index = self._index
        if not len(index):
            raise OvnbError("nothing to search yet: add documents first (retriever.add(texts "
                            "or files))")
        vector, note = self._through(job, self.embedder,
                                     lambda: self.embedder.encode([query], query=True))
        pool = max(k, self.candidates) if self.reranker is not None else k
        found = index.nearest(vector[0], pool)
        reranked = len(found) if self.reranker is not None else 0
        if reranked:
            found = self._reranked(job, query, found)
        found = found[:k]
        self.publish(query=query, results=found, note=note,
                     metrics={"passages": len(index), "k": k, "reranked": reranked})
        return found

    def _reranked(self, job: Job[Found], query: str, found: Found) -> Found:
        reranker = self.reranker
        assert reranker is not None
        order = self._through(job, reranker,
                              lambda: reranker.score(query, [p for p, _ in found]))
        return [(found[i][0], score) for i, score in order]

    def _through(self, job: Job[Any], inner: Session, call: Callable[[], Any]) -> Any:
        """Run ``call`` (a run of the embedder or reranker): Stop reaches the run it makes."""
        if job.stopped:
            raise Stopped("stopped: nothing was changed")
        job.on_stop(inner.stop)
        return call()

    # grounding a chat answer ----------------------------------------------------------------------
    def ground(self, question: str, k: int | None = None) -> tuple[str, list[dict[str, Any]]]:
        """(the prompt that quotes the passages found for ``question`` as numbered sources, the
        sources as records: n, source, number, text, score); raises OvnbError in one line."""
        found = self.find(question, k)
        sources = [{"n": n, "source": p.source, "number": p.number, "text": str(p),
                    "score": round(score, 4)} for n, (p, score) in enumerate(found, 1)]
        return self.prompt(question, sources), sources

    def chat_defaults(self) -> dict[str, Any]:
        """Generation settings a grounded chat starts with (where nobody chose others, and over
        the model's own): greedy, no repetition or presence penalty, since an answer from sources
        repeats their words. Measured with SmolLM2-135M fp16 on ovnb/data/harrow-bay
        (tests/sessions/test_rag.py's 8 questions), k=3, 48 new tokens, this CPU's default
        precision hint: greedy, 6 of 8 answers held the fact from their source at repetition
        penalty 1.0, 3 of 8 at 1.1 (ovnb's default elsewhere); sampling at temperature 0.2,
        top_p 0.9 (SmolLM2's card), 4 of 8, with or without presence penalty 0.5. The frequency
        penalty SmolLM2 starts with elsewhere (0.1) is off here too: these figures had none."""
        return {"do_sample": False, "repetition_penalty": 1.0, "presence_penalty": 0.0,
                "frequency_penalty": 0.0}

    def prompt(self, question: str, sources: list[dict[str, Any]]) -> str:
        """The grounded question: ``template`` with the numbered sources and the question."""
        quoted = "\n\n".join(f"[{s['n']}] ({s['source']}) {s['text']}" for s in sources)
        return self.template.replace("{sources}", quoted).replace("{question}", question)


def check_k(k: Any) -> None:
    """``k`` is None (the setting) or a whole number of at least 1; else one line saying so."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k must be a whole number of at least 1, not {k!r}")


def as_session(value: Any, cls: type[Session]) -> Any:
    """The session of a widget, the session itself, or a new session of a model for ``cls``."""
    session = getattr(value, "session", value)
    if isinstance(session, cls):
        return session
    if isinstance(session, Session):
        raise TypeError(f"expected an ovnb.{cls.__name__[:-7]} (or its session), not "
                        f"{type(session).__name__}")
    return cls(value)
