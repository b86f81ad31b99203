"""The Recorder (``static/recorder.js``) in real Chromium with its fake microphone: a recording of
about a second reaches the kernel side as webm/opus that ``read_audio`` decodes; a refusal and the
length cap are one line each.

First against a small stand-in for the widget model (what anywidget hands a view), on a page
served at 127.0.0.1 (browsers record only in secure contexts), then in a real JupyterLab notebook:
the bare Recorder, and Omni's Record button making the next question's recording.
Chromium runs with ``--use-fake-ui-for-media-stream`` (the permission prompt answered yes) and
``--use-fake-device-for-media-stream`` (a beeping test microphone). Nothing races a clock: each
check waits for the page to reach the expected state.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ovnb.audio import RATE, is_silent, read_audio
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, Lab

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (setup.sh)")
expect = sync_api.expect
pytestmark = pytest.mark.browser
RECORDER_JS = Path(__file__).resolve().parents[2] / "ovnb" / "widgets" / "static" / "recorder.js"
FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
ORIGIN = "http://127.0.0.1:9/"  # never contacted: the page is served by Playwright's route
SECONDS = 1.0  # how long each test records
BITS_PER_SECOND = 64000  # recorder.js asks MediaRecorder for this

PAGE = """<!doctype html>
<div id="el"></div>
<script type="module">
const handlers = {};
const state = { max_seconds: 300, note: "", recording: false, disabled: false };
window.sent = [];
window.saved = 0;
const model = {
  get: (name) => state[name],
  set: (name, value) => { state[name] = value; (handlers[`change:${name}`] || []).forEach((f) => f()); },
  save_changes: () => { window.saved += 1; },
  on: (event, fn) => { (handlers[event] ||= []).push(fn); },
  send: (content, callbacks, buffers) => {
    const bytes = new Uint8Array(buffers[0]);
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    window.sent.push({ content, base64: btoa(text) });
  },
};
window.state = state;
window.start = async (source, maxSeconds) => {
  state.max_seconds = maxSeconds;
  const module = await import(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
  module.default.render({ model, el: document.getElementById("el") });
};
</script>
"""
# the clock shows at least this many seconds recorded
CLOCK_AT_LEAST = "(s) => parseFloat(document.querySelector('.ovnb-record-clock').textContent) >= s"


@pytest.fixture(scope="module")
def microphone_browser(spawned: None) -> Iterator[Any]:
    """The system Chromium with its fake microphone, the permission prompt answered yes."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (setup.sh)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=[*CHROMIUM_ARGS, *FAKE_MICROPHONE])
        try:
            yield chromium
        finally:
            chromium.close()


def stand_in_page(browser: Any, max_seconds: float = 300) -> Any:
    page = browser.new_page()
    page.route(ORIGIN, lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    page.goto(ORIGIN)
    page.evaluate("([s, m]) => window.start(s, m)", [RECORDER_JS.read_text(), max_seconds])
    return page


def record(page: Any, seconds: float) -> None:
    """Press Record, wait until the clock shows ``seconds``, press Stop."""
    button = page.locator(".ovnb-record-button")
    expect(button).to_have_text("● Record")
    button.click()
    expect(button).to_have_text("■ Stop recording")
    page.wait_for_function(CLOCK_AT_LEAST, arg=seconds)
    button.click()


def sent(page: Any, count: int) -> list[dict[str, Any]]:
    """The page's custom messages, once there are ``count`` of them."""
    page.wait_for_function("(n) => window.sent.length >= n", arg=count)
    return page.evaluate("window.sent")


def test_a_second_of_the_microphone_arrives_as_webm_opus_read_audio_decodes(
        microphone_browser: Any) -> None:
    page = stand_in_page(microphone_browser)
    record(page, SECONDS)
    [message] = sent(page, 1)
    content = message["content"]
    assert content["kind"] == "recorded" and content["mime"].startswith("audio/webm")
    assert content["seconds"] >= SECONDS
    data = base64.b64decode(message["base64"])
    # at 64 kbit/s, 5 minutes stay far below the 10 MiB a websocket message may be
    assert 0 < len(data) < content["seconds"] * BITS_PER_SECOND / 8 * 1.5 + 4096, len(data)
    samples, rate = read_audio(data, "recording.webm")
    assert rate == 48000 and len(samples) / RATE >= 0.8 * SECONDS  # the start can lose a chunk
    assert not is_silent(samples)  # the fake microphone beeps
    expect(page.locator(".ovnb-record-note")).to_have_text(
        f"recorded {content['seconds']:.1f} s: sending it to the kernel…")
    expect(page.locator(".ovnb-record-button")).to_have_text("● Record")  # ready again
    assert page.evaluate("window.state.recording") is False
    page.close()


def test_a_refused_microphone_is_one_line_naming_the_fix(microphone_browser: Any) -> None:
    page = stand_in_page(microphone_browser)
    page.evaluate("""() => { navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException("Permission denied", "NotAllowedError")); }""")
    page.locator(".ovnb-record-button").click()
    note = "the browser gave no microphone: allow it in the address bar, or upload a file"
    expect(page.locator(".ovnb-record-note")).to_have_text(note)
    assert page.evaluate("window.state.note") == note and page.evaluate("window.sent") == []
    expect(page.locator(".ovnb-record-button")).to_have_text("● Record")
    page.close()


def test_a_recording_stops_by_itself_at_the_cap(microphone_browser: Any) -> None:
    page = stand_in_page(microphone_browser, max_seconds=0.6)
    page.locator(".ovnb-record-button").click()
    [message] = sent(page, 1)  # no Stop pressed
    assert message["content"]["seconds"] >= 0.6
    expect(page.locator(".ovnb-record-note")).to_contain_text("stopped at the 1 s limit")
    page.close()


# in JupyterLab -----------------------------------------------------------------------------------
NOTEBOOK = "recorder.ipynb"
# the kernel says what it got, in the page: the test waits for that line
CELL = """import ipywidgets as widgets
from ovnb.audio import read_audio
from ovnb.widgets.recorder import Recorder

recorder = Recorder()
got = widgets.HTML("nothing yet")
got.add_class("browser-recorder-got")

def heard(data, name):
    samples, rate = read_audio(data, name)
    got.value = f"kernel got {name}: {len(data)} bytes, {len(samples) / 16000:.2f} s"

recorder.on_recorded(heard)
widgets.VBox([recorder, got])"""


def open_notebook(browser: Any, lab: Lab, name: str, source: str) -> tuple[Any, Any]:
    """A page showing a one-cell notebook of ``source``, run, and its browser context."""
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, lab.root / name)
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
    page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.sessionContext"
                           "?.session?.kernel?.status === 'idle'")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page, context


def test_a_recording_in_a_notebook_reaches_the_kernel(microphone_browser: Any, lab: Lab) -> None:
    page, context = open_notebook(microphone_browser, lab, NOTEBOOK, CELL)
    try:
        got = page.locator(".browser-recorder-got")
        expect(got).to_have_text("nothing yet")
        record(page, SECONDS)
        expect(got).to_contain_text("kernel got recording.webm")
        expect(page.locator(".ovnb-record-note")).to_contain_text("the kernel got 1.")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(".ovnb-recorder").screenshot(path=str(SCREENSHOTS / "recorder.png"))
        facts = got.inner_text().split(": ", 1)[1]
        size, seconds = int(facts.split(" bytes")[0]), float(facts.split(", ")[1].split(" s")[0])
        assert size > 0 and seconds >= 0.8 * SECONDS, facts
    finally:
        context.close()


OMNI_NOTEBOOK = "recorder-omni.ipynb"
HEARD = re.compile(r"🎤 recording\.webm · (\d+\.\d) s · sent with your next question")


def test_a_recording_in_the_omni_widget_is_the_next_questions(
        microphone_browser: Any, lab: Lab, omni: Path) -> None:
    source = ("import ovnb\n\n"
              f"omni = ovnb.Omni({str(omni)!r}, properties={{'INFERENCE_PRECISION_HINT': 'f32'}})\n"
              "omni.view.add_class('browser-omni')\nomni")
    page, context = open_notebook(microphone_browser, lab, OMNI_NOTEBOOK, source)
    try:
        view = page.locator(".browser-omni")
        expect(view).to_contain_text("no recording: record one", timeout=90_000)
        expect(view).not_to_contain_text(re.compile(r"loading .*…|not loaded"), timeout=90_000)
        view.locator(".ovnb-recorder").scroll_into_view_if_needed()
        record(page, SECONDS)
        expect(view).to_contain_text(HEARD)
        expect(view).to_contain_text("heard recording.webm: ")  # the status line
        assert float(HEARD.search(view.inner_text())[1]) >= 0.8 * SECONDS
        assert "⚠" not in view.inner_text()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(SCREENSHOTS / "omni-recorded.png"))
    finally:
        context.close()
