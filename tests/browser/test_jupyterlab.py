"""The notebooks and widgets in a real JupyterLab in a real browser, as a learner uses them.

Each notebook is opened once and run with "Run All Cells"; the tests then read the page the way a
person does: widgets rendered, a prompt typed and sent, an answer streaming in and finishing, Stop
pressed during a long answer. Screenshots go to artifacts/screenshots/.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import (
    EDIT_BRUSH,
    FIXTURE_NOTEBOOK,
    REPO,
    SCREENSHOTS,
    Lab,
    has_image_widget,
    has_mask_painter,
    open_and_run,
    series_notebook,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (setup.sh)")
expect = sync_api.expect
pytestmark = pytest.mark.browser

INDEX_NOTEBOOK = "00-index.ipynb"
# ipywidgets' texts for a view that failed, or never got its model
BROKEN_VIEW_TEXTS = ("Error displaying widget", "Loading widget...")
RUN_ALL_TIMEOUT_MS = 150_000
# the status line of a pipeline widget still loading, or failed to load (ovnb.widgets.base)
LOADING = re.compile(r"loading .*…|not loaded")
GALLERY_SIZE = 8  # ovnb.widgets.image keeps this many thumbnails
ANSWER_TOKENS = 600  # tiny-llm never ends a reply itself: about 0.5 s of streaming here
HUMAN_PAUSE_MS = 500
# an ovnb.Chat view: the box whose own text area asks for a question
CHAT = ".widget-vbox:has(> .widget-textarea textarea[placeholder^='Ask something'])"
IMAGE = ".widget-vbox:has(> .widget-textarea textarea[placeholder^='Describe the image'])"

# The model of the open notebook: errors, cells not run, and how many widget views its outputs hold.
NOTEBOOK_STATE = """() => {
  const model = window.jupyterapp.shell.currentWidget.content.model;
  const errors = [], notRun = [];
  let views = 0;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i).toJSON();
    if (cell.cell_type !== 'code' || !cell.source.trim()) continue;
    if (cell.execution_count === null) notRun.push(i);
    for (const out of cell.outputs) {
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
      if (out.data && out.data['application/vnd.jupyter.widget-view+json']) views += 1;
    }
  }
  return {errors, notRun, views};
}"""
# widget views rendered at the top level of cell outputs
TOP_LEVEL_VIEWS = (".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output"
                   " > .jupyter-widgets")
# Run code in the open notebook's kernel (idle), outside any cell; resolves to what it printed.
RUN_IN_KERNEL = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, store_history: false, silent: false});
  let out = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error') out += `${msg.content.ename}: ${msg.content.evalue}`;
  };
  await future.done;
  return out;
}"""
# Record the lengths of the live answer (the turn being streamed) at every DOM change.
RECORD_STREAM = """(chat) => {
  const panel = chat.querySelector('.ovnb-chat-panel');
  const frames = [];
  new MutationObserver(() => {
    const live = panel.querySelector('.ovnb-live .ovnb-body');
    if (!live) return;
    const length = live.textContent.length;
    if (frames[frames.length - 1] !== length) frames.push(length);
  }).observe(panel, {subtree: true, childList: true, characterData: true});
  chat.__frames = frames;
}"""
# The conversation panel's geometry and styles, as the page lays it out.
PANEL_FACTS = """(chat) => {
  const panel = chat.querySelector('.ovnb-chat-panel');
  const style = (sel) => { const e = panel.querySelector(sel); return e && getComputedStyle(e); };
  const user = style('.ovnb-user'), model = style('.ovnb-assistant');
  return {height: panel.clientHeight, scrollHeight: panel.scrollHeight,
          bottomGap: panel.scrollHeight - panel.scrollTop - panel.clientHeight,
          maxHeight: getComputedStyle(panel).maxHeight,
          userBackground: user && user.backgroundColor, modelBackground: model && model.backgroundColor,
          userSide: user && user.alignSelf, modelSide: model && model.alignSelf,
          bodyFont: parseFloat(getComputedStyle(panel).fontSize),
          h1Font: style('.ovnb-body h1') && parseFloat(style('.ovnb-body h1').fontSize),
          notes: [...panel.querySelectorAll('.ovnb-note')].map(n => n.textContent)};
}"""


# pages -------------------------------------------------------------------------------------------
def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def notebook(browser: Any, lab: Lab) -> Iterator[Callable[[str], Any]]:
    """``notebook(name)`` -> a page with that notebook run; each notebook is opened and run once."""
    opened: dict[str, Any] = {}
    contexts: list[Any] = []

    def get(name: str) -> Any:
        if not lab.has(name):
            pytest.skip(f"notebooks/{name} is not written yet")
        if name not in opened:
            page, context, seconds = open_and_run(browser, lab, name, RUN_ALL_TIMEOUT_MS)
            contexts.append(context)
            print(f"{name}: opened and ran in {seconds:.1f} s")
            opened[name] = page
        return opened[name]

    yield get
    for name, page in opened.items():  # the last state of each page, whatever the outcome
        shot(page, f"final-{name.removesuffix('.ipynb')}")
    for context in contexts:
        context.close()


def chat_under_test() -> tuple[str, str]:
    """The notebook and selector of the chat the Send test drives: the series' 03 if written."""
    real = series_notebook("03")
    if real is not None:
        return real, CHAT
    return FIXTURE_NOTEBOOK, ".browser-short-chat"


def image_under_test() -> tuple[str, str] | None:
    """The notebook and selector of the image generator to drive: the series' 06 if written."""
    real = series_notebook("06")
    if real is not None:
        return real, IMAGE
    return (FIXTURE_NOTEBOOK, ".browser-image") if has_image_widget() else None


def shoot_views(page: Any, name: str) -> None:
    """The page with the first widget view in sight, and each top-level widget view on its own."""
    views = page.locator(TOP_LEVEL_VIEWS)
    if views.count():
        views.first.scroll_into_view_if_needed()
    shot(page, f"rendered-{name}")
    for i in range(views.count()):
        views.nth(i).screenshot(path=str(SCREENSHOTS / f"rendered-{name}-view{i + 1}.png"))


def expect_loaded(widget: Any) -> None:
    """The widget's pipeline loaded in the kernel: its status line moved past loading, no error."""
    expect(widget).not_to_contain_text(LOADING, timeout=60_000)
    expect(widget).not_to_contain_text("⚠")


# chat helpers ------------------------------------------------------------------------------------
def type_prompt(page: Any, box: Any, prompt: str) -> None:
    """Type into a text box, then pause as a person does before reaching for the button.

    ipywidgets sends a box's value updates one at a time (while one is unanswered the rest wait),
    but a button click at once: a click right after fast typing can reach the kernel before the
    last letters do (seen here: the chat got "Hello from the brows").
    """
    box.click()
    page.keyboard.type(prompt)
    page.wait_for_timeout(HUMAN_PAUSE_MS)


def send(page: Any, chat: Any, prompt: str) -> None:
    """Type ``prompt`` in the chat's box and click Send, recording the streamed answer's growth."""
    chat.evaluate(RECORD_STREAM)
    box = chat.locator(":scope > .widget-textarea textarea")
    type_prompt(page, box, prompt)
    chat.get_by_role("button", name="Send").click()
    expect(box).to_have_value("")  # the kernel took the prompt: the answer is on its way


def set_max_new_tokens(page: Any, chat: Any, count: int) -> None:
    """Open the chat's Settings and type ``count`` into the max-new-tokens slider's readout."""
    chat.get_by_text("Settings", exact=True).click()
    readout = chat.locator(".widget-slider:has(label:text-is('max new tokens')) .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(count))
    page.keyboard.press("Enter")
    expect(readout).to_have_text(str(count))
    chat.get_by_text("Settings", exact=True).click()  # fold the settings away again


def frames(chat: Any) -> list[int]:
    return chat.evaluate("(chat) => chat.__frames")


def wait_finished(chat: Any, asked: int, timeout: float = 60) -> str:
    """Wait until the chat shows ``asked`` questions (a question's turn comes with its answer, at
    the run's end) and is idle again with no live answer left; returns the chat's text. Send
    alone says nothing just after a click: a run shows busy only once it has lasted 0.1 s.
    When it is not, the kernel's side (runs, threads) is in the failure: a page alone cannot
    say whether the run hung or its end was not shown."""
    try:
        expect(chat.locator(".ovnb-user")).to_have_count(asked, timeout=timeout * 1000)
        expect(chat.get_by_role("button", name="Send")).to_be_enabled(timeout=timeout * 1000)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nin the kernel:\n{in_kernel(chat.page, KERNEL_RUNS)}") from None
    expect(chat.get_by_role("button", name="Stop")).to_be_disabled()
    expect(chat.locator(".ovnb-live")).to_have_count(0)
    return chat.inner_text()


def tokens_reported(text: str) -> int:
    """The token count the chat's metrics line shows ("... · 600 tokens")."""
    found = re.findall(r"(\d+) tokens(?!/)", text)
    assert found, f"no metrics line in the chat: {text[-300:]!r}"
    return int(found[-1])


# tests -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(dict.fromkeys([
    INDEX_NOTEBOOK, chat_under_test()[0], *(image_under_test() or ())[:1], FIXTURE_NOTEBOOK])))
def test_every_widget_view_renders(notebook: Callable[[str], Any], name: str) -> None:
    page = notebook(name)
    cells = page.locator(".jp-NotebookPanel .jp-Notebook")
    expect(cells).not_to_contain_text("Loading widget...", timeout=20_000)  # views render async
    state = page.evaluate(NOTEBOOK_STATE)
    assert state["errors"] == [] and state["notRun"] == [], state
    shown = cells.inner_text()
    for broken in BROKEN_VIEW_TEXTS:
        assert broken not in shown
    assert page.locator(TOP_LEVEL_VIEWS).count() == state["views"]
    if name != INDEX_NOTEBOOK:
        assert state["views"] >= 1
    pipelines = page.locator(f"{CHAT}, {IMAGE}")
    for i in range(pipelines.count()):  # each pipeline loaded in the kernel, and says so
        expect_loaded(pipelines.nth(i))
    shoot_views(page, name.removesuffix(".ipynb"))


def test_send_streams_an_answer_that_finishes(notebook: Callable[[str], Any]) -> None:
    name, selector = chat_under_test()
    page = notebook(name)
    chat = page.locator(selector).first
    chat.scroll_into_view_if_needed()
    set_max_new_tokens(page, chat, ANSWER_TOKENS)  # long enough to stream in several view updates
    prompt = "Hello from the browser"
    asked = chat.locator(".ovnb-user").count() + 1
    send(page, chat, prompt)
    text = wait_finished(chat, asked)
    chat.scroll_into_view_if_needed()
    shot(page, "chat-answered")
    grew = frames(chat)
    # streamed: the live answer grew through several lengths, appended to, never re-rendered
    assert len(grew) >= 3 and grew == sorted(grew), grew
    assert chat.locator(":scope > .widget-textarea textarea").input_value() == ""
    assert prompt in text and "Model" in text, text[-2500:]
    assert tokens_reported(text) == ANSWER_TOKENS  # finished: every requested token arrived
    assert "⚠" not in text
    facts = chat.evaluate(PANEL_FACTS)
    assert facts["maxHeight"] == "420px" and facts["height"] <= 420  # bounded, it scrolls
    assert facts["scrollHeight"] > facts["height"] and facts["bottomGap"] < 48  # it followed
    assert facts["userBackground"] != facts["modelBackground"]  # turns look apart
    assert (facts["userSide"], facts["modelSide"]) == ("flex-end", "flex-start")
    assert any("cut at max_new_tokens" in n for n in facts["notes"])  # the cut is marked


def test_model_markdown_shows_at_chat_scale(notebook: Callable[[str], Any]) -> None:
    page = notebook(FIXTURE_NOTEBOOK)
    chat = page.locator(".browser-markdown-chat")
    chat.scroll_into_view_if_needed()
    expect(chat.locator(".ovnb-body h1")).to_have_count(1)
    facts = chat.evaluate(PANEL_FACTS)
    assert facts["h1Font"] <= 1.2 * facts["bodyFont"], facts  # not a notebook heading
    assert chat.locator(".ovnb-body script").count() == 0  # raw HTML stays text
    shot(page, "chat-markdown")


def test_stop_ends_a_long_answer_and_the_chat_stays_usable(notebook: Callable[[str], Any]) -> None:
    page = notebook(FIXTURE_NOTEBOOK)
    chat = page.locator(".browser-long-chat")
    chat.scroll_into_view_if_needed()
    for turn, prompt in enumerate(("Tell me a very long story", "And another one"), start=1):
        send(page, chat, prompt)
        page.wait_for_function("(chat) => chat.__frames.length >= 3", arg=chat.element_handle())
        expect(chat.get_by_role("button", name="Send")).to_be_disabled()
        chat.get_by_role("button", name="Stop").click()
        text = wait_finished(chat, turn)
        # the page's Stop flow; that Stop cuts generation short is the sessions' tests' (genai
        # writes ahead of this slowed streamer, so its count here is the run's whole 900)
        assert tokens_reported(text) > 0
        assert chat.locator(".ovnb-user").count() == turn and prompt in text  # the exchange is kept
        assert chat.locator(".ovnb-note").last.inner_text().startswith("⏹ stopped")
        assert "⚠" not in text
    chat.scroll_into_view_if_needed()
    shot(page, "chat-stopped")


def test_enter_sends_and_shift_enter_starts_a_new_line(notebook: Callable[[str], Any]) -> None:
    page = notebook(FIXTURE_NOTEBOOK)
    chat = page.locator(".browser-short-chat")
    chat.scroll_into_view_if_needed()
    expect_loaded(chat)
    turns = chat.locator(".ovnb-user").count()
    box = chat.locator(":scope > .widget-textarea textarea")
    box.click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("first line\nsecond line")  # Shift+Enter: a new line, nothing sent
    page.keyboard.press("Enter")
    expect(box).to_have_value("")  # sent: the kernel took the text and cleared the box
    wait_finished(chat, turns + 1)
    asked = in_kernel(page, "print(repr([m['content'] for m in chat.messages "
                            "if m['role'] == 'user'][-1]))")
    assert asked.strip() == repr("first line\nsecond line")


def control_value(widget: Any, label: str) -> int:
    """The number in the widget's text control labelled ``label`` (e.g. width)."""
    return int(widget.locator(f".widget-text:has(label:text-is('{label}')) input").input_value())


@pytest.mark.skipif(image_under_test() is None, reason="ovnb/widgets/image.py is not written yet")
def test_image_generator_runs_to_a_finished_image(notebook: Callable[[str], Any]) -> None:
    name, selector = image_under_test()
    page = notebook(name)
    images = page.locator(selector).first
    images.scroll_into_view_if_needed()
    expect_loaded(images)
    pictures = images.locator(".ovnb-gallery img")
    before = pictures.count()  # one thumbnail per earlier image
    prompt = "a red cat in the snow"
    type_prompt(page, images.locator(":scope > .widget-textarea textarea"), prompt)
    generate = images.get_by_role("button", name="Generate")
    generate.click()
    # the gallery's newest thumbnail is captioned with our prompt
    expect(images.locator(".ovnb-gallery")).to_contain_text(prompt, timeout=90_000)
    expect(generate).to_be_enabled()
    expect(images).to_contain_text("done")
    expect(pictures).to_have_count(min(before + 1, GALLERY_SIZE))
    images.scroll_into_view_if_needed()
    shot(page, "image-generated")
    images.screenshot(path=str(SCREENSHOTS / "image-widget.png"))
    text = images.inner_text()
    steps = re.search(r"step (\d+) of (\d+)", text)
    assert steps and steps[1] == steps[2], text  # every step ran
    bar = images.locator(".progress-bar").first.evaluate("(bar) => bar.style.width")
    assert bar == "100%"
    # the large picture, decoded by the browser at the size the controls asked for
    large = images.locator(".ovnb-image-after").evaluate(
        "(img) => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert large == [True, control_value(images, "width"), control_value(images, "height")]
    shown_width = images.locator(".ovnb-image-after").evaluate("(img) => img.clientWidth")
    assert shown_width == min(large[1], 512)  # its own size, not stretched to the output's width
    newest = pictures.nth(0).evaluate("(img) => img.complete && img.naturalWidth > 0")
    assert newest
    assert "⚠" not in text


def in_kernel(page: Any, code: str) -> str:
    """What ``code`` prints when run in the open notebook's kernel."""
    return page.evaluate(RUN_IN_KERNEL, code)


# the kernel's sessions (running, busy) and where its threads are, for a failure's message
KERNEL_RUNS = """import faulthandler, tempfile
for _name, _front in list(globals().items()):
    _s = getattr(_front, "session", None)
    if hasattr(_s, "running") and hasattr(_s, "busy"):
        print(_name, "running", _s.running, "busy", _s.busy)
with tempfile.TemporaryFile("w+") as _f:
    faulthandler.dump_traceback(_f, all_threads=True)
    _f.seek(0)
    print(_f.read())"""


# what the kernel holds of the editor's mask, as JSON
MASK_FACTS = """import json
import numpy as np
_m = editor.input_mask.pixels
_ys, _xs = np.nonzero(_m)
print(json.dumps({"size": [_m.shape[1], _m.shape[0]], "x": [int(_xs.min()), int(_xs.max())],
                  "y": [int(_ys.min()), int(_ys.max())], "line": bool(_m[24, 16:49].all()),
                  "strokes": editor.view.painter.strokes, "mode": editor.mode}))"""


@pytest.mark.skipif(not (has_image_widget() and has_mask_painter()),
                    reason="ovnb/widgets/maskpaint.py is not written yet")
def test_a_mask_painted_with_the_mouse_reaches_the_kernel(notebook: Callable[[str], Any]) -> None:
    page = notebook(FIXTURE_NOTEBOOK)
    editor = page.locator(".browser-image-edit")
    editor.scroll_into_view_if_needed()
    expect_loaded(editor)
    overlay = editor.locator(".ovnb-mask-overlay")
    expect(overlay).to_be_visible()
    # the canvas is at the image's pixel size (64×48) once the image has loaded in the page
    page.wait_for_function("(c) => c.width === 64 && c.height === 48",
                           arg=overlay.element_handle())
    box = overlay.bounding_box()
    assert box["width"] == 256  # shown enlarged, 4 page pixels per image pixel, to paint on
    # one stroke across the middle, from a quarter to three quarters of the width
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 3 / 4, y, steps=12)
    page.mouse.up()
    # the mask line is written by the kernel from the mask it received: the page got it back
    expect(editor).to_contain_text("(painted, 1 stroke)", timeout=30_000)
    expect(editor).to_contain_text("mode: inpainting on house")
    editor.screenshot(path=str(SCREENSHOTS / "image-mask-painted.png"))
    facts = json.loads(in_kernel(page, MASK_FACTS))
    r = EDIT_BRUSH / 2  # round caps: the stroke reaches half a brush past its ends
    assert facts["size"] == [64, 48] and facts["strokes"] == 1 and facts["mode"] == "inpainting"
    assert abs(facts["x"][0] - (16 - r)) <= 1.5 and abs(facts["x"][1] - (48 + r)) <= 1.5, facts
    assert abs(facts["y"][0] - (24 - r)) <= 1.5 and abs(facts["y"][1] - (24 + r)) <= 1.5, facts
    assert facts["line"], facts  # every pixel under the pointer's path is masked
    # Generate inpaints: the input with its mask beside the result, both at the image's size
    type_prompt(page, editor.locator(":scope > .widget-textarea textarea"), "a red door")
    editor.get_by_role("button", name="Generate").click()
    expect(editor.locator(".ovnb-gallery")).to_contain_text("inpainting", timeout=90_000)
    expect(editor.get_by_role("button", name="Generate")).to_be_enabled()
    sizes = [editor.locator(f".ovnb-image-{side}").evaluate(
        "(img) => [img.complete, img.naturalWidth, img.naturalHeight]") for side in
        ("before", "after")]
    assert sizes == [[True, 64, 48], [True, 64, 48]]
    shown = [editor.locator(f".ovnb-image-{side}") for side in ("before", "after")]
    assert [side.bounding_box()["width"] for side in shown] == [256, 256]  # the canvas's scale
    editor.scroll_into_view_if_needed()
    editor.screenshot(path=str(SCREENSHOTS / "image-inpainted.png"))
    editor.get_by_role("button", name="actual size").click()
    for side in shown:
        expect(side).to_have_css("width", "64px")  # at the image's own pixel size
    assert "⚠" not in editor.inner_text()


@pytest.mark.skipif(not (has_image_widget() and has_mask_painter()),
                    reason="ovnb/widgets/maskpaint.py is not written yet")
def test_a_file_chosen_in_the_page_reaches_the_kernel_whole(notebook: Callable[[str], Any]) -> None:
    """ovnb's Upload button: labelled without ipywidgets' "(0)" count; the browser's file
    chooser (given a file as a person would pick one) sends the bytes to the kernel."""
    page = notebook(FIXTURE_NOTEBOOK)
    editor = page.locator(".browser-image-edit")
    editor.scroll_into_view_if_needed()
    button = editor.locator(".ovnb-upload").first
    expect(button).to_have_text(re.compile(r"^\s*Image to edit\s*$"))
    picture = REPO / "ovnb" / "data" / "images" / "sailboat.png"
    button.locator("xpath=following-sibling::input[@type='file']").set_input_files(str(picture))
    expect(editor).to_contain_text("on sailboat", timeout=30_000)
    got = in_kernel(page, "_f = editor.view.controls['upload'].value[0]\n"
                          "print(_f['name'], len(bytes(_f['content'])), _f['size'])")
    assert got.split() == ["sailboat.png", *[str(picture.stat().st_size)] * 2]
    expect(button).to_have_text(re.compile(r"^\s*Image to edit\s*$"))  # still no count
