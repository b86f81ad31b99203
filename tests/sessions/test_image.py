"""ImageSession's three modes on tiny-sd, f32: each equals a fresh pipeline of its class, they
share one compiled model set, LoRA works in every mode, and edits come back at the input's size.

Nothing races a clock: counts of constructor calls, steps and images are what is checked.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ovnb
from ovnb.sessions import editing
from ovnb.sessions.editing import IMAGE, INPAINT, TEXT
from ovnb.sessions.image import ImageSession
from tests.conftest import F32

PROMPT = "a red cat on the sea"
STEPS = {"num_inference_steps": 4, "rng_seed": 5}
# a key of its own (LATENCY is CPU's default anyway): these sessions build their pipelines anew
OWN = {**F32, "PERFORMANCE_HINT": "LATENCY"}


def photo(w: int = 48, h: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def patch(w: int = 48, h: int = 32) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[h // 4:3 * h // 4, w // 4:3 * w // 2 // 2 + w // 4] = True
    return mask


def bare(folder: Path, mode: str, image: np.ndarray | None = None, mask: np.ndarray | None = None,
         alphas: dict[Path, float] | None = None, registered: list[Path] | None = None,
         **settings: Any) -> np.ndarray:
    """What a fresh pipeline of ``mode``'s class, built from the folder, makes."""
    import openvino
    import openvino_genai as ov_genai

    made = {p: ov_genai.Adapter(str(p)) for p in registered or []}
    kwargs = {"adapters": ov_genai.AdapterConfig([(a, 1.0) for a in made.values()])} if made else {}
    pipe = getattr(ov_genai, editing.CLASSES[mode])(str(folder), "CPU", **kwargs, **F32)
    call = dict(settings)
    if made:
        pairs = [(made[p], a) for p, a in (alphas or {}).items() if a]
        call["adapters"] = ov_genai.AdapterConfig(pairs) if pairs else ov_genai.AdapterConfig()
    inputs = [openvino.Tensor(image[None].copy())] if image is not None else []
    if mask is not None:
        inputs.append(openvino.Tensor((mask * 255).astype(np.uint8)[None, :, :, None].copy()))
    return pipe.generate(PROMPT, *inputs, **call).data[0].copy()


@pytest.fixture(scope="module")
def session(sd: Path) -> ImageSession:
    return ImageSession(sd, properties=F32, width=64, height=64, **STEPS)


def test_each_mode_equals_a_fresh_pipeline_of_its_class(session: ImageSession, sd: Path) -> None:
    text = session.generate(PROMPT, width=48, height=32)
    assert np.array_equal(np.asarray(text), bare(sd, TEXT, width=48, height=32, **STEPS))
    edited = session.generate(PROMPT, image=photo(), strength=0.6)
    assert edited.size == (48, 32) and session.metrics["mode"] == IMAGE
    assert np.array_equal(np.asarray(edited), bare(sd, IMAGE, photo(), strength=0.6, width=48,
                                                   height=32, **STEPS))
    painted = session.generate(PROMPT, image=photo(), mask=patch())
    assert np.array_equal(np.asarray(painted), bare(sd, INPAINT, photo(), patch(), strength=0.8,
                                                    width=48, height=32, **STEPS))
    assert [r.mode for r in session.results[:3]] == [INPAINT, IMAGE, TEXT]
    assert session.results[0].caption().startswith("inpainting · strength 0.8 · seed 5")
    assert session.results[0].mask.size == (48, 32) and session.before  # input shown beside


def test_inpainting_answers_at_the_inputs_size_not_its_default(session: ImageSession,
                                                                sd: Path) -> None:
    import openvino
    import openvino_genai as ov_genai

    pipe = ov_genai.InpaintingPipeline(str(sd), "CPU", **F32)
    alone = pipe.generate(PROMPT, openvino.Tensor(photo()[None].copy()),
                          openvino.Tensor((patch() * 255).astype(np.uint8)[None, :, :, None]),
                          num_inference_steps=2)
    assert list(alone.shape) == [1, 512, 512, 3]  # genai alone: its default size, not 48×32
    assert session.generate(PROMPT, image=photo(), mask=patch()).size == (48, 32)


def test_odd_and_large_inputs_come_back_at_their_size(session: ImageSession) -> None:
    odd = session.generate(PROMPT, image=photo(45, 31), strength=0.5)
    assert odd.size == (45, 31)
    assert session.metrics["notes"] == ["made at 40×24, scaled to the image's 45×31"]  # 8s
    large = session.generate(PROMPT, image=photo(160, 120), mask=patch(160, 120))
    assert large.size == (160, 120)  # run at 64×48, within width × height
    assert session.metrics["notes"] == ["made at 64×48, scaled to the image's 160×120"]
    assert session.results[0].settings["width"] == 160


def test_switching_modes_builds_once_and_makes_the_others_from_it(
        sd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openvino_genai as ov_genai

    calls: list[tuple[str, str]] = []

    def counting(name: str) -> Any:
        real = getattr(ov_genai, name)

        def make(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, "folder" if isinstance(args[0], str) else type(args[0]).__name__))
            return real(*args, **kwargs)

        return make

    for name in editing.CLASSES.values():
        monkeypatch.setattr(ov_genai, name, counting(name))
    session = ImageSession(sd, properties=OWN, width=48, height=32, **STEPS)
    pipes = session.wait_loaded().pipe
    assert calls == [("InpaintingPipeline", "folder")] and pipes.made == (INPAINT,)
    for mode in (TEXT, IMAGE, INPAINT, TEXT, IMAGE):
        image = photo() if mode != TEXT else None
        mask = patch() if mode == INPAINT else None
        assert session.generate(PROMPT, image=image, mask=mask) is not None, session.last_error
    assert calls == [("InpaintingPipeline", "folder"), ("Text2ImagePipeline", "InpaintingPipeline"),
                     ("Image2ImagePipeline", "InpaintingPipeline")]  # each made once, from the root
    assert session.wait_loaded().pipe is pipes and pipes.builds == 1
    assert pipes.made == (TEXT, IMAGE, INPAINT)


def test_lora_strengths_apply_in_every_mode(sd: Path, cache: Path) -> None:
    files = {p.stem: p for p in ovnb.adapters("tiny-sd", cache_dir=cache)}
    one, two = files["self-attn"], files["cross-attn"]
    session = ImageSession(sd, adapters={one: 1.0, two: 1.0}, properties=F32, width=48,
                           height=32, **STEPS)
    both = [one, two]
    kwargs = {"width": 48, "height": 32, **STEPS}
    # every step changes only alphas, and the mode: the genai bug must not cross modes
    plan = [(TEXT, {one: 1.0, two: 1.0}), (IMAGE, {one: 0.5, two: 1.0}),
            (INPAINT, {one: 0.5, two: 0.3}), (IMAGE, {one: 0.5, two: 0.3}),
            (TEXT, {one: 0.0, two: 0.3}), (INPAINT, {one: 0.0, two: 0.0})]
    for mode, alphas in plan:
        session.adapters = {str(p): a for p, a in alphas.items()}
        image = photo() if mode != TEXT else None
        mask = patch() if mode == INPAINT else None
        got = session.generate(PROMPT, image=image, mask=mask)
        extra = {"strength": 0.8} if mode != TEXT else {}
        if any(alphas.values()):
            expected = bare(sd, mode, image, mask, alphas, both, **kwargs, **extra)
        else:  # strengths 0: as a pipeline with no adapter at all makes
            expected = bare(sd, mode, image, mask, **kwargs, **extra)
        assert np.array_equal(np.asarray(got), expected), (mode, alphas)
    assert session.results[1].settings["adapters"] == {"self-attn": 0.0, "cross-attn": 0.3}


def test_stop_ends_an_edit_and_the_next_one_runs(session: ImageSession) -> None:
    steps: list[int] = []
    seen = threading.Event()

    def watch(change: dict[str, Any]) -> None:
        steps.append(change["new"][0])
        if change["new"][0] >= 2:
            seen.set()

    session.observe(watch, "progress")
    kept = len(session.results)
    answer: list[Any] = []
    runner = threading.Thread(target=lambda: answer.append(session.generate(
        PROMPT, image=photo(32, 32), strength=1.0, num_inference_steps=400)))
    runner.start()
    assert seen.wait(120)
    session.stop()
    runner.join(120)
    session.unobserve(watch, "progress")
    assert answer == [None] and session.outcome == "stopped" and session.last_error == ""
    assert session.metrics["steps"] < 400 and len(session.results) == kept
    assert session.generate(PROMPT, image=photo(), strength=0.5) is not None
    assert len(session.results) == kept + 1


def test_a_folder_without_a_vae_encoder_makes_text_and_refuses_edits(sd: Path,
                                                                      tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "text-only"
    shutil.copytree(sd, folder, ignore=shutil.ignore_patterns("vae_encoder", "ovnb.json"))
    session = ImageSession(folder, properties=F32, width=32, height=32, num_inference_steps=2)
    assert session.generate(PROMPT) is not None
    assert session.generate(PROMPT, image=photo()) is None
    assert session.last_error.startswith("text-only has no VAE encoder (vae_encoder/)")
    assert "\n" not in session.last_error and len(session.results) == 1


def test_the_chosen_image_and_mask_make_the_buttons_mode(session: ImageSession) -> None:
    assert session.mode == TEXT
    picture = session.choose_image(photo(), "photo")
    assert session.mode == IMAGE and session.input_image is picture
    assert session.choose_mask(patch()) is not None and session.mode == INPAINT
    assert session.status == f"mask chosen: {session.input_mask.share} of the image is repainted"
    assert session.choose_mask(np.ones((32, 48), bool)) is None  # all white: refused, mask kept
    assert "is all white" in session.last_error and session.mode == INPAINT
    session.choose_image(photo(seed=1), "another")  # a new image: its old mask goes
    assert session.mode == IMAGE and session.input_mask is None
    session.remove_image()
    assert session.mode == TEXT
    assert session.choose_mask(patch()) is None
    assert session.last_error.startswith("a mask needs an image first")


def test_strength_is_a_validated_setting(session: ImageSession) -> None:
    from traitlets import TraitError

    session.strength = 0.3
    for bad in (0.0, 1.5, -1):
        with pytest.raises(TraitError, match="strength must be more than 0 and at most 1"):
            session.strength = bad
    assert session.strength == 0.3
    session.strength = 0.8


class BlankImages:
    """The pipelines, with what NaN latents make of an image: every pixel black."""

    def __init__(self, pipes: Any) -> None:
        self.pipes = pipes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipes, name)

    def get(self, mode: str) -> Any:
        pipe = self.pipes.get(mode)

        class Blank:
            def __getattr__(self, name: str) -> Any:
                return getattr(pipe, name)

            def generate(self, *args: Any, **kwargs: Any) -> Any:
                tensor = pipe.generate(*args, **kwargs)
                tensor.data[...] = 0
                return tensor

        return Blank()


def test_a_blank_image_is_refused_never_shown(sd: Path) -> None:
    gen = ImageSession(sd, properties=OWN, width=64, height=64, **STEPS)
    kept = gen.generate(PROMPT)
    loaded = gen.wait_loaded()
    real, loaded.pipe = loaded.pipe, BlankImages(loaded.pipe)
    try:
        assert gen.generate(PROMPT) is None
    finally:
        loaded.pipe = real
    assert gen.last_error.startswith("the image came out blank (every pixel is (0, 0, 0)")
    assert gen.image is kept and len(gen.results) == 1 and gen.outcome == "failed"


def test_a_large_input_is_scaled_and_the_status_says_so(session: ImageSession) -> None:
    """A photo larger than any model looks at is downscaled as it is read: the learner reads it in
    the status line, at the choice and after the run (not only in metrics)."""
    big = photo(4000, 3000)
    picture = session.choose_image(big)
    assert picture is not None and picture.downscaled
    assert "downscaled from 4000×3000" in session.status
    session.remove_image()
    assert session.generate(PROMPT, image=big, strength=0.5) is not None
    assert "image downscaled from 4000×3000" in session.status


def test_a_save_path_inside_a_file_is_one_line(session: ImageSession, tmp_path: Path) -> None:
    session.generate(PROMPT)
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    assert session.save(blocker / "cat") is None
    assert session.last_error == (f"cannot save to {blocker / 'cat.png'}: {blocker} is a file, "
                                  "not a folder: choose another path")
    assert session.save(tmp_path / "cat") == tmp_path / "cat.png"
    assert b"parameters" in (tmp_path / "cat.png").read_bytes()  # prompt and settings inside
