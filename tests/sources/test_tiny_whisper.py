"""tiny-whisper: a random multilingual Whisper that openvino_genai's WhisperPipeline runs end to end."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import ovnb
from tests.conftest import F32
from ovnb.sources import tiny_whisper

pytestmark = pytest.mark.slow  # builds and exports a model

RATE = 16000

# sha256 over the seeded weights (names, shapes, bytes): the same on every machine.
WEIGHTS_SHA256 = "58a8e7ce9bc7e04189118f0e4f59748d7e2ee114b68427d8200800d4515c8a8f"


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    """A sine tone as WhisperPipeline wants it: float32 mono at 16 kHz, within [-1, 1]."""
    t = np.arange(int(seconds * RATE), dtype=np.float64) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def folder(cache: Path) -> Path:
    return ovnb.prepare("tiny-whisper", cache_dir=cache)


@pytest.fixture(scope="module")
def pipe(folder: Path):  # -> openvino_genai.WhisperPipeline
    import openvino_genai

    return openvino_genai.WhisperPipeline(str(folder), "CPU", **F32)


def test_transcribes_one_second_and_forty_seconds(pipe) -> None:
    for seconds in (1, 40):  # 40 s: more than one 30 s window
        result = pipe.generate(tone(seconds))
        assert isinstance(result.texts[0], str)
        assert result.perf_metrics.get_num_generated_tokens() > 0


def test_language_and_task_reach_the_decoder(pipe) -> None:
    audio = tone(40, hz=300)
    fr_translate = pipe.generate(audio, language="<|fr|>", task="translate").texts[0]
    fr_transcribe = pipe.generate(audio, language="<|fr|>", task="transcribe").texts[0]
    en_transcribe = pipe.generate(audio, language="<|en|>", task="transcribe").texts[0]
    # Greedy and f32 on seeded weights: a different prompt token gives a different output.
    assert fr_translate != fr_transcribe
    assert fr_transcribe != en_transcribe


def test_timestamps_give_chunks_inside_the_windows(pipe) -> None:
    seconds = 40
    result = pipe.generate(tone(seconds), return_timestamps=True)
    chunks = result.chunks
    assert isinstance(chunks, list) and chunks
    windows_end = 30.0 * -(-seconds // 30)  # timestamps live in the 30 s windows that cover the audio
    starts = [c.start_ts for c in chunks]
    assert starts == sorted(starts)
    assert all(0.0 <= c.start_ts <= c.end_ts <= windows_end + 1e-3 for c in chunks)
    assert "".join(c.text for c in chunks) == result.texts[0]


def test_unknown_language_is_refused(pipe) -> None:
    with pytest.raises(RuntimeError, match="lang_to_id"):
        pipe.generate(tone(1), language="<|xx|>")


def test_token_layout_matches_whisper(folder: Path) -> None:
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    gen = json.loads((folder / "generation_config.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    sot = gen["decoder_start_token_id"]
    by_id = sorted(gen["lang_to_id"], key=gen["lang_to_id"].get)
    assert by_id == [f"<|{code}|>" for code in list(LANGUAGES)[:99]]  # Whisper v1/v2 order
    assert sorted(gen["lang_to_id"].values()) == list(range(sot + 1, sot + 100))
    assert gen["task_to_id"] == {"translate": sot + 100, "transcribe": sot + 101}
    assert gen["no_timestamps_token_id"] == sot + 105
    assert config["vocab_size"] == gen["no_timestamps_token_id"] + 1 + 1501  # <|0.00|> .. <|30.00|>
    assert gen["is_multilingual"] is True
    assert gen["eos_token_id"] == sot - 1


def test_openvino_tokenizer_knows_the_special_tokens(folder: Path) -> None:
    import openvino_genai

    gen = json.loads((folder / "generation_config.json").read_text())
    tok = openvino_genai.Tokenizer(str(folder))
    ids = tok.encode("hi").input_ids.data[0].tolist()
    assert ids[:2] == [gen["decoder_start_token_id"], gen["no_timestamps_token_id"]]
    assert ids[-1] == gen["eos_token_id"]
    fr, translate = gen["lang_to_id"]["<|fr|>"], gen["task_to_id"]["translate"]
    assert tok.decode([fr, translate, *ids[2:-1]]) == "hi"  # specials skipped
    timestamp = gen["no_timestamps_token_id"] + 1 + 50
    assert tok.decode([timestamp], skip_special_tokens=False) == "<|1.00|>"


def weights_digest(folder: Path) -> str:
    from safetensors.numpy import load_file

    digest = hashlib.sha256()
    for name, array in sorted(load_file(folder / "model.safetensors").items()):
        digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_build_is_bit_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        out.mkdir()
        tiny_whisper.build("tiny-whisper", out)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    assert weights_digest(first) == WEIGHTS_SHA256
