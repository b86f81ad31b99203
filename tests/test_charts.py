"""Inline SVG bar charts and HTML tables: valid markup, proportional bars, escaped text."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ovnb import charts
from ovnb.errors import OvnbError

SVG = "{http://www.w3.org/2000/svg}"


def parse(chart: charts.Html) -> ET.Element:
    return ET.fromstring(str(chart))  # also proves the markup is well-formed XML


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_bars_are_proportional_and_the_longest_spans_the_width() -> None:
    root = parse(charts.bar_chart({"fp16": 300.0, "int8": 150.0, "int4": 75.0}, width=400))
    widths = [float(r.get("width")) for r in bars(root)]
    assert widths == [400.0, 200.0, 100.0]
    assert len({r.get("x") for r in bars(root)}) == 1  # all start at the same zero line


def test_values_titles_and_better_direction_are_written() -> None:
    root = parse(charts.bar_chart({"fp16": 1234.5, "int4": 0.55}, "Folder size", "MB",
                                  better="lower"))
    shown = texts(root)
    assert shown[:2] == ["Folder size", "lower is better"]
    assert "1,234 MB" in shown and "0.55 MB" in shown and "fp16" in shown
    assert root.get("aria-label") == "Folder size"
    assert [r.find(f"{SVG}title").text for r in bars(root)] == ["fp16: 1,234 MB", "int4: 0.55 MB"]


def test_a_target_is_a_line_at_its_value_even_beyond_the_longest_bar() -> None:
    root = parse(charts.bar_chart({"a": 0.5, "b": 1.0}, width=400, target=0.8))
    line = next(root.iter(f"{SVG}line"))
    assert float(line.get("x1")) - float(bars(root)[0].get("x")) == pytest.approx(320.0)
    assert "target 0.80" in texts(root)
    root = parse(charts.bar_chart({"a": 0.5}, width=400, target=2.0))  # the scale takes it in
    assert float(next(root.iter(f"{SVG}line")).get("x1")) - float(bars(root)[0].get("x")) == 400
    assert [float(r.get("width")) for r in bars(root)] == [100.0]
    with pytest.raises(OvnbError, match="target"):
        charts.bar_chart({"a": 1}, target=float("nan"))


def test_the_svg_is_wide_enough_for_its_title() -> None:
    title = "A rather long title for two very small bars"
    root = parse(charts.bar_chart({"a": 1}, title, width=20))
    assert float(root.get("width")) >= len(title) * charts.CHAR


def test_labels_are_escaped() -> None:
    chart = charts.bar_chart({"<b>&'x'": 1.0}, "a <script> title")
    assert "<script>" not in str(chart) and "<b>" not in str(chart)
    assert "<b>&'x'" in texts(parse(chart))


def test_zero_values_draw_empty_bars_without_dividing_by_zero() -> None:
    root = parse(charts.bar_chart({"a": 0, "b": 0}))
    assert [float(r.get("width")) for r in bars(root)] == [0.0, 0.0]


def test_numpy_numbers_are_accepted() -> None:
    root = parse(charts.bar_chart({"a": np.float32(2.0), "b": np.int64(1)}, width=100))
    assert [float(r.get("width")) for r in bars(root)] == [100.0, 50.0]


def test_grouped_bars_have_a_legend_and_one_colour_per_series() -> None:
    values = {"fp16": {"OpenVINO": 80.0, "PyTorch": 20.0}, "int4": {"OpenVINO": 160.0}}
    root = parse(charts.bar_chart(values, "Speed", "tokens/s", better="higher", width=160))
    drawn = bars(root)
    assert [float(r.get("width")) for r in drawn] == [80.0, 20.0, 160.0]
    colours = [r.get("fill") for r in drawn]
    assert colours[0] == colours[2] != colours[1]
    assert "OpenVINO" in texts(root) and "PyTorch" in texts(root)
    assert texts(root).count("fp16") == 1  # a group is labelled once


@pytest.mark.parametrize("values, words", [
    ({}, "no values"),
    ({"a": float("nan")}, "finite"),
    ({"a": -1.0}, ">= 0"),
    ({"a": "fast"}, "not a number"),
    ({"a": 1.0, "b": {"x": 1.0}}, "all numbers or all dicts"),
    ({"a": {}}, "empty groups"),
])
def test_bad_values_are_refused_with_the_label(values: dict, words: str) -> None:
    with pytest.raises(OvnbError, match=words):
        charts.bar_chart(values)


def test_bad_direction_is_refused() -> None:
    with pytest.raises(OvnbError, match="higher"):
        charts.bar_chart({"a": 1.0}, better="faster")


def test_table_columns_numbers_and_escaping() -> None:
    rows = [{"precision": "fp16", "MB": 1.5}, {"precision": "<int4>", "tok/s": 1234.0}]
    html = str(charts.table(rows, caption="Compared"))
    root = ET.fromstring(html)
    assert [th.text for th in root.iter("th")] == ["precision", "MB", "tok/s"]
    cells = [[td.text for td in tr.iter("td")] for tr in root.find("tbody")]
    assert cells == [["fp16", "1.50", None], ["<int4>", None, "1,234"]]
    assert "right" in root.find("tbody")[0][1].get("style")  # numbers are right-aligned
    assert root.find("caption").find("b").text == "Compared"


def test_empty_table_is_refused() -> None:
    with pytest.raises(OvnbError, match="no rows"):
        charts.table([])


def test_number_formats() -> None:
    assert [charts.number(v) for v in (1234567, 1234.5, 56.78, 0.5512, True, "x")] == \
        ["1,234,567", "1,234", "56.8", "0.55", "True", "x"]


def test_side_by_side_keeps_both_and_jupyter_shows_html() -> None:
    a, b = charts.bar_chart({"a": 1}), charts.table([{"x": 1}])
    both = charts.side_by_side(a, b)
    assert str(a) in both._repr_html_() and str(b) in both._repr_html_()
    assert "flex" in str(both)


def test_only_cells_with_a_long_word_may_break_inside_it() -> None:
    markup = str(charts.table([{"device": "CPU", "properties": "CACHE_DIR=(compile cache)"}]))
    short, long_ = markup.split("<td")[1:]
    assert "overflow-wrap" not in short and "overflow-wrap:anywhere" in long_
