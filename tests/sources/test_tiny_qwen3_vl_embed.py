"""tiny-qwen3-vl-embed: a seeded random Qwen3-VL embedder that builds offline, exports for
``feature-extraction`` and runs in openvino_genai's EmbeddingPipeline on texts, images and videos.

What these tests pin, all in f32 (this CPU defaults to bf16):
- every input gives one vector of the model's width (32), L2-normalized, pooled at the last token
  (the pipeline's default for a multimodal model): texts, images and videos share one space;
- ``embed(text, images=..., videos=...)`` gives ONE vector per text, the pictures joined to it
  (appended after the text): a list of images in one call is one vector, not one per image;
- a batch of texts equals the texts one at a time, but a batch of texts WITH pictures fails
  (genai passes the last text's vision mask for the whole batch): embed pictures one per call;
- ``embedding_prompt=`` puts the prompt in a system turn of the chat template;
- ``text_embedding_config=Config()`` replaces the last-token default with Config's CLS.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovnb import layout
from ovnb.export import export
from ovnb.sources import tiny_qwen3_vl_embed
from ovnb.video import load_video, samples
from tests.conftest import F32

pytestmark = pytest.mark.slow  # builds and exports a model

HIDDEN = tiny_qwen3_vl_embed.HIDDEN
IMAGES = Path(layout.__file__).parent / "data" / "images"
TEXTS = ["a red boat on the sea", "a house", "find the photo of the red boat"]
PROMPT = "Represent the user's input."


def picture(name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(IMAGES / f"{name}.png").convert("RGB"))


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def tensor(array: np.ndarray) -> Any:
    import openvino

    return openvino.Tensor(np.ascontiguousarray(array))


def vectors(pipe: Any, text: str | list[str] = "", **inputs: Any) -> np.ndarray:
    """The embeddings of one call, as a [rows, width] array."""
    result = pipe.embed(text, **inputs).embeddings
    return np.array(result.data).reshape(tuple(result.shape))


def pooling(name: str) -> Any:
    import openvino_genai

    return openvino_genai.TextEmbeddingPipeline.PoolingType.__members__[name]


def distinct(rows: np.ndarray) -> bool:
    """No two rows (nearly) equal."""
    return all(np.abs(rows[i] - rows[j]).max() > 1e-3
               for i in range(len(rows)) for j in range(i + 1, len(rows)))


def unit(rows: np.ndarray) -> bool:
    return bool(np.isfinite(rows).all()) and np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-qwen3-vl-embed-src")
    tiny_qwen3_vl_embed.build("tiny-qwen3-vl-embed", out)
    return out


@pytest.fixture(scope="module")
def folder(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export: optimum-intel's feature-extraction task, through ovnb.export (ovnb.exportcli
    lifts Qwen3-VL's transformers ceiling); the vision-chat family's fixups write the processor
    files a VLM folder needs, which an embedder needs as well."""
    out = tmp_path_factory.mktemp("tiny-qwen3-vl-embed-ov")
    export(built, out, "vision-chat", "fp16", {"task": "feature-extraction"})
    return out


@pytest.fixture(scope="module")
def pipe(folder: Path) -> Any:
    import openvino_genai

    return openvino_genai.EmbeddingPipeline(str(folder), "CPU", **F32)


@pytest.fixture(scope="module")
def clip() -> Any:
    return load_video(samples()["sailboat"])


def test_export_makes_a_multimodal_embedding_folder(folder: Path) -> None:
    import openvino

    for name in ("language_model", "text_embeddings_model", "vision_embeddings_model",
                 "vision_embeddings_merger_model", "vision_embeddings_pos_model", "tokenizer"):
        assert (folder / f"openvino_{name}.xml").is_file(), name
    model = openvino.Core().read_model(folder / "openvino_language_model.xml")
    inputs = {i.any_name for i in model.inputs}
    assert {"inputs_embeds", "visual_pos_masks", "deepstack_visual_embeds"} <= inputs
    # the pipeline pools the output it finds as "logits": here the last hidden state (no LM head)
    assert [(o.any_name, o.partial_shape[2].get_length()) for o in model.outputs] == [
        ("logits", HIDDEN)]
    image = json.loads((folder / "preprocessor_config.json").read_text())
    assert image["patch_size"] == tiny_qwen3_vl_embed.PATCH_SIZE
    assert image["size"]["longest_edge"] == tiny_qwen3_vl_embed.MAX_PIXELS
    video = json.loads((folder / "video_preprocessor_config.json").read_text())
    assert video["do_sample_frames"] is False
    template = json.loads((folder / "chat_template.json").read_text())["chat_template"]
    assert template == tiny_qwen3_vl_embed.CHAT_TEMPLATE


def test_texts_give_distinct_unit_vectors(pipe: Any) -> None:
    one = vectors(pipe, TEXTS[0])
    assert one.shape == (1, HIDDEN) and unit(one)
    rows = vectors(pipe, TEXTS)
    assert rows.shape == (3, HIDDEN) and unit(rows) and distinct(rows)
    assert np.array_equal(vectors(pipe, TEXTS[0]), one)


def test_a_batch_of_texts_equals_the_texts_one_at_a_time(pipe: Any) -> None:
    rows = vectors(pipe, TEXTS)  # of different lengths: padded on the right, pooled at each end
    alone = np.concatenate([vectors(pipe, text) for text in TEXTS])
    assert np.abs(rows - alone).max() < 1e-5


def test_images_give_unit_vectors_in_the_texts_space(pipe: Any) -> None:
    boat, house = picture("sailboat"), picture("house")
    rows = np.concatenate([vectors(pipe, images=[tensor(image)])
                           for image in (boat, house, noise((48, 64, 3)))])
    assert rows.shape == (3, HIDDEN) and unit(rows) and distinct(rows)
    # an image is [H, W, 3] or [1, H, W, 3] u8; the same image gives the same vector
    assert np.array_equal(vectors(pipe, images=[tensor(boat[None])]), rows[:1])
    text, both = vectors(pipe, "a red boat"), vectors(pipe, "a red boat", images=[tensor(boat)])
    assert distinct(np.concatenate([text, rows[:1], both]))


def test_several_images_in_one_call_give_one_vector(pipe: Any) -> None:
    boat, house = picture("sailboat"), picture("house")
    joined = vectors(pipe, images=[tensor(boat), tensor(house)])
    assert joined.shape == (1, HIDDEN) and unit(joined)
    apart = np.concatenate([vectors(pipe, images=[tensor(image)]) for image in (boat, house)])
    assert distinct(np.concatenate([joined, apart]))
    assert distinct(np.concatenate([joined, vectors(pipe, images=[tensor(house), tensor(boat)])]))
    # a [N, H, W, 3] tensor is N images
    assert np.array_equal(vectors(pipe, images=[tensor(np.stack([boat, house]))]), joined)


def test_texts_with_pictures_must_go_one_per_call(pipe: Any) -> None:
    boat = tensor(picture("sailboat"))
    assert vectors(pipe, TEXTS[0], images=[boat]).shape == (1, HIDDEN)
    # genai joins the pictures to every text but gives the model the last text's vision mask
    with pytest.raises(RuntimeError, match="shape infer"):
        vectors(pipe, TEXTS[:2], images=[boat])


def test_a_video_gives_a_unit_vector_that_follows_its_frames(pipe: Any, clip: Any) -> None:
    assert clip.count == 8 and clip.frames.shape[1:] == (240, 320, 3)
    video = vectors(pipe, videos=[clip.tensor()], videos_metadata=[clip.metadata()])
    assert video.shape == (1, HIDDEN) and unit(video)
    again = vectors(pipe, videos=[clip.tensor()], videos_metadata=[clip.metadata()])
    assert np.array_equal(video, again)
    backwards = vectors(pipe, videos=[tensor(clip.frames[::-1])], videos_metadata=[clip.metadata()])
    first_frame = vectors(pipe, images=[tensor(clip.frames[0])])
    assert distinct(np.concatenate([video, backwards, first_frame]))


def test_a_videos_frame_times_are_part_of_its_vector(pipe: Any, clip: Any) -> None:
    # Qwen3-VL writes "<t seconds>" before each frame pair: t comes from the metadata's fps
    metadata = clip.metadata()
    other = clip.metadata()
    other.fps = 2 * metadata.fps
    timed = [vectors(pipe, videos=[clip.tensor()], videos_metadata=[m]) for m in (metadata, other)]
    assert distinct(np.concatenate(timed))


@pytest.mark.parametrize("frames", [1, 3])
def test_odd_frame_counts_are_taken(pipe: Any, clip: Any, frames: int) -> None:
    video = tensor(clip.frames[:frames])  # frames go in pairs: the last is repeated
    assert unit(vectors(pipe, videos=[video]))


def test_an_image_and_a_video_in_one_call_give_one_vector(pipe: Any, clip: Any) -> None:
    boat = tensor(picture("sailboat"))
    both = vectors(pipe, images=[boat], videos=[clip.tensor()], videos_metadata=[clip.metadata()])
    assert both.shape == (1, HIDDEN) and unit(both)
    video = vectors(pipe, videos=[clip.tensor()], videos_metadata=[clip.metadata()])
    assert distinct(np.concatenate([both, vectors(pipe, images=[boat]), video]))


def test_pooling_is_last_token_and_normalized_unless_told(folder: Path, pipe: Any) -> None:
    import openvino_genai

    def made(**properties: Any) -> Any:
        return openvino_genai.EmbeddingPipeline(str(folder), "CPU", **F32, **properties)

    default = vectors(pipe, TEXTS)
    assert np.array_equal(vectors(made(pooling_type=pooling("LAST_TOKEN")), TEXTS), default)
    for name in ("MEAN", "CLS"):
        other = made(pooling_type=pooling(name))
        rows = vectors(other, TEXTS)
        assert unit(rows) and np.abs(rows - default).max(axis=1).min() > 1e-3, name
        alone = np.concatenate([vectors(other, text) for text in TEXTS])
        assert np.abs(rows - alone).max() < 1e-5, name
    raw = vectors(made(normalize=False), TEXTS)
    # the last hidden state after the model's final RMSNorm (weights 1): length sqrt(width)
    assert np.allclose(np.linalg.norm(raw, axis=1), np.sqrt(HIDDEN), atol=1e-3)
    assert np.allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), default, atol=1e-5)


def test_cls_pooling_of_a_causal_model_sees_only_the_first_token(folder: Path) -> None:
    import openvino_genai

    cls = openvino_genai.EmbeddingPipeline(str(folder), "CPU", **F32, pooling_type=pooling("CLS"))
    rows = vectors(cls, ["a red boat", "a house"])  # both begin with "a"
    assert np.abs(rows[0] - rows[1]).max() < 1e-6


def test_a_config_object_replaces_the_last_token_default(folder: Path, pipe: Any) -> None:
    import openvino_genai

    config = openvino_genai.TextEmbeddingPipeline.Config()
    assert config.pooling_type == pooling("CLS")
    given = openvino_genai.EmbeddingPipeline(str(folder), "CPU", **F32,
                                             text_embedding_config=config)
    cls = openvino_genai.EmbeddingPipeline(str(folder), "CPU", **F32, pooling_type=pooling("CLS"))
    assert np.array_equal(vectors(given, TEXTS), vectors(cls, TEXTS))
    config.pooling_type = pooling("LAST_TOKEN")
    last = openvino_genai.EmbeddingPipeline(str(folder), "CPU", **F32, text_embedding_config=config)
    assert np.array_equal(vectors(last, TEXTS), vectors(pipe, TEXTS))


def test_embedding_prompt_becomes_the_system_turn(pipe: Any) -> None:
    text, boat = TEXTS[0], tensor(picture("sailboat"))
    prompted = vectors(pipe, text, embedding_prompt=PROMPT)
    assert unit(prompted) and distinct(np.concatenate([prompted, vectors(pipe, text)]))
    turns = f"<|im_start|>system\n{PROMPT}<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n"
    assert np.array_equal(vectors(pipe, turns), prompted)
    # pictures are tagged after the text, inside the user turn
    tags = "<|vision_start|><|image_pad|><|vision_end|>"
    with_image = vectors(pipe, text, images=[boat], embedding_prompt=PROMPT)
    turns = f"<|im_start|>system\n{PROMPT}<|im_end|>\n<|im_start|>user\n{text}{tags}<|im_end|>\n"
    assert np.array_equal(vectors(pipe, turns, images=[boat]), with_image)


def test_another_pipeline_gives_the_same_vectors(folder: Path, pipe: Any, clip: Any) -> None:
    import openvino_genai

    other = openvino_genai.EmbeddingPipeline(str(folder), "CPU", **F32)
    for inputs in ({"text": TEXTS}, {"images": [tensor(picture("house"))]},
                   {"videos": [clip.tensor()], "videos_metadata": [clip.metadata()]}):
        assert np.array_equal(vectors(other, **inputs), vectors(pipe, **inputs))


def test_what_the_pipeline_refuses(pipe: Any) -> None:
    boat = picture("sailboat")
    with pytest.raises(RuntimeError, match="NHWC"):
        vectors(pipe, images=[tensor(boat[..., 0])])  # grey, no channel axis
    with pytest.raises(RuntimeError, match="u8"):
        vectors(pipe, images=[tensor(boat.astype(np.float32))])
    assert vectors(pipe, []).shape == (0, 0)


def test_pooling_files_say_last_token_normalized(built: Path) -> None:
    assert layout.embedding_config(built) == {"pooling_type": "LAST_TOKEN", "normalize": True}


def test_building_twice_gives_identical_fp32_files(built: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    tiny_qwen3_vl_embed.build("tiny-qwen3-vl-embed", tmp_path)

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in root.rglob("*") if p.is_file()}

    assert digests(built) == digests(tmp_path)
    with safe_open(built / "model.safetensors", "pt") as weights:
        names = weights.keys()  # a safe_open is not iterable
        dtypes = {str(weights.get_slice(k).get_dtype()) for k in names}
    assert dtypes == {"F32"}
