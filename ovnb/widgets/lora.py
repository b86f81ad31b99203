"""LoRA strength sliders (``LoraMixer``) and the views that compare strengths.

A mixer is given to ``Chat``, ``VisionChat`` or ``ImageGenerator`` as ``adapters=``: the widget
registers every adapter once, when its pipeline is built, and each generation reads the mixer's
current values, so moving a slider costs one changed argument, never a rebuild.

Comparison views, both driven through the widget they compare (same lock, same settings):
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

from ovnb import lora
from ovnb.errors import OvnbError
from ovnb.runtime import Loaded, Outcome, TextSink
from ovnb.widgets.base import ErrorLine

RANGE, WIDE_RANGE = (0.0, 1.0), (-1.0, 2.0)
STEP = 0.05
GRID_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


class LoraMixer(widgets.VBox):
    """One row per LoRA adapter: its name, an enable box and a strength slider.

    ``adapters``: files (a list), a dict file -> starting strength, or ``ovnb.adapters(model_id)``.
    Sliders go 0..1; ``wide=True`` gives -1..2 (negative strengths push away from the adapter's
    style, over 1 exaggerates it). A strength outside the range widens that slider to fit.
    """

    def __init__(self, adapters: list[Any] | dict[Any, float] | tuple[Any, ...], wide: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        given = strengths_of(adapters)
        self.wide = wide
        self.files: list[Path] = list(given)
        self._names = _short_names(self.files)
        low, high = WIDE_RANGE if wide else RANGE
        self._boxes: dict[Path, widgets.Checkbox] = {}
        self._sliders: dict[Path, widgets.FloatSlider] = {}
        for path, strength in given.items():
            self._boxes[path] = widgets.Checkbox(True, description=self._names[path], indent=False,
                                                 tooltip=str(path),
                                                 layout=widgets.Layout(width="180px"))
            self._sliders[path] = widgets.FloatSlider(
                strength, min=min(low, strength), max=max(high, strength), step=STEP,
                readout_format=".2f", continuous_update=False, layout=widgets.Layout(width="320px"))
            self._boxes[path].observe(lambda change, p=path: self._sync_row(p), "value")
        title = ("<b>LoRA adapters</b> <span style='color:#555'>strength · applies from the next "
                 "generation, nothing is reloaded</span>" if self.files
                 else "<span style='color:#555'>no LoRA adapters</span>")
        self.children = [widgets.HTML(title), *(widgets.HBox([self._boxes[p], self._sliders[p]])
                                                for p in self.files)]

    def alphas(self) -> dict[Path, float]:
        """The enabled adapters with their strengths now, in the mixer's order."""
        return {p: float(self._sliders[p].value) for p in self.files if self._boxes[p].value}

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
        path = self.lookup(adapter)
        if path is None:
            raise OvnbError(f"no adapter {adapter} in this mixer (it has: {self.known()}): "
                            "pass it when you make the mixer")
        return path

    def lookup(self, adapter: str | os.PathLike[str]) -> Path | None:
        """The file of an adapter given by file or name, None if the mixer has no such adapter."""
        for path in self.files:
            if str(adapter) in (str(path), self._names[path], path.stem) or Path(adapter) == path:
                return path
        return None

    def known(self) -> str:
        """The adapters' names, for messages."""
        return ", ".join(self._names.values()) or "none"

    def name(self, path: Path) -> str:
        """The short name a row shows for ``path``."""
        return self._names[path]

    def slider(self, adapter: str | os.PathLike[str]) -> widgets.FloatSlider:
        """The strength slider of one adapter (by file or name)."""
        return self._sliders[self.find(adapter)]

    def _sync_row(self, path: Path) -> None:
        self._sliders[path].disabled = not self._boxes[path].value

    def __repr__(self) -> str:
        rows = ", ".join(f"{self._names[p]}={a:g}" for p, a in self.alphas().items())
        return f"LoraMixer({rows})"


def strengths_of(adapters: Any) -> dict[Path, float]:
    """``{file: strength}`` from a list of files (strength 1), a dict, or a mixer's current values."""
    if adapters is None:
        return {}
    if isinstance(adapters, LoraMixer):
        return adapters.alphas()
    if isinstance(adapters, (str, os.PathLike)):
        adapters = [adapters]
    if isinstance(adapters, dict):
        return {Path(p): float(a) for p, a in adapters.items()}
    return {Path(p): 1.0 for p in adapters}


def _short_names(files: list[Path]) -> dict[Path, str]:
    """File stems, with the folder name added where two files share a stem."""
    stems = [p.stem for p in files]
    return {p: p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}/{p.stem}" for p in files}


class Adapters:
    """A pipeline widget's adapters: registered once at build, strengths read at each call.

    Built from whatever ``adapters=`` a widget got; a list or dict becomes a mixer of its own, so
    every widget with adapters shows sliders.
    """

    def __init__(self, given: Any) -> None:
        if isinstance(given, LoraMixer) or not given:
            self.mixer: LoraMixer | None = given or None
        else:
            self.mixer = LoraMixer(given)

    @property
    def files(self) -> list[Path]:
        return list(self.mixer.files) if self.mixer else []

    def __bool__(self) -> bool:
        return bool(self.files)

    def key(self) -> tuple[str, ...]:
        """Part of the shared pipeline's key: pipelines built with other adapters differ."""
        return tuple(sorted(str(p) for p in self.files))

    def alphas(self) -> dict[Path, float]:
        return self.mixer.alphas() if self.mixer else {}

    def check(self, folder: Path, kind: str) -> None:
        """Refuse, before building anything, an adapter file that does not fit the model."""
        for path in self.files:
            lora.check_adapter(path, folder, kind)

    def resolve(self, requested: dict[Any, float]) -> dict[Path, float]:
        """Per-call strengths by file or name -> by file (only adapters given to the widget)."""
        resolved = {}
        for key, alpha in requested.items():
            path = self.mixer.lookup(key) if self.mixer else None
            if path is None:
                given = self.mixer.known() if self.mixer else "none"
                raise OvnbError(f"adapter {key} was not given when the widget was made (given: "
                                f"{given}): pass every adapter in adapters=[...] when you make it")
            resolved[path] = float(alpha)
        return resolved


# comparison views --------------------------------------------------------------------------------
class LoraGrid(widgets.VBox):
    """Images of one prompt and seed at several adapter strengths (see ``lora_grid``)."""

    def __init__(self, title: str, columns: list[str], rows: list[str] | None = None) -> None:
        super().__init__()
        self.images: dict[tuple[float, ...], Any] = {}  # strengths -> PIL image
        self.last_error = ""
        self._cells: dict[tuple[int, int], widgets.Image] = {}
        self._error = ErrorLine()
        cells: list[widgets.Widget] = [widgets.HTML("")] if rows else []
        cells += [widgets.HTML(f"<b>{html.escape(c)}</b>") for c in columns]
        for r, row in enumerate(rows or [None]):
            if row is not None:
                cells.append(widgets.HTML(f"<b>{html.escape(row)}</b>"))
            for c in range(len(columns)):
                self._cells[r, c] = widgets.Image(format="png",
                                                  layout=widgets.Layout(width="160px"))
                cells.append(self._cells[r, c])
        template = ("max-content " if rows else "") + f"repeat({len(columns)}, 164px)"
        grid = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns=template,
                                                           grid_gap="4px"))
        self.children = [widgets.HTML(title), grid, self._error]

    def _show(self, row: int, column: int, image: Any) -> None:
        from ovnb.widgets.image import png

        self._cells[row, column].value = png(image)

    def _fail(self, error: str) -> None:
        self.last_error = error
        self._error.show(error)


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
    mixer = _mixer_of(generator)
    first = mixer.find(adapter) if adapter is not None else mixer.files[0]
    second = mixer.find(blend) if blend is not None else None
    values = [float(s) for s in strengths]
    seed = opts.pop("rng_seed", generator.config.get("rng_seed"))
    off = {path: 0.0 for path in mixer.files}
    if second == first:
        raise OvnbError("blend needs a second adapter, not the same one twice")
    rows = [f"{mixer.name(first)} {s:g}" for s in values] if second else None
    columns = [f"{mixer.name(second or first)} {s:g}" for s in values]
    others = " · other adapters off" if len(mixer.files) > 1 + bool(second) else ""
    grid = LoraGrid(f"<b>{html.escape(prompt)}</b> <span style='color:#555'>· seed {seed}{others}"
                    "</span>", columns, rows)
    cells = [((r, c), {first: a, second: b}) for r, a in enumerate(values)
             for c, b in enumerate(values)] if second else \
        [((0, c), {first: a}) for c, a in enumerate(values)]
    for (row, column), chosen in cells:
        image = generator.generate(prompt, adapters={**off, **chosen}, rng_seed=seed, **opts)
        if image is None:
            grid._fail(generator.last_error or "stopped: the grid is incomplete")
            break
        grid.images[tuple(chosen.values())] = image
        grid._show(row, column, image)
    return grid


class LoraComparison(widgets.VBox):
    """One question answered without adapters and with them, side by side (see ``lora_compare``)."""

    def __init__(self, prompt: str, label: str) -> None:
        super().__init__()
        self.prompt, self.label = prompt, label
        self.answers: dict[str, str] = {}
        self.last_error = ""
        self._error = ErrorLine()
        self._columns: dict[str, widgets.Output] = {}
        self._titles: dict[str, widgets.HTML] = {}
        boxes = []
        for side, title in (("without", "no adapter"), ("with", label)):
            self._columns[side] = widgets.Output()
            self._titles[side] = widgets.HTML(f"<b>{html.escape(title)}</b>")
            boxes.append(widgets.VBox([self._titles[side], self._columns[side]],
                                      layout=widgets.Layout(width="50%")))
        self.children = [widgets.HTML(f"🧑 {html.escape(prompt)}"), widgets.HBox(boxes),
                         self._error]

    def _show(self, side: str, text: str, live: bool = False) -> None:
        from ovnb.widgets.chat import markdown_output

        self._columns[side].outputs = markdown_output(text + ("▌" if live else ""))


def lora_compare(chat: Any, prompt: str, adapters: dict[Any, float] | None = None) -> LoraComparison:
    """Ask ``chat``'s model ``prompt`` twice: with no adapter, and with ``adapters`` (file or name
    -> strength; default: the chat's mixer as it is now). Side by side, streaming.

    A fresh conversation (the chat's system prompt, none of its history, which stays untouched),
    the chat's settings, on its pipeline and under its lock. Blocks until both answers are in.
    """
    from ovnb.widgets.chat import Chat

    if not isinstance(chat, Chat):
        raise OvnbError("lora_compare takes an ovnb.Chat (for images, use ovnb.lora_grid)")
    mixer = _mixer_of(chat)
    chosen = chat._adapters.resolve(adapters) if adapters is not None else mixer.alphas()
    label = " + ".join(f"{mixer.name(p)} {a:g}" for p, a in chosen.items() if a) or "no adapter"
    view = LoraComparison(prompt, label)

    def work(loaded: Loaded) -> dict[str, str]:
        for side, alphas in (("without", {}), ("with", chosen)):
            view.answers[side] = _answer(chat, loaded, prompt, alphas,
                                         lambda text, s=side: view._show(s, text, live=True))
            view._show(side, view.answers[side])
        return view.answers

    def done(outcome: Outcome) -> None:
        chat._sink = None
        if not outcome.ok:
            view.last_error = outcome.error or "error"
            view._error.show(view.last_error, outcome.details)

    outcome = chat._wait(chat._start(work, done, queue=True))
    if not outcome.ok and not view.last_error:
        view.last_error = outcome.error or "error"
        view._error.show(view.last_error)
    return view


def _answer(chat: Any, loaded: Loaded, prompt: str, alphas: dict[Path, float],
            show: Any) -> str:
    """One greedy-or-as-set answer of ``chat``'s pipeline to ``prompt`` alone, streamed to ``show``."""
    import openvino_genai as ov_genai

    history = ov_genai.ChatHistory()
    for message in [*chat._system_message(), {"role": "user", "content": prompt}]:
        history.append(message)
    sink = TextSink(show)
    chat._sink = sink  # the chat's Stop button stops this answer too
    result = loaded.pipe.generate(history, chat._generation_config(loaded), sink,
                                  **lora.call_kwargs(loaded, alphas))
    return result.texts[0]


def _mixer_of(widget: Any) -> LoraMixer:
    """The mixer of a pipeline widget made with adapters; a clear error for one made without."""
    adapters = getattr(widget, "_adapters", None)
    mixer = adapters.mixer if isinstance(adapters, Adapters) else None
    if mixer is None or not mixer.files:
        raise OvnbError(f"this {type(widget).__name__} has no LoRA adapters: make it with "
                        "adapters=ovnb.LoraMixer(ovnb.adapters(model_id)) or a list of files")
    return mixer
