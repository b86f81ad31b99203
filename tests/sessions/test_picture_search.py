"""RetrieverSession over pictures: a folder's images and clips indexed with tiny-qwen3-vl-embed
(f32) beside its texts, searched by text; scores checked against the bare_vl_embed EmbeddingPipeline."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovnb.images import load_image
from ovnb.passages import Passage
from ovnb.sessions.embedding import EmbedderSession, RerankerSession
from ovnb.sessions.retrieval import RetrieverSession
from ovnb.video import load_video
from ovnb.video import samples as video_samples
from tests.conftest import F32, _prepared
from tests.embeddings import rows

tiny_embed = _prepared("tiny-embed")
tiny_rerank = _prepared("tiny-rerank")

PICTURES = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "pictures"
NOTE = "A red boat was seen on the lake at dawn.\n"
QUERY = "find the photo of the red boat"



@pytest.fixture()
def album(tmp_path: Path) -> Path:
    """The notebook's pictures, the sample clip and a note, in one folder."""
    folder = Path(shutil.copytree(PICTURES, tmp_path / "album"))
    shutil.copyfile(video_samples()["sailboat"], folder / "sailboat.mp4")
    (folder / "note.md").write_text(NOTE)
    return folder


@pytest.fixture()
def retriever(tiny_qwen3_vl_embed: Path) -> RetrieverSession:
    return RetrieverSession(EmbedderSession(tiny_qwen3_vl_embed, properties=F32))


def bare_vector(bare_vl_embed: Any, item: Any) -> np.ndarray:
    if isinstance(item, Passage):
        return rows(bare_vl_embed, str(item))[0]
    if item.suffix == ".mp4":
        clip = load_video(item)
        return rows(bare_vl_embed, videos=[clip.tensor()], videos_metadata=[clip.metadata()])[0]
    return rows(bare_vl_embed, images=[load_image(item).tensor()])[0]


def test_a_folder_of_pictures_and_texts_is_searched_by_text(retriever: RetrieverSession,
                                                            album: Path, bare_vl_embed: Any) -> None:
    assert retriever.add(album) == 7
    items = retriever.passages
    assert [i for i in items if isinstance(i, Passage)] == [NOTE.strip()]
    assert sorted(p.name for p in items if isinstance(p, Path)) == sorted(
        [p.name for p in PICTURES.glob("*.png")] + ["sailboat.mp4"])
    assert retriever.sources[0] == "note.md" and "red-boat.png" in retriever.sources
    assert retriever.status == "1 passage and 6 pictures from 7 documents"
    expected = np.array([bare_vector(bare_vl_embed, item) for item in items])
    np.testing.assert_allclose(retriever.vectors, expected, atol=1e-5)
    found = retriever.search(QUERY, k=7)
    scores = expected @ rows(bare_vl_embed, QUERY)[0]
    assert [item for item, _ in found] == [items[i] for i in np.argsort(-scores, kind="stable")]
    assert [s for _, s in found] == pytest.approx(sorted(scores, reverse=True), abs=1e-5)
    assert all(isinstance(item, (Path, Passage)) for item, _ in found)


def test_a_file_it_cannot_read_is_skipped_and_named(retriever: RetrieverSession,
                                                    album: Path) -> None:
    (album / "broken.png").write_bytes(b"not a png")
    (album / "cut.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    assert retriever.add(album) == 7 and retriever.last_error == ""
    assert "skipped broken.png (not an image" in retriever.status
    assert "cut.mp4" in retriever.status and "\n" not in retriever.status
    assert "broken.png" not in retriever.sources and "broken.png" in retriever.note


def test_only_unreadable_pictures_add_nothing_and_keep_the_index(retriever: RetrieverSession,
                                                                 album: Path,
                                                                 tmp_path: Path) -> None:
    retriever.add(album / "red-boat.png")
    kept = (retriever.passages, retriever.vectors.copy(), retriever.sources)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert retriever.add(broken) == 0
    assert retriever.last_error.startswith("none of the 1 pictures could be read (broken.png")
    assert (retriever.passages, retriever.sources) == (kept[0], kept[2])
    np.testing.assert_array_equal(retriever.vectors, kept[1])
    assert retriever.add(album / "red-apple.png") == 1 and len(retriever) == 2
    assert retriever.status == "2 pictures from 2 documents"


def test_a_text_embedder_indexes_a_folders_texts_and_names_the_pictures_skipped(
        tiny_embed: Path, album: Path) -> None:
    retriever = RetrieverSession(EmbedderSession(tiny_embed, properties=F32))
    assert retriever.add(album) == 1 and retriever.sources == ["note.md"]
    assert retriever.note.startswith("6 pictures skipped: tiny-embed embeds texts only")
    assert retriever.add(album / "red-boat.png") == 0
    assert "make the Retriever with a multimodal Embedder (tiny-qwen3-vl-embed" in \
        retriever.last_error
    assert len(retriever) == 1


def test_a_reranker_reads_the_passages_and_pictures_follow(tiny_qwen3_vl_embed: Path,
                                                           tiny_rerank: Path, album: Path) -> None:
    retriever = RetrieverSession(EmbedderSession(tiny_qwen3_vl_embed, properties=F32),
                                 RerankerSession(tiny_rerank, properties=F32), k=9, candidates=9)
    retriever.add([album, "The apple on the table is red.", "Snow lies on the mountains."])
    found = retriever.search(QUERY)
    kinds = [isinstance(item, Passage) for item, _ in found]
    assert kinds == sorted(kinds, reverse=True) and sum(kinds) == 3 and len(found) == 9
    passages = [item for item, _ in found if isinstance(item, Passage)]
    assert [s for _, s in found[:3]] == sorted((s for _, s in found[:3]), reverse=True)
    assert set(passages) == {NOTE.strip(), "The apple on the table is red.",
                             "Snow lies on the mountains."}


def test_a_grounded_prompt_quotes_passages_only(retriever: RetrieverSession, album: Path) -> None:
    retriever.add(album)
    prompt, sources = retriever.ground(QUERY, k=7)
    assert [s["source"] for s in sources] == ["note.md"] and NOTE.strip() in prompt
    assert ".png" not in prompt
