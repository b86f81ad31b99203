"""VisionChat, driven as a notebook user drives it, on tiny-vlm in f32."""
from __future__ import annotations

import html
import io
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import ovnb
from ovnb.images import THUMB_SIDE, samples
from ovnb.widgets.chat import _rendered
from tests.conftest import F32

CONFIG = {"max_new_tokens": 12, "repetition_penalty": 1.0}
HOUSE, BOAT = samples()["house"], samples()["sailboat"]
Q1, Q2, Q3 = "What is in the picture?", "And the colours?", "Anything else?"



@pytest.fixture(scope="module")
def bare_pipe(vlm: Path) -> Any:
    import openvino_genai as ov_genai

    return ov_genai.VLMPipeline(str(vlm), "CPU", **F32)


def pixels(path: Path) -> np.ndarray:
    """The image as the bare pipeline gets it (read without ovnb)."""
    return np.asarray(Image.open(path).convert("RGB"))


def bare(pipe: Any, turns: list[tuple[str, Path | None]], system: str = "") -> list[str]:
    """Greedy answers of the bare VLMPipeline to one conversation, each image sent with its turn."""
    import openvino
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    if system:
        history.append({"role": "system", "content": system})
    gen = pipe.get_generation_config()
    for name, value in {**CONFIG, "do_sample": False}.items():
        setattr(gen, name, value)
    answers = []
    for text, image in turns:
        history.append({"role": "user", "content": text})
        images = [] if image is None else [openvino.Tensor(pixels(image))]
        answers.append(pipe.generate(history, images=images, generation_config=gen).texts[0])
        history.append({"role": "assistant", "content": answers[-1]})
    return answers


def chat(vlm: Path, **kwargs: Any) -> ovnb.VisionChat:
    return ovnb.VisionChat(vlm, properties=F32, **{**CONFIG, **kwargs})


def shown(vision: ovnb.VisionChat) -> str:
    """What the conversation panel shows (its turns' HTML)."""
    return "\n".join(turn["html"] for turn in vision.view.panel.turns)


def image_turns(vision: ovnb.VisionChat) -> list[int]:
    return [i for i, m in enumerate(vision.messages) if m.get("image")]


def history(vision: ovnb.VisionChat) -> Any:
    return vision.session._history.get_messages()


def test_answers_equal_the_bare_pipeline_and_later_turns_keep_the_image(
        vlm: Path, bare_pipe: Any) -> None:
    vision = chat(vlm)
    first = vision.send(Q1, image=HOUSE)
    second = vision.send(Q2)
    assert [first, second] == bare(bare_pipe, [(Q1, HOUSE), (Q2, None)]) and first
    # the widget kept the first image for the second turn: without it the answer differs
    assert second != _without_image(bare_pipe, first)
    assert vision.messages[1] == {"role": "assistant", "content": first, "cut": "max_new_tokens"}
    turns = vision.view.panel.turns
    assert [t["html"] for t in turns[1::2]] == [_rendered(first), _rendered(second)]
    assert "house.png" in turns[0]["html"]
    assert vision.picture is None and "in the conversation" in vision.view.image_label.value
    assert vision.metrics["tokens"] == 12 and vision.metrics["image_ms"] is None
    assert "tokens/s" in vision.view.figures_line.value and vision.last_error == ""


def _without_image(pipe: Any, first: str) -> str:
    """The second answer for the same transcript when no image was ever attached."""
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    for role, content in (("user", Q1), ("assistant", first), ("user", Q2)):
        history.append({"role": role, "content": content})
    gen = pipe.get_generation_config()
    for name, value in {**CONFIG, "do_sample": False}.items():
        setattr(gen, name, value)
    return pipe.generate(history, generation_config=gen).texts[0]


def test_the_send_button_runs_the_same_turn_with_a_sample_and_a_preview(
        vlm: Path, bare_pipe: Any) -> None:
    vision = chat(vlm)
    vision.view.controls["samples"].value = BOAT
    thumb = Image.open(io.BytesIO(vision.view.preview.value))
    assert max(thumb.size) == THUMB_SIDE and thumb.size != (320, 240)
    label = vision.view.image_label.value
    assert "sailboat.png" in label and "next question" in label
    vision.wait_loaded()
    vision.view.controls["prompt"].value = Q1
    vision.view.controls["run"].click()
    vision.session.join()
    assert vision.view.controls["prompt"].value == ""
    assert vision.messages[1]["content"] == bare(bare_pipe, [(Q1, BOAT)])[0]
    assert "image encoded in" in vision.view.figures_line.value and vision.metrics["image_ms"] >= 0


def test_two_images_give_different_answers_and_clear_starts_afresh(
        vlm: Path, bare_pipe: Any) -> None:
    vision = chat(vlm)
    house = vision.send(Q1, image=HOUSE)
    vision.view.controls["clear"].click()
    assert vision.messages == [] and vision.picture is not None  # the shown image goes again
    assert "🖼" not in shown(vision)
    boat = vision.send(Q1, image=BOAT)
    assert house != boat
    assert boat == bare(bare_pipe, [(Q1, BOAT)])[0]  # nothing of the first conversation is left


def test_an_image_goes_with_the_turn_that_introduced_it(vlm: Path, bare_pipe: Any) -> None:
    vision = chat(vlm, system_prompt="Be brief.")
    vision.view.controls["samples"].value = HOUSE
    vision.view.controls["remove_image"].click()  # changed my mind: the first question has no image
    assert vision.picture is None and vision.view.preview.layout.display == "none"
    answers = [vision.send(Q1), vision.send(Q2, image=BOAT), vision.send(Q3)]
    assert answers == bare(bare_pipe, [(Q1, None), (Q2, BOAT), (Q3, None)], system="Be brief.")
    assert image_turns(vision) == [2]
    assert vision.view.controls["system_prompt"].disabled  # the system prompt is fixed for the conversation


def test_upload_and_path_box_choose_the_image(vlm: Path, tmp_path: Path) -> None:
    vision = chat(vlm)
    data = BOAT.read_bytes()
    vision.view.controls["upload"].value = ({"name": "my boat.png", "type": "image/png", "size": len(data),
                             "content": memoryview(data),
                             "last_modified": datetime.now(timezone.utc)},)
    assert vision.picture.name == "my boat.png"
    np.testing.assert_array_equal(vision.picture.pixels, pixels(BOAT))
    vision.view.controls["samples"].value = HOUSE
    vision.view.controls["image_path"].value = str(BOAT)
    assert vision.picture.name == "sailboat.png"
    assert vision.view.controls["samples"].value == BOAT  # the sample's own file: the sample
    vision.view.controls["image_path"].value = str(tmp_path / "gone.png")
    assert "no such image file" in vision.last_error
    assert vision.picture.name == "sailboat.png"  # the previous choice stays


def test_the_sample_dropdown_shows_what_code_chose(vlm: Path, tmp_path: Path) -> None:
    vision = chat(vlm)
    c, label = vision.view.controls, lambda: vision.view.image_label.value
    dropdown, box = c["samples"], c["image_path"]
    assert dropdown.label == "sample image…" and dropdown.value is None  # never a blank box
    vision.choose(HOUSE)  # code chooses a bundled sample: the dropdown shows it
    assert dropdown.label == "house" and "🖼 house.png" in label()
    mine = tmp_path / "mine.png"
    Image.open(BOAT).save(mine)
    vision.choose(str(mine))  # a file of one's own: no sample, the label names it
    assert dropdown.value is None and dropdown.label == "sample image…" and "🖼 mine.png" in label()
    vision.choose(pixels(HOUSE))  # an array: no sample either
    assert dropdown.label == "sample image…" and "🖼 the array" in label()
    box.value = str(BOAT)  # the sample's path typed in the box is the sample
    assert dropdown.label == "sailboat" and box.value == ""
    box.value = str(mine)
    assert dropdown.label == "sample image…" and box.value == str(mine)  # the box says what
    shown: list[str] = []
    dropdown.observe(lambda change: shown.append(change["new"]), "label")
    assert vision.send(Q1, image=HOUSE)  # chosen for the question, then sent with it
    assert shown == ["house", "sample image…"] and vision.picture is None
    assert "house.png" in label() and "in the conversation" in label() and box.value == ""
    dropdown.value = BOAT  # the learner picks one
    assert vision.picture.name == "sailboat.png" and dropdown.label == "sailboat"
    c["remove_image"].click()
    assert dropdown.label == "sample image…" and vision.picture is None


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("RGB", (8000, 8000), (40, 90, 200)).save(path)
    return path


@pytest.mark.parametrize("case", ["missing", "text-file", "generation"])
def test_errors_show_as_one_line_and_keep_the_history(
        vlm: Path, bare_pipe: Any, tmp_path: Path, case: str) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    vision = chat(vlm)
    first = vision.send(Q1, image=HOUSE)
    before = (list(vision.messages), history(vision))
    image, expect = {"missing": (tmp_path / "nope.jpg", "no such image file"),
                     "text-file": (notes, "notes.txt is not an image"),
                     "generation": (None, "more than this model's context")}[case]
    question = "word " * 600 if case == "generation" else Q2  # longer than tiny-vlm's context
    assert vision.send(question, image=image) == ""
    assert expect in vision.last_error and "\n" not in vision.last_error
    assert html.escape(vision.last_error) in vision.view.error_line.value
    assert (vision.messages, history(vision)) == before and not vision.busy
    assert [first, vision.send(Q2)] == bare(bare_pipe, [(Q1, HOUSE), (Q2, None)])
    assert vision.last_error == "" and vision.view.error_line.value == ""


def test_a_huge_image_is_downscaled_not_refused(vlm: Path, huge: Path) -> None:
    vision = chat(vlm)
    vision.send(Q1, image=HOUSE)
    assert vision.send(Q2, image=huge)
    assert vision.last_error == "" and len(vision.messages) == 4
    assert "downscaled from 8000×8000" in vision.view.image_label.value


@pytest.mark.parametrize("case", ["missing", "wrong-kind", "device"])
def test_load_errors_show_in_the_widget(cache: Path, vlm: Path, tmp_path: Path, case: str) -> None:
    model, device, expect = {
        "missing": (tmp_path / "nope", "CPU", "no such folder"),
        "wrong-kind": (ovnb.prepare("tiny-llm", cache_dir=cache), "CPU", "not a vision chat one"),
        "device": (vlm, "NPU", "device NPU is not available"),
    }[case]
    vision = ovnb.VisionChat(model, device=device)
    assert vision.send("hello", image=HOUSE) == ""
    assert expect in vision.last_error and "\n" not in vision.last_error
    assert expect in vision.view.error_line.value
    assert vision.messages == [] and not vision.busy


def test_stop_ends_the_answer_and_the_chat_goes_on(vlm: Path) -> None:
    vision = chat(vlm, max_new_tokens=20000, min_new_tokens=20000)
    vision.wait_loaded()
    vision.view.controls["samples"].value = HOUSE
    vision.view.controls["prompt"].value = "Tell me everything"
    # press Stop as soon as text shows: the answer stays inside tiny-vlm's 512-token context
    vision.observe(lambda change: change["new"] and vision.view.controls["stop"].click(), "live")
    vision.view.controls["run"].click()
    vision.session.join()
    assert vision.last_error == ""
    assert 0 < vision.metrics["tokens"] < 20000 and vision.messages[-1]["stopped"]
    assert vision.messages[-1]["role"] == "assistant" and len(history(vision)) == 2
    vision.min_new_tokens, vision.max_new_tokens = 0, 4
    assert vision.send("Still there?") and not vision.busy
    assert len(vision.messages) == 4


def test_concurrent_sends_queue_each_with_its_own_image(vlm: Path) -> None:
    vision = chat(vlm, max_new_tokens=6)
    pictures = {"q0": HOUSE, "q1": BOAT, "q2": HOUSE, "q3": BOAT}
    answers: list[str] = []
    threads = [threading.Thread(target=lambda q=q, p=p: answers.append(vision.send(q, p)))
               for q, p in pictures.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4 and all(answers)
    assert len(vision.messages) == 8 and len(history(vision)) == 8
    asked = {m["content"]: m.get("image") for m in vision.messages if m["role"] == "user"}
    assert asked == {q: p.name for q, p in pictures.items()}  # each question took its own image
    assert vision.picture is None and vision.last_error == ""


def test_two_widgets_share_a_pipeline_but_not_a_conversation(vlm: Path, bare_pipe: Any) -> None:
    one, two = chat(vlm), chat(vlm)
    assert one.wait_loaded() is two.wait_loaded()
    a1, b1 = one.send(Q1, image=HOUSE), two.send(Q1, image=BOAT)
    a2, b2 = one.send(Q2), two.send(Q2)
    assert [a1, a2] == bare(bare_pipe, [(Q1, HOUSE), (Q2, None)])
    assert [b1, b2] == bare(bare_pipe, [(Q1, BOAT), (Q2, None)])


def test_empty_prompt_is_refused_politely(vlm: Path) -> None:
    vision = chat(vlm, max_new_tokens=4)
    vision.send("kept", image=HOUSE)
    assert vision.send("   ") == ""
    assert "empty prompt" in vision.view.error_line.value and len(vision.messages) == 2


def test_undo_is_refused_with_a_reason(vlm: Path) -> None:
    vision = chat(vlm, max_new_tokens=4)
    vision.send("kept", image=HOUSE)
    vision.undo()
    assert len(vision.messages) == 2 and "press Clear" in vision.last_error


# video --------------------------------------------------------------------------------------------
from ovnb import video as videos  # noqa: E402
from ovnb.sessions import vision as vision_mod  # noqa: E402

SAILING = videos.samples()["sailboat"]
V1, V2 = "What happens in the video?", "And at the end?"


@pytest.fixture(scope="module")
def qwen(cache: Path) -> Path:
    return ovnb.prepare("tiny-qwen2-vl", cache_dir=cache)


@pytest.fixture(scope="module")
def qwen_pipe(qwen: Path) -> Any:
    import openvino_genai as ov_genai

    return ov_genai.VLMPipeline(str(qwen), "CPU", **F32)


def bare_video(pipe: Any, turns: list[tuple[str, Any]]) -> list[str]:
    """Greedy answers of the bare VLMPipeline, each video (a VideoClip) sent with its turn."""
    import openvino
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    gen = pipe.get_generation_config()
    for name, value in {**CONFIG, "do_sample": False}.items():
        setattr(gen, name, value)
    answers = []
    for text, clip in turns:
        history.append({"role": "user", "content": text})
        extra = {} if clip is None else {"videos": [openvino.Tensor(clip.frames)],
                                         "videos_metadata": [clip.metadata()]}
        answers.append(pipe.generate(history, generation_config=gen, **extra).texts[0])
        history.append({"role": "assistant", "content": answers[-1]})
    return answers


def test_a_video_goes_with_its_question_and_stays_in_the_conversation(
        qwen: Path, qwen_pipe: Any) -> None:
    vision = chat(qwen)
    first = vision.send(V1, video=SAILING)
    assert vision.metrics["video_frames"] == 8 and vision.metrics["image_ms"] is not None
    assert "video frames encoded in" in vision.view.figures_line.value
    second = vision.send(V2)
    clip = videos.load_video(SAILING)
    assert [first, second] == bare_video(qwen_pipe, [(V1, clip), (V2, None)]) and first
    assert second != bare_video(qwen_pipe, [(V1, None), (V2, None)])[1]  # the video mattered
    assert vision.messages[0] == {"role": "user", "content": V1, "video": "sailboat.mp4",
                                  "video_frames": 8}
    assert vision.video_clip is None and len(history(vision)) == 4
    assert vision.metrics["video_frames"] is None  # the second answer had no video of its own


def test_the_strip_shows_the_frames_sent_with_their_times(qwen: Path) -> None:
    vision = chat(qwen, max_video_frames=4)
    vision.view.controls["video_samples"].value = SAILING
    clip = vision.video_clip
    assert clip.count == 4 and clip.timestamps == pytest.approx((0.0, 1.0, 1.9, 2.9))
    strip = vision.view.strip.value
    assert strip.count("<img") == 4 and all(f"{t:.1f} s" in strip for t in clip.timestamps)
    label = vision.view.video_label.value
    assert "sailboat.mp4 · 4 of 30 frames · 320×240 · 3.0 s" in label and "next question" in label
    vision.send("What happens?")
    turn = vision.view.panel.turns[0]["html"]
    assert turn.count("<img") == 4 and "sailboat.mp4 · 4 frames" in turn
    assert "in the conversation" in vision.view.video_label.value and vision.video_clip is None
    vision.view.controls["clear"].click()  # a new conversation: the video shown goes with its first question
    assert vision.video_clip is clip


def test_upload_path_box_and_frames_choose_the_video(qwen: Path, qwen_pipe: Any,
                                                     tmp_path: Path) -> None:
    vision = chat(qwen)
    data = SAILING.read_bytes()
    vision.view.controls["video_upload"].value = ({"name": "my trip.mp4", "type": "video/mp4", "size": len(data),
                                   "content": memoryview(data),
                                   "last_modified": datetime.now(timezone.utc)},)
    assert vision.video_clip.name == "my trip.mp4" and vision.video_clip.count == 8
    vision.view.controls["video_path"].value = str(tmp_path / "gone.mp4")
    assert "no such video file" in vision.last_error and vision.video_clip.name == "my trip.mp4"
    frames = [Image.open(HOUSE), Image.open(BOAT), Image.open(HOUSE)]
    answer = vision.send(V1, video=frames)
    clip = videos.load_video(frames)
    assert clip.fps == 24.0 and answer == bare_video(qwen_pipe, [(V1, clip)])[0]


def test_the_video_dropdown_shows_what_code_chose(qwen: Path) -> None:
    vision = chat(qwen)
    dropdown = vision.view.controls["video_samples"]
    assert dropdown.label == "sample video…"
    vision.choose_video(SAILING)
    assert dropdown.label == "sailboat" and "sailboat.mp4" in vision.view.video_label.value
    vision.choose_video([Image.open(HOUSE), Image.open(BOAT)])  # frames of one's own
    assert dropdown.value is None and dropdown.label == "sample video…"
    vision.choose_video(SAILING.read_bytes(), "trip.mp4")  # the sample's bytes, renamed: an upload
    assert dropdown.label == "sample video…" and "trip.mp4" in vision.view.video_label.value


def test_an_image_and_a_video_in_one_question(qwen: Path) -> None:
    vision = chat(qwen)
    assert vision.send("Compare them.", image=HOUSE, video=SAILING)
    assert vision.messages[0]["image"] == "house.png" and vision.messages[0]["video"]
    assert vision.picture is None and vision.video_clip is None and vision.last_error == ""


def test_a_model_without_video_says_so_before_decoding_anything(
        vlm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[object] = []
    real = vision_mod.load_video
    monkeypatch.setattr(vision_mod, "load_video", lambda *a, **k: decoded.append(a) or real(*a, **k))
    vision = chat(vlm)
    first = vision.send(Q1, image=HOUSE)
    kept = (list(vision.messages), history(vision))
    assert vision.send(V1, video=SAILING) == ""
    assert vision.last_error.startswith("tiny-vlm takes no video") and "\n" not in vision.last_error
    vision.view.controls["video_samples"].value = SAILING  # the picker says the same
    assert vision.video_clip is None and decoded == []
    assert (vision.messages, history(vision)) == kept and vision.session.takes_video is False
    assert vision.send(Q2) and vision.messages[1]["content"] == first


def test_a_video_chosen_while_the_model_loads_is_refused_before_it_runs(vlm: Path) -> None:
    vision = chat(vlm)
    vision.session.publish_now(video_clip=videos.load_video(SAILING))  # as an early upload does
    assert vision.send(V1) == ""
    assert "takes no video" in vision.last_error and vision.messages == []
    assert vision.video_clip is None  # it can never go to this model
    assert vision.send(V1) and vision.last_error == ""


def test_max_video_frames_is_a_checked_setting(qwen: Path) -> None:
    from traitlets import TraitError

    vision = chat(qwen)
    with pytest.raises(TraitError, match="between 1 and 64"):
        vision.max_video_frames = 0
    vision.max_video_frames = 2
    assert vision.session.max_video_frames == 2 and vision.view.controls["max_video_frames"].value == 2
    vision.view.controls["max_video_frames"].value = 3  # the slider in Settings sets it too
    assert vision.session.max_video_frames == 3
    vision.max_video_frames = 2
    assert vision.choose_video(SAILING).indices == (0, 29)


def test_frame_times_are_as_precise_as_the_video_is_long() -> None:
    from ovnb.widgets.vision import when

    assert [when(t, 0.36) for t in (0.0, 0.04, 0.12)] == ["0.00 s", "0.04 s", "0.12 s"]
    assert when(2.9, 3.0) == "2.9 s" and when(65.4, 7200) == "1:05"


def test_frames_of_another_size_are_noted_where_the_learner_looks(qwen: Path) -> None:
    """Frames of one shape at two sizes were stretched with no word: the note is in the status
    line and the video's label; frames of another shape are refused."""
    vision = chat(qwen)
    small = np.asarray(Image.open(HOUSE))
    large = np.asarray(Image.open(HOUSE).resize((small.shape[1] * 2, small.shape[0] * 2)))
    clip = vision.choose_video([small, large, small])
    assert clip is not None and clip.notes
    assert "was scaled to the first one's" in vision.status
    assert "was scaled to the first one" in vision.view.video_label.value
    tall = np.ascontiguousarray(small.transpose(1, 0, 2))
    assert vision.choose_video([small, tall]) is None
    assert "would distort it" in vision.last_error and vision.video_clip is clip
