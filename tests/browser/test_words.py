"""The Transcriber's word player (``static/words.js``) in real Chromium: the word under the playhead
lights up, while playing and after a seek, and a click on a word plays from its start.

The view runs against a small stand-in for the widget model (``get``/``on``/``set``/
``save_changes``, what anywidget hands a view), so the page needs no JupyterLab or kernel.
Nothing races a clock: each check waits for the page to reach the expected state.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ovnb.audio import RATE, to_wav

pytestmark = pytest.mark.browser
WORDS_JS = Path(__file__).resolve().parents[2] / "ovnb" / "widgets" / "static" / "words.js"
WORDS = [[0.0, 0.5, " one"], [0.5, 1.0, " two"], [1.0, 1.5, " three"], [1.5, 2.0, " four"]]

PAGE = """
<div id="el"></div>
<script type="module">
const handlers = {};
const state = { wav: null, words: [], position: -1 };
window.saved = [];
const model = {
  get: (name) => state[name],
  set: (name, value) => { state[name] = value; },
  save_changes: () => { window.saved.push(state.position); },
  on: (event, fn) => { (handlers[event] ||= []).push(fn); },
};
window.start = async (source, wavBase64, words) => {
  const module = await import(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
  const bytes = Uint8Array.from(atob(wavBase64), (c) => c.charCodeAt(0));
  state.wav = new DataView(bytes.buffer);
  state.words = words;
  module.default.render({ model, el: document.getElementById("el") });
};
</script>
"""


@pytest.fixture()
def page(browser: Any) -> Any:
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(2 * RATE) / RATE)).astype(np.float32)
    opened = browser.new_page()
    opened.set_content(PAGE)
    opened.evaluate("([s, w, words]) => window.start(s, w, words)",
                    [WORDS_JS.read_text(), base64.b64encode(to_wav(tone)).decode(), WORDS])
    opened.wait_for_function("() => document.querySelector('audio').readyState >= 1")
    yield opened
    opened.close()


def lit(page: Any) -> list[str]:
    return page.eval_on_selector_all(".ovnb-now", "(spans) => spans.map((s) => s.textContent.trim())")


def test_every_word_is_listed_with_its_times(page: Any) -> None:
    spans = page.locator(".ovnb-words span")
    assert [t.strip() for t in spans.all_inner_texts()] == [w.strip() for _, _, w in WORDS]
    assert spans.nth(2).get_attribute("title") == "1.00 s – 1.50 s"
    assert lit(page) == [] and page.evaluate("document.querySelector('audio').duration") == \
        pytest.approx(2.0, abs=0.01)


def test_a_seek_lights_the_word_at_the_playhead(page: Any) -> None:
    for seconds, word, index in ((1.2, " three", 2), (0.1, " one", 0), (1.9, " four", 3)):
        page.evaluate(f"document.querySelector('audio').currentTime = {seconds}")
        page.wait_for_function(f"() => window.saved.at(-1) === {index}")
        assert lit(page) == [word.strip()]  # one word lit, the one under the playhead


def test_playing_moves_the_light_from_word_to_word(page: Any) -> None:
    page.locator(".ovnb-words span").nth(1).click()  # plays from "two"
    page.wait_for_function("() => !document.querySelector('audio').paused || "
                           "document.querySelector('audio').ended")
    page.wait_for_function("() => window.saved.includes(3)", timeout=20_000)
    seen = page.evaluate("window.saved")
    assert seen[0] == 1 and [i for i in seen if i >= 0] == sorted(i for i in seen if i >= 0)
    assert set(seen) >= {1, 2, 3}  # each word lit in turn, none skipped
