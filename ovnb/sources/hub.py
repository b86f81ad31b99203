"""The Hugging Face hub as a source: original repos to export, and repos already in OpenVINO format.

huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, when it is imported; a notebook sets them
later. So every call here reads them again and passes the endpoint explicitly. Every call also starts
with the repo's info under a short timeout: a dead network fails in seconds, in one line, instead of
hanging in a download that has no timeout of its own.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ovnb import catalogs, families
from ovnb.errors import HubUnreachable, OvnbError
from ovnb.families import CHAT, IMAGE, SPEECH, Family
from ovnb.layout import family_of, missing_files, one_model_family
from ovnb.progress import say

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT = 8.0  # seconds to connect and to wait for each answer of a metadata call

# what an export reads: configs, tokenizer/processor files, chat templates, weights
KEEP_SUFFIXES = (".json", ".txt", ".jinja", ".model", ".tiktoken", ".safetensors")
SKIP_DIRS = {"onnx", "openvino", "coreml", "flax", "tf"}  # other formats' copies of a pipeline
# nested files a transformers model's export still reads: sentence-transformers module configs
# (1_Pooling/config.json: how an embedder pools) and Kokoro's voices (voices/NAME.pt)
NESTED_KEEP = re.compile(r"^(\d+_\w+/config\.json|voices/[\w.-]+\.pt)$")
TORCH_BIN = re.compile(r"^(pytorch_model|diffusion_pytorch_model)[\w.-]*\.bin$")
VARIANT = re.compile(r"\.(fp16|bf16|fp32|ema|non_ema)[.-]")
# other formats' weights, which some converted repos carry beside their OpenVINO files
OTHER_WEIGHTS = (".safetensors", ".onnx", ".onnx_data", ".gguf", ".msgpack", ".h5", ".pt", ".pth",
                 ".ckpt")


def entry_for(model_id: str) -> dict[str, Any]:
    """A catalog-style entry for a hub repo, its task inferred from the hub's model info."""
    endpoint = endpoint_now()
    info = _info(model_id, endpoint)
    names = _names(info)
    task = _task(info, names)
    if _openvino_family(names) is None:
        return {"id": info.id, "task": task, "default_precision": _default_precision(task, info),
                "sources": [{"kind": "hub", "repo": info.id}], "export": {}}
    precision = _ov_precision(info, names, endpoint)
    sources = [{"kind": "hub-ov", "repo": info.id, "precision": precision}]
    base = _base_model(info)
    if base:  # other precisions: export the original this repo was converted from
        sources.append({"kind": "hub", "repo": base})
    return {"id": info.id, "task": task, "default_precision": precision, "sources": sources,
            "export": {}}


def download_original(repo: str, out: Path, vocoder: str | None = None) -> dict[str, Any]:
    """Download what an export of ``repo`` needs into ``out``; returns facts for the manifest.

    ``vocoder`` names the repo of a SpeechT5 model's vocoder, downloaded into ``out/vocoder``.
    """
    endpoint = endpoint_now()
    info = _info(repo, endpoint)
    names = wanted_files(_names(info))
    if "config.json" not in names and "model_index.json" not in names:
        raise OvnbError(f"{info.id} has no config.json or model_index.json: it is not a "
                        "transformers or diffusers model that ovnb can export")
    _snapshot(info.id, info.sha, out, endpoint, names)
    facts = {"kind": "hub", "repo": info.id, "revision": info.sha, "endpoint": endpoint}
    if vocoder:
        voc = download_original(vocoder, out / "vocoder")
        facts["vocoder"] = {"repo": voc["repo"], "revision": voc["revision"]}
    return facts


def download_prepared(repo: str, out: Path) -> dict[str, Any]:
    """Download a repo already converted to OpenVINO into ``out``, to be used as it is."""
    endpoint = endpoint_now()
    info = _info(repo, endpoint)
    _snapshot(info.id, info.sha, out, endpoint, converted_files(_names(info)))
    family = family_of(out)
    missing = missing_files(out, family) if family else ["openvino_model.xml"]
    if missing:
        raise OvnbError(f"{info.id} is not a complete OpenVINO model folder (it lacks "
                        f"{', '.join(missing[:3])}): prepare its original repo instead")
    return {"kind": "hub-ov", "repo": info.id, "revision": info.sha, "endpoint": endpoint}


def endpoint_now() -> str:
    """The hub's address as the environment says now (HF_ENDPOINT for a mirror)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline_now() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set now, read as huggingface_hub reads it."""
    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return flag.strip().upper() in {"1", "ON", "YES", "TRUE"}


def wanted_files(names: list[str]) -> list[str]:
    """The files of a repo that an export reads: no other formats, no duplicate weights.

    A transformers model lives at the repo's root (subfolders hold ONNX copies, GGUF files,
    training checkpoints); a diffusers model lives in its component subfolders (the root's weights
    are single-file checkpoints). Weights: plain over variants (``*.fp16.*``), safetensors over
    ``.bin``; ONNX/Flax/TF/GGUF files and remote code are never fetched.
    """
    diffusers = "model_index.json" in names
    keep = []
    for name in names:
        path = PurePosixPath(name)
        nested = len(path.parts) > 1
        if not diffusers and NESTED_KEEP.match(name):
            keep.append(name)
            continue
        if nested and (not diffusers or path.parts[0] in SKIP_DIRS):
            continue
        if diffusers and not nested and _is_weight(name):
            continue
        if path.suffix in KEEP_SUFFIXES or TORCH_BIN.match(path.name):
            keep.append(name)
    if not diffusers and not any(_is_weight(n) for n in keep):  # Kokoro: one .pth checkpoint
        keep += [n for n in names if n.endswith(".pth") and "/" not in n]
    return [n for n in keep if not _shadowed(n, keep)]


def converted_files(names: list[str]) -> list[str]:
    """The files of a converted repo, all but other formats' weights at its root and ONNX copies
    (an ovnb folder's LoRA adapters, ``adapters/*.safetensors``, are kept)."""
    def other(name: str) -> bool:
        path = PurePosixPath(name)
        if len(path.parts) > 1:
            return path.parts[0] in SKIP_DIRS
        return name.endswith(OTHER_WEIGHTS) or bool(TORCH_BIN.match(name))

    return [n for n in names if not other(n)]


def _is_weight(name: str) -> bool:
    return name.endswith((".safetensors", ".bin"))


def _shadowed(name: str, names: list[str]) -> bool:
    """A weight file made redundant by a preferred one in its folder: plain over variant
    (``*.fp16.*``), then safetensors over ``.bin``."""
    if not _is_weight(name):
        return False
    folder = PurePosixPath(name).parent
    peers = [n for n in names if _is_weight(n) and PurePosixPath(n).parent == folder]
    plain = [n for n in peers if not VARIANT.search(n)]
    if VARIANT.search(name) and plain:
        return True
    return name.endswith(".bin") and any(n.endswith(".safetensors") for n in plain or peers)


def _task(info: Any, names: list[str]) -> str:
    """The ovnb task of a repo: from its OpenVINO files, pipeline tag, auto class or config."""
    config = info.config or {}
    archs = config.get("architectures") or []
    auto = info.transformers_info.auto_model if info.transformers_info else None
    family = (_openvino_family(names) or families.by_hub_tag(info.pipeline_tag or "")
              or families.by_auto_class(auto or ""))
    if family is CHAT:  # an OpenVINO embedder or reranker has one openvino_model.xml too
        family = one_model_family(config)
    if family is None and "diffusers" in config:
        family = IMAGE
    if family is None and config.get("model_type") == "whisper":
        family = SPEECH
    if family is None and any(a.endswith("ForCausalLM") for a in archs):
        family = CHAT
    if family is None:
        what = info.pipeline_tag or (archs[0] if archs else info.library_name) or "unknown kind"
        runs = f"{', '.join(families.TASKS[:-1])} and {families.TASKS[-1]}"
        raise OvnbError(f"{info.id} is a {what} model: ovnb runs {runs} models")
    return family.task


def _openvino_family(names: list[str]) -> Family | None:
    """The family of an OpenVINO repo, told by its files as ``layout.family_of`` tells a folder's."""
    for family in families.FOLDER_FAMILIES:
        if all(mark in names for mark in family.marks):
            return family
    return None


def _default_precision(task: str, info: Any) -> str:
    """int4 for LLM-based models of a billion parameters or more (what fits a laptop), else
    fp16/int8."""
    params = info.safetensors.total if info.safetensors else 0
    if params < 1e9:
        return "fp16"
    return families.family(task).big_precision


def _ov_precision(info: Any, names: list[str], endpoint: str) -> str:
    """A converted repo's precision: from its name (``-int4-ov``), else its openvino_config.json."""
    name = info.id.split("/")[-1].lower()
    if re.search(r"int4[-_]?cw|cw[-_]?int4", name):
        return "int4-npu"
    for precision in ("int4", "int8", "fp16"):
        if re.search(rf"(^|[-_.]){precision}($|[-_.])", name):
            return precision
    if "openvino_config.json" not in names:
        return "fp16"
    quant = _fetch_json(info.id, "openvino_config.json", info.sha, endpoint).get("quantization_config")
    quant = quant or {}
    bits = quant.get("bits") or {"int4": 4, "int8": 8}.get(quant.get("dtype"))
    if bits == 4:
        return "int4-npu" if quant.get("sym") and quant.get("group_size") == -1 else "int4"
    return "int8" if bits == 8 else "fp16"


def _base_model(info: Any) -> str | None:
    """The repo a converted model card names as its base (one repo id), if any."""
    base = info.card_data.get("base_model") if info.card_data else None
    if isinstance(base, list):
        base = base[0] if len(base) == 1 else None
    return base if isinstance(base, str) and base != info.id else None


def _info(repo: str, endpoint: str) -> Any:  # -> huggingface_hub.ModelInfo
    from huggingface_hub import HfApi

    with _hub_errors(repo, endpoint):
        return HfApi(endpoint=endpoint).model_info(repo, timeout=TIMEOUT)


def _names(info: Any) -> list[str]:
    return [sibling.rfilename for sibling in info.siblings or []]


def _fetch_json(repo: str, name: str, revision: str | None, endpoint: str) -> dict[str, Any]:
    """One small json file of a repo, read without touching the download cache."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(repo, name, revision=revision, endpoint=endpoint)
    with _hub_errors(repo, endpoint):
        response = get_session().get(url, headers=build_hf_headers(), timeout=TIMEOUT,
                                     follow_redirects=True)
        hf_raise_for_status(response)
        return response.json()


def _snapshot(repo: str, revision: str | None, out: Path, endpoint: str, names: list[str]) -> None:
    """Download the files ``names`` of ``repo`` at ``revision`` into ``out``, with
    huggingface_hub's progress bars."""
    import glob

    from huggingface_hub import snapshot_download

    say(f"downloading {repo} from {endpoint}")
    with _hub_errors(repo, endpoint):
        snapshot_download(repo, revision=revision, local_dir=out, endpoint=endpoint,
                          allow_patterns=[glob.escape(n) for n in names], etag_timeout=TIMEOUT)
    shutil.rmtree(out / ".cache", ignore_errors=True)  # huggingface_hub's download metadata


@contextlib.contextmanager
def _hub_errors(repo: str, endpoint: str) -> Iterator[None]:
    """Check HF_HUB_OFFLINE now, then turn huggingface_hub's errors into one-line ovnb errors."""
    if offline_now():  # before importing huggingface_hub: offline answers at once
        raise HubUnreachable(f"HF_HUB_OFFLINE is set, so ovnb does not contact the hub at "
                             f"{endpoint}: unset HF_HUB_OFFLINE to download {repo}")
    import httpx
    from huggingface_hub import constants, errors

    constants.HF_HUB_OFFLINE = False  # read at import: a value unset since then still blocks
    try:
        yield
    except errors.GatedRepoError:
        raise OvnbError(f"{repo} is gated: accept its terms at {endpoint}/{repo}, then log in "
                        "with `hf auth login` (or set HF_TOKEN)") from None
    except errors.RepositoryNotFoundError:
        raise OvnbError(_not_found(repo, endpoint)) from None
    except errors.HFValidationError:
        raise OvnbError(f"{repo!r} is neither a Hugging Face id (owner/name) nor a folder") from None
    except (httpx.TransportError, errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError) as exc:
        raise HubUnreachable(f"cannot reach the hub at {endpoint} ({_reason(exc)}): check the "
                             "network, or set HF_ENDPOINT to a mirror you can reach") from None
    except errors.HfHubHTTPError as exc:
        raise _http_error(exc, repo, endpoint) from None


def _not_found(repo: str, endpoint: str) -> str:
    close = catalogs.close_ids(repo)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return (f"{repo} was not found on the hub at {endpoint} (a private repo needs "
            f"`hf auth login` or HF_TOKEN){hint} (`ovnb list` shows the catalog)")


def _http_error(exc: Any, repo: str, endpoint: str) -> OvnbError:
    status = exc.response.status_code if exc.response is not None else 0
    if status == 401:
        return OvnbError(f"the hub at {endpoint} refused your token for {repo}: log in again with "
                         "`hf auth login` or fix HF_TOKEN")
    if status >= 500:
        return HubUnreachable(f"the hub at {endpoint} is failing (HTTP {status}): retry later, or "
                              "set HF_ENDPOINT to a mirror")
    return OvnbError(f"the hub at {endpoint} refused {repo} (HTTP {status}): {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """The root cause of a network error, in a few words on one line."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = " ".join(str(exc).split()) or "no detail"
    return f"{type(exc).__name__}: {text[:120]}"
