"""Every widget fits its cell and can be read, in JupyterLab's light and dark themes, wide and narrow.

One notebook, written here, shows each contract subject (every family's first widget on its tiny
model, and the composed ones: ``tests/contract/subjects.py``) after one call and with its Settings
open, so each shows a result and all its controls as a learner sees them. The page is then laid out at two widths and in both themes, and for
each widget the browser's own layout is read:
- fit: no box in the widget, nor its output area, holds content wider than itself (which shows as
  a horizontal scrollbar, or as content cut off: a label ending in "..."); text fields, whose
  text scrolls inside them, are left out, and so are boxes that let content show past them
  (overflow visible: it neither scrolls nor is cut there, and counts at the box that clips it);
- pickers: at the wide width, each media picker row (upload, samples, remove, path box) is one
  line; at the narrow one, its upload, samples and remove still are (the path box may wrap);
- contrast: every piece of visible text has a contrast ratio of at least 4.5:1 (3:1 for large
  text) against the background it is drawn on (WCAG AA), from the computed styles, ipywidgets'
  own styles included;
- choices: no dropdown cuts its chosen text short while the line it sits on has room beside it
  (a model picker's model once took 60% of a narrow cell: "HuggingFaceT" beside 200 free px).
Some scenes are put in a state first (``put_in_state``): the Speaker's player is moved into its second
sentence, which must then be the one lit; the sources under a RAG answer are unfolded.
Screenshots of each widget in each theme and width go to artifacts/screenshots/fit-*.png.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ovnb.families import FAMILIES
from tests.browser.conftest import REPO, SCREENSHOTS, Lab, open_and_run
from tests.contract.subjects import SUBJECTS

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (setup.sh)")
pytestmark = pytest.mark.browser

GALLERY = "fit-gallery.ipynb"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
WIDTHS = (1280, 700)  # the default window, and a narrow one (a side-by-side window, a laptop)
RUN_ALL_TIMEOUT_MS = 600_000

# For the widget in `root`: what reaches past its output area, and text below AA contrast.
MEASURE = """(root) => {
  const area = root.closest('.jp-OutputArea-output') || root;
  const FORM = ['INPUT', 'TEXTAREA', 'SELECT'];  // text longer than a field scrolls inside it
  const name = (e) => e.tagName.toLowerCase() + [...e.classList].slice(0, 3).map(c => '.' + c).join('');
  const visible = (e) => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && parseFloat(s.opacity) > 0.05; };
  const overflow = [];  // a box whose content is wider than it: a scrollbar, or content cut off
  for (const e of [area, root, ...root.querySelectorAll('*')]) {
    if (!(e instanceof HTMLElement) || !visible(e) || FORM.includes(e.tagName)) continue;
    // a box that lets its content show past it (overflow visible: a slider's handle at its end)
    // neither scrolls nor cuts; whatever it shows past a box that does is counted there
    if (e !== area && getComputedStyle(e).overflowX === 'visible') continue;
    if (e.scrollWidth > e.clientWidth + 1) {
      const left = e.getBoundingClientRect().left, kids = [...e.children].filter(visible);
      const widest = kids.sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)[0];
      const reach = widest ? ` (furthest: ${name(widest)} to ${Math.round(widest.getBoundingClientRect().right - left)})` : '';
      overflow.push(`${name(e)}: ${e.scrollWidth} px of content in ${e.clientWidth}${reach}`);
    }
  }
  const rgba = (text) => {  // "rgb(r, g, b)", "rgba(r, g, b, a)", or color-mix's "color(srgb r g b / a)"
    const m = (text.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number), unit = text.startsWith('color(') ? 255 : 1;
    return [m[0] * unit, m[1] * unit, m[2] * unit, m.length > 3 ? m[3] : 1]; };
  const luminance = ([r, g, b]) => { const c = [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
  const over = (top, under) => { const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const background = (e) => {  // the colour text of `e` is drawn on: its boxes' backgrounds, blended
    const layers = [];
    for (let p = e; p; p = p.parentElement) {
      const c = rgba(getComputedStyle(p).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let colour = [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const contrast = [];
  const texts = [root, ...root.querySelectorAll('*')].filter(e => visible(e) &&
    ([...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
     || (FORM.includes(e.tagName) && (e.value || '').trim())));
  for (const e of texts) {
    const s = getComputedStyle(e);
    if (e.closest('canvas, img, video, svg')) continue;
    const bg = background(e), fg = over(rgba(s.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) contrast.push(`${name(e)} "${(e.value || e.textContent).trim().slice(0, 30)}" `
      + `${ratio.toFixed(2)}:1 (${s.color} on rgb(${bg.slice(0, 3).map(Math.round)}))`);
  }
  // a slider's readout of a whole value with decimals ("25.00"): integers read as integers
  const readouts = [...root.querySelectorAll('.widget-readout')].filter(visible)
    .map(e => (e.value ?? e.textContent).trim()).filter(t => /^-?\\d+\\.0+$/.test(t))
    .map(t => `a slider reads ${t}`);
  // a dropdown that cuts its choice short while its line has room beside it (it could be wider)
  const ruler = document.createElement('canvas').getContext('2d');
  const cut = [...root.querySelectorAll('select')].filter(s => visible(s) && s.selectedOptions.length)
    .filter(s => { const st = getComputedStyle(s), text = s.selectedOptions[0].text;
      ruler.font = `${st.fontSize} ${st.fontFamily}`;
      if (ruler.measureText(text).width <= s.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight)) return false;
      const box = s.closest('.widget-dropdown') || s, row = box.parentElement;
      const b = box.getBoundingClientRect(), r = row.getBoundingClientRect();
      const beside = [...row.children].filter(k => k !== box && visible(k)).some(k => {
        const o = k.getBoundingClientRect(); return o.left >= b.right - 1 && o.top < b.bottom && o.bottom > b.top; });
      return !beside && r.right - b.right > 40; })
    .map(s => `a dropdown cuts "${s.selectedOptions[0].text}" short in ${s.clientWidth} px, with room beside it`);
  return {overflow: [...new Set(overflow)], contrast: [...new Set(contrast)], readouts, cut};
}"""
# For the widget in `root`: its media picker rows (upload, samples, remove, path box) that do
# not sit on one line; where the page is narrow (`narrow`), the path box may wrap under the rest.
PICKER_LINES = """(root, narrow) => [...root.querySelectorAll('.ovnb-picker')].filter(row => row.offsetParent)
  .map(row => [...row.children].filter(e => e.offsetParent && !(narrow && e.classList.contains('ovnb-path')))
    .map(e => e.getBoundingClientRect()))
  .filter(boxes => Math.max(...boxes.map(b => b.top)) >= Math.min(...boxes.map(b => b.bottom)))
  .map(boxes => `a picker row wraps: tops ${boxes.map(b => Math.round(b.top))}`)"""
# For a Batch view: the answer cards narrower than the widget holding them, as "card n: w of W"
CARDS_FILL = """(root) => [...root.querySelectorAll('.ovnb-answer')].map((card, n) => [n,
  card.getBoundingClientRect().width, card.closest('.jupyter-widgets').getBoundingClientRect().width])
  .filter(([n, w, cell]) => w < cell - 1).map(([n, w, cell]) => `card ${n}: ${w} of ${cell}`)"""
CHANGE_THEME = """async (theme) => {
  await window.jupyterapp.commands.execute('apputils:change-theme', {theme});
}"""
THEME_IS = """(theme) => document.body.dataset.jpThemeName === theme"""
# resolves once two frames were laid out: the theme's styles applied to every widget
TWO_FRAMES = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"""
ERRORS = """() => {
  const model = window.jupyterapp.shell.currentWidget.content.model, errors = [];
  for (let i = 0; i < model.cells.length; i++)
    for (const out of model.cells.get(i).toJSON().outputs || [])
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
  return errors;
}"""


SPOKEN = ["The seals rest on the sandbank.", "Herons nest on the north jetty.",
          "Crabs hide in the rock pools.", "The station opens at nine."]


# Widgets in states the subjects' calls do not show, each made in the gallery's kernel (``cache``,
# ``F32`` and ``ovnb`` are there): choices made by code, shown in the pickers; passages found.
SCENES = {
    "vision-chat-chosen": "widget = ovnb.VisionChat(ovnb.prepare('tiny-vlm', cache_dir=cache), "
                          "properties=F32)\nwidget.wait_loaded()\n"
                          "widget.choose(ovnb.images.samples()['house'])",
    "omni-chosen": "widget = ovnb.Omni(ovnb.prepare('tiny-qwen3-omni', cache_dir=cache), "
                   "properties=F32)\nwidget.wait_loaded()\n"
                   "widget.choose(ovnb.images.samples()['sailboat'])\n"
                   "widget.choose_audio(ovnb.audio.SAMPLE)",
    "retriever-passages": "widget = ovnb.Retriever(ovnb.Embedder(ovnb.prepare('tiny-embed', "
                          "cache_dir=cache), properties=F32), k=3)\n"
                          "widget.add(ovnb.passages.sample() / 'wildlife.md')\n"
                          "widget.add(ovnb.passages.sample() / 'visiting.md')\n"
                          "widget.search('where do the seals rest?')",
    "speaker-sentences": "widget = ovnb.Speaker(ovnb.prepare('tiny-speecht5', cache_dir=cache), "
                         "properties=F32)\nwidget.wait_loaded()\n"
                         f"widget.speak({' '.join(SPOKEN)!r})",
    "model-picker": "widget = ovnb.ModelPicker('chat', cache_dir=cache, "
                    "value='HuggingFaceTB/SmolLM2-135M-Instruct')",
    "rag-answer": "retriever = ovnb.Retriever(ovnb.Embedder(ovnb.prepare('tiny-embed', "
                  "cache_dir=cache), properties=F32), k=3)\n"
                  "retriever.add(ovnb.passages.sample() / 'visiting.md')\n"
                  "retriever.add([('rules.md', '# Rules\\n- keep fifty metres from the seals\\n"
                  "- turn stones back\\n- no dogs in the fern house')])\n"
                  "widget = ovnb.Chat(ovnb.prepare('tiny-llm', cache_dir=cache), properties=F32, "
                  "retriever=retriever, max_new_tokens=8)\nwidget.wait_loaded()\n"
                  "widget.send('Where do the seals rest?')",
}
# The Speaker's player moved into its second sentence (``words.js`` lights the one at the
# playhead); what is lit then.
SECOND_SENTENCE = """async (root) => {
  const audio = root.querySelector('audio'), span = root.querySelectorAll('.ovnb-words span')[1];
  if (audio.readyState < 1)
    await new Promise(done => audio.addEventListener('loadedmetadata', done, {once: true}));
  const [start, end] = span.title.split('–').map(parseFloat);
  const seeked = new Promise(done => audio.addEventListener('seeked', done, {once: true}));
  audio.currentTime = (start + end) / 2;
  await seeked;
  return [...root.querySelectorAll('.ovnb-now')].map(s => s.textContent);
}"""
UNFOLD_SOURCES = """(root) => { const folds = root.querySelectorAll('.ovnb-sources details');
  folds.forEach(d => { d.open = true; }); return folds.length; }"""


def write_gallery(path: Path) -> None:
    """A notebook showing every contract subject after its call, each view marked fit-<name>."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("# Every widget, after one call"),
             nbformat.v4.new_code_cell(
                 f"import os, sys\nsys.path.insert(0, {str(REPO)!r})\nfrom pathlib import Path\n"
                 "from tests.contract.subjects import SUBJECTS\n"
                 "cache = Path(os.environ['OVNB_CACHE'])\nmade = {}\n\n\n"
                 "def open_folds(widget):  # every Settings fold open, as a learner opens it\n"
                 "    if hasattr(widget, 'selected_index') and hasattr(widget, 'titles'):\n"
                 "        widget.selected_index = 0\n"
                 "    for child in getattr(widget, 'children', ()):\n"
                 "        open_folds(child)")]
    for i, subject in enumerate(SUBJECTS):
        cells.append(nbformat.v4.new_code_cell(
            f"subject = SUBJECTS[{i}]  # {subject.name}\n"
            "widget = made[subject.name] = subject.make(cache)\n"
            "widget.wait_loaded()\nsubject.call(widget)\nopen_folds(widget.view)\n"
            f"widget.view.add_class('fit-{subject.name}')\nwidget"))
    cells.append(nbformat.v4.new_code_cell(
        "import ovnb, ovnb.audio, ovnb.images, ovnb.passages\n"
        "F32 = {'INFERENCE_PRECISION_HINT': 'f32'}"))
    for name, code in SCENES.items():
        cells.append(nbformat.v4.new_code_cell(
            f"{code}\ngetattr(widget, 'view', widget).add_class('fit-{name}')\nwidget"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def gallery(browser: Any, lab: Lab, cache: Path) -> Iterator[Any]:
    """A page with the gallery run: every widget shown after its call."""
    import ovnb

    for model in {"tiny-llm-draft", "tiny-embed"} | {family.tiny for family in FAMILIES}:
        ovnb.prepare(model, cache_dir=cache)  # before the kernel asks: the notebook never exports
    write_gallery(lab.root / GALLERY)
    page, context, _ = open_and_run(browser, lab, GALLERY, RUN_ALL_TIMEOUT_MS, settle_ms=120_000,
                                    step_ms=60_000)
    assert page.evaluate(ERRORS) == []
    yield page
    context.close()


def laid_out(page: Any, theme: str, width: int) -> None:
    """The page in ``theme`` at ``width`` css pixels, once JupyterLab has restyled it."""
    page.set_viewport_size({"width": width, "height": 2400})  # tall: whole widgets in shots
    page.evaluate(CHANGE_THEME, THEMES[theme])
    page.wait_for_function(THEME_IS, arg=THEMES[theme])
    page.evaluate(TWO_FRAMES)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("theme", THEMES)
def test_every_widget_fits_and_reads(gallery: Any, theme: str, width: int) -> None:
    laid_out(gallery, theme, width)
    found = {}
    for name in [subject.name for subject in SUBJECTS] + list(SCENES):
        view = gallery.locator(f".fit-{name}").first
        view.scroll_into_view_if_needed()
        put_in_state(view, name)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(SCREENSHOTS / f"fit-{theme}-{width}-{name}.png"))
        faults = view.evaluate(MEASURE)
        faults["pickers"] = view.evaluate(PICKER_LINES, width < max(WIDTHS))
        faults = {k: v for k, v in faults.items() if v}
        if faults:
            found[name] = faults
    assert not found, json.dumps(found, indent=1)


def put_in_state(view: Any, name: str) -> None:
    """The states some scenes are shown in: the Speaker playing its second sentence, a RAG answer's
    sources unfolded; each checked, so a screenshot shows what it claims. And a Batch's cards
    fill their cells (they once took an image thumbnail's width, 136 px)."""
    if name == "speaker-sentences":
        assert view.evaluate(SECOND_SENTENCE) == [SPOKEN[1]]  # the sentence at the playhead is lit
    elif name == "batch":  # each answer's card fills its cell of the grid (not a thumbnail's width)
        assert view.locator(".ovnb-answer").count() and view.evaluate(CARDS_FILL) == []
    elif name == "rag-answer":
        assert view.evaluate(UNFOLD_SOURCES) == 3
        view.evaluate(TWO_FRAMES)
