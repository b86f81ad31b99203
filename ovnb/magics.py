"""``%load_ext ovnb``: compact HTML cards for prepared folders and pipeline results, and ``%ovnb``.

The cards are IPython HTML formatters, so they appear wherever such a value ends a cell; a path
that is not a prepared model keeps its usual display. ``%ovnb check`` runs the notebook's exercise
checks in this kernel (``ovnb.exercises``) and says, a line each, what passed.
"""
from __future__ import annotations

import base64
import html
import io
import pathlib
from typing import Any

from ovnb.cache import read_manifest
from ovnb.layout import kind_of
from ovnb.progress import QUIET

GENAI = "openvino_genai.py_openvino_genai"
_STYLE = ("border:1px solid #ccd;border-radius:6px;padding:6px 10px;display:inline-block;"
          "font-family:var(--jp-ui-font-family,sans-serif);font-size:13px")


def card(title: str, rows: dict[str, Any], body: str = "") -> str:
    """A small bordered card: a title, ``key: value`` rows, and optional HTML below."""
    cells = " · ".join(f"<span style='color:{QUIET}'>{html.escape(k)}</span> "
                       f"{html.escape(str(v))}" for k, v in rows.items() if v not in (None, ""))
    return f"<div style='{_STYLE}'><b>{html.escape(title)}</b><br>{cells}{body}</div>"


def human_size(num_bytes: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1000 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return ""


def folder_card(path: pathlib.Path) -> str | None:
    """A card for a prepared model folder; None (default display) for any other path."""
    if not path.is_dir() or kind_of(path) is None:
        return None
    manifest = read_manifest(path) or {}
    size = sum(manifest.get("files", {}).values()) or sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file())
    source = manifest.get("source", {})
    return card(manifest.get("id", path.name), {
        "task": kind_of(path), "precision": manifest.get("precision"), "size": human_size(size),
        "source": source.get("kind"), "adapters": len(list((path / "adapters").glob("*.safetensors")))
        or None,
    }, f"<br><code style='font-size:11px'>{html.escape(str(path))}</code>")


def metrics_rows(perf: Any) -> dict[str, str]:
    """Time to first token, throughput and token count from a PerfMetrics."""
    try:
        return {"first token": f"{perf.get_ttft().mean:.0f} ms",
                "speed": f"{perf.get_throughput().mean:.1f} tokens/s",
                "tokens": str(perf.get_num_generated_tokens())}
    except (AttributeError, RuntimeError):
        return {}


def text_card(result: Any) -> str:
    """A card for DecodedResults, VLMDecodedResults and ASRDecodedResults."""
    text = result.texts[0] if result.texts else ""
    body = f"<div style='white-space:pre-wrap;margin-top:4px'>{html.escape(text[:2000])}</div>"
    rows = metrics_rows(result.perf_metrics)
    if getattr(result, "chunks", None):
        rows["chunks"] = str(len(result.chunks))
    return card(type(result).__name__, rows, body)


def tensor_card(tensor: Any) -> str | None:
    """A thumbnail card for an image tensor [N, H, W, 3] uint8 from Text2ImagePipeline."""
    shape = list(tensor.shape)
    if len(shape) != 4 or shape[-1] != 3 or shape[0] == 0:
        return None
    from PIL import Image

    image = Image.fromarray(tensor.data[0])
    image.thumbnail((256, 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    return card("image", {"size": f"{shape[2]}×{shape[1]}", "count": shape[0]},
                f"<br><img src='data:image/png;base64,{data}'>")


USAGE = "usage: %ovnb check [EXERCISE ...] [NOTEBOOK.ipynb]"


def ovnb_magic(line: str) -> None:
    """``%ovnb check [N ...] [path.ipynb]``: run the exercises' checks here, a line each."""
    from IPython import get_ipython

    from ovnb import exercises
    from ovnb.errors import OvnbError

    words = line.split()
    if not words or words[0] != "check":
        print(USAGE)
        return
    numbers = [int(word) for word in words[1:] if word.isdigit()]
    paths = [word for word in words[1:] if not word.isdigit()]
    if len(paths) > 1 or any(not path.endswith(".ipynb") for path in paths):
        print(f"{USAGE} (not understood: {' '.join(paths)})")
        return
    namespace = get_ipython().user_ns
    try:
        path = pathlib.Path(paths[0]) if paths else exercises.notebook_path(namespace)
        print(exercises.summary(exercises.check(path, namespace, numbers or None)))
    except OvnbError as error:
        print(error)


def load_ipython_extension(ipython: Any) -> None:
    """Register the cards and ``%ovnb`` (called by ``%load_ext ovnb``)."""
    ipython.register_magic_function(ovnb_magic, "line", "ovnb")
    formatter = ipython.display_formatter.formatters["text/html"]
    formatter.for_type(pathlib.PosixPath, folder_card)
    formatter.for_type(pathlib.WindowsPath, folder_card)
    for name in ("DecodedResults", "VLMDecodedResults", "ASRDecodedResults"):
        formatter.for_type_by_name(GENAI, name, text_card)
    formatter.for_type_by_name("openvino._pyopenvino", "Tensor", tensor_card)
