"""MultimodalEmbedderSession on tiny-qwen3-vl-embed (f32), against the bare_vl_embed EmbeddingPipeline.

Every check compares with openvino_genai called directly (one picture per call, as the session
sends them), counts rows and messages, and races no clock.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovnb import layout
from ovnb.families import MULTIMODAL_EMBEDDING
from ovnb.images import load_image
from ovnb.images import samples as image_samples
from ovnb.sessions.embedding import EmbedderSession
from ovnb.sessions.multimodal import MultimodalEmbedderSession
from ovnb.video import load_video
from ovnb.video import samples as video_samples
from tests.conftest import F32, _prepared
from tests.embeddings import rows

tiny_embed = _prepared("tiny-embed")

TEXTS = ["a red boat on the sea", "a house with a tree", "find the photo of the red boat"]
BOAT, HOUSE = image_samples()["sailboat"], image_samples()["house"]
CLIP = video_samples()["sailboat"]
PROMPT = "Represent the user's input."



@pytest.fixture()
def embedder(tiny_qwen3_vl_embed: Path) -> EmbedderSession:
    session = EmbedderSession(tiny_qwen3_vl_embed, properties=F32)
    session.wait_loaded()
    return session


def test_a_multimodal_model_gets_its_own_session(embedder: EmbedderSession,
                                                 tiny_qwen3_vl_embed: Path) -> None:
    # prepared offline: its folder is told as such and keeps the pooling files the export drops
    assert layout.kind_of(tiny_qwen3_vl_embed) == "multimodal-embedding"
    assert (tiny_qwen3_vl_embed / "1_Pooling" / "config.json").is_file()
    assert isinstance(embedder, MultimodalEmbedderSession) and embedder.takes_pictures
    assert embedder.family is MULTIMODAL_EMBEDDING
    assert embedder.config["pooling_type"] == "LAST_TOKEN" and embedder.last_error == ""


def test_texts_images_and_clips_equal_the_bare_pipeline(embedder: EmbedderSession,
                                                        bare_vl_embed: Any) -> None:
    made = embedder.embed(TEXTS, images=[str(BOAT), HOUSE], videos=CLIP)
    clip = load_video(CLIP)
    expected = np.vstack([
        rows(bare_vl_embed, TEXTS),
        rows(bare_vl_embed, images=[load_image(BOAT).tensor()]),
        rows(bare_vl_embed, images=[load_image(HOUSE).tensor()]),
        rows(bare_vl_embed, videos=[clip.tensor()], videos_metadata=[clip.metadata()])])
    assert made.dtype == np.float32 and made.shape == (6, 32) and embedder.dim == 32
    np.testing.assert_allclose(made, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(made, axis=1), 1.0, atol=1e-5)
    assert embedder.metrics["texts"] == 6 and embedder.last_error == ""


def test_each_picture_is_its_own_row_in_the_order_given(embedder: EmbedderSession) -> None:
    both = embedder.embed(images=[BOAT, HOUSE])
    alone = np.vstack([embedder.embed(images=BOAT), embedder.embed(images=HOUSE)])
    np.testing.assert_allclose(both, alone, atol=1e-6)
    assert np.abs(both[0] - both[1]).max() > 1e-3
    pixels = load_image(HOUSE).pixels  # an array is a picture too
    np.testing.assert_allclose(embedder.embed(images=pixels), both[1:], atol=1e-6)


def test_queries_rank_pictures_by_cosine(embedder: EmbedderSession, bare_vl_embed: Any) -> None:
    query = embedder.embed_query(TEXTS[2])
    np.testing.assert_allclose(query, rows(bare_vl_embed, TEXTS[2])[0], atol=1e-6)
    pictures = embedder.embed(images=[BOAT, HOUSE])
    np.testing.assert_allclose(pictures @ query,
                               [float(rows(bare_vl_embed, images=[load_image(p).tensor()])[0] @ query)
                                for p in (BOAT, HOUSE)], atol=1e-5)


def test_the_models_prompt_is_its_system_turn(tiny_qwen3_vl_embed: Path, bare_vl_embed: Any) -> None:
    session = EmbedderSession(tiny_qwen3_vl_embed, properties=F32, query_instruction=PROMPT,
                              embed_instruction=PROMPT)
    np.testing.assert_allclose(session.embed_query(TEXTS[0]),
                               rows(bare_vl_embed, TEXTS[0], embedding_prompt=PROMPT)[0], atol=1e-6)
    np.testing.assert_allclose(session.embed(images=BOAT),
                               rows(bare_vl_embed, images=[load_image(BOAT).tensor()],
                                    embedding_prompt=PROMPT), atol=1e-6)
    assert np.abs(session.embed(TEXTS[:1]) - rows(bare_vl_embed, TEXTS[0])).max() > 1e-3


def test_pooling_is_last_token_when_the_folder_names_none(tiny_qwen3_vl_embed: Path, bare_vl_embed: Any,
                                                           tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_qwen3_vl_embed, tmp_path / "m"))
    (copy / "modules.json").unlink()  # Config() would pool CLS: the first token, the same for all
    (copy / "ovnb.json").unlink()  # a folder exported elsewhere: told by its files
    session = EmbedderSession(copy, properties=F32)
    made = session.embed(["a red boat", "a house"])
    assert session.config["pooling_type"] == "LAST_TOKEN"
    np.testing.assert_allclose(made, rows(bare_vl_embed, ["a red boat", "a house"]), atol=1e-6)


def test_what_is_refused_is_one_line_and_runs_nothing(embedder: EmbedderSession,
                                                      tmp_path: Path) -> None:
    before = dict(embedder.metrics)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    for call, said in [
        (lambda: embedder.embed(["a boat", " "], images=BOAT), "text 1 is empty"),
        (lambda: embedder.embed(), "nothing to embed: pass texts="),
        (lambda: embedder.embed(images=broken), "broken.png is not an image"),
        (lambda: embedder.embed(images=tmp_path / "gone.png"), "check the path"),
    ]:
        assert call() is None
        assert said in embedder.last_error and "\n" not in embedder.last_error
    assert embedder.metrics == before
    with pytest.raises(TypeError, match="images must be file paths, arrays"):
        embedder.embed(images=[3])
    with pytest.raises(TypeError, match="videos must be"):
        embedder.embed(videos={"a": 1})
    assert embedder.embed(images=BOAT).shape == (1, 32) and embedder.last_error == ""


def test_a_text_embedder_refuses_pictures_naming_the_fix(tiny_embed: Path) -> None:
    session = EmbedderSession(tiny_embed, properties=F32)
    assert type(session) is EmbedderSession and not session.takes_pictures
    assert session.embed(["a boat"], images=[BOAT]) is None
    assert session.last_error.startswith("tiny-embed embeds texts only, not pictures")
    assert "tiny-qwen3-vl-embed" in session.last_error
    assert session.embed(["a boat"]).shape == (1, 32)  # texts as before
    assert session.embed(texts="a boat").shape == (1, 32) and session.last_error == ""
