"""Embedder and Retriever on tiny-qwen3-vl-embed (f32): the search box finds pictures, shown as a
grid of thumbnails with their scores beside the table of passages; what the widget's methods give
equals the bare EmbeddingPipeline's vectors. The session's own behaviour is tested in
tests/sessions/test_multimodal.py and test_picture_search.py."""
from __future__ import annotations

import base64
import html
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import ovnb
from ovnb.images import load_image
from ovnb.passages import Passage
from tests.conftest import F32, _prepared

tiny_embed = _prepared("tiny-embed")

PICTURES = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "pictures"
QUERY = "find the photo of the red boat"


@pytest.fixture()
def album(tmp_path: Path) -> Path:
    folder = Path(shutil.copytree(PICTURES, tmp_path / "album"))
    (folder / "note.md").write_text("A red boat was seen on the lake at dawn.\n")
    shutil.copyfile(ovnb.video.samples()["sailboat"], folder / "sail <boat>.mp4")
    return folder


@pytest.fixture()
def retriever(tiny_qwen3_vl_embed: Path) -> ovnb.Retriever:
    return ovnb.Retriever(ovnb.Embedder(tiny_qwen3_vl_embed, properties=F32))


def test_the_embedder_widget_embeds_pictures_as_the_bare_pipeline(tiny_qwen3_vl_embed: Path
                                                                  ) -> None:
    import openvino_genai as ov_genai

    embedder = ovnb.Embedder(tiny_qwen3_vl_embed, properties=F32)
    boat = PICTURES / "red-boat.png"
    made = embedder.embed(["a red boat"], images=[boat])
    bare = ov_genai.EmbeddingPipeline(str(tiny_qwen3_vl_embed), "CPU", **F32)
    expected = [bare.embed("a red boat").embeddings, bare.embed(
        "", images=[load_image(boat).tensor()]).embeddings]
    np.testing.assert_allclose(made, np.vstack([np.array(e.data) for e in expected]), atol=1e-6)
    assert embedder.embed(images=[]) is None and "nothing to embed" in \
        embedder.view.error_line.value


def test_the_search_box_shows_pictures_as_thumbnails_with_scores(retriever: ovnb.Retriever,
                                                                 album: Path) -> None:
    assert retriever.add(album) == 7
    retriever.k = 7
    retriever.view.controls["query"].value = QUERY  # Enter: the view searches on a worker
    retriever.session.join()
    results = retriever.results
    assert retriever.query == QUERY and len(results) == 7
    assert retriever.search(QUERY) == results  # the box and the method agree
    grid = retriever.view.gallery.value
    shown = [(p, s) for p, s in results if isinstance(p, Path)]
    assert grid.count("<figure") == len(shown) == 6
    assert grid.count("data:image/png;base64,") == 6
    for path, score in shown:
        assert html.escape(path.name) in grid and f"{score:.3f}" in grid
    assert "sail &lt;boat&gt;.mp4" in grid and "▶ " in grid  # a clip, its name escaped
    captions = re.findall(r"<span class='ovnb-quiet'>(\d+)</span> · ([0-9.-]+)", grid)
    assert [float(s) for _, s in captions] == sorted((float(s) for _, s in captions),
                                                      reverse=True)
    table = retriever.view.table.value
    assert table.count("<tr>") == 2 and "note.md #1" in table and ".png" not in table


def test_a_thumbnail_is_the_picture_made_small(retriever: ovnb.Retriever, album: Path) -> None:
    import io

    from PIL import Image

    retriever.add(album / "red-boat.png")
    retriever.search(QUERY)
    found = re.search(r"base64,([^']+)'", retriever.view.gallery.value)
    assert found is not None
    thumb = Image.open(io.BytesIO(base64.b64decode(found.group(1))))
    assert max(thumb.size) == 128 and thumb.size == (128, 96)
    colours = np.asarray(thumb.convert("RGB")).reshape(-1, 3)
    assert (np.abs(colours - [200, 30, 30]).sum(axis=1) < 30).any()  # the red boat is there


def test_a_picture_gone_since_it_was_indexed_says_so_in_its_place(retriever: ovnb.Retriever,
                                                                  album: Path) -> None:
    retriever.add(album / "red-apple.png")
    (album / "red-apple.png").unlink()
    found = retriever.search(QUERY)
    assert [p.name for p, _ in found] == ["red-apple.png"] and retriever.last_error == ""
    assert "cannot be read now" in retriever.view.gallery.value


def test_a_text_only_search_shows_no_grid(retriever: ovnb.Retriever) -> None:
    retriever.add(["a red boat on the lake", "snow on the mountains"])
    found = retriever.search(QUERY)
    assert all(isinstance(p, Passage) for p, _ in found) and retriever.view.gallery.value == ""
    assert retriever.view.table.value.count("<tr>") == 3


def upload(name: str, data: bytes) -> dict:
    """One file of a FileUpload value, as the browser sends it."""
    import datetime

    return {"name": name, "type": "", "size": len(data), "content": memoryview(data),
            "last_modified": datetime.datetime.now(datetime.timezone.utc)}


def test_uploaded_pictures_are_kept_as_files_and_found(retriever: ovnb.Retriever) -> None:
    assert ".png" in retriever.view.controls["upload"].accept
    boat = (PICTURES / "red-boat.png").read_bytes()
    retriever.view.controls["upload"].value = [upload("red-boat.png", boat),
                                               upload("note.md", b"The red boat is moored.")]
    retriever.session.join()
    assert retriever.last_error == "" and len(retriever) == 2
    picture = next(p for p in retriever.passages if isinstance(p, Path))
    assert picture.name == "red-boat.png" and picture.read_bytes() == boat
    assert retriever.sources == ["note.md", "red-boat.png"]
    retriever.search(QUERY)
    assert retriever.view.gallery.value.count("data:image/png;base64,") == 1


def test_a_text_retriever_refuses_an_uploaded_picture_naming_the_fix(tiny_embed: Path) -> None:
    retriever = ovnb.Retriever(ovnb.Embedder(tiny_embed, properties=F32))
    assert ".png" not in retriever.view.controls["upload"].accept
    retriever.view.controls["upload"].value = [
        upload("red-boat.png", (PICTURES / "red-boat.png").read_bytes())]
    retriever.session.join()
    assert retriever.last_error.startswith("tiny-embed embeds texts only, not pictures "
                                           "(red-boat.png)")
    assert "multimodal Embedder" in retriever.view.error_line.value and len(retriever) == 0
