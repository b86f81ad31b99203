"""tiny-qwen2-vl: a seeded random Qwen2-VL that prepares offline and answers images and videos in
VLMPipeline, in valid (printable) text.

Token arithmetic these tests rely on: frames are resized to at most MAX_PIXELS (56x56), cut into
14x14 patches two frames deep, and 2x2 patches merge into one token: an image gives 4 tokens, a
video 4 per pair of frames, each wrapped in <|vision_start|> ... <|vision_end|>.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ovnb
from ovnb import catalogs
from ovnb.layout import kind_of, takes_video
from ovnb.sources import tiny_qwen2_vl
from tests.conftest import F32

pytestmark = pytest.mark.slow  # builds and exports a model

PROMPT = "What is in the picture?"
TOKENS_PER_FRAME_PAIR = tiny_qwen2_vl.MAX_PIXELS // tiny_qwen2_vl.UNIT ** 2  # 4
WRAP = 2  # <|vision_start|> and <|vision_end|>


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def flag() -> np.ndarray:
    """A 64x48 image, red over blue."""
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:24] = (200, 30, 30)
    image[24:] = (10, 10, 220)
    return image


def tensor(array: np.ndarray) -> Any:
    import openvino

    return openvino.Tensor(np.ascontiguousarray(array))


@pytest.fixture(scope="module")
def folder(cache: Path) -> Path:
    return ovnb.prepare("tiny-qwen2-vl", cache_dir=cache)


@pytest.fixture(scope="module")
def pipe(folder: Path) -> Any:
    import openvino_genai

    return openvino_genai.VLMPipeline(str(folder), "CPU", **F32)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-qwen2-vl-a")
    tiny_qwen2_vl.build("tiny-qwen2-vl", out)
    return out


def ask(pipe: Any, prompt: str = PROMPT, tokens: int = 12, **visuals: Any) -> Any:
    return pipe.generate(prompt, max_new_tokens=tokens, **visuals)


def extra_tokens(pipe: Any, **visuals: Any) -> int:
    """Input tokens the visuals add to a one-word prompt."""
    def count(**v: Any) -> int:
        return ask(pipe, "Hi", 1, **v).perf_metrics.get_num_input_tokens()

    return count(**visuals) - count()


def printable(text: str) -> bool:
    return bool(text) and all(" " <= ch <= "~" for ch in text)


def test_prepares_a_video_capable_vision_chat_folder(folder: Path) -> None:
    assert kind_of(folder) == "vision-chat"
    assert takes_video(folder) and catalogs.find("tiny-qwen2-vl")["video"]
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        settings = json.loads((folder / name).read_text())
        assert settings["size"]["longest_edge"] == tiny_qwen2_vl.MAX_PIXELS, name
    template = json.loads((folder / "chat_template.json").read_text())["chat_template"]
    assert template == tiny_qwen2_vl.CHAT_TEMPLATE


def test_a_llava_folder_takes_no_video(vlm: Path) -> None:
    import openvino_genai

    assert not takes_video(vlm) and not catalogs.find("tiny-vlm").get("video")
    pipe = openvino_genai.VLMPipeline(str(vlm), "CPU", **F32)
    with pytest.raises(RuntimeError, match="Video preprocessing isn't implemented"):
        ask(pipe, "Hi", 1, videos=[tensor(noise((4, 32, 32, 3)))])


def test_image_sizes_come_from_the_preprocessor_config(pipe: Any) -> None:
    # without the file VLMPipeline's defaults would make 49 tokens of a 200x200 image
    assert extra_tokens(pipe, images=[tensor(noise((200, 200, 3)))]) == TOKENS_PER_FRAME_PAIR + WRAP


def test_video_frames_pair_up_into_tokens(pipe: Any) -> None:
    for frames in (2, 4, 8):
        clip = tensor(noise((frames, 200, 200, 3)))
        assert extra_tokens(pipe, videos=[clip]) == frames // 2 * TOKENS_PER_FRAME_PAIR + WRAP


def test_answers_images_in_printable_text_that_follows_the_image(pipe: Any) -> None:
    answers = [ask(pipe, images=[tensor(image)]).texts[0]
               for image in (noise((56, 56, 3)), noise((48, 64, 3), 1), flag())]
    assert all(printable(a) for a in answers), answers
    assert len(set(answers)) == 3
    assert ask(pipe, images=[tensor(flag())]).texts[0] == answers[2]


def test_answers_videos_in_printable_text_that_follows_the_video(pipe: Any) -> None:
    clips = [noise((4, 56, 56, 3), seed) for seed in range(3)]
    answers = [ask(pipe, "What happens in the video?", videos=[tensor(c)]).texts[0] for c in clips]
    assert all(printable(a) for a in answers), answers
    assert len(set(answers)) == 3
    assert ask(pipe, "What happens in the video?", videos=[tensor(clips[0])]).texts[0] == answers[0]


def test_frame_order_matters(pipe: Any) -> None:
    clip = noise((4, 56, 56, 3))
    forward = ask(pipe, "What happens?", videos=[tensor(clip)]).texts[0]
    assert ask(pipe, "What happens?", videos=[tensor(clip[::-1])]).texts[0] != forward


def test_video_metadata_picks_frames_like_slicing(pipe: Any) -> None:
    import openvino_genai

    clip = noise((8, 56, 56, 3))
    metadata = openvino_genai.VideoMetadata()
    metadata.fps = 24.0
    metadata.frames_indices = [0, 2, 4, 6]
    picked = ask(pipe, "What happens?", videos=[tensor(clip)], videos_metadata=[metadata])
    sliced = ask(pipe, "What happens?", videos=[tensor(clip[::2])])
    assert picked.texts[0] == sliced.texts[0]
    assert picked.perf_metrics.get_num_input_tokens() == sliced.perf_metrics.get_num_input_tokens()


def test_image_and_video_together(pipe: Any) -> None:
    both = {"images": [tensor(flag())], "videos": [tensor(noise((4, 56, 56, 3)))]}
    assert extra_tokens(pipe, **both) == 3 * TOKENS_PER_FRAME_PAIR + 2 * WRAP
    assert printable(ask(pipe, **both).texts[0])


def test_text_only_answer_is_printable_and_runs_to_max_new_tokens(pipe: Any) -> None:
    result = ask(pipe, "Say something.", tokens=20)
    assert printable(result.texts[0])
    assert result.perf_metrics.get_num_generated_tokens() == 20  # the head never picks the end token


def test_chat_history_keeps_the_first_turns_video(pipe: Any) -> None:
    import openvino_genai

    def second_turn(clip: np.ndarray) -> str:
        history = openvino_genai.ChatHistory()
        history.append({"role": "user", "content": "What happens?"})
        assert pipe.generate(history, videos=[tensor(clip)], max_new_tokens=4).texts[0]
        history.append({"role": "assistant", "content": "ok"})
        history.append({"role": "user", "content": "And then?"})
        return pipe.generate(history, max_new_tokens=8).texts[0]

    first, other = noise((4, 56, 56, 3), 0), noise((4, 56, 56, 3), 1)
    answer = second_turn(first)
    assert printable(answer)
    assert second_turn(other) != answer
    assert second_turn(first) == answer


def test_chat_template_is_qwen2_vl_layout(folder: Path) -> None:
    import openvino_genai

    messages = [{"role": "user", "content": "<|vision_start|><|video_pad|><|vision_end|>Hi"}]
    expected = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Hi<|im_end|>\n"
                "<|im_start|>assistant\n")
    tokenizer = openvino_genai.Tokenizer(str(folder))
    assert tokenizer.apply_chat_template(messages, add_generation_prompt=True) == expected
    config = json.loads((folder / "config.json").read_text())
    assert tokenizer.encode("<|video_pad|>").input_ids.data.tolist() == [[config["video_token_id"]]]


def test_building_twice_gives_identical_fp32_files(built: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    tiny_qwen2_vl.build("tiny-qwen2-vl", tmp_path)

    def digests(root: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}

    assert digests(built) == digests(tmp_path)
    assert "video_preprocessor_config.json" in digests(built)
    with safe_open(built / "model.safetensors", "pt") as weights:
        dtypes = {str(weights.get_slice(k).get_dtype()) for k in weights.keys()}
    assert dtypes == {"F32"}
