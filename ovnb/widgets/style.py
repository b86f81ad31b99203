"""ovnb's stylesheet in the page: one hidden anywidget whose ``_css`` is ``static/ovnb.css``.

anywidget puts a model's ``_css`` into the page's head as soon as the page has the model, so one
shared instance, made with the first view, styles every view (and views restored after a reload).
Views mark their root ``ovnb-view``; the stylesheet's rules stay under that class, except the
colour variables, which views and their anywidgets (chat panel, words, recorder) read.
"""
from __future__ import annotations

import functools
from pathlib import Path

import anywidget

STATIC = Path(__file__).with_name("static")
ROOT_CLASS = "ovnb-view"


class Stylesheet(anywidget.AnyWidget):
    """Nothing to see: it carries ovnb.css to the page."""

    _esm = "export default { render() {} };"
    _css = STATIC / "ovnb.css"


@functools.cache
def stylesheet() -> Stylesheet:
    """The one stylesheet widget of this kernel (hidden wherever it is placed)."""
    import ipywidgets as widgets

    return Stylesheet(layout=widgets.Layout(display="none"))
