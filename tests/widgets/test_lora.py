"""LoRA: the mixer, adapter checks, per-call strengths in Chat and VisionChat, comparison views.

References are bare pipelines built fresh for each case (their first call is right whatever genai's
per-call quirks), so a widget that silently kept an old strength would fail here.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ovnb
from ovnb import lora
from ovnb.errors import OvnbError
from ovnb.widgets.lora import LoraMixer
from ovnb.widgets.render import markdown_html
from tests.conftest import F32

CONFIG = {"max_new_tokens": 12, "repetition_penalty": 1.0}
QUESTION = "Hello there"



@pytest.fixture(scope="module")
def loras(llm: Path, cache: Path) -> dict[str, Path]:
    return {p.stem: p for p in ovnb.adapters("tiny-llm", cache_dir=cache)}


@pytest.fixture(scope="module")
def sd_loras(cache: Path) -> dict[str, Path]:
    return {p.stem: p for p in ovnb.adapters("tiny-sd", cache_dir=cache)}


def bare_answer(folder: Path, registered: list[Path], chosen: dict[Path, float],
                question: str = QUESTION) -> str:
    """The answer of a fresh LLMPipeline with ``registered`` adapters, first call with ``chosen``."""
    import openvino_genai as ov_genai

    made = {p: ov_genai.Adapter(str(p)) for p in registered}
    kwargs: dict[str, Any] = {}
    if made:
        scheduler = ov_genai.SchedulerConfig()
        scheduler.enable_prefix_caching = False
        kwargs = {"adapters": ov_genai.AdapterConfig([(a, 1.0) for a in made.values()]),
                  "scheduler_config": scheduler}
    pipe = ov_genai.LLMPipeline(str(folder), "CPU", **kwargs, **F32)
    config = pipe.get_generation_config()
    config.max_new_tokens, config.repetition_penalty, config.do_sample = 12, 1.0, False
    history = ov_genai.ChatHistory()
    history.append({"role": "user", "content": question})
    pairs = [(made[p], a) for p, a in chosen.items()]
    call = {"adapters": ov_genai.AdapterConfig(pairs) if pairs else ov_genai.AdapterConfig()} \
        if made else {}
    return pipe.generate(history, config, **call).texts[0]


def write_lora(path: Path, layers: dict[str, tuple[int, int]], seed: int = 0,
               kernel: tuple[int, ...] = ()) -> Path:
    """A random PEFT-named LoRA file: layer name -> (inputs, outputs)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for name, (inputs, outputs) in layers.items():
        tensors[f"{name}.lora_A.weight"] = (rng.standard_normal((4, inputs, *kernel))
                                            / np.sqrt(inputs)).astype(np.float32)
        tensors[f"{name}.lora_B.weight"] = (rng.standard_normal((outputs, 4, *[1] * len(kernel)))
                                            * 0.5).astype(np.float32)
    save_file(tensors, str(path))
    return path


# the mixer ----------------------------------------------------------------------------------
def test_mixer_rows_strengths_and_enable(tmp_path: Path) -> None:
    a, b = tmp_path / "style.safetensors", tmp_path / "detail.safetensors"
    mixer = LoraMixer({a: 0.3, b: 1.0})
    assert mixer.files == [a, b]
    assert mixer.alphas() == {a: 0.3, b: 1.0}
    assert len(mixer.children) == 3  # a title and one row per adapter
    box, slider = mixer.children[1].children
    assert box.description == "style" and (slider.min, slider.max) == (0.0, 1.0)
    box.value = False  # untick "style" as a user would
    assert mixer.alphas() == {b: 1.0} and slider.disabled
    mixer.set("detail", 0.25)
    mixer.set(a, enabled=True)
    assert mixer.alphas() == {a: 0.3, b: 0.25}
    with pytest.raises(OvnbError, match="no adapter nope in this mixer"):
        mixer.set("nope", 1.0)


def test_mixer_ranges_and_sources(tmp_path: Path) -> None:
    files = [tmp_path / "x.safetensors", tmp_path / "y.safetensors"]
    wide = LoraMixer(files, wide=True)
    assert wide.alphas() == dict.fromkeys(files, 1.0)
    assert (wide.slider(files[0]).min, wide.slider(files[0]).max) == (-1.0, 2.0)
    wide.set("x", -0.5)
    assert wide.alphas()[files[0]] == -0.5
    over = LoraMixer({files[0]: 1.5})  # outside 0..1: the slider widens instead of clamping
    assert over.alphas() == {files[0]: 1.5}


def test_mixer_from_a_model_s_own_adapters(loras: dict[str, Path], cache: Path) -> None:
    mixer = LoraMixer(ovnb.adapters("tiny-llm", cache_dir=cache))
    assert [mixer.name(p) for p in mixer.files] == ["attention", "feedforward"]


# the list each call passes --------------------------------------------------------------------
def test_choose_changes_the_list_when_only_alphas_change() -> None:
    a, b = Path("a"), Path("b")
    assert lora.choose({a: 1.0, b: 0.0}, None) == [(a, 1.0)]
    assert lora.choose({a: 1.0, b: 1.0}, [(a, 1.0), (b, 1.0)]) == [(a, 1.0), (b, 1.0)]
    assert lora.choose({a: 0.5, b: 1.0}, [(a, 1.0), (b, 1.0)]) == [(b, 1.0), (a, 0.5)]
    assert lora.choose({a: 0.5, b: 0.0}, [(a, 1.0)]) == [(a, 0.5), (b, 0.0)]
    assert lora.choose({a: 0.0, b: 0.0}, [(a, 1.0)]) == []
    # the spare comes from the registered adapters, even when the mixer left it out (unticked)
    assert lora.choose({a: 0.25}, [(a, 1.0)], registered=[a, b]) == [(a, 0.25), (b, 0.0)]


# refusing files that do not fit -----------------------------------------------------------------
def test_own_adapters_fit(llm: Path, loras: dict[str, Path], sd_loras: dict[str, Path],
                          cache: Path) -> None:
    assert len(lora.check_adapter(loras["attention"], llm, "chat")) == 16  # 4 projections x 4
    sd = ovnb.prepare("tiny-sd", cache_dir=cache)
    for path in sd_loras.values():
        assert lora.check_adapter(path, sd, "image")


def test_files_that_do_not_fit_are_refused(llm: Path, loras: dict[str, Path],
                                           sd_loras: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "notes.safetensors"
    text.write_text("these are my notes, not weights\n" * 4)
    cases = {
        sd_loras["self-attn"]: r"self-attn.safetensors does not fit tiny-llm: none of its 16 LoRA "
                               r"layers \(e.g. lora_unet_",
        text: r"notes.safetensors is not a safetensors file",
        tmp_path / "missing.safetensors": r"missing.safetensors not found",
        write_lora(tmp_path / "small.safetensors",
                   {"base_model.model.model.layers.0.self_attn.q_proj": (32, 64)}):
            r"layer model.layers.0.self_attn.q_proj is 64→64 here but 32→64 in the adapter",
        write_lora(tmp_path / "deeper.safetensors",
                   {f"base_model.model.model.layers.{i}.mlp.up_proj": (64, 128) for i in range(8)}):
            r"4 of its 8 LoRA layers \(e.g. base_model.model.model.layers.4.mlp.up_proj\) are not",
        write_lora(tmp_path / "bare.safetensors",  # right layers, but without PEFT's prefix
                   {"model.layers.0.self_attn.q_proj": (64, 64)}): r"none of its 1 LoRA layers",
    }
    for path, message in cases.items():
        with pytest.raises(OvnbError, match=message):
            lora.check_adapter(path, llm, "chat")
    empty = tmp_path / "empty.safetensors"
    from safetensors.numpy import save_file

    save_file({"weight": np.zeros((2, 2), np.float32)}, str(empty))
    with pytest.raises(OvnbError, match="holds no LoRA weights"):
        lora.check_adapter(empty, llm, "chat")


def test_image_adapter_formats_genai_cannot_apply_are_refused(cache: Path, tmp_path: Path) -> None:
    sd = ovnb.prepare("tiny-sd", cache_dir=cache)
    conv = "lora_unet_down_blocks_0_resnets_0_conv1"
    with pytest.raises(OvnbError, match="3×3 kernel"):
        lora.check_adapter(write_lora(tmp_path / "locon.safetensors", {conv: (32, 32)},
                                      kernel=(3, 3)), sd, "image")
    peft = {"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q": (32, 32)}
    with pytest.raises(OvnbError, match="diffusers' PEFT form"):
        lora.check_adapter(write_lora(tmp_path / "peft.safetensors", peft), sd, "image")


def test_chat_refuses_a_mismatched_adapter_in_the_widget(llm: Path, sd_loras: dict[str, Path],
                                                         tmp_path: Path) -> None:
    chat = ovnb.Chat(llm, adapters=[sd_loras["cross-attn"]], properties=F32, **CONFIG)
    assert chat.send("Hi") == ""
    assert chat.last_error.startswith("cross-attn.safetensors does not fit tiny-llm")
    assert "does not fit tiny-llm" in chat.view.error_line.value
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    other = ovnb.Chat(llm, adapters={text: 0.5}, properties=F32, **CONFIG)
    assert other.send("Hi") == "" and "readme.txt is not a safetensors file" in other.last_error


# strengths per call -------------------------------------------------------------------------------
def test_alpha_zero_and_unticked_equal_no_adapter(llm: Path, loras: dict[str, Path]) -> None:
    plain = ovnb.Chat(llm, properties=F32, **CONFIG).send(QUESTION)
    mixer = LoraMixer({loras["attention"]: 0.0, loras["feedforward"]: 1.0})
    mixer.set("feedforward", enabled=False)
    chat = ovnb.Chat(llm, adapters=mixer, properties=F32, **CONFIG)
    assert chat.send(QUESTION) == plain
    assert plain == bare_answer(llm, [], {})


def test_strengths_and_slider_changes_take_effect_without_a_rebuild(
        llm: Path, loras: dict[str, Path]) -> None:
    att, ff = loras["attention"], loras["feedforward"]
    mixer = LoraMixer([att, ff])
    chat = ovnb.Chat(llm, adapters=mixer, properties=F32, **CONFIG)
    assert mixer in chat.view.children  # the sliders are part of the chat
    pipe = chat.wait_loaded().pipe
    answers = {}
    # each step changes only strengths, the case genai silently ignores unless worked around
    for step, (a, f) in enumerate([(1.0, 1.0), (0.5, 1.0), (0.5, 0.25), (1.0, 0.25), (1.0, 1.0)]):
        mixer.slider(att).value, mixer.slider(ff).value = a, f  # as a user drags them
        chat.clear()
        answers[step] = chat.send(QUESTION)
        assert answers[step] == bare_answer(llm, [att, ff], {att: a, ff: f}), (a, f)
        assert chat.wait_loaded().pipe is pipe
    assert answers[0] == answers[4] and len({answers[0], answers[1], answers[2]}) == 3
    mixer.set(ff, enabled=False)  # a lone adapter after two: the single-adapter case
    chat.clear()
    assert chat.send(QUESTION) == bare_answer(llm, [att, ff], {att: 1.0})
    mixer.set(att, 0.5)
    chat.clear()
    assert chat.send(QUESTION) == bare_answer(llm, [att, ff], {att: 0.5})
    assert chat.wait_loaded().pipe is pipe


def test_two_chats_share_a_pipeline_and_keep_their_own_strengths(
        llm: Path, loras: dict[str, Path]) -> None:
    att, ff = loras["attention"], loras["feedforward"]
    one = ovnb.Chat(llm, adapters={att: 1.0, ff: 1.0}, properties=F32, **CONFIG)
    two = ovnb.Chat(llm, adapters={att: 0.5, ff: 1.0}, properties=F32, **CONFIG)
    assert one.wait_loaded() is two.wait_loaded()
    assert one.send(QUESTION) == bare_answer(llm, [att, ff], {att: 1.0, ff: 1.0})
    assert two.send(QUESTION) == bare_answer(llm, [att, ff], {att: 0.5, ff: 1.0})


# comparison views ---------------------------------------------------------------------------------
def test_lora_compare_answers_with_and_without_side_by_side(llm: Path,
                                                            loras: dict[str, Path]) -> None:
    att, ff = loras["attention"], loras["feedforward"]
    mixer = LoraMixer({att: 0.5, ff: 1.0})
    chat = ovnb.Chat(llm, adapters=mixer, properties=F32, **CONFIG)
    chat.send("An earlier question")
    history = list(chat.messages)
    view = ovnb.lora_compare(chat, QUESTION)
    assert view.answers == {"without": bare_answer(llm, [], {}),
                            "with": bare_answer(llm, [att, ff], {att: 0.5, ff: 1.0})}
    assert chat.messages == history  # asked outside the conversation
    shown = [column.value for column in view.columns.values()]
    assert shown == [markdown_html(view.answers["without"]), markdown_html(view.answers["with"])]
    assert view.label == "attention 0.5 + feedforward 1" and view.label in view.titles["with"].value
    only = ovnb.lora_compare(chat, QUESTION, adapters={"feedforward": 1.0})
    assert only.answers["with"] == bare_answer(llm, [att, ff], {ff: 1.0})
    with pytest.raises(OvnbError, match="has no LoRA adapters"):
        ovnb.lora_compare(ovnb.Chat(llm, properties=F32), QUESTION)


# VisionChat ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vlm(cache: Path) -> Path:
    return ovnb.prepare("tiny-vlm", cache_dir=cache)


@pytest.fixture(scope="module")
def vlm_loras(vlm: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two random LoRAs for tiny-vlm's language model, named as PEFT names them."""
    xml = (vlm / "openvino_language_model.xml").read_text()
    found = re.findall(r'name="__module\.([^"/]*layers\.\d+\.(?:self_attn\.[qv]_proj|mlp\.up_proj))'
                       r'/aten::linear/MatMul" type="MatMul".*?<port id="1"[^>]*>\s*<dim>(\d+)</dim>'
                       r'\s*<dim>(\d+)</dim>', xml, re.DOTALL)
    layers = {f"base_model.model.{name}": (int(i), int(o)) for name, o, i in found}
    folder = tmp_path_factory.mktemp("vlm-loras")
    return [write_lora(folder / f"{n}.safetensors", layers, seed=s) for s, n in enumerate("ab")]


def bare_vision(folder: Path, registered: list[Path], chosen: dict[Path, float]) -> str:
    import openvino_genai as ov_genai

    made = {p: ov_genai.Adapter(str(p)) for p in registered}
    scheduler = ov_genai.SchedulerConfig()
    scheduler.enable_prefix_caching = False
    pipe = ov_genai.VLMPipeline(str(folder), "CPU", scheduler_config=scheduler,
                                adapters=ov_genai.AdapterConfig([(a, 1.0) for a in made.values()]),
                                **F32)
    config = pipe.get_generation_config()
    config.max_new_tokens, config.repetition_penalty, config.do_sample = 12, 1.0, False
    history = ov_genai.ChatHistory()
    history.append({"role": "user", "content": QUESTION})
    pairs = [(made[p], a) for p, a in chosen.items()]
    return pipe.generate(history, images=[], generation_config=config,
                         adapters=ov_genai.AdapterConfig(pairs) if pairs
                         else ov_genai.AdapterConfig()).texts[0]


def test_vision_chat_follows_the_sliders(vlm: Path, vlm_loras: list[Path], llm: Path,
                                         loras: dict[str, Path]) -> None:
    a, b = vlm_loras
    mixer = LoraMixer({a: 0.0, b: 1.0})
    vision = ovnb.VisionChat(vlm, adapters=mixer, properties=F32, **CONFIG)
    pipe = vision.wait_loaded().pipe
    for alphas in ({a: 0.0, b: 1.0}, {a: 1.0, b: 1.0}, {a: 0.5, b: 1.0}, {a: 0.0, b: 0.0}):
        for path, alpha in alphas.items():
            mixer.set(path, alpha)
        vision.clear()
        assert vision.send(QUESTION) == bare_vision(vlm, [a, b], alphas), alphas
    assert vision.wait_loaded().pipe is pipe
    wrong = ovnb.VisionChat(vlm, adapters=[loras["attention"]], properties=F32, **CONFIG)
    assert wrong.send(QUESTION) == ""
    assert "attention.safetensors does not fit tiny-vlm" in wrong.last_error


# ImageGenerator and the strength grid ---------------------------------------------------------------
SMALL = {"width": 48, "height": 32, "num_inference_steps": 3, "rng_seed": 11}
PICTURE = "a red cat on the sea"



def bare_image(folder: Path, registered: list[Path], chosen: dict[Path, float],
               **settings: Any) -> np.ndarray:
    """A fresh Text2ImagePipeline's image, its first call with ``chosen`` strengths."""
    import openvino_genai as ov_genai

    made = {p: ov_genai.Adapter(str(p)) for p in registered}
    pipe = ov_genai.Text2ImagePipeline(
        str(folder), "CPU", adapters=ov_genai.AdapterConfig([(a, 1.0) for a in made.values()]),
        **F32)
    pairs = [(made[p], a) for p, a in chosen.items()]
    config = ov_genai.AdapterConfig(pairs) if pairs else ov_genai.AdapterConfig()
    return pipe.generate(PICTURE, adapters=config, **{**SMALL, **settings}).data[0].copy()


def test_image_generator_follows_the_mixer_without_a_rebuild(sd: Path,
                                                             sd_loras: dict[str, Path]) -> None:
    one, two = sd_loras["self-attn"], sd_loras["cross-attn"]
    mixer = LoraMixer([one, two], wide=True)
    gen = ovnb.ImageGenerator(sd, adapters=mixer, properties=F32, **SMALL)
    pipe = gen.wait_loaded().pipe
    for alphas in ({one: 1.0, two: 1.0}, {one: -0.5, two: 1.0}, {one: -0.5, two: 1.0},
                   {one: 1.5, two: 0.25}):
        for path, alpha in alphas.items():
            mixer.slider(path).value = alpha
        image = gen.generate(PICTURE)
        assert np.array_equal(np.asarray(image), bare_image(sd, [one, two], alphas)), alphas
    mixer.set(one, enabled=False)
    assert np.array_equal(np.asarray(gen.generate(PICTURE)), bare_image(sd, [one, two], {two: 0.25}))
    assert gen.wait_loaded().pipe is pipe and gen.view.mixer is mixer


def test_image_generator_refuses_an_llm_adapter(sd: Path, loras: dict[str, Path]) -> None:
    gen = ovnb.ImageGenerator(sd, adapters=[loras["feedforward"]], properties=F32, **SMALL)
    assert gen.generate(PICTURE) is None
    assert gen.last_error.startswith("feedforward.safetensors does not fit tiny-sd: none of its")


def test_lora_grid_one_row_of_strengths(sd: Path, sd_loras: dict[str, Path]) -> None:
    one, two = sd_loras["self-attn"], sd_loras["cross-attn"]
    gen = ovnb.ImageGenerator(sd, adapters={one: 1.0, two: 1.0}, properties=F32, **SMALL)
    grid = ovnb.lora_grid(gen, PICTURE, strengths=(0.0, 0.5, 1.0), adapter="cross-attn")
    assert grid.last_error == "" and list(grid.images) == [(0.0,), (0.5,), (1.0,)]
    for (alpha,), image in grid.images.items():  # the other adapter is off, the seed is the same
        assert np.array_equal(np.asarray(image), bare_image(sd, [one, two], {two: alpha}))
    cells = [cell.value for cell in grid.cells.values()]
    assert all(cells) and len(set(cells)) == 3  # each image shown, and all differ
    assert "seed 11 · other adapters off" in grid.children[0].value
    assert gen.view.mixer.alphas() == {one: 1.0, two: 1.0}  # the sliders were not moved


def test_lora_grid_blends_two_adapters(sd: Path, sd_loras: dict[str, Path]) -> None:
    one, two = sd_loras["self-attn"], sd_loras["cross-attn"]
    gen = ovnb.ImageGenerator(sd, adapters=[one, two], properties=F32, **SMALL)
    grid = ovnb.lora_grid(gen, PICTURE, strengths=(0.0, 1.0), adapter=one, blend=two,
                          rng_seed=5)
    assert sorted(grid.images) == [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
    assert np.array_equal(np.asarray(grid.images[1.0, 1.0]),
                          bare_image(sd, [one, two], {one: 1.0, two: 1.0}, rng_seed=5))
    assert np.array_equal(np.asarray(grid.images[0.0, 0.0]),
                          bare_image(sd, [one, two], {}, rng_seed=5))
    with pytest.raises(OvnbError, match="no adapter nope"):
        ovnb.lora_grid(gen, PICTURE, adapter="nope")
