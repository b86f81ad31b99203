"""LoRA strength sliders (``LoraMixer``) and the views that compare strengths.

A mixer is given to ``Chat``, ``VisionChat`` or ``ImageGenerator`` as ``adapters=``: the session
registers every adapter once, when its pipeline is built, and the mixer's sliders set the session's
``adapters`` trait, read at each generation: moving a slider costs one changed argument, never a
rebuild.

Comparison views, both driven through the public API of the widget they compare (same pipeline,
lock and settings):
- ``lora_grid(generator, prompt, strengths=..., adapter=..., blend=...)``: the same prompt and seed
  across a row of strengths of one adapter (other adapters off), or a table of two adapters
  blended (rows: ``adapter``'s strength, columns: ``blend``'s).
- ``lora_compare(chat, prompt)``: one question answered with no adapter and with the chat's current
  mix (or ``adapters={name: strength}``), side by side, outside the chat's history.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from ovnb.errors import OvnbError
from ovnb.lora import AdapterSet
from ovnb.widgets.render import READOUT, error_html, grey, markdown_html, png

RANGE, WIDE_RANGE = (0.0, 1.0), (-1.0, 2.0)
STEP = 0.05
GRID_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


class LoraMixer(widgets.VBox):
    """One row per LoRA adapter: its name, an enable box and a strength slider.

    ``adapters``: files (a list), a dict file -> starting strength, or ``ovnb.adapters(model_id)``.
    Sliders go 0..1; ``wide=True`` gives -1..2 (negative strengths push away from the adapter's
    style, over 1 exaggerates it). A strength outside the range widens that slider to fit.
    """

    strengths = traitlets.Dict(help="adapter file -> strength now (disabled adapters: 0)")

    def __init__(self, adapters: Any, wide: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adapter_set = AdapterSet(adapters)
        self.wide = wide
        low, high = WIDE_RANGE if wide else RANGE
        self._boxes: dict[Path, widgets.Checkbox] = {}
        self._sliders: dict[Path, widgets.FloatSlider] = {}
        for path, strength in self.adapter_set.initial.items():
            self._boxes[path] = widgets.Checkbox(True, description=self.name(path), indent=False,
                                                 tooltip=str(path),
                                                 layout=widgets.Layout(width="180px"))
            self._sliders[path] = widgets.FloatSlider(
                strength, min=min(low, strength), max=max(high, strength), step=STEP,
                readout_format=READOUT, continuous_update=False, layout=widgets.Layout(width="320px"))
            self._boxes[path].observe(lambda _: self._sync(), "value")
            self._sliders[path].observe(lambda _: self._sync(), "value")
        title = ("<b>LoRA adapters</b> " + grey("strength · applies from the next generation, "
                                                "nothing is reloaded") if self.files
                 else grey("no LoRA adapters"))
        self.children = [widgets.HTML(title), *(widgets.HBox([self._boxes[p], self._sliders[p]])
                                                for p in self.files)]
        self._sync()

    @property
    def files(self) -> list[Path]:
        return self.adapter_set.files

    def alphas(self) -> dict[Path, float]:
        """The enabled adapters with their strengths now, in the mixer's order."""
        return {p: float(self._sliders[p].value) for p in self.files if self._boxes[p].value}

    def _sync(self) -> None:
        for path in self.files:
            self._sliders[path].disabled = not self._boxes[path].value
        enabled = self.alphas()
        self.strengths = {str(p): enabled.get(p, 0.0) for p in self.files}

    def show(self, strengths: dict[str, float]) -> None:
        """Move the sliders to ``strengths`` (file -> strength), e.g. set on a widget from code."""
        for key, strength in strengths.items():
            path = self.find(key)
            if self._boxes[path].value or strength:
                self.set(path, strength, enabled=True if strength else None)

    def set(self, adapter: str | os.PathLike[str], strength: float | None = None,
            enabled: bool | None = None) -> None:
        """Move one adapter's slider and/or tick its box, from code (by file or name)."""
        path = self.find(adapter)
        if strength is not None:
            slider = self._sliders[path]
            slider.min, slider.max = min(slider.min, strength), max(slider.max, strength)
            slider.value = strength
        if enabled is not None:
            self._boxes[path].value = enabled

    def find(self, adapter: str | os.PathLike[str]) -> Path:
        """The file of an adapter given by file or name; a clear error for one not in the mixer."""
        path = self.adapter_set.lookup(adapter)
        if path is None:
            raise OvnbError(f"no adapter {adapter} in this mixer (it has: {self.known()}): "
                            "pass it when you make the mixer")
        return path

    def known(self) -> str:
        """The adapters' names, for messages."""
        return self.adapter_set.known()

    def name(self, path: Path) -> str:
        """The short name a row shows for ``path``."""
        return self.adapter_set.names[path]

    def slider(self, adapter: str | os.PathLike[str]) -> widgets.FloatSlider:
        """The strength slider of one adapter (by file or name)."""
        return self._sliders[self.find(adapter)]

    def __repr__(self) -> str:
        rows = ", ".join(f"{self.name(p)}={a:g}" for p, a in self.alphas().items())
        return f"LoraMixer({rows})"


def mixer_for(adapters: Any) -> LoraMixer | None:
    """The mixer a widget shows for ``adapters=`` (a list or dict gets a mixer of its own)."""
    if isinstance(adapters, LoraMixer):
        return adapters if adapters.files else None
    return LoraMixer(adapters) if adapters else None


def connect(mixer: LoraMixer | None, session: traitlets.HasTraits) -> None:
    """Sliders -> ``session.adapters``, and ``session.adapters`` set from code -> sliders."""
    if mixer is None:
        return
    mixer.observe(lambda change: setattr(session, "adapters", dict(change["new"])), "strengths")
    session.observe(lambda change: mixer.show(change["new"]), "adapters")


# comparison views --------------------------------------------------------------------------------
class LoraGrid(widgets.VBox):
    """Images of one prompt and seed at several adapter strengths (see ``lora_grid``)."""

    def __init__(self, title: str, columns: list[str], rows: list[str] | None = None) -> None:
        super().__init__()
        self.images: dict[tuple[float, ...], Any] = {}  # strengths -> PIL image
        self.last_error = ""
        self.cells: dict[tuple[int, int], widgets.Image] = {}
        self._error = widgets.HTML()
        cells: list[widgets.Widget] = [widgets.HTML("")] if rows else []
        cells += [widgets.HTML(f"<b>{html.escape(c)}</b>") for c in columns]
        for r, row in enumerate(rows or [None]):
            if row is not None:
                cells.append(widgets.HTML(f"<b>{html.escape(row)}</b>"))
            for c in range(len(columns)):
                self.cells[r, c] = widgets.Image(format="png", layout=widgets.Layout(
                    width="100%", max_width="160px", margin="0"))  # a margin would overflow
                cells.append(self.cells[r, c])
        # columns of up to 160 px that shrink together in a narrow output area (a grid is a
        # table: its columns must not wrap under each other)
        template = ("max-content " if rows else "") + f"repeat({len(columns)}, minmax(0, 164px))"
        grid = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns=template,
                                                           grid_gap="4px"))
        self.children = [widgets.HTML(title), grid, self._error]

    def show(self, row: int, column: int, image: Any) -> None:
        self.cells[row, column].value = png(image)

    def fail(self, error: str) -> None:
        self.last_error = error
        self._error.value = error_html(error)


def mixer_of(widget: Any) -> LoraMixer:
    """The mixer of a pipeline widget made with adapters; a clear error for one made without."""
    mixer = getattr(getattr(widget, "view", widget), "mixer", None)
    if mixer is None or not mixer.files:
        raise OvnbError(f"this {type(widget).__name__} has no LoRA adapters: make it with "
                        "adapters=ovnb.LoraMixer(ovnb.adapters(model_id)) or a list of files")
    return mixer


def lora_grid(generator: Any, prompt: str, strengths: Any = GRID_STRENGTHS,
              adapter: str | os.PathLike[str] | None = None,
              blend: str | os.PathLike[str] | None = None, **opts: Any) -> LoraGrid:
    """The same prompt and seed at each strength of ``adapter`` (its first adapter by default).

    With ``blend`` (a second adapter), a table: rows are ``adapter``'s strengths, columns
    ``blend``'s. Other adapters are off; each image runs through ``generator.generate`` (the same
    pipeline, lock and settings, ``opts`` overriding them), so nothing is rebuilt, and each image
    also joins the generator's gallery with its strengths in the caption. Blocks until done;
    returns the grid widget (``.images`` maps strengths to PIL images).
    """
    mixer = mixer_of(generator)
    first = mixer.find(adapter) if adapter is not None else mixer.files[0]
    second = mixer.find(blend) if blend is not None else None
    values = [float(s) for s in strengths]
    seed = opts.pop("rng_seed", generator.rng_seed)
    off = {path: 0.0 for path in mixer.files}
    if second == first:
        raise OvnbError("blend needs a second adapter, not the same one twice")
    rows = [f"{mixer.name(first)} {s:g}" for s in values] if second else None
    columns = [f"{mixer.name(second or first)} {s:g}" for s in values]
    others = " · other adapters off" if len(mixer.files) > 1 + bool(second) else ""
    grid = LoraGrid(f"<b>{html.escape(prompt)}</b> " + grey(f"· seed {seed}{others}"), columns, rows)
    cells = [((r, c), {first: a, second: b}) for r, a in enumerate(values)
             for c, b in enumerate(values)] if second else \
        [((0, c), {first: a}) for c, a in enumerate(values)]
    for (row, column), chosen in cells:
        image = generator.generate(prompt, adapters={**off, **chosen}, rng_seed=seed, **opts)
        if image is None:
            grid.fail(generator.last_error or "stopped: the grid is incomplete")
            break
        grid.images[tuple(chosen.values())] = image
        grid.show(row, column, image)
    return grid


class LoraComparison(widgets.VBox):
    """One question answered without adapters and with them, side by side (see ``lora_compare``)."""

    def __init__(self, prompt: str, label: str) -> None:
        super().__init__()
        self.prompt, self.label = prompt, label
        self.answers: dict[str, str] = {}
        self.last_error = ""
        self._error = widgets.HTML()
        self.columns: dict[str, widgets.HTML] = {}
        self.titles: dict[str, widgets.HTML] = {}
        boxes = []
        for side, title in (("without", "no adapter"), ("with", label)):
            self.columns[side] = widgets.HTML()
            self.titles[side] = widgets.HTML(f"<b>{html.escape(title)}</b>")
            boxes.append(widgets.VBox([self.titles[side], self.columns[side]],
                                      layout=widgets.Layout(width="50%")))
        self.children = [widgets.HTML(f"🧑 {html.escape(prompt)}"), widgets.HBox(boxes),
                         self._error]

    def show(self, side: str, text: str, live: bool = False) -> None:
        self.columns[side].value = markdown_html(text + ("▌" if live else ""))

    def fail(self, error: str) -> None:
        self.last_error = error
        self._error.value = error_html(error)


def lora_compare(chat: Any, prompt: str, adapters: dict[Any, float] | None = None) -> LoraComparison:
    """Ask ``chat``'s model ``prompt`` twice: with no adapter, and with ``adapters`` (file or name
    -> strength; default: the chat's mixer as it is now). Side by side, streaming.

    A fresh conversation (the chat's system prompt, none of its history, which stays untouched),
    the chat's settings, on its pipeline and under its lock. Blocks until both answers are in.
    """
    session = getattr(chat, "session", None)
    if not hasattr(session, "answer"):
        raise OvnbError("lora_compare takes an ovnb.Chat (for images, use ovnb.lora_grid)")
    mixer = mixer_of(chat)
    chosen = mixer.adapter_set.resolve(adapters) if adapters is not None else mixer.alphas()
    label = " + ".join(f"{mixer.name(p)} {a:g}" for p, a in chosen.items() if a) or "no adapter"
    view = LoraComparison(prompt, label)
    question = [{"role": "user", "content": prompt}]
    for side, alphas in (("without", {}), ("with", chosen)):
        answer = session.answer(question, adapters=alphas,
                                on_text=lambda text, s=side: view.show(s, text, live=True))
        if session.last_error:
            view.fail(session.last_error)
            break
        view.answers[side] = answer
        view.show(side, answer)
    return view
