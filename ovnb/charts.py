"""Small charts and tables for notebooks, as inline SVG and HTML: no plotting library needed.

Comparing precisions or runtimes needs a few bars, not matplotlib (a heavy dependency that Binder
would have to install). Every function returns an ``Html`` value that Jupyter displays when it ends
a cell. Text uses ``currentColor``, so charts follow the notebook's light or dark theme.
"""
from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ovnb.errors import OvnbError

PALETTE = ("#0068b5", "#00a3f6", "#8f5da2", "#e96115", "#5aa700", "#c81326")
BAR = 16  # bar thickness, px
GAP = 4  # between bars of one group
GROUP_GAP = 10  # between groups
CHAR = 7.0  # average width of a 12px character, to size the label column
FONT = "font-family:var(--jp-ui-font-family,sans-serif);font-size:12px"

Values = Mapping[str, float] | Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Html:
    """HTML that Jupyter shows as such (``_repr_html_``); ``str()`` gives the markup."""

    markup: str

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


def number(value: Any) -> str:
    """A number as people read it in a table: 1,234 · 56.7 · 0.55; anything else as is."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"


def bar_chart(values: Values, title: str = "", unit: str = "", better: str | None = None,
              width: int = 360, target: float | None = None) -> Html:
    """Horizontal bars, one per label: ``bar_chart({"fp16": 1.2, "int4": 0.4}, "Size", "GB")``.

    Grouped bars: ``{"fp16": {"OpenVINO": 76, "PyTorch": 20}, ...}`` draws one bar per series in
    each group, with a legend. ``better`` ("higher" or "lower") is said under the title, so a
    reader knows which way to look. Bars start at zero and the longest spans ``width`` pixels
    (or the ``target``, a dashed line across the bars labelled with its value, when it is longer):
    whether a bar reaches the target is then seen, not read.
    """
    rows, series = _rows(values)
    if target is not None:
        target = _checked("target", target)
    label_w = int(max(len(g) for g, _, _ in rows) * CHAR) + 12
    value_w = int(max(len(_value_text(v, unit)) for _, _, v in rows) * CHAR) + 8
    head = _head(title, better)
    parts = [_text(0, 14 + 18 * i, line, bold=i == 0 and bool(title))
             for i, line in enumerate(head)]
    y = 18 * len(head)
    legend_w = 0
    if series != [""]:
        legend, legend_w = _legend(series, y)
        parts, y = parts + legend, y + 18
    y += 4 if y else 0
    top = max([v for _, _, v in rows] + ([target] if target is not None else []))
    bars, bottom = _bars(rows, series, label_w, width, unit, y, top)
    if target is not None:
        bars += _target(label_w + (width * target / top if top > 0 else 0.0), y, bottom, target,
                        unit)
        bottom += 16
    y = bottom
    total_w = max(label_w + width + value_w, legend_w, *(int(len(t) * CHAR) + 8 for t in head))
    return Html(f"<svg xmlns='http://www.w3.org/2000/svg' width='{total_w}' height='{y + 4}' "
                f"viewBox='0 0 {total_w} {y + 4}' style='{FONT}' role='img' "
                f"aria-label='{html.escape(title or 'bar chart')}'>{''.join(parts + bars)}</svg>")


def _bars(rows: list[tuple[str, str, float]], series: list[str], label_w: int, width: int,
          unit: str, y: int, top: float) -> tuple[list[str], int]:
    """The bars from height ``y`` down, each with its value; the group label at its first bar;
    ``top`` is the value ``width`` pixels stand for."""
    parts: list[str] = []
    group = None
    for name, serie, value in rows:
        if group is not None and name != group:
            y += GROUP_GAP - GAP
        if name != group:
            parts.append(_text(label_w - 6, y + BAR - 4, name, anchor="end"))
        length = width * value / top if top > 0 else 0.0
        color = PALETTE[series.index(serie) % len(PALETTE)]
        parts.append(f"<rect x='{label_w}' y='{y}' width='{length:.1f}' height='{BAR}' "
                     f"fill='{color}'><title>{html.escape(_tip(name, serie, value, unit))}"
                     f"</title></rect>")
        parts.append(_text(label_w + length + 4, y + BAR - 4, _value_text(value, unit)))
        group = name
        y += BAR + GAP
    return parts, y


def _target(x: float, top: int, bottom: int, value: float, unit: str) -> list[str]:
    """A dashed line at ``x`` from ``top`` to ``bottom``, its value written under it."""
    line = (f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{bottom}' stroke='currentColor' "
            f"stroke-dasharray='4 3' class='ovnb-target'/>")
    return [line, _text(x, bottom + 12, f"target {_value_text(value, unit)}", anchor="middle")]


def table(rows: Sequence[Mapping[str, Any]], caption: str = "") -> Html:
    """An HTML table from dicts (columns in first-seen key order); numbers right-aligned."""
    if not rows:
        raise OvnbError("table() got no rows: pass a list of dicts, one per row")
    columns = list(dict.fromkeys(key for r in rows for key in r))
    head = "".join(f"<th style='text-align:left;padding:2px 6px{wrap(str(c))}'>"
                   f"{html.escape(str(c))}</th>"
                   for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c, "")) for c in columns) + "</tr>"
                   for r in rows)
    title = f"<caption style='text-align:left'><b>{html.escape(caption)}</b></caption>" \
        if caption else ""
    return Html(f"<table style='border-collapse:collapse;{FONT}'>{title}<thead><tr>{head}</tr>"
                f"</thead><tbody>{body}</tbody></table>")


def side_by_side(*items: Html | str) -> Html:
    """Charts and tables side by side (wrapping on a narrow screen)."""
    cells = "".join(f"<div>{item}</div>" for item in items)
    return Html(f"<div style='display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start'>"
                f"{cells}</div>")


def _rows(values: Values) -> tuple[list[tuple[str, str, float]], list[str]]:
    """(group, series, value) rows in order, and the series names ([""] for plain bars)."""
    if not values:
        raise OvnbError("bar_chart() got no values: pass a dict of label -> number")
    nested = [isinstance(v, Mapping) for v in values.values()]
    if any(nested) and not all(nested):
        raise OvnbError("bar_chart() values must be all numbers or all dicts of series -> number")
    if not all(nested):
        return [(str(k), "", _checked(k, v)) for k, v in values.items()], [""]
    series = list(dict.fromkeys(str(s) for group in values.values() for s in group))
    rows = [(str(k), str(s), _checked(f"{k}/{s}", v))
            for k, group in values.items() for s, v in group.items()]
    if not rows:
        raise OvnbError("bar_chart() got only empty groups: give each group a series -> number")
    return rows, series


def _checked(label: Any, value: Any) -> float:
    """A bar's length must be a finite number >= 0: say which label is wrong."""
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        raise OvnbError(f"bar_chart(): {label} is {value!r}, not a number") from None
    if not math.isfinite(number_) or number_ < 0:
        raise OvnbError(f"bar_chart(): {label} is {value!r}: bars need a finite number >= 0")
    return number_


def _head(title: str, better: str | None) -> list[str]:
    """Lines above the bars: the title, and which way is better."""
    if better not in (None, "higher", "lower"):
        raise OvnbError(f"better={better!r}: use 'higher', 'lower' or None")
    return [line for line in (title, f"{better} is better" if better else "") if line]


def _legend(series: list[str], y: int) -> tuple[list[str], int]:
    """A colour swatch and name per series, in one line; and the line's width."""
    parts, x = [], 0.0
    for i, name in enumerate(series):
        parts.append(f"<rect x='{x:.0f}' y='{y + 4}' width='10' height='10' "
                     f"fill='{PALETTE[i % len(PALETTE)]}'/>")
        parts.append(_text(x + 14, y + 13, name))
        x += 14 + len(name) * CHAR + 14
    return parts, int(x)


def _text(x: float, y: float, text: str, anchor: str = "start", bold: bool = False) -> str:
    weight = " font-weight='bold'" if bold else ""
    return (f"<text x='{x:.1f}' y='{y}' fill='currentColor' text-anchor='{anchor}'{weight}>"
            f"{html.escape(text)}</text>")


def _value_text(value: float, unit: str) -> str:
    return f"{number(value)} {unit}".rstrip()


def _tip(name: str, serie: str, value: float, unit: str) -> str:
    return f"{name}{' · ' + serie if serie else ''}: {_value_text(value, unit)}"


def _cell(value: Any) -> str:
    align = "right" if isinstance(value, numbers.Real) and not isinstance(value, bool) else "left"
    text = number(value)
    return (f"<td style='text-align:{align};padding:2px 6px;border-top:1px solid #ccc{wrap(text)}'>"
            f"{html.escape(text)}</td>")


LONG_WORD = 12  # characters: a word this long may break where a table would not fit otherwise


def wrap(text: str) -> str:
    """A cell's extra style: a text with a long word may break inside it (a path, a property
    list), so a table fits a narrow output area; short words ("CPU") never break."""
    return ";overflow-wrap:anywhere" if any(len(w) >= LONG_WORD for w in text.split()) else ""
