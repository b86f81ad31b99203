"""Every notebook of the series, run in JupyterLab (tiny mode), fits and reads in both themes.

``test_fit.py`` checks every family's widget in one gallery, in CI. This opens each notebook as a
learner does (Run All), then lays the page out in light and dark, wide and narrow, and measures
every output (widgets, charts, tables, printed text) with the gallery's measure: nothing wider
than the output area, every text at WCAG AA contrast. It takes as long as running the whole series
in a browser (7m45s here on 2 cores, models cached), so it is ``heavy``: CI leaves it out; run it with
    python -m pytest -m heavy tests/browser/test_series_fit.py
Screenshots of each widget, table and chart go to artifacts/screenshots/series-<notebook>-<theme>-<width>-<n>.png.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import REPO, SCREENSHOTS, Lab, open_and_run
from tests.browser.test_fit import ERRORS, MEASURE, THEMES, WIDTHS, laid_out

pytestmark = [pytest.mark.browser, pytest.mark.heavy]

NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))
OUTPUTS = ".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output"
RUN_ALL_TIMEOUT_MS = 900_000
SHUT_DOWN = "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_output_fits_and_reads(browser: Any, lab: Lab, name: str) -> None:
    page, context, _ = open_and_run(browser, lab, name, RUN_ALL_TIMEOUT_MS,
                                    settle_ms=RUN_ALL_TIMEOUT_MS, step_ms=60_000)
    try:
        errors = page.evaluate(ERRORS)
        found = {}
        for theme in THEMES:
            for width in WIDTHS:
                laid_out(page, theme, width)
                found.update(measured(page, name.removesuffix(".ipynb"), theme, width))
        assert errors == [], errors
        assert not found, json.dumps(found, indent=1)
    finally:
        page.evaluate(SHUT_DOWN)  # its kernel's models leave memory before the next notebook
        context.close()


def measured(page: Any, stem: str, theme: str, width: int) -> dict[str, Any]:
    """What falls short in each output of the page laid out so, by "<theme>-<width> output <n>";
    each widget's, table's and chart's screenshot is taken on the way."""
    found = {}
    outputs = page.locator(OUTPUTS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for i in range(outputs.count()):
        output = outputs.nth(i)
        output.scroll_into_view_if_needed()
        if not output.is_visible():
            continue
        if output.locator(".jupyter-widgets, table, svg").count():  # widgets, tables, charts
            output.screenshot(path=str(SCREENSHOTS / f"series-{stem}-{theme}-{width}-{i + 1}.png"))
        faults = {k: v for k, v in output.evaluate(MEASURE).items() if v}
        if faults:
            found[f"{theme}-{width} output {i + 1}"] = faults
    return found
