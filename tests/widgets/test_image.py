"""ImageGenerator, driven as a notebook user drives it, on tiny-sd in f32."""
from __future__ import annotations

import html
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ovnb
from ovnb.lora import choose as adapter_pairs
from ovnb.sessions import image as image_mod
from ovnb.sessions.image import StepWatch, preview_decoder, shrink
from tests.conftest import F32

PROMPT = "a red cat on the sea"
SMALL = {"width": 48, "height": 32, "num_inference_steps": 3}  # PNDM runs 4



@pytest.fixture(scope="module")
def loras(sd: Path, cache: Path) -> dict[str, Path]:
    return {p.stem: p for p in ovnb.adapters("tiny-sd", cache_dir=cache)}


def bare(folder: Path, prompt: str = PROMPT, alphas: dict[Path, float] | None = None,
         registered: tuple[Path, ...] | list[Path] = (), **settings: Any) -> np.ndarray:
    """The bare pipeline's image; a fresh pipeline each time, so no previous call can interfere."""
    import openvino_genai as ov_genai

    kwargs: dict[str, Any] = {}
    made = {p: ov_genai.Adapter(str(p)) for p in registered}
    if made:
        kwargs["adapters"] = ov_genai.AdapterConfig([(a, 1.0) for a in made.values()])
    pipe = ov_genai.Text2ImagePipeline(str(folder), "CPU", **kwargs, **F32)
    call = dict(settings)
    if made:
        chosen = [(made[p], a) for p, a in (alphas or {}).items() if a]
        call["adapters"] = ov_genai.AdapterConfig(chosen) if chosen else ov_genai.AdapterConfig()
    return pipe.generate(prompt, **call).data[0].copy()


def pixels(image: Any) -> np.ndarray:
    return np.asarray(image)


def distance(a: Any, b: Any) -> float:
    """Mean absolute pixel difference (0-255)."""
    return float(np.abs(pixels(a).astype(np.int16) - pixels(b).astype(np.int16)).mean())


def from_png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def shown(widget: Any) -> np.ndarray:
    """The pixels an Image widget shows."""
    return from_png(widget.value)


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.005)


# the widget on a plain model ----------------------------------------------------------------
def test_image_equals_the_bare_pipeline_and_progress_reaches_the_total(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, rng_seed=7, **SMALL)
    image = gen.generate(PROMPT)
    assert image.size == (48, 32) and image.mode == "RGB"
    expected = bare(sd, rng_seed=7, guidance_scale=7.5, **SMALL)
    assert np.array_equal(pixels(image), expected)
    assert np.array_equal(shown(gen.view.preview), expected)  # the final image replaces the preview
    total = gen.metrics["steps"]
    assert total == SMALL["num_inference_steps"] + 1  # PNDM: one step more, read from the callback
    assert gen.view.progress.value == gen.view.progress.max == total
    assert "done" in gen.view.status_line.value and gen.last_error == ""
    negative = gen.generate(PROMPT, negative_prompt="blue sky")
    assert np.array_equal(pixels(negative),
                          bare(sd, rng_seed=7, negative_prompt="blue sky", **SMALL))
    assert distance(negative, image) > 1


def cards(gen: ovnb.ImageGenerator) -> list[str]:
    """The gallery's cards (HTML), newest first."""
    return gen.view.gallery.value.split("<figure")[1:]

def test_seeds_differ_and_the_gallery_grows_newest_first(sd: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_mod, "GALLERY_SIZE", 2)
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    one = gen.generate(PROMPT, rng_seed=1)
    assert len(cards(gen)) == 1
    two = gen.generate(PROMPT, rng_seed=2)
    assert distance(one, two) > 5
    assert gen.rng_seed == 42  # per-call settings do not stick to the controls
    gen.generate("a green tree", rng_seed=3)
    assert [r.settings["rng_seed"] for r in gen.results] == [3, 2]  # bounded, newest first
    assert len(cards(gen)) == 2
    caption = cards(gen)[0]
    assert "a green tree" in caption and "seed 3" in caption and "48×32" in caption
    assert "3 steps" in caption and gen.results[0].steps == 4  # asked 3; PNDM ran 4
    assert gen.image is gen.results[0].image


def test_the_button_reads_the_controls(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    gen.wait_loaded()
    gen.view.controls["prompt"].value = PROMPT
    gen.view.controls["rng_seed"].value = 5
    gen.view.controls["guidance_scale"].value = 3.0
    gen.view.controls["run"].click()
    outcome = gen.session.join()
    assert outcome.ok and outcome.value is gen.image
    assert np.array_equal(pixels(gen.image), bare(sd, rng_seed=5, guidance_scale=3.0, **SMALL))


def test_defaults_come_from_the_model(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32)
    gen.wait_loaded()
    # tiny-sd's UNet sample size 64 × VAE scale 8, as SD 1.5; genai's 50 steps capped for a quick
    # first image
    assert (gen.width, gen.height) == (512, 512)
    assert gen.view.controls["width"].value == 512 and gen.num_inference_steps == 20


def test_live_previews_are_decoded_and_can_be_switched_off(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **{**SMALL, "num_inference_steps": 8})
    gen.session.preview_interval = 0  # every step the callback sees, but the last
    seen: list[bytes] = []
    gen.view.preview.observe(lambda change: seen.append(change["new"]), "value")
    final = gen.generate(PROMPT)
    # genai drops callback calls still queued when the loop ends: some previews may be skipped
    assert 1 <= gen.metrics["previews"] <= gen.metrics["steps"] - 1 == 8
    assert len(seen) == gen.metrics["previews"] + 1 and distance(shown(gen.view.preview), final) == 0
    assert distance(from_png(seen[0]), final) > 1  # a preview is not the final image
    assert f"· {gen.metrics['previews']} preview" in gen.view.figures_line.value
    gen.session.preview_interval = 3600  # due long after the run: none, and the line says why
    gen.generate(PROMPT)
    assert gen.metrics["previews"] == 0 and gen.metrics["preview_interval"] == 3600
    assert "no preview (the first is due 3600 s into a run)" in gen.view.figures_line.value
    gen.view.controls["live_preview"].value = False
    gen.generate(PROMPT)
    assert gen.metrics["previews"] == 0 and gen.metrics["preview_interval"] is None
    assert "live preview off" in gen.view.figures_line.value


def test_previews_of_big_images_decode_a_shrunken_latent(sd: Path) -> None:
    import openvino
    import openvino_genai as ov_genai

    latent = np.arange(2 * 4 * 64 * 64, dtype=np.float32).reshape(2, 4, 64, 64)
    small = shrink(openvino.Tensor(latent), 32 * 32)
    assert list(small.shape) == [2, 4, 32, 32]
    assert small.data[1, 2, 3, 4] == latent[1, 2, 6:8, 8:10].mean()
    few = openvino.Tensor(latent[:, :, :20, :30].copy())
    assert shrink(few, 32 * 32) is few  # small enough already: decoded as is
    decode = preview_decoder(ov_genai.Text2ImagePipeline(str(sd), "CPU", **F32))
    big = np.random.default_rng(0).standard_normal((1, 4, 48, 40)).astype(np.float32)
    assert list(decode(openvino.Tensor(big)).shape) == [1, 192, 160, 3]  # 24×20 latent, VAE ×8


def test_stop_midway_leaves_the_widget_usable(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, width=32, height=32, num_inference_steps=400)
    gen.generate(PROMPT, num_inference_steps=2)
    answer: list[Any] = []
    runner = threading.Thread(target=lambda: answer.append(gen.generate(PROMPT)))
    runner.start()
    wait_for(lambda: gen.view.progress.max > 100 and gen.view.progress.value >= 2)
    at_click = gen.view.progress.value
    gen.view.controls["stop"].click()
    runner.join(60)
    assert answer == [None]  # genai returned its empty tensor: no image
    assert gen.last_error == "" and "stopped" in gen.view.status_line.value
    assert at_click <= gen.metrics["steps"] < 400  # counted in steps: no clock raced
    assert len(gen.results) == 1 and gen.view.preview.value  # the stop-time preview stays
    assert not gen.busy and gen.view.controls["stop"].disabled and not gen.view.controls["run"].disabled
    again = gen.generate(PROMPT, num_inference_steps=2, rng_seed=9)
    assert np.array_equal(pixels(again), bare(sd, rng_seed=9, width=32, height=32,
                                              num_inference_steps=2))
    assert len(gen.results) == 2


def test_concurrent_generates_both_finish(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    images: dict[int, Any] = {}
    runners = [threading.Thread(target=lambda s=s: images.__setitem__(s, gen.generate(PROMPT,
                                                                                     rng_seed=s)))
               for s in (11, 12)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(120)
    assert set(images) == {11, 12} and all(image is not None for image in images.values())
    assert np.array_equal(pixels(images[12]), bare(sd, rng_seed=12, **SMALL))
    assert len(gen.results) == 2


def test_save_writes_a_png_that_reads_back(sd: Path, tmp_path: Path) -> None:
    from PIL import Image

    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    assert gen.save(tmp_path / "early.png") is None and "no image yet" in gen.last_error
    image = gen.generate(PROMPT)
    path = gen.save(tmp_path / "cat")
    assert path == tmp_path / "cat.png" and gen.last_error == ""
    with Image.open(path) as saved:
        assert saved.format == "PNG" and np.array_equal(np.asarray(saved), pixels(image))
        assert PROMPT in saved.info["parameters"] and "seed 42" in saved.info["parameters"]
    gen.view.controls["filename"].value = str(tmp_path / "sub" / "button.png")
    gen.view.controls["save"].click()
    assert Image.open(tmp_path / "sub" / "button.png").size == (48, 32)


# errors -------------------------------------------------------------------------------------
def test_bad_settings_show_one_line_and_keep_the_gallery(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    first = gen.generate(PROMPT)
    for opts, words in (({"width": 33}, ("width 33", "multiple of 8")),
                        ({"seed": 3}, ("unknown setting 'seed'", "rng_seed"))):
        assert gen.generate(PROMPT, **opts) is None
        assert all(w in gen.last_error for w in words) and "\n" not in gen.last_error
        assert html.escape(words[0]) in gen.view.error_line.value
        assert len(gen.results) == 1 and gen.image is first and not gen.busy
    assert gen.generate("   ") is None and "empty prompt" in gen.last_error
    assert gen.generate(PROMPT, rng_seed=3) is not None and gen.last_error == ""
    assert gen.view.error_line.value == "" and len(cards(gen)) == 2


def test_a_chat_folder_is_refused(cache: Path) -> None:
    gen = ovnb.ImageGenerator(ovnb.prepare("tiny-llm", cache_dir=cache))
    assert gen.generate(PROMPT) is None
    assert "not an image one" in gen.last_error and "--task image" in gen.last_error
    assert gen.last_error in gen.view.error_line.value and gen.results == []


def test_an_absent_device_is_refused(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, device="NPU")
    assert gen.generate(PROMPT) is None
    assert gen.last_error.startswith("device NPU is not available") and "CPU" in gen.last_error
    assert not gen.busy


def test_step_watch_never_raises_and_stops() -> None:
    decoded: list[Any] = []

    def broken_view(step: int, total: int) -> None:
        raise ValueError("the view is gone")

    watch = StepWatch(broken_view, decode=lambda latent: latent, on_preview=decoded.append,
                      interval=0)
    assert watch(0, 3, "latent0") is False and isinstance(watch.error, ValueError)
    watch.on_step = lambda step, total: None
    assert watch(1, 3, "latent1") is False and watch.step == 2 and decoded == ["latent1"]
    assert watch(2, 3, "latent2") is False and decoded == ["latent1"]  # not on the last step
    watch.stop_event.set()
    assert watch(0, 3, "latent") is True and decoded[-1] == "latent"  # the stop-time preview
    slow = StepWatch(lambda s, t: None, decode=lambda latent: latent, on_preview=decoded.append)
    assert slow(0, 3, "x") is False and decoded[-1] == "latent"  # throttled: too early


def test_step_watch_paces_progress_but_tells_the_first_and_last_step() -> None:
    told: list[tuple[int, int]] = []
    paced = StepWatch(lambda step, total: told.append((step, total)), pace=3600)
    assert [paced(step, 5, None) for step in range(5)] == [False] * 5
    assert told == [(1, 5), (5, 5)] and paced.step == 5  # every step counted, two told
    told.clear()
    every = StepWatch(lambda step, total: told.append((step, total)), pace=0)
    for step in range(3):
        every(step, 3, None)
    assert told == [(1, 3), (2, 3), (3, 3)]

# LoRA -----------------------------------------------------------------------------------------
def test_adapter_pairs_change_the_list_when_only_alphas_change() -> None:
    a, b = Path("a.safetensors"), Path("b.safetensors")
    assert adapter_pairs({a: 1.0, b: 0.0}, None) == [(a, 1.0)]
    assert adapter_pairs({a: 0.5, b: 0.0}, [(a, 1.0)]) == [(a, 0.5), (b, 0.0)]
    assert adapter_pairs({a: 0.5, b: 1.0}, [(a, 1.0), (b, 1.0)]) == [(b, 1.0), (a, 0.5)]
    assert adapter_pairs({a: 0.5, b: 1.0}, [(b, 1.0), (a, 0.5)]) == [(a, 0.5), (b, 1.0)]
    assert adapter_pairs({a: 0.5, b: 1.0}, [(a, 0.5), (b, 1.0)]) == [(a, 0.5), (b, 1.0)]
    assert adapter_pairs({a: 0.0, b: 0.0}, [(a, 1.0)]) == []
    assert adapter_pairs({a: 0.7}, [(a, 1.0)]) == [(a, 0.7)]  # one registered: no bug to avoid


def test_adapter_strengths_take_effect_and_zero_is_none(sd: Path, loras: dict[str, Path]) -> None:
    one, two = loras["self-attn"], loras["cross-attn"]
    gen = ovnb.ImageGenerator(sd, adapters={one: 0.0, two: 0.0}, properties=F32, **SMALL)
    settings = {"rng_seed": 42, **SMALL}

    def expected(alphas: dict[Path, float]) -> np.ndarray:
        return bare(sd, alphas=alphas, registered=[one, two], **settings)

    plain = gen.generate(PROMPT)
    assert np.array_equal(pixels(plain), bare(sd, **settings))  # alpha 0 = no adapter
    steps = [({one: 1.0, two: 0.0}), ({one: 0.5, two: 0.0}), ({one: 0.5, two: 1.0}),
             ({one: 0.5, two: 0.3}), ({one: 0.0, two: 0.3}), ({one: 0.0, two: 0.8})]
    images = []
    for alphas in steps:  # each differs from the last in alphas only, for some adapter
        for path, alpha in alphas.items():
            gen.view.mixer.slider(path).value = alpha
        images.append(gen.generate(PROMPT))
        assert np.array_equal(pixels(images[-1]), expected(alphas)), alphas
    assert all(distance(a, b) > 1 for a, b in zip([plain, *images], images, strict=False))
    assert gen.results[0].settings["adapters"] == {"self-attn": 0.0, "cross-attn": 0.8}
    back = gen.generate(PROMPT, adapters={"cross-attn": 0.0})  # per call, by name
    assert np.array_equal(pixels(back), pixels(plain))
    assert gen.generate(PROMPT, adapters={"other": 1.0}) is None
    assert "adapter other was not given" in gen.last_error


def test_widgets_sharing_a_pipeline_share_the_workaround(sd: Path, loras: dict[str, Path]) -> None:
    one, two = loras["self-attn"], loras["cross-attn"]
    first = ovnb.ImageGenerator(sd, adapters={one: 1.0, two: 0.0}, properties=F32, **SMALL)
    second = ovnb.ImageGenerator(sd, adapters={one: 0.4, two: 0.0}, properties=F32, **SMALL)
    first.generate(PROMPT)
    image = second.generate(PROMPT)  # the pipeline's previous call had the same list, alpha 1.0
    assert first.wait_loaded() is second.wait_loaded()
    assert np.array_equal(pixels(image), bare(sd, alphas={one: 0.4}, registered=[one, two],
                                              rng_seed=42, **SMALL))


# editing: an image to edit, its mask painted or uploaded ---------------------------------------
def small_house(w: int = 48, h: int = 36) -> Any:
    from PIL import Image

    from ovnb.images import samples

    return Image.open(samples()["house"]).resize((w, h))


def mask_png(w: int = 48, h: int = 36, box: tuple[int, int, int, int] = (10, 5, 30, 25),
             fill: int = 255) -> bytes:
    """A mask as the painter's page sends it: RGBA, opaque, white strokes on black."""
    from PIL import Image, ImageDraw

    mask = Image.new("RGBA", (w, h), (0, 0, 0, 255))
    ImageDraw.Draw(mask).ellipse(box, fill=(fill, fill, fill, 255))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def stroke(gen: Any, data: bytes) -> None:
    """One stroke ending in the page: the painter's state message, as the front end sends it."""
    gen.view.painter.set_state({"mask": memoryview(data), "strokes": gen.view.painter.strokes + 1})


def upload(name: str, data: bytes) -> tuple[dict[str, Any], ...]:
    import datetime

    return ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now(datetime.timezone.utc)},)


def test_a_sample_becomes_the_image_to_edit(sd: Path) -> None:
    from ovnb.images import samples

    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    assert gen.mode == "text2image" and gen.view.edit_box.layout.display == "none"
    assert "mode: text to image" in gen.view.mode_label.value
    gen.view.controls["samples"].value = samples()["sailboat"]
    assert gen.mode == "image2image" and gen.view.edit_box.layout.display == "flex"
    assert "image to image on sailboat.png (320×240)" in gen.view.mode_label.value
    assert from_png(gen.view.painter.image).shape == (240, 320, 3) and gen.view.painter.mask == b""
    gen.view.controls["remove_image"].click()
    assert gen.mode == "text2image" and gen.view.painter.image == b"" and gen.view.controls["samples"].value is None


def test_a_sample_name_chooses_the_sample_from_code_and_the_path_box(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    gen.choose_image("sailboat")  # a bundled sample's name, where a path is accepted
    assert gen.view.controls["samples"].label == "sailboat" and gen.mode == "image2image"
    gen.view.controls["image_path"].value = "house"
    assert gen.view.controls["samples"].label == "house" and gen.last_error == ""
    gen.view.controls["image_path"].value = "hous"
    assert gen.last_error == ("no image file or sample named 'hous': give an image's path, or a "
                              "sample: house, sailboat")
    assert gen.view.controls["samples"].label == "house"  # the choice before stays


def test_a_painted_stroke_is_the_mask_and_generate_inpaints(front_end: None, sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    gen.choose_image(small_house(), "house")
    sent = len(gen.view.painter.comm.messages)
    stroke(gen, mask_png())
    assert gen.mode == "inpainting" and gen.input_mask.size == (48, 36)
    assert "(painted, 1 stroke)" in gen.view.mask_label.value
    assert [m for m in gen.view.painter.comm.messages[sent:] if m.get("method") == "update"] == []
    gen.view.controls["prompt"].value = PROMPT
    gen.view.controls["run"].click()
    outcome = gen.session.join()
    assert outcome.ok and outcome.value.size == (48, 36) and gen.results[0].mode == "inpainting"
    same = gen.generate(PROMPT, image=small_house(), mask=mask_png())  # code: the same path
    assert np.array_equal(pixels(same), pixels(outcome.value))
    assert gen.view.before_box.layout.display == "flex" and shown(gen.view.before).shape == (36, 48, 3)
    assert np.array_equal(shown(gen.view.preview), pixels(same))  # after, beside before
    assert gen.view.figures_line.value.count("inpainting · ") == 1
    canvas = f"{gen.view.painter.view_width}px"  # before and after at the painting canvas's scale
    assert gen.view.before.layout.width == gen.view.preview.layout.width == canvas != "48px"
    actual = gen.view.controls["actual_size"]
    assert actual.layout.display == "flex"
    actual.value = True  # at their pixel size
    assert gen.view.before.layout.width == gen.view.preview.layout.width == "48px"
    actual.value = False
    gen.generate(PROMPT)  # text to image: no before, the result at its own size
    assert gen.view.before_box.layout.display == actual.layout.display == "none"
    assert gen.view.preview.layout.width == f"{SMALL['width']}px"


def test_strokes_erased_away_and_a_refused_one_leave_the_right_mask(front_end: None,
                                                                   sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    gen.choose_image(small_house(), "house")
    stroke(gen, mask_png())
    kept = gen.input_mask
    stroke(gen, mask_png(box=(-60, -60, 110, 100)))  # painted all over: refused, one line
    assert "is all white" in gen.last_error and "\n" not in gen.last_error
    assert gen.input_mask is kept  # the mask before it stays, and the painter shows it again
    assert np.array_equal(from_png(gen.view.painter.mask), kept.pixels)
    stroke(gen, mask_png(fill=0))  # everything erased: no mask, image to image
    assert gen.input_mask is None and gen.mode == "image2image"


def test_a_mask_file_is_uploaded_scaled_or_refused(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    gen.view.controls["mask_upload"].value = upload("early.png", mask_png())
    assert gen.last_error.startswith("a mask needs an image first")
    gen.choose_image(small_house(), "house")
    gen.view.controls["mask_upload"].value = upload("big.png", mask_png(96, 72, (20, 10, 60, 50)))
    assert gen.mode == "inpainting" and gen.input_mask.size == (48, 36)
    assert "big.png scaled from 96×72 to the image's 48×36" in gen.status
    assert from_png(gen.view.painter.mask).shape == (36, 48)  # the page shows the uploaded mask
    kept = gen.input_mask
    gen.view.controls["mask_upload"].value = upload("wide.png", mask_png(96, 36))
    assert "wide.png is 96×36 but the image is 48×36, another shape" in gen.last_error
    assert gen.input_mask is kept
    gen.view.controls["clear_mask"].click()
    assert gen.mode == "image2image" and gen.view.painter.mask == b""


def test_a_note_on_the_inputs_is_said_once_in_the_status_line(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    gen.generate(PROMPT, image=small_house(), mask=mask_png(96, 72, (20, 10, 60, 50)))
    notes = gen.metrics["notes"]
    assert "the mask upload scaled from 96×72 to the image's 48×36" in notes
    assert gen.status == "; ".join(["done", *notes])
    assert "scaled" not in gen.view.figures_line.value


def test_strength_slider_and_editing_the_result(sd: Path) -> None:
    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)
    slider = gen.view.controls["strength"]
    assert slider.value == gen.strength == 0.8 and slider.min == 0.05 and slider.max == 1.0
    slider.value = 0.4
    assert gen.session.strength == 0.4
    gen.view.controls["edit_result"].click()
    assert gen.last_error == "no image yet: press Generate first"
    first = gen.generate(PROMPT)
    gen.view.controls["edit_result"].click()
    assert gen.mode == "image2image" and gen.input_image.name == "the last result"
    assert np.array_equal(gen.input_image.pixels, pixels(first))
    gen.view.controls["prompt"].value = "a blue cat"
    gen.view.controls["run"].click()
    again = gen.session.join().value
    assert again.size == first.size and gen.results[0].settings["strength"] == 0.4
    assert "image to image · strength 0.4" in cards(gen)[0]


def test_the_mode_line_says_what_a_code_call_ran_and_the_dropdown_what_is_chosen(sd: Path) -> None:
    from ovnb.images import samples

    gen = ovnb.ImageGenerator(sd, properties=F32, **SMALL)

    def line() -> str:
        return html.unescape(gen.view.mode_label.value)

    dropdown = gen.view.controls["samples"]
    assert dropdown.label == "sample image…" and "mode: text to image · choose an image" in line()
    gen.generate(PROMPT, image=small_house(), mask=mask_png())  # inpainting, from code
    assert "mode: inpainting on the image (48×36) · " in line()
    assert f"{gen.results[0].mask.share} of it masked · by generate() from code; Generate runs " \
           "text to image" in line()
    gen.generate(PROMPT, image=small_house())
    assert "mode: image to image on the image (48×36) · by generate() from code" in line()
    gen.choose_image(samples()["house"])  # code chooses a sample: the pickers show it
    assert dropdown.label == "house" and gen.view.edit_box.layout.display == "flex"
    assert "mode: image to image on house.png (320×240) · paint a mask over it" in line()
    gen.generate(PROMPT)  # text to image from code, the house still chosen for the button
    assert "mode: text to image · by generate() from code; Generate runs image to image" \
        in line()
    gen.choose_image(small_house(), "my house")  # no sample: the dropdown's first line
    assert dropdown.value is None and dropdown.label == "sample image…"
    gen.choose_mask(mask_png())
    assert "mode: inpainting on my house (48×36) · " in line() and "generate()" not in line()
    gen.view.controls["prompt"].value = PROMPT
    gen.view.controls["run"].click()  # the button runs what is chosen: the line stays
    assert gen.session.join().ok and gen.results[0].mode == "inpainting"
    assert "mode: inpainting on my house (48×36) · " in line() and "generate()" not in line()
