"""tiny-vlm: a seeded random LLaVA that prepares offline and runs in VLMPipeline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovnb.layout import kind_of
from ovnb.sources import tiny_vlm
from tests.conftest import F32

pytestmark = pytest.mark.slow

PROMPT = "What is in the picture?"
IMAGE_TOKENS = (tiny_vlm.IMAGE_SIZE // tiny_vlm.PATCH_SIZE) ** 2


def noise() -> np.ndarray:
    """A 48x64 RGB noise image: not square and not 32x32, so it is resized and cropped."""
    return np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def flag() -> np.ndarray:
    """A 32x32 image, red over blue."""
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[:16] = (200, 30, 30)
    image[16:] = (10, 10, 220)
    return image


def tensor(image: np.ndarray) -> Any:
    import openvino

    return openvino.Tensor(image)


@pytest.fixture(scope="module")
def folder(cache: Path) -> Path:
    import ovnb

    return ovnb.prepare("tiny-vlm", cache_dir=cache)


@pytest.fixture(scope="module")
def pipe(folder: Path) -> Any:
    import openvino_genai

    return openvino_genai.VLMPipeline(str(folder), "CPU", **F32)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-vlm-a")
    tiny_vlm.build("tiny-vlm", out)
    return out


def ask(pipe: Any, image: np.ndarray | None, prompt: str = PROMPT) -> Any:
    images = [] if image is None else [tensor(image)]
    return pipe.generate(prompt, images=images, max_new_tokens=8)


def test_prepares_a_vision_chat_folder_whose_image_size_matches_the_model(folder: Path) -> None:
    assert kind_of(folder) == "vision-chat"
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    vision = json.loads((folder / "config.json").read_text())["vision_config"]
    assert pre["crop_size"] == {"height": vision["image_size"], "width": vision["image_size"]}
    assert pre["size"] == {"shortest_edge": vision["image_size"]}


def test_answers_an_image_with_text_through_image_tokens(pipe: Any) -> None:
    with_image = ask(pipe, noise())
    without = ask(pipe, None)
    assert with_image.texts[0]
    # LLaVA expands the one image tag into one token per patch (plus a newline)
    tokens = [r.perf_metrics.get_num_input_tokens() for r in (with_image, without)]
    assert tokens[0] - tokens[1] >= IMAGE_TOKENS


def test_different_images_give_different_answers(pipe: Any) -> None:
    assert ask(pipe, noise()).texts[0] != ask(pipe, flag()).texts[0]


def test_same_image_gives_the_same_answer(pipe: Any) -> None:
    first = ask(pipe, flag()).texts[0]
    ask(pipe, noise())  # another image in between must leave no trace
    assert ask(pipe, flag()).texts[0] == first


def test_answers_are_printable_text(pipe: Any) -> None:
    """A random model prints garbage, but valid text: printable ASCII, no U+FFFD."""
    for image in (noise(), flag(), None):
        text = ask(pipe, image).texts[0]
        assert text and all(" " <= ch <= "~" for ch in text), repr(text)


def test_text_only_prompt(pipe: Any) -> None:
    result = ask(pipe, None, "Say something.")
    assert result.texts[0]
    assert result.perf_metrics.get_num_input_tokens() < IMAGE_TOKENS + 20


def test_chat_history_keeps_the_first_turns_image(pipe: Any) -> None:
    """With a fixed first reply, the second (text-only) turn still depends on the first image."""
    import openvino_genai

    def second_turn(image: np.ndarray) -> str:
        history = openvino_genai.ChatHistory()
        history.append({"role": "user", "content": PROMPT})
        first = pipe.generate(history, images=[tensor(image)], max_new_tokens=4)
        assert first.texts[0]
        history.append({"role": "assistant", "content": "ok"})
        history.append({"role": "user", "content": "And the colour?"})
        answer = pipe.generate(history, max_new_tokens=8).texts[0]
        assert len(history.get_messages()) == 3
        return answer

    flag_answer = second_turn(flag())
    assert flag_answer
    assert second_turn(noise()) != flag_answer
    assert second_turn(flag()) == flag_answer


def test_chat_template_places_the_image_like_llava_1_5(folder: Path, built: Path) -> None:
    import openvino_genai
    from transformers import AutoProcessor

    expected = "USER: <image>\nHi ASSISTANT: ok<|im_end|>USER: More ASSISTANT:"
    processor = AutoProcessor.from_pretrained(built)
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": "More"}]},
    ]
    assert processor.apply_chat_template(parts, add_generation_prompt=True) == expected
    # openvino_genai passes plain strings, its image tag already in the text
    plain = [{"role": "user", "content": "<image>\nHi"}, {"role": "assistant", "content": "ok"},
             {"role": "user", "content": "More"}]
    ov_tokenizer = openvino_genai.Tokenizer(str(folder))
    assert ov_tokenizer.apply_chat_template(plain, add_generation_prompt=True) == expected
    assert ov_tokenizer.encode("<image>").input_ids.data.tolist() == [[
        json.loads((folder / "config.json").read_text())["image_token_index"]]]


def test_building_twice_gives_identical_files(built: Path, tmp_path: Path) -> None:
    tiny_vlm.build("tiny-vlm", tmp_path)
    names = sorted(p.name for p in built.iterdir())
    assert "model.safetensors" in names
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (built / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_weights_are_fp32(built: Path) -> None:
    from safetensors import safe_open

    with safe_open(built / "model.safetensors", "pt") as weights:
        dtypes = {str(weights.get_slice(k).get_dtype()) for k in weights.keys()}
    assert dtypes == {"F32"}
