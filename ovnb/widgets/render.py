"""Render helpers every view shares: markdown, PNG, metrics lines, notes, and setting controls.

Setting controls are made from the traits' own metadata (``ovnb.sessions.settings.setting``), so a
slider's label, range and step are declared once, beside the validation, and each control is bound
to its trait both ways (moving the slider sets the trait; setting the trait moves the slider).
"""
from __future__ import annotations

import functools
import html
import io
import re
from collections.abc import Iterable
from typing import Any

import ipywidgets as widgets
import traitlets

LABEL_WIDTH = "150px"
DEFAULT_SLIDER_MAX = 2048  # an unbounded count (max_new_tokens before the model is known)
# C0 control characters other than tab and newline: a random model prints them; a page must not
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@functools.cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # commonmark with tables; raw HTML in a model's answer is shown as text, never run
    return MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table",
                                                                            "strikethrough"])


def markdown_html(text: str) -> str:
    """A model's markdown as safe HTML (raw HTML escaped, control characters made visible)."""
    return _markdown().render(visible(text))


def passage_html(text: str) -> str:
    """A document's passage (what a retriever found) with its markdown shown: headings,
    paragraphs, lists; raw HTML escaped. Headings at the text's size (ovnb.css)."""
    return f"<div class='ovnb-passage'>{markdown_html(text)}</div>"


def visible(text: str) -> str:
    """``text`` with control characters as U+FFFD, so a page shows where they were."""
    return _CONTROL.sub("\ufffd", text)


def png(image: Any, level: int = 6) -> bytes:
    """PNG bytes of a PIL image (``level`` 1 for previews: fast beats small there)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def grey(text: str) -> str:
    """A quiet line (status, metrics) as HTML; ``text`` is escaped (colour: ovnb.css)."""
    return f"<span class='ovnb-quiet'>{html.escape(text)}</span>" if text else ""


def metrics_line(parts: Iterable[str]) -> str:
    """Figures in one quiet line, joined by middle dots."""
    return grey(" · ".join(p for p in parts if p))


def error_html(error: str, details: str = "") -> str:
    """One line saying what went wrong and how to fix it, with the details folded away."""
    if not error:
        return ""
    line = f"<b>⚠ {html.escape(error)}</b>"
    if details:
        line = (f"<details><summary>{line}</summary><pre style='font-size:80%;white-space:pre-wrap'>"
                f"{html.escape(details)}</pre></details>")
    return f"<div class='ovnb-error'>{line}</div>"


def html_table(header: list[str], rows: list[list[str]]) -> str:
    """A compact HTML table (cells escaped) that does not break words."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>"
                   for h in header)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left;padding:2px 8px;"
                                    f"white-space:nowrap'>{html.escape(str(c))}</td>" for c in row)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# setting controls --------------------------------------------------------------------------------
def setting_controls(owner: traitlets.HasTraits, names: Iterable[str] | None = None
                     ) -> dict[str, widgets.Widget]:
    """One bound control per setting of ``owner`` that asks for one (``control=True``)."""
    chosen = list(names) if names is not None else owner.trait_names(setting=True, control=True)
    return {name: bound_control(owner, name) for name in chosen}


READOUT = ".4"  # d3-format without a type is ~g: whole values read whole ("25", not "25.00"), "0.7"


def bound_control(owner: traitlets.HasTraits, name: str) -> widgets.Widget:
    """A control for trait ``name`` of ``owner``, from its metadata, bound both ways."""
    trait = owner.traits()[name]
    meta = trait.metadata
    label, low, high, step = meta.get("label", name), meta.get("low"), meta.get("high"), meta.get("step")
    style = {"description_width": LABEL_WIDTH}
    value = getattr(owner, name)
    if isinstance(trait, traitlets.Bool):
        control: widgets.Widget = widgets.Checkbox(value, description=label, indent=False)
    elif isinstance(trait, traitlets.Float):
        control = widgets.FloatSlider(value, min=low if low is not None else 0.0,
                                      max=high if high is not None else 1.0, step=step or 0.01,
                                      description=label, style=style, continuous_update=False,
                                      readout_format=READOUT)
    elif isinstance(trait, traitlets.Int):
        control = widgets.IntSlider(value or 0, min=int(low or 0),
                                    max=int(high or DEFAULT_SLIDER_MAX), step=int(step or 1),
                                    description=label, style=style, continuous_update=False)
    elif isinstance(trait, traitlets.Enum):
        control = widgets.ToggleButtons(options=list(trait.values), value=value, style=style)
    else:
        control = widgets.Text(value, description=label, style=style,
                               layout=widgets.Layout(width="auto"))
    control.tooltip = trait.help or None
    bind(control, owner, name)
    return control


def bind(control: widgets.Widget, owner: traitlets.HasTraits, name: str) -> None:
    """``control.value`` <-> ``owner.name``; a slider widens to a value beyond its range first,
    so binding never clamps (and so never changes) the setting."""
    def to_control(value: Any) -> None:
        if value is None:
            return
        if hasattr(control, "max") and value > control.max:
            control.max = value
        if hasattr(control, "min") and value < control.min:
            control.min = value
        if control.value != value:
            try:
                control.value = value
            except traitlets.TraitError:  # not offered yet (a chooser whose options come later)
                pass

    def to_owner(change: dict[str, Any]) -> None:
        if getattr(owner, name) != change["new"]:
            try:
                setattr(owner, name, change["new"])
            except traitlets.TraitError:  # out of the model's range: the control goes back
                to_control(getattr(owner, name))

    to_control(getattr(owner, name))
    owner.observe(lambda change: to_control(change["new"]), name)
    control.observe(to_owner, "value")


def set_slider_max(control: widgets.Widget, high: float) -> None:
    """Bound a slider (a model's context bounds max_new_tokens), keeping its value in range."""
    if hasattr(control, "max") and high > 0:
        if control.value > high:
            control.value = high
        control.max = high
