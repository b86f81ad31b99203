"""Texts, images and clips in one vector space: openvino_genai's EmbeddingPipeline as a session.

``MultimodalEmbedderSession`` is what ``EmbedderSession(model)`` becomes for a multimodal model
(Qwen3-VL-Embedding): ``embed(texts, images=..., videos=...)`` gives a unit vector per text, per
image and per clip, all comparable by cosine similarity. What the pipeline does that shapes this
(openvino_genai 2026.4.1, pinned by tests/sources/test_tiny_qwen3_vl_embed.py):

- ``pipe.embed(text, images=[...])`` gives ONE vector per text with every picture of the call
  joined to it, and a batch of texts with pictures fails: each picture goes in a call of its own;
  batches of plain texts equal the texts one at a time, so texts still go in batches;
- ``embed("")`` with no picture returns whatever the last call left: empty texts are refused;
- a ``Config()`` replaces the model's last-token pooling with CLS (a causal model's first token
  sees nothing else): the pooling is always given, LAST_TOKEN unless the model's files say other;
- images must be RGB uint8 [H, W, 3] (``ovnb.images`` reads any file, array or PIL image so);
- a clip's vector depends on the times of its frames (Qwen3-VL writes "<t seconds>" before each
  pair): every clip goes with its metadata, the sampled frames' own rate (``VideoClip.metadata``).

The model's prompt (the catalog's ``instructions``) is given as ``embedding_prompt``, which the
chat template makes the system turn, for queries and documents alike.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError, Stopped
from ovnb.families import MULTIMODAL_EMBEDDING, Family
from ovnb.images import load_image
from ovnb.runtime.jobs import Job
from ovnb.runtime.pipelines import Loaded
from ovnb.sessions.embedding import EMBED_BATCH, EmbedderSession, check_read
from ovnb.video import VideoClip, load_video

LAST_TOKEN = "LAST_TOKEN"  # how a causal VLM embedder pools, unless its files say other
PROMPTS = ("query_instruction", "embed_instruction")  # given as embedding_prompt, not prefixes


def build(family: Family, folder: Path, device: str, properties: dict[str, Any],
          config: Any = None) -> Any:
    """The family's builder: an EmbeddingPipeline told its Config (pooling given explicitly)."""
    import openvino_genai as ov_genai

    return ov_genai.EmbeddingPipeline(str(folder), device, text_embedding_config=config,
                                      **properties)


class MultimodalEmbedderSession(EmbedderSession):
    """Texts and pictures to unit vectors in one space (see the module docstring).

    ``embed(texts=None, images=None, videos=None)``: rows for the texts, then the images, then the
    clips; ``embed_query(text)``, ``rank(query, texts)`` as for a text embedder; a Retriever made
    with it indexes a folder's pictures beside its texts.
    """

    family = MULTIMODAL_EMBEDDING
    takes_pictures = True

    def _model_config(self, folder: Path) -> dict[str, Any]:
        config = super()._model_config(folder)
        if not (folder / "modules.json").is_file():  # no pooling named: not Config's CLS
            config["pooling_type"] = LAST_TOKEN
        return config

    def _genai_config(self, fields: dict[str, Any]) -> Any:
        return super()._genai_config({k: v for k, v in fields.items() if k not in PROMPTS})

    def _pictures_refused(self, count: int) -> str:
        return ""

    def _read_pictures(self, images: list[Any], videos: list[Any]) -> list[Any] | None:
        """Images and clips read before the run (a bad one refused in a line, nothing run)."""
        try:
            return [*(load_image(i) for i in images), *(load_video(v) for v in videos)]
        except OvnbError as exc:
            self.refuse(str(exc))
            return None

    def encode_pictures(self, pictures: Sequence[Any]) -> tuple[np.ndarray, str]:
        """For a Retriever's worker: the vectors of pictures read (``ovnb.pictures.read``), through
        this session's lifecycle; raises OvnbError in one line on failure."""
        pictures = check_read(pictures)

        def work(loaded: Loaded[Any], job: Job[tuple[np.ndarray, str]]) -> tuple[np.ndarray, str]:
            started = time.perf_counter()
            made = self._picture_vectors(loaded, job, pictures)
            self._finished(len(pictures), started, note=made[1], vectors=made[0])
            return made

        outcome = self.run(work)
        if not outcome.ok or outcome.value is None:
            raise Stopped(outcome.note) if outcome.note else OvnbError(outcome.error or
                                                                       "embedding failed")
        return outcome.value

    # on the worker --------------------------------------------------------------------------------
    def _prompt(self, query: bool) -> dict[str, str]:
        prompt = self.config.get("query_instruction" if query else "embed_instruction")
        return {"embedding_prompt": prompt} if prompt else {}

    def _vectors(self, loaded: Loaded[Any], job: Job[Any], texts: list[str], query: bool
                 ) -> tuple[np.ndarray, str]:
        """Texts in batches (Stop is heard between them), with the model's prompt."""
        note = self._length_note(texts, query)
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), EMBED_BATCH):
            if job.stopped:
                raise Stopped(f"stopped after {start} of {len(texts)} texts: nothing was kept")
            rows.append(matrix(loaded.pipe.embed(texts[start:start + EMBED_BATCH],
                                                 **self._prompt(query))))
            job.progressed()
        return self._stacked(rows), note

    def _picture_vectors(self, loaded: Loaded[Any], job: Job[Any], pictures: Sequence[Any]
                         ) -> tuple[np.ndarray, str]:
        """One call per picture (pictures in one call make one vector); Stop heard between."""
        rows: list[np.ndarray] = []
        for done, picture in enumerate(pictures):
            if job.stopped:
                raise Stopped(f"stopped after {done} of {len(pictures)} pictures: nothing was "
                              "kept")
            rows.append(matrix(loaded.pipe.embed("", **inputs(picture), **self._prompt(False))))
            job.progressed()
        notes = [f"{p.name}: {n}" for p in pictures if isinstance(p, VideoClip) for n in p.notes]
        return self._stacked(rows), "; ".join(notes)

    def _stacked(self, rows: list[np.ndarray]) -> np.ndarray:
        vectors = np.vstack(rows).astype(np.float32)
        self._dim = vectors.shape[1]
        return vectors


def inputs(picture: Any) -> dict[str, Any]:
    """What ``EmbeddingPipeline.embed`` takes for one picture: an image, or a clip with its
    frames' times."""
    if isinstance(picture, VideoClip):
        return {"videos": [picture.tensor()], "videos_metadata": [picture.metadata()]}
    return {"images": [picture.tensor()]}


def matrix(result: Any) -> np.ndarray:
    """An EmbedResult's vectors as a [rows, dim] float32 array."""
    embeddings = result.embeddings
    return np.array(embeddings.data, dtype=np.float32).reshape(tuple(embeddings.shape))
