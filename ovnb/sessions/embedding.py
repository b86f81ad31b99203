"""Text embeddings and reranking: TextEmbeddingPipeline and TextRerankPipeline as sessions.

``EmbedderSession`` turns texts into unit vectors, pooled and instructed the way the model itself
says (``ovnb.layout.embedding_config`` reads its sentence-transformers files): documents with the
model's document instruction, queries with its query instruction. ``RerankerSession`` scores
(query, text) pairs with a cross-encoder and returns every text, best first.

Both pipelines cut a text longer than the model reads without a word (seen: a 1500-token text gets
the same vector as its first 512 tokens). The embedder therefore counts tokens first and says so in
``note``: the result is kept, and the learner knows it was made from a text's start.

Reranking 5 or more texts in one ``rerank`` call raises or aborts the process (a corrupted heap) in
openvino_genai 2026.4.1; calls of at most 4 texts score exactly as one at a time (pinned by
tests/sources/test_tiny_bert.py), so texts go to the pipeline four at a time.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import traitlets
from traitlets import Dict, Int, List, Unicode

from ovnb import catalogs, layout
from ovnb.errors import OvnbError, Stopped
from ovnb.families import EMBEDDING, MULTIMODAL_EMBEDDING, RERANK
from ovnb.layout import context_length as position_limit
from ovnb.runtime.jobs import Job
from ovnb.runtime.pipelines import Loaded, load, open_tokenizer
from ovnb.sessions.base import Session, check_text

EMBED_FIELDS = ("pooling_type", "normalize", "max_length", "query_instruction",
                "embed_instruction", "pad_to_max_length", "padding_side", "batch_size")
RERANK_FIELDS = ("max_length", "pad_to_max_length", "padding_side")
EMBED_BATCH = 32  # texts per embed_documents call: bounded memory, and Stop is heard between calls
RERANK_BATCH = 4  # 5+ texts per rerank call break openvino_genai 2026.4.1 (see the docstring)
SPECIAL_TOKENS = 16  # tokens a tokenizer may add around a text (BOS, CLS, SEP, EOS, a prefix space)

Ranking = list[tuple[int, float]]


class RankingState(traitlets.HasTraits):
    """What an embedder or reranker shows: the last query, its texts ranked, and a note."""

    query = Unicode("", help="the last query ranked against texts")
    texts = List(Unicode(), help="the texts of the last ranking")
    ranking = List(help="the last ranking: (index into texts, score), best first")
    note = Unicode("", help="what the last run had to change, e.g. texts cut to the model's "
                            "length ('' when nothing)")
    metrics = Dict(help="the last run: texts, seconds, texts_per_s, made (the vectors' shape, "
                        "'3×384', for a run that made vectors rather than a ranking)")
    context_length = Int(0, help="tokens the model reads per text (0 until loaded); the rest "
                                 "is cut")


class ScoringSession(Session, RankingState):
    """What the embedder and the reranker share: load with a Config made from the model's files."""

    fields: tuple[str, ...] = ()

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **config: Any) -> None:
        super().__init__()
        unknown = sorted(set(config) - set(self.fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no config field {unknown[0]!r}: its fields "
                            f"(openvino_genai's names) are {', '.join(self.fields)}")
        self.given = dict(config)
        self.config: dict[str, Any] = {}  # the Config fields in use, once loaded
        self._open(model, device, properties)
        self.folder: Path | None = None
        self._load_in_background(lambda: self._load(model), self.model_name)

    def _load(self, model: Any) -> Loaded[Any]:
        assert self.family is not None
        folder = self._folder(model)
        fields = {**self._model_config(folder), **self.given}
        if fields.get("max_length") is None and position_limit(folder):
            fields["max_length"] = position_limit(folder)  # explicit: a longer text is known cut
        loaded = load(self.family, folder, self.device, self.properties,
                      tuple(sorted((k, str(v)) for k, v in fields.items())),
                      lambda: {"config": self._genai_config(fields)})
        self.folder, self.config = folder, fields
        self._loaded_model(loaded)
        self.publish(context_length=int(fields.get("max_length") or 0))
        return loaded

    def _model_config(self, folder: Path) -> dict[str, Any]:
        return {}

    def _genai_config(self, fields: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _loaded_model(self, loaded: Loaded[Any]) -> None:
        """Subclasses keep what they need of the folder (a tokenizer, templates)."""

    def _finished(self, count: int, started: float, query: str | None = None,
                  texts: list[str] | None = None, ranking: Ranking | None = None,
                  note: str = "", vectors: np.ndarray | None = None) -> None:
        """Publish a run's note and figures, and its ranking or the shape of its ``vectors``
        (a call from code that ranks nothing still shows what it made)."""
        seconds = time.perf_counter() - started
        metrics = {"texts": count, "seconds": seconds,
                   "texts_per_s": count / seconds if seconds > 0 else 0.0}
        if vectors is not None:
            metrics["made"] = "×".join(map(str, vectors.shape))
        values: dict[str, Any] = {"note": note, "metrics": metrics}
        if ranking is not None:
            values.update(query=query or "", texts=texts or [], ranking=ranking)
        self.publish(**values)


class EmbedderSession(ScoringSession):
    """Texts to unit vectors: ``EmbedderSession("sentence-transformers/all-MiniLM-L6-v2")``.

    ``embed(texts)`` embeds documents ([n, dim] float32, rows of unit length when the model
    normalizes), ``embed_query(text)`` one query ([dim]); ``rank(query, texts)`` orders texts by
    cosine similarity. The pooling, normalization, length and instructions come from the model's
    own files; ``**config`` overrides them by TextEmbeddingPipeline.Config names. Errors show as one
    line (``last_error``) and the call returns None (``rank``: []).
    """

    family = EMBEDDING
    fields = EMBED_FIELDS
    takes_pictures = False  # whether ``embed`` takes images= and videos= (a multimodal model)

    def __new__(cls, model: str | os.PathLike[str], device: Any = "CPU",
                properties: dict[str, Any] | None = None, **config: Any) -> EmbedderSession:
        """A multimodal model's session is a ``MultimodalEmbedderSession`` (as ``Path(...)`` is a
        PosixPath): ``Embedder(model)`` and ``Retriever(model)`` take either kind of model."""
        if cls is EmbedderSession and embeds_pictures(model):
            from ovnb.sessions.multimodal import MultimodalEmbedderSession

            cls = MultimodalEmbedderSession
        return super().__new__(cls)

    def __init__(self, model: str | os.PathLike[str], device: Any = "CPU",
                 properties: dict[str, Any] | None = None, **config: Any) -> None:
        self._tokenizer: Any = None
        super().__init__(model, device, properties, **config)

    def _model_config(self, folder: Path) -> dict[str, Any]:
        return layout.embedding_config(folder)

    def _genai_config(self, fields: dict[str, Any]) -> Any:
        import openvino_genai as ov_genai

        cls = ov_genai.TextEmbeddingPipeline
        values = dict(fields)
        if isinstance(values.get("pooling_type"), str):  # Config takes the enum, not its name
            values["pooling_type"] = cls.PoolingType.__members__[values["pooling_type"]]
        return cls.Config(**values)

    def _loaded_model(self, loaded: Loaded[Any]) -> None:
        self._tokenizer = open_tokenizer(loaded.folder)

    @property
    def dim(self) -> int:
        """The vectors' length (0 before the first embedding)."""
        return getattr(self, "_dim", 0)

    # from code ------------------------------------------------------------------------------------
    def embed(self, texts: str | Iterable[str] | None = None, images: Any = None,
              videos: Any = None) -> np.ndarray | None:
        """Document vectors [n, dim]: a row per text, then (a multimodal model) a row per image
        and per clip; blocks. None (``last_error`` says why) on error. Images and clips are paths,
        arrays or PIL images (``ovnb.images``, ``ovnb.video``); a text-only model refuses them."""
        given = [] if texts is None else check_texts(texts)
        images, videos = check_pictures(images, "images"), check_pictures(videos, "videos")
        problem = self._pictures_refused(len(images) + len(videos))
        if not problem and (given or not (images or videos)):
            problem = empty_texts(given) if given or not self.takes_pictures else \
                "nothing to embed: pass texts=, images= or videos="
        if problem:
            self.refuse(problem)
            return None
        read = self._read_pictures(images, videos)  # a file it cannot read is refused, in a line
        if read is None:
            return None
        return self.call(self.start(lambda loaded, job: self._embed(loaded, job, given, False, read),
                                    queue=True), None)

    def _pictures_refused(self, count: int) -> str:
        """Why ``count`` pictures cannot be embedded here ('' when none are given)."""
        if not count:
            return ""
        return (f"{self.model_name} embeds texts only, not pictures: make the Embedder with a "
                f"multimodal model ({', '.join(multimodal_ids())}; `ovnb list --task "
                f"{MULTIMODAL_EMBEDDING.task}`)")

    def _read_pictures(self, images: list[Any], videos: list[Any]) -> list[Any] | None:
        """The pictures read (a multimodal session's); a text-only one takes none."""
        return []

    def encode_pictures(self, pictures: Sequence[Any]) -> tuple[np.ndarray, str]:
        """For a Retriever's worker: the vectors of pictures read by ``ovnb.pictures.read``;
        a text-only model raises OvnbError (one line)."""
        raise OvnbError(self._pictures_refused(len(check_read(pictures))) or
                        "no pictures to embed")

    def embed_query(self, text: str) -> np.ndarray | None:
        """The query vector [dim] of ``text`` (with the model's query instruction); None on error."""
        text = check_text(text, "the query")
        if not text.strip():
            self.refuse("empty query: type what to search for")
            return None
        return self.call(self.start(lambda loaded, job: self._embed(loaded, job, [text], True)[0],
                                    queue=True), None)

    def rank(self, query: str, texts: str | Iterable[str]) -> Ranking:
        """Every text as (index, cosine similarity to ``query``), most similar first; [] on error."""
        return self.call(self.submit_rank(query, texts, queue=True), [])

    def submit_rank(self, query: str, texts: str | Iterable[str], queue: bool = False
                    ) -> Job[Ranking] | None:
        """Start ranking without waiting (the view's button); None when refused."""
        query, texts = check_text(query, "the query"), check_texts(texts)
        problem = ("empty query: type what to rank the texts for" if not query.strip()
                   else empty_texts(texts, "rank"))
        if problem:
            self.refuse(problem)
            return None
        return self.start(lambda loaded, job: self._rank(loaded, job, query, texts), queue=queue)

    def encode(self, texts: Sequence[str], query: bool = False) -> tuple[np.ndarray, str]:
        """For another session's worker (a Retriever): (vectors, note), through this session's
        lifecycle (one run at a time, Stop); raises OvnbError in one line on failure."""
        texts = check_texts(texts)
        if not isinstance(query, bool):
            raise TypeError(f"query must be True or False, not {query!r}")

        def work(loaded: Loaded[Any], job: Job[tuple[np.ndarray, str]]) -> tuple[np.ndarray, str]:
            started = time.perf_counter()
            vectors, note = self._vectors(loaded, job, list(texts), query)
            self._finished(len(texts), started, note=note, vectors=vectors)
            return vectors, note

        outcome = self.run(work)
        if not outcome.ok or outcome.value is None:
            raise Stopped(outcome.note) if outcome.note else OvnbError(outcome.error or
                                                                       "embedding failed")
        return outcome.value

    # on the worker --------------------------------------------------------------------------------
    def _embed(self, loaded: Loaded[Any], job: Job[Any], texts: list[str], query: bool,
               pictures: Sequence[Any] = ()) -> np.ndarray:
        started = time.perf_counter()
        vectors, note = self._vectors(loaded, job, texts, query) if texts else (None, "")
        if pictures:
            seen, picture_note = self._picture_vectors(loaded, job, pictures)
            vectors = seen if vectors is None else np.vstack([vectors, seen])
            note = " ".join(filter(None, [note, picture_note]))
        assert vectors is not None
        self._finished(len(texts) + len(pictures), started, note=note, vectors=vectors)
        return vectors

    def _picture_vectors(self, loaded: Loaded[Any], job: Job[Any], pictures: Sequence[Any]
                         ) -> tuple[np.ndarray, str]:
        """(vectors, note) of pictures read: a multimodal session's; a text model has none."""
        raise OvnbError(self._pictures_refused(len(pictures)))

    def _vectors(self, loaded: Loaded[Any], job: Job[Any], texts: list[str], query: bool
                 ) -> tuple[np.ndarray, str]:
        """The vectors of ``texts`` in batches (Stop is heard between them), and the length note."""
        note = self._length_note(texts, query)
        rows: list[Any] = []
        for start in range(0, len(texts), EMBED_BATCH):
            if job.stopped:
                raise Stopped(f"stopped after {start} of {len(texts)} texts: nothing was kept")
            chunk = texts[start:start + EMBED_BATCH]
            rows += ([loaded.pipe.embed_query(t) for t in chunk] if query
                     else loaded.pipe.embed_documents(chunk))
            job.progressed()
        vectors = np.asarray(rows, dtype=np.float32)
        self._dim = vectors.shape[1]
        return vectors, note

    def _rank(self, loaded: Loaded[Any], job: Job[Any], query: str, texts: list[str]
              ) -> Ranking:
        started = time.perf_counter()
        docs, note = self._vectors(loaded, job, texts, query=False)
        vector, query_note = self._vectors(loaded, job, [query], query=True)
        scores = docs @ vector[0]
        ranking = [(int(i), float(scores[i])) for i in np.argsort(-scores, kind="stable")]
        self._finished(len(texts), started, query, texts, ranking,
                       " ".join(filter(None, [query_note, note])))
        return ranking

    def token_counts(self, texts: Sequence[str], query: bool = False) -> list[int]:
        """How many tokens each text takes, with its instruction and special tokens (waits for
        the model to load; OvnbError when it failed to)."""
        self._pipeline()  # the tokenizer comes with it
        instruction = self.config.get("query_instruction" if query else "embed_instruction") or ""
        encoded = self._tokenizer.encode([instruction + t for t in texts])
        return [int(n) for n in np.asarray(encoded.attention_mask.data).sum(axis=1)]

    def _fit(self, texts: Sequence[str], query: bool, limit: int) -> bool:
        """Whether every text provably fits in ``limit`` tokens without tokenizing it again (the
        run's only cost besides the model's: 2.7 of 12.3 ms of a tiny Retriever.add).

        A token spells at least one byte of its text (WordPiece, SentencePiece and byte-level
        BPE alike), so a text of n UTF-8 bytes is at most n tokens, plus the special ones the
        tokenizer adds (``SPECIAL_TOKENS`` is a bound well above any model's few)."""
        instruction = self.config.get("query_instruction" if query else "embed_instruction") or ""
        room = limit - SPECIAL_TOKENS - len(instruction.encode())
        return all(len(t.encode()) <= room for t in texts)

    def _length_note(self, texts: Sequence[str], query: bool) -> str:
        """What the pipeline will cut silently, said in one line ('' when nothing is cut)."""
        limit = int(self.config.get("max_length") or 0)
        if not limit or self._tokenizer is None or self._fit(texts, query, limit):
            return ""
        counts = self.token_counts(texts, query)
        long = [n for n in counts if n > limit]
        if not long:
            return ""
        if query:
            return (f"the query is {long[0]} tokens, more than the {limit} this model reads: "
                    f"it was embedded from its first {limit} tokens")
        return (f"{len(long)} of {len(texts)} texts are longer than the {limit} tokens this model "
                f"reads (up to {max(long)}): each was embedded from its first {limit} tokens")


class RerankerSession(ScoringSession):
    """A cross-encoder's scores: ``RerankerSession("tiny-rerank").rerank(query, texts)``.

    ``rerank(query, texts, top_n=None)`` returns every text as (index, score), best first (only
    the best ``top_n`` when given); scores are the model's sigmoid relevance in [0, 1]. Models that
    want a prompt around query and text (Qwen3-Reranker) get it from the catalog's templates
    (``ovnb.layout.rerank_format``). ``**config``: TextRerankPipeline.Config fields (``max_length``
    bounds query plus text, in tokens; longer pairs are cut). Errors: one line, and [].
    """

    family = RERANK
    fields = RERANK_FIELDS

    def _genai_config(self, fields: dict[str, Any]) -> Any:
        import openvino_genai as ov_genai

        return ov_genai.TextRerankPipeline.Config(top_n=RERANK_BATCH, **fields)

    def _loaded_model(self, loaded: Loaded[Any]) -> None:
        self.templates = layout.rerank_format(loaded.folder)

    def rerank(self, query: str, texts: str | Iterable[str], top_n: int | None = None) -> Ranking:
        """(index, score) of each text for ``query``, best first; blocks. [] on error."""
        return self.call(self.submit_rerank(query, texts, top_n, queue=True), [])

    def submit_rerank(self, query: str, texts: str | Iterable[str], top_n: int | None = None,
                      queue: bool = False) -> Job[Ranking] | None:
        """Start reranking without waiting (the view's button); None when refused."""
        query, texts = check_text(query, "the query"), check_texts(texts)
        check_top_n(top_n)
        problem = ("empty query: type what to rank the texts for" if not query.strip()
                   else empty_texts(texts, "rerank"))
        if problem:
            self.refuse(problem)
            return None
        return self.start(lambda loaded, job: self._rerank(loaded, job, query, texts, top_n),
                          queue=queue)

    def score(self, query: str, texts: Sequence[str]) -> Ranking:
        """For another session's worker (a Retriever): the full ranking; raises OvnbError."""
        query, texts = check_text(query, "the query"), check_texts(texts)
        outcome = self.run(lambda loaded, job: self._rerank(loaded, job, query, list(texts), None))
        if not outcome.ok or outcome.value is None:
            raise Stopped(outcome.note) if outcome.note else OvnbError(outcome.error or
                                                                       "reranking failed")
        return outcome.value

    def _rerank(self, loaded: Loaded[Any], job: Job[Any], query: str, texts: list[str],
                top_n: int | None) -> Ranking:
        started = time.perf_counter()
        asked = self.templates["query"].replace("{query}", query)
        dressed = [self.templates["document"].replace("{document}", t) for t in texts]
        scored: Ranking = []
        for start in range(0, len(dressed), RERANK_BATCH):
            if job.stopped:
                raise Stopped(f"stopped after {start} of {len(texts)} texts")
            chunk = dressed[start:start + RERANK_BATCH]
            scored += [(start + i, float(s)) for i, s in loaded.pipe.rerank(asked, chunk)]
            job.progressed()
        ranking = sorted(scored, key=lambda pair: (-pair[1], pair[0]))[:top_n]
        self._finished(len(texts), started, query, texts, ranking)
        return ranking


def check_pictures(value: Any, what: str) -> list[Any]:
    """``images=`` or ``videos=`` as a list (one picture is a list of one; None is none); a
    TypeError naming what a picture may be, before any file is read."""
    if value is None:
        return []
    listed = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in listed:
        if not picture_source(item):
            raise TypeError(f"{what} must be file paths, arrays, PIL images (or clips) or a list "
                            f"of them, not {type(item).__name__}")
    return listed


def picture_source(item: Any) -> bool:
    """Whether ``ovnb.images`` or ``ovnb.video`` can be asked to read ``item`` (cheap: nothing
    is opened)."""
    from PIL import Image

    from ovnb.video import VideoClip

    return isinstance(item, (str, os.PathLike, bytes, np.ndarray, Image.Image, VideoClip))


def check_read(pictures: Any) -> list[Any]:
    """Pictures as ``ovnb.pictures.read`` gives them (Picture or VideoClip), or a TypeError."""
    from ovnb.images import Picture
    from ovnb.video import VideoClip

    listed = list(pictures) if isinstance(pictures, (list, tuple)) else None
    if listed is None or not all(isinstance(p, (Picture, VideoClip)) for p in listed):
        raise TypeError("pictures must be a list of what ovnb.pictures.read gives (Picture or "
                        f"VideoClip), not {type(pictures).__name__}")
    return listed


def embeds_pictures(model: Any) -> bool:
    """Whether ``model`` (a catalog id or a prepared folder) is a multimodal embedder: told by
    the catalog's ``images`` flag, or by what the folder holds."""
    if not isinstance(model, (str, os.PathLike)):
        return False
    entry = catalogs.find(str(model))
    if entry is not None:
        return bool(entry.get("images"))
    path = Path(str(model)).expanduser()
    return path.is_dir() and layout.family_of(path) is MULTIMODAL_EMBEDDING


def multimodal_ids() -> list[str]:
    """The catalog's multimodal embedders (``"images": true``), to name in messages."""
    return [e["id"] for e in catalogs.catalog(MULTIMODAL_EMBEDDING.task) if e.get("images")]


def check_texts(texts: Any) -> list[str]:
    """``texts`` as a list of str (one str is one text); a TypeError naming what was expected."""
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a list of str, not {type(texts).__name__}")
    listed = list(texts)
    for text in listed:
        if not isinstance(text, str):
            raise TypeError(f"texts must be a list of str, not a list holding "
                            f"{type(text).__name__}")
    return listed


def empty_texts(texts: list[str], what: str = "embed") -> str:
    """Why these texts cannot be ``what``-ed ('' when they can): none, or one that is blank (a
    blank text still gets a vector, pointing nowhere in particular)."""
    if not texts:
        return f"no texts to {what}: pass a list of strings"
    blank = [i for i, text in enumerate(texts) if not text.strip()]
    if blank:
        which = f"text {blank[0]}" if len(texts) > 1 else "the text"
        return (f"{which} is empty: every text to {what} needs some words (drop the empty "
                "ones)")
    return ""


def check_top_n(top_n: Any) -> None:
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise ValueError(f"top_n must be a whole number of at least 1 (or None: all), not "
                         f"{top_n!r}")
