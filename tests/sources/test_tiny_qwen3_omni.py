"""tiny-qwen3-omni: a seeded random Qwen3-Omni that exports offline and runs in openvino_genai's
OmniPipeline (2026.4.1): text, images, video and audio in; text (streamed) and speech out.

The first tests pin what OmniPipeline assumes of a Qwen3-Omni folder, one assertion per assumption,
each naming where in openvino.genai's source (src/cpp/src/...) it comes from; ``test_broken_*``
show what happens to a folder that breaks one (all were tried: errors, or silence, never an abort).
The last ones run the pipeline in f32 and judge what holds on any CPU: shapes, token counts,
finiteness, and the same output for the same input and seed.

Token arithmetic: an image is resized to at most MAX_PIXELS (64x64), cut into 16x16 patches (two
frames deep) and 2x2 patches merge into one token: 4 tokens per image or pair of video frames,
wrapped in <|vision_start|> ... <|vision_end|> (a video's pairs each after their time, as text).
Audio is 100 mel frames a second, and three
stride-2 convolutions make a token of 8 frames (13 tokens a second), wrapped in <|audio_start|>
... <|audio_end|>. Speech is 80 ms codec frames of 1920 samples at 24 kHz.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovnb import fixups
from ovnb.audio import SAMPLE, load_audio
from ovnb.export import export
from ovnb.sources import tiny_qwen3_omni as omni
from tests.conftest import F32

pytestmark = pytest.mark.slow  # builds and exports a model

PROMPT = "What is in the picture?"
TOKENS_PER_FRAME_PAIR = omni.MAX_PIXELS // omni.UNIT ** 2  # 4
WRAP = 2  # <|..._start|> and <|..._end|>
FRAME_SAMPLES = 1920  # code2wav: 8 * 5 * 4 * 3 * 2 * 2 samples per codec frame
# what the causal vocoder trims from each decode call: N frames give 1920 N - 555 samples, as
# OmniTalkerSpeechConfig.audio_chunk_frames's doc says (genai's omni/talker_speech_config.hpp)
VOCODER_TRIM = 555


# the folders and the pipeline -------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-qwen3-omni-src")
    omni.build("tiny-qwen3-omni", out)
    return out


@pytest.fixture(scope="module")
def folder(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OpenVINO folder: ovnb's vision-chat export (optimum-intel's image-text-to-text task,
    which writes every Qwen3-Omni part) plus the talker settings optimum drops."""
    out = tmp_path_factory.mktemp("tiny-qwen3-omni")
    export(built, out, "vision-chat", "fp16", {})
    fixups.talker_settings(built, out)
    return out


@pytest.fixture(scope="module")
def pipe(folder: Path) -> Any:
    import openvino_genai

    return openvino_genai.OmniPipeline(str(folder), "CPU", **F32)


@pytest.fixture(scope="module")
def config(built: Path) -> dict[str, Any]:
    return json.loads((built / "config.json").read_text())


def tensor(array: np.ndarray) -> Any:
    import openvino

    return openvino.Tensor(np.ascontiguousarray(array))


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def speech_sample() -> np.ndarray:
    """The first two seconds of ovnb's LibriVox sample, float32 at 16 kHz."""
    return load_audio(SAMPLE)[:32000]


def text_config(tokens: int = 12) -> Any:
    import openvino_genai

    config = openvino_genai.GenerationConfig()
    config.max_new_tokens = tokens
    return config


def speech_config(return_audio: bool = True, frames: int | None = None, seed: int = 0,
                  speaker: str = "") -> Any:
    import openvino_genai

    config = openvino_genai.OmniTalkerSpeechConfig()
    config.return_audio, config.rng_seed, config.speaker = return_audio, seed, speaker
    if frames is not None:
        config.max_new_tokens = frames
    return config


def no_audio() -> list[Any]:
    """What a call without audio passes: one empty audio. 2026.4.1 keeps the last audio it was
    given for every later call that passes none (test_audio_sticks_to_later_calls)."""
    return [tensor(np.zeros(0, np.float32))]


def ask(pipe: Any, prompt: str = PROMPT, tokens: int = 12, **media: Any) -> Any:
    """Text only (the talker is skipped)."""
    media.setdefault("audios", no_audio())
    return pipe.generate(prompt, **media, text_config=text_config(tokens),
                         talker_speech_config=speech_config(return_audio=False))


def speak(pipe: Any, prompt: Any, config: Any, tokens: int = 8, **kw: Any) -> Any:
    """Text and speech."""
    kw.setdefault("audios", no_audio())
    return pipe.generate(prompt, text_config=text_config(tokens), talker_speech_config=config, **kw)


def extra_tokens(pipe: Any, **media: Any) -> int:
    """Input tokens the media add to a one-word prompt."""
    def count(**m: Any) -> int:
        return ask(pipe, "Hi", 1, **m).perf_metrics.get_num_input_tokens()

    return count(**media) - count()


def printable(text: str) -> bool:
    return bool(text) and all(" " <= ch <= "~" for ch in text)


def waveform(result: Any) -> np.ndarray:
    (wave,) = result.speech_result.waveforms
    return np.array(wave.data)


def speech_samples(frames: int) -> int:
    return FRAME_SAMPLES * frames - VOCODER_TRIM


# what OmniPipeline assumes of the folder --------------------------------------------------------
def test_the_talker_samples_codes_below_its_top_1024_ids(config: dict[str, Any]) -> None:
    talker = config["talker_config"]
    vocab = talker["text_config"]["vocab_size"]
    specials = [v for k, v in talker.items() if k.startswith("codec_") and k.endswith("id")]
    # Qwen3OmniSpeechPipeline::initialize (visual_language/qwen3_omni/speech_pipeline.cpp):
    # logits in [vocab - 1024, vocab) are suppressed but the end id; a vocabulary of 1024 or less
    # leaves only the end id, and the reply's speech is empty (seen with vocab 400)
    assert vocab == config["code2wav_config"]["codebook_size"] + 1024
    # the same place: the codec specials and the speakers sit in the suppressed range, the codes
    # the talker may sample are the codebook's
    assert all(vocab - 1024 <= i < vocab for i in [*specials, *talker["speaker_id"].values()])


def test_the_talker_knows_its_codec_specials_and_a_speaker(config: dict[str, Any]) -> None:
    talker = config["talker_config"]
    # Qwen3OmniSpeechConfig::from_vlm_config (speech_pipeline.cpp) asserts all six ids are set
    assert {"codec_bos_id", "codec_eos_token_id", "codec_pad_id", "codec_nothink_id",
            "codec_think_bos_id", "codec_think_eos_id"} <= talker.keys()
    # Qwen3OmniSpeechPipeline::initialize: no speaker_id -> the talker is "missing" and the
    # OmniPipeline constructor throws (omni/talker.cpp)
    assert talker["speaker_id"]
    # omni/pipeline_impl.cpp, assert_omni_capable: config.json's enable_audio_output
    assert config["enable_audio_output"] is True


def test_codebooks_agree_between_talker_predictor_and_vocoder(config: dict[str, Any]) -> None:
    talker, code2wav = config["talker_config"], config["code2wav_config"]
    predictor = talker["code_predictor_config"]
    # vlm_config.cpp reads talker_config.num_code_groups (default 16); generate_speech stacks that
    # many codes per frame into code2wav's [1, groups, frames] input (else a shape error)
    assert talker["num_code_groups"] == predictor["num_code_groups"] == code2wav["num_quantizers"]
    # the code predictor samples top-k in its graph, k = 50 unless generation_config.json says
    # (speech_pipeline.hpp cp_top_k); optimum-intel's export traces it with k = 50 too and fails
    # ("INDICES element is out of DATA bounds") for a smaller codebook
    assert predictor["vocab_size"] == code2wav["codebook_size"] >= 50
    # predict_codes (speech_pipeline.cpp) feeds the predictor the talker's hidden state: same width
    assert predictor["hidden_size"] == talker["text_config"]["hidden_size"]


def test_role_words_are_single_tokens(folder: Path, config: dict[str, Any]) -> None:
    import openvino_genai

    tokenizer = openvino_genai.Tokenizer(str(folder))
    # build_talker_input (speech_pipeline.cpp) cuts the conversation at <|im_start|> and reads the
    # next token as the role (system_token_id, user_token_id, assistant_token_id); the reply's
    # header is 3 tokens: <|im_start|>, assistant, "\n". With byte tokens the talker finds no reply
    # and the speech is empty (test_broken_role_ids_give_no_speech)
    ids = tokenizer.encode("<|im_start|>assistant\n<|im_start|>user<|im_start|>system",
                           add_special_tokens=False).input_ids.data[0].tolist()
    start = config["im_start_token_id"]
    assert ids == [start, config["assistant_token_id"], ids[2], start, config["user_token_id"],
                   start, config["system_token_id"]]


def test_audio_tags_are_the_tokens_the_pipeline_writes(folder: Path,
                                                       config: dict[str, Any]) -> None:
    import openvino_genai

    tokenizer = openvino_genai.Tokenizer(str(folder))
    thinker = config["thinker_config"]
    # InputsEmbedderQwen3Omni::normalize_prompt (visual_language/qwen3_omni/classes.cpp) writes
    # these three strings; merge_audio_embeddings places the audio at thinker_config.audio_token_id
    # and throws "Audio token count mismatch" when none match (test_broken_audio_id_is_an_error)
    ids = tokenizer.encode("<|audio_start|><|audio_pad|><|audio_end|>",
                           add_special_tokens=False).input_ids.data[0].tolist()
    assert ids[1] == thinker["audio_token_id"] and len(ids) == 3


def test_audio_sizes(config: dict[str, Any]) -> None:
    thinker = config["thinker_config"]
    audio = thinker["audio_config"]
    # AudioEncoderQwen3Omni::preprocess_audio (visual_language/qwen3_omni/audio_encoder.cpp):
    # window_aftercnn = frames_after_cnn * (n_window_infer / (2 n_window)) must not be 0
    assert audio["n_window_infer"] // (2 * audio["n_window"]) >= 1
    # merge_audio_embeddings (qwen3_omni/classes.cpp): audio features replace token embeddings
    assert audio["output_dim"] == thinker["text_config"]["hidden_size"]


def test_vision_sizes(config: dict[str, Any], built: Path) -> None:
    thinker = config["thinker_config"]
    vision, text = thinker["vision_config"], thinker["text_config"]
    # VisionEncoderQwen3Omni::preprocess_to_patches (qwen3_omni/classes.cpp) asserts 2, from
    # preprocessor_config.json (which the pipeline reads, not config.json)
    settings = json.loads((built / "preprocessor_config.json").read_text())
    assert settings["temporal_patch_size"] == vision["temporal_patch_size"] == 2
    # InputsEmbedderQwen3VL interpolates learned positions on a square grid of
    # sqrt(num_position_embeddings) a side (visual_language/qwen3_vl/classes.cpp)
    assert round(vision["num_position_embeddings"] ** 0.5) ** 2 == vision["num_position_embeddings"]
    # qwen3_vl/classes.cpp fills deepstack_visual_embeds [len(deepstack_visual_indexes), 1, hidden]
    # for text-only prompts; the language model adds them to its first layers
    assert max(vision["deepstack_visual_indexes"]) < vision["depth"]
    assert len(vision["deepstack_visual_indexes"]) <= text["num_hidden_layers"]
    # the talker reads the output of thinker layer accept_hidden_layer (optimum-intel's language
    # model export returns it as intermediate_hidden_states; the continuous-batching runner
    # collects it, continuous_batching/model_runner.hpp)
    assert 1 <= config["talker_config"]["accept_hidden_layer"] <= text["num_hidden_layers"]
    # multimodal rope: the sections split the head's rotary frequencies (head_dim / 2)
    assert sum(text["rope_parameters"]["mrope_section"]) == text["head_dim"] // 2


# a folder that breaks an assumption ---------------------------------------------------------------
def variant(folder: Path, where: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of ``folder`` (IRs hard-linked) with config.json changed by ``edit``."""
    copy = where / "variant"
    shutil.copytree(folder, copy, copy_function=os.link)
    config = json.loads((copy / "config.json").read_text())
    edit(config)
    (copy / "config.json").unlink()  # a hard link: write a new file, not into the shared one
    (copy / "config.json").write_text(json.dumps(config))
    return copy


def test_broken_speakers_stop_the_constructor(folder: Path, tmp_path: Path) -> None:
    import openvino_genai

    broken = variant(folder, tmp_path, lambda c: c["talker_config"].update(speaker_id={}))
    with pytest.raises(RuntimeError, match="speech generation submodels are missing"):
        openvino_genai.OmniPipeline(str(broken), "CPU", **F32)


def test_broken_role_ids_give_no_speech(folder: Path, tmp_path: Path) -> None:
    import openvino_genai

    broken = variant(folder, tmp_path, lambda c: c.update(assistant_token_id=77091))  # Qwen's id
    result = openvino_genai.OmniPipeline(str(broken), "CPU", **F32).generate(
        "Hi", text_config=text_config(4), talker_speech_config=speech_config(frames=4))
    assert printable(result.texts[0])
    assert result.speech_result.waveforms == []  # 2026.4.1 only logs a warning


def test_broken_audio_id_is_an_error(folder: Path, tmp_path: Path,
                                     speech_sample: np.ndarray) -> None:
    import openvino_genai

    # upstream's tiny-random-qwen3-omni declares audio_token_id 9 (its tokenizer has no audio pad)
    broken = variant(folder, tmp_path, lambda c: c["thinker_config"].update(audio_token_id=9))
    pipe = openvino_genai.OmniPipeline(str(broken), "CPU", **F32)
    with pytest.raises(RuntimeError, match="Audio token count mismatch: placed 0"):
        ask(pipe, "Hi", 4, audios=[tensor(speech_sample[:16000])], streamer=lambda s: None)


# text ---------------------------------------------------------------------------------------------
def test_text_streams_its_tokens(pipe: Any) -> None:
    pieces: list[str] = []
    result = ask(pipe, "Say something.", tokens=20, streamer=pieces.append)
    assert printable(result.texts[0])
    assert "".join(pieces) == result.texts[0]
    assert result.perf_metrics.get_num_generated_tokens() == 20  # the head never picks the end
    assert result.speech_result.waveforms == []  # return_audio=False: the talker is skipped


def test_text_follows_the_prompt_and_repeats(pipe: Any) -> None:
    answers = [ask(pipe, prompt).texts[0] for prompt in ("Hello there", "Why is the sky blue?")]
    assert answers[0] != answers[1]
    assert ask(pipe, "Hello there").texts[0] == answers[0]


def test_chat_template_is_chatml_without_a_default_system_turn(folder: Path) -> None:
    import openvino_genai

    tokenizer = openvino_genai.Tokenizer(str(folder))
    messages = [{"role": "user", "content": "Hi"}]
    assert tokenizer.apply_chat_template(messages, add_generation_prompt=True) == \
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


# images, video, audio -----------------------------------------------------------------------------
def test_an_image_adds_its_tokens_and_steers_the_answer(pipe: Any) -> None:
    assert extra_tokens(pipe, images=[tensor(noise((200, 200, 3)))]) == TOKENS_PER_FRAME_PAIR + WRAP
    answers = [ask(pipe, images=[tensor(noise((64, 64, 3), seed))]).texts[0] for seed in range(3)]
    assert all(printable(a) for a in answers) and len(set(answers)) == 3
    assert ask(pipe, images=[tensor(noise((64, 64, 3), 0))]).texts[0] == answers[0]


def test_a_video_adds_tokens_per_frame_pair(pipe: Any) -> None:
    # Qwen3-VL's prompt (qwen3_vl/classes.cpp) writes each frame pair's time before its tags, as
    # text: "<0.0 seconds>" is 13 byte tokens here (frames at 24 fps without VideoMetadata)
    per_pair = len("<0.0 seconds>") + WRAP + TOKENS_PER_FRAME_PAIR
    for frames in (2, 4):
        clip = tensor(noise((frames, 64, 64, 3)))
        assert extra_tokens(pipe, videos=[clip]) == frames // 2 * per_pair
    assert printable(ask(pipe, "What happens?", videos=[tensor(noise((4, 64, 64, 3)))]).texts[0])


def test_audio_adds_13_tokens_a_second_and_steers_the_answer(pipe: Any,
                                                             speech_sample: np.ndarray) -> None:
    one_second = speech_sample[:16000]
    assert extra_tokens(pipe, audios=[tensor(one_second)]) == 13 + WRAP
    # 2026.4.1 runs the convolutions over up to 2 x n_window_infer frames at once: 2 s make
    # ceil(200 / 8) = 25 tokens, where transformers' processor counts 13 per 100-frame window
    # (26); openvino.genai later split the windows as transformers does (CVS-193623)
    assert extra_tokens(pipe, audios=[tensor(speech_sample)]) == 25 + WRAP
    answers = [ask(pipe, "What did you hear?", audios=[tensor(a)]).texts[0]
               for a in (one_second, speech_sample[16000:], np.zeros(16000, np.float32))]
    assert all(printable(a) for a in answers) and len(set(answers)) == 3
    assert ask(pipe, "What did you hear?", audios=[tensor(one_second)]).texts[0] == answers[0]


def test_audio_sticks_to_later_calls_until_an_empty_audio_clears_it(
        folder: Path, speech_sample: np.ndarray) -> None:
    import openvino_genai

    # 2026.4.1's continuous-batching pipeline (continuous_batching/pipeline_base.cpp) encodes a
    # call's audio only when it has some, and the embedder keeps the last encoded audio: a call
    # without audio gets the previous call's. An empty audio encodes to nothing and clears it.
    pipe = openvino_genai.OmniPipeline(str(folder), "CPU", **F32)

    def count(**media: Any) -> int:
        return pipe.generate("Hi", **media, text_config=text_config(1),
                             talker_speech_config=speech_config(return_audio=False)
                             ).perf_metrics.get_num_input_tokens()

    plain = count()
    with_audio = count(audios=[tensor(speech_sample[:16000])])
    assert with_audio == plain + 13 + WRAP
    assert count() == with_audio  # the audio stuck
    assert count(audios=no_audio()) == plain
    assert count() == plain


def test_the_same_audio_twice_in_a_row_is_spoken_differently(folder: Path,
                                                               speech_sample: np.ndarray) -> None:
    import openvino_genai

    # 2026.4.1: a call whose audio is the previous call's gives the same text but other speech
    # (a different audio, or a call with an empty one between, does not; with the prompt "Hello"
    # it was not seen); ovnb's OmniModel makes that call between when a recording comes twice
    pipe = openvino_genai.OmniPipeline(str(folder), "CPU", **F32)
    audio = [tensor(speech_sample[:16000])]

    def heard(**media: Any) -> tuple[str, np.ndarray]:
        result = speak(pipe, "What do you hear?", speech_config(frames=8), **media)
        return result.texts[0], waveform(result)

    first = heard(audios=audio)
    again = heard(audios=audio)
    assert again[0] == first[0] and not np.array_equal(again[1], first[1])
    heard()  # an empty audio between
    restored = heard(audios=audio)
    assert restored[0] == first[0] and np.array_equal(restored[1], first[1])


def test_a_chat_history_turns_later_prompts_into_a_chat(folder: Path) -> None:
    import openvino_genai

    # 2026.4.1 (VLMPipeline's continuous-batching backend too): after a ChatHistory call, string
    # prompts pile up as one conversation from the second on (prompt 10 tokens, reply 4 + 2)
    pipe = openvino_genai.OmniPipeline(str(folder), "CPU", **F32)
    history = openvino_genai.ChatHistory()
    history.append({"role": "user", "content": "Hi"})
    pipe.generate(history, text_config=text_config(4),
                  talker_speech_config=speech_config(return_audio=False))
    counts = [ask(pipe, "Hi", 4).perf_metrics.get_num_input_tokens() for _ in range(3)]
    assert counts == [10, 26, 42]


# speech -------------------------------------------------------------------------------------------
def test_speech_streams_in_chunks_of_codec_frames(pipe: Any) -> None:
    chunks: list[np.ndarray] = []
    config = speech_config(frames=8)
    config.audio_chunk_frames = 4
    result = speak(pipe, "Say hello.", config,
                   speech_streamer=lambda chunk: chunks.append(np.array(chunk.data)))
    assert printable(result.texts[0])
    wave = waveform(result)
    assert [c.shape for c in chunks] == [(1, 1, speech_samples(4))] * 2  # no end before 8 frames
    assert np.array_equal(wave, np.concatenate(chunks, axis=-1))
    assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0
    assert 0.01 < float(np.sqrt(np.mean(wave ** 2))) < 0.5  # audible, not clipped noise


def test_speech_repeats_with_its_seed_and_follows_seed_and_speaker(pipe: Any) -> None:
    def hello(**kw: Any) -> np.ndarray:
        return waveform(speak(pipe, "Say hello.", speech_config(frames=6, **kw)))

    first = hello()
    assert first.shape == (1, 1, speech_samples(6))
    assert np.array_equal(hello(), first)
    assert not np.array_equal(hello(seed=1), first)
    talker = pipe.get_talker()
    assert sorted(talker.list_speakers()) == sorted(omni.SPEAKERS)
    assert list(talker.get_speaker_embedding("ben").shape) == [1, 1, omni.TALKER_HIDDEN]
    assert np.array_equal(hello(speaker="ada"), first)  # the default: the first name
    assert not np.array_equal(hello(speaker="ben"), first)


def test_speech_length_is_capped_by_the_folders_talker_settings(folder: Path, pipe: Any) -> None:
    settings = json.loads((folder / "generation_config.json").read_text())
    assert settings["talker_max_new_tokens"] == omni.TALKER_MAX_FRAMES  # fixups.talker_settings
    result = speak(pipe, "Tell me a story.", speech_config())
    samples = waveform(result).shape[-1]
    frames = (samples + VOCODER_TRIM) // FRAME_SAMPLES
    assert samples == speech_samples(frames) and 1 <= frames <= omni.TALKER_MAX_FRAMES


def test_speech_answers_a_chat_turn_with_an_image_and_audio(folder: Path,
                                                            speech_sample: np.ndarray) -> None:
    import openvino_genai

    pipe = openvino_genai.OmniPipeline(str(folder), "CPU", **F32)  # its own: chat state stays
    history = openvino_genai.ChatHistory()
    history.append({"role": "user", "content": "Describe both."})
    media = {"images": [tensor(noise((64, 64, 3)))], "audios": [tensor(speech_sample[:16000])]}
    result = speak(pipe, history, speech_config(frames=4), **media)
    assert printable(result.texts[0])
    assert waveform(result).shape == (1, 1, speech_samples(4))
    history.append({"role": "assistant", "content": result.texts[0]})
    history.append({"role": "user", "content": "Again."})
    second = speak(pipe, history, speech_config(frames=4))
    assert printable(second.texts[0]) and waveform(second).shape == (1, 1, speech_samples(4))


# the build ----------------------------------------------------------------------------------------
def test_building_twice_gives_identical_fp32_files(built: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    omni.build("tiny-qwen3-omni", tmp_path)

    def digests(root: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}

    assert digests(built) == digests(tmp_path)
    with safe_open(built / "model.safetensors", "pt") as weights:
        dtypes = {str(weights.get_slice(k).get_dtype()) for k in weights.keys()}
    assert dtypes == {"F32"}


def test_the_export_writes_every_part_omni_pipeline_loads(folder: Path) -> None:
    parts = ("language", "text_embeddings", "vision_embeddings", "vision_embeddings_pos",
             "audio_encoder", "talker", "talker_text_embeddings", "talker_projections",
             "code_predictor", "code2wav")
    assert all((folder / f"openvino_{p}_model.xml").is_file() for p in parts)
    for name in ("openvino_tokenizer.xml", "openvino_detokenizer.xml", "preprocessor_config.json",
                 "video_preprocessor_config.json", "chat_template.json"):
        assert (folder / name).is_file(), name
