"""The model catalog: entries read from ``catalog.json`` (data, not code), and what they cost.

The data file documents its own schema (``_schema``) and cites, per entry, where each hub id and
figure came from (``ref``). This module reads it, estimates disk and RAM per precision with one
formula (``estimate``), and renders the ``ovnb list`` table (``table`` as text for the terminal,
``overview`` as an HTML table for notebooks, where long text lines wrap mid-word).
"""
from __future__ import annotations

import copy
import difflib
import functools
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovnb import families
from ovnb.charts import wrap
from ovnb.errors import OvnbError
from ovnb.families import VIDEO

CATALOG_FILE = Path(__file__).with_name("catalog.json")
PRECISIONS = ("fp16", "int8", "int4", "int4-npu")

# --- the estimate's constants (see ``estimate`` for why each has its value) ---
BYTES_PER_PARAM = {"fp16": 2.0, "int8": 1.0, "int4": 0.55, "int4-npu": 0.55}
FILES_GB = 0.02  # tokenizer/detokenizer IRs, configs, chat template
BASE_GB = 0.3  # OpenVINO runtime, plugin and pipeline objects
SLACK = 0.1  # compiled-model buffers and allocator slack, per GB of weights
VIDEO_REFERENCE_CLIP = (25, 512, 768)  # frames, height, width the video activations are for
EXPORT_BASE_GB = 0.7  # python + torch + transformers + optimum imported in the export process
EXPORT_BYTES_PER_PARAM = 4.0  # optimum traces the fp32 torch model
BINDER_RAM_GB = 2.0  # what a mybinder.org session gets


@functools.cache
def _entries() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(CATALOG_FILE.read_text())["models"])


def catalog(task: str | None = None) -> list[dict[str, Any]]:
    """Catalog entries, all or those of one task (one of ``families.TASKS``)."""
    return [copy.deepcopy(e) for e in _entries() if task is None or e["task"] == task]


def find(model_id: str) -> dict[str, Any] | None:
    """The entry for ``model_id`` (case-insensitive), or None."""
    for entry in _entries():
        if entry["id"].lower() == model_id.lower():
            return copy.deepcopy(entry)
    return None


def has_random_weights(entry: dict[str, Any]) -> bool:
    """Whether a catalog entry is one of ovnb's tiny random models (built locally; noise out)."""
    return any(source["kind"] == "tiny" for source in entry["sources"])


def is_tiny(model_id: str) -> bool:
    """Whether ``model_id`` names a tiny random model: small settings show every step as well."""
    entry = find(model_id)
    return entry is not None and has_random_weights(entry)


def close_ids(model_id: str, n: int = 3) -> list[str]:
    """Catalog ids that look like ``model_id``, for "did you mean" messages."""
    ids = [e["id"] for e in _entries()]
    by_lower = {i.lower(): i for i in ids}
    hits = difflib.get_close_matches(model_id.lower(), list(by_lower), n=n, cutoff=0.5)
    tails = difflib.get_close_matches(model_id.lower().split("/")[-1],
                                      [i.split("/")[-1] for i in by_lower], n=n, cutoff=0.6)
    hits += [i for i in by_lower if i.split("/")[-1] in tails and i not in hits]
    hits += [i for i in by_lower if model_id.lower() in i and i not in hits]
    return [by_lower[h] for h in hits[:n]]


def offline_ids() -> list[str]:
    """Ids that prepare with no hub: tiny random models and offline packages."""
    return [e["id"] for e in _entries()
            if any(s["kind"] in ("tiny", "offline") for s in e["sources"])]


def tiny_mode() -> bool:
    """Whether OVNB_TINY asks for tiny/offline models (CI and quick trials)."""
    return os.environ.get("OVNB_TINY", "").strip().lower() not in ("", "0", "false", "no", "off")


def check_precision(precision: str) -> str:
    """Validate a precision name, with the list of valid ones in the message."""
    if precision not in PRECISIONS:
        raise OvnbError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision


def estimate(entry: dict[str, Any], precision: str | None = None) -> dict[str, float]:
    """Disk and RAM an entry needs at ``precision`` (default: its own), in GB: the one formula.

    - weights = parameters x bytes per parameter: fp16 2, int8 1, int4 and int4-npu 0.55
      (4-bit groups plus their fp16 scales, with embeddings and the head kept in int8).
    - ``disk_gb`` = weights + 0.02 GB of tokenizer IRs and configs.
    - ``ram_gb`` (running) = 0.3 GB runtime base + weights x 1.1 (compiled buffers, allocator
      slack) + activations, per billion parameters: chat 0.25 GB (KV cache of a ~2k-token context
      plus activations), vision-chat 0.35 GB (image tokens too), speech 1.0 GB (30 s encoder
      windows), image 0.6 GB (UNet activations at 512x512 with guidance), video 0.3 GB (LTX-Video,
      7.1B with its T5-XXL, making a 25-frame 768x512 clip with guidance: ~1.3 GB in the VAE
      decoder, which decodes the whole clip at once at 32 bytes per output pixel and frame per
      feature map, four maps live; ~0.7 GB in the transformer's attention over 2 x 1536 tokens).
      Video activations grow with frames x pixels: ``video_ram_gb`` scales them to a setting.
      (Each family's figure is its registry record's ``activation_gb``.)
      For the tasks below a working set that does not shrink with the model (``working_gb``):
      text-to-speech 0.5 GB + 4.0 GB per billion, for a sentence (~6 s of speech): openvino_genai's
      SpeechT5 loop grows ~70 MB per second of speech even for tiny-speecht5 (+455 MB at 6.5 s,
      +906 MB at 12.9 s), and a random SpeechT5 of speecht5_tts's size (157M) needed +2.7 GB at
      12.9 s with f32 inference, 0.6 GB of it its widened weights: ~0.6 GB more per 6.5 s, 3.8 GB
      per billion (benchmarks/retrieval_speech_bench.py; long text must go sentence by sentence);
      embedding and rerank 0.25 GB + 1.0 GB per billion: all-MiniLM-L6-v2 embedding 32 passages
      of ~150 tokens took +0.2 GB; activations grow with the width, not the depth (buffers are
      reused layer to layer), so a 0.6B model (hidden 1024 vs 384) is estimated at ~0.85 GB; a
      reranker runs the same shapes (query+passage pairs).
    - ``prepare_ram_gb`` = peak while preparing: 0.3 GB when the first source that applies is a
      pre-converted OpenVINO repo (a download); else the export, 0.7 GB of imported libraries +
      4 bytes per parameter (optimum traces the fp32 model) + the compressed weights it writes.
    These are estimates for planning (calibrated on SmolLM2-135M and Whisper base exports that
    peaked near 1.2 GB here), not measurements of every model; a long chat context needs more.
    """
    precision = check_precision(precision or entry["default_precision"])
    billions = entry["params_m"] / 1000
    weights = billions * BYTES_PER_PARAM[precision]
    family = families.family(entry["task"])
    activations = family.working_gb + billions * family.activation_gb
    ram = BASE_GB + weights * (1 + SLACK) + activations
    if _first_source(entry, precision)["kind"] == "hub-ov":
        prepare = BASE_GB
    else:
        prepare = EXPORT_BASE_GB + billions * EXPORT_BYTES_PER_PARAM + weights
    return {"disk_gb": round(weights + FILES_GB, 3), "ram_gb": round(ram, 3),
            "prepare_ram_gb": round(prepare, 3)}


def video_ram_gb(entry: dict[str, Any], num_frames: int, height: int, width: int,
                 precision: str | None = None) -> float:
    """RAM (GB) to make one clip of ``num_frames`` at ``height`` x ``width`` with a video entry.

    ``estimate``'s video activations are for VIDEO_REFERENCE_CLIP; here they scale with frames x
    pixels, as the VAE decoder's do (it decodes the whole clip at once). Attention grows faster
    than that, so very long clips may need more than this says.
    """
    if entry["task"] != VIDEO.task:
        raise OvnbError(f"{entry['id']} is a {entry['task']} model, not a video model")
    frames, ref_height, ref_width = VIDEO_REFERENCE_CLIP
    activations = entry["params_m"] / 1000 * VIDEO.activation_gb
    scale = (num_frames * height * width) / (frames * ref_height * ref_width)
    return round(estimate(entry, precision)["ram_gb"] + activations * (scale - 1), 3)


def _first_source(entry: dict[str, Any], precision: str) -> dict[str, Any]:
    """The source ``prepare`` tries first at ``precision`` (hub-ov repos hold one precision)."""
    for source in entry["sources"]:
        if source["kind"] != "hub-ov" or source.get("precision") == precision:
            return source
    raise OvnbError(f"{entry['id']} has no source for {precision}: the catalog entry is wrong")


HEADER = ("ID", "TASK", "PARAMS", "DEFAULT", "DISK GB", "RAM GB", "BINDER", "NPU", "NOTES")


def table(task: str | None = None) -> str:
    """The catalog as an aligned text table for ``ovnb list``, estimates at default precision."""
    rows = [HEADER, *(_row(e) for e in catalog(_checked_task(task)))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def overview(task: str | None = None) -> Table:
    """The catalog table for a notebook (``catalog_html``), with the text table as its repr."""
    return Table(table(task), catalog_html(catalog(_checked_task(task))))


# A table that fits its output area at any width: rows grouped under their task (no task column),
# ids broken only after their "/"; where the area is narrower than the table needs, each model
# becomes a short paragraph of labelled figures (a container query: the area's width, not the
# window's, decides).
CATALOG_CSS = """<style>
.ovnb-catalog { container-type: inline-size; font-size: 12px; }
.ovnb-catalog table { border-collapse: collapse; margin: 0; }
.ovnb-catalog table th, .ovnb-catalog table td { vertical-align: top; padding: 2px 6px;
  border: none; }
.ovnb-catalog table tr.ovnb-task th { padding-top: 10px; font-size: 13px; }
.ovnb-catalog .ovnb-nw { white-space: nowrap; }
@container (max-width: 780px) {
  .ovnb-catalog table, .ovnb-catalog table tbody { display: block; }
  .ovnb-catalog table thead { display: none; }
  .ovnb-catalog table tr { display: block; padding: 3px 0; }
  .ovnb-catalog table td { display: inline-block; padding: 0 10px 0 0; }
  .ovnb-catalog table td[data-label]::before { content: attr(data-label) " "; }
  .ovnb-catalog table td:first-child { display: block; font-weight: bold; overflow-wrap: anywhere; }
  .ovnb-catalog table td:first-child .ovnb-nw { white-space: normal; }
}
</style>"""


LEFT = " style='text-align:left'"  # inline: JupyterLab's own table style aligns right


def catalog_html(entries: Sequence[dict[str, Any]]) -> str:
    """The catalog's entries as the notebook's table (``CATALOG_CSS``), grouped by task."""
    header = [h for h in HEADER if h != "TASK"]
    head = "".join(f"<th{LEFT}>{html.escape(h)}</th>" for h in header)
    tasks: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:  # in the catalog's order, each task where its first model is
        tasks.setdefault(entry["task"], []).append(entry)
    body = []
    for task, group in tasks.items():
        body.append(f"<tr class='ovnb-task'><th colspan='{len(header)}'{LEFT}>{html.escape(task)}</th>"
                    "</tr>")
        for entry in group:
            cells = [c for h, c in zip(HEADER, _row(entry)) if h != "TASK"]
            body.append(f"<tr{LEFT}>" + "".join(_catalog_cell(h, c) for h, c in zip(header, cells))
                        + "</tr>")
    return (f"{CATALOG_CSS}<div class='ovnb-catalog'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _catalog_cell(label: str, text: str) -> str:
    """A cell: an id may break after its "/" only; figures never break; labelled for the narrow
    layout (the id and notes need no label)."""
    if label == "ID":
        parts = [f"<span class='ovnb-nw'>{html.escape(p)}</span>" for p in text.split("/")]
        return f"<td{LEFT}>{'/<wbr>'.join(parts)}</td>"
    if label == "NOTES":  # they name drafts' targets by id: those break after "/" too
        return f"<td{LEFT}>{html.escape(text).replace('/', '/<wbr>')}</td>"
    return (f"<td class='ovnb-nw' data-label='{html.escape(label.lower())}'{LEFT}>"
            f"{html.escape(text)}</td>")


def _checked_task(task: str | None) -> str | None:
    return families.family(task).task if task is not None else None


@dataclass(frozen=True)
class Table:
    """A table two ways: HTML that Jupyter shows (``_repr_html_``), and the terminal's text."""

    text: str
    markup: str

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]],
               nowrap: Sequence[int] = ()) -> str:
    """A plain HTML table; the ``nowrap`` columns never wrap (ids, numbers), the others wrap
    between words, and inside a long word where the table would not fit (``charts.wrap``)."""
    def cell(tag: str, i: int, text: str) -> str:
        style = "text-align:left;vertical-align:top;padding:2px 8px"
        style += ";white-space:nowrap" if i in nowrap else wrap(text)
        return f"<{tag} style='{style}'>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return (f"<table style='border-collapse:collapse;font-size:12px'><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>")


def _row(entry: dict[str, Any]) -> tuple[str, ...]:
    cost = estimate(entry)
    return (entry["id"], entry["task"], _params(entry["params_m"]), entry["default_precision"],
            _gb(cost["disk_gb"]), _gb(cost["ram_gb"]), _yes(entry["binder_fit"]),
            _yes(entry["npu_fit"]), ", ".join(_notes(entry)))


def _params(params_m: float) -> str:
    if params_m < 10:
        return f"{params_m:.2f}M" if params_m < 1 else f"{params_m:.1f}M"
    return f"{params_m:.0f}M" if params_m < 1000 else f"{params_m / 1000:.1f}B"


def _gb(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "-"


def _notes(entry: dict[str, Any]) -> list[str]:
    """Short flags a user should see before choosing: offline, remote code, gated, draft."""
    kinds = {s["kind"] for s in entry["sources"]}
    notes = ["random (tests)" if "tiny" in kinds else "offline" if "offline" in kinds else ""]
    notes += ["export runs repo code (trust_remote_code)"] if entry.get("trust_remote_code") else []
    notes += ["gated: accept its license on the hub"] if entry.get("gated") else []
    if entry.get("draft_for"):
        role = "only a draft" if entry.get("draft_only") else "draft"
        notes.append(f"{role} for {entry['draft_for']}")
    return [n for n in notes if n]
