"""A real JupyterLab driven by a real browser: one server and one Chromium per test module.

The server runs on a loopback port with a token, in a temporary root holding copies of the notebooks
(so nothing the browser does is saved into the repo), with temporary Jupyter config, settings,
workspaces and runtime folders (so no user settings are read or touched) and news checks off.
Its kernels see ``OVNB_TINY=1`` and ``OVNB_CACHE`` = the session's model cache, where the tiny
models are prepared before the server starts, so the browser never waits for an export. A run with
``OVNB_TINY=0`` set opens the notebooks in real mode instead, the hub cut off (``HF_ENDPOINT`` at a
refused port), as ``tests/test_notebooks_real.py`` runs them. Teardown stops the
browser and the server, then checks that no process the fixtures started is left running.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "artifacts"  # git-ignored; CI keeps it
SCREENSHOTS = ARTIFACTS / "screenshots"
# Without the networking flags Chromium keeps trying hosts that are closed here (BROWSER-FACTS).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# JupyterLab user settings for the test: no news toast, no update check, no autosave.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}
FIXTURE_NOTEBOOK = "widgets.ipynb"
# JavaScript the tests evaluate in the page: the open notebook's kernel is idle
KERNEL_IDLE = """() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel
  ?.status === 'idle'"""
# Run every cell; resolves when the last one finished (JupyterLab stops at the first error).
RUN_ALL = """async (timeout) => Promise.race([
  window.jupyterapp.commands.execute('notebook:run-all-cells'),
  new Promise((_, reject) => setTimeout(() => reject(new Error('run all: timed out')), timeout)),
])"""
EDIT_BRUSH = 4  # the editor's brush in the fixture notebook, in image pixels


# A chat whose answers end only after Stop: its token stream's streamer is wrapped (on this
# instance only) so that, after 1000 tokens (the test waits for three frames of text first),
# genai's streamer thread waits for the stream to be stopped; generation itself may run ahead to
# its 2000 tokens meanwhile, but the run (and so the busy state) ends only once Stop came.
HELD_CHAT = """import threading
import openvino_genai as ov_genai

long_chat = ovnb.Chat("tiny-llm", max_new_tokens=900, min_new_tokens=900)
make_stream = long_chat.session.token_stream


class Paced(ov_genai.StreamerBase):
    def __init__(self, inner, stream):
        super().__init__()
        self.inner, self.stream = inner, stream

    def write(self, token):
        if not self.stream.stopped:
            threading.Event().wait(0.02)
        return self.inner.write(token)

    def end(self):
        self.inner.end()


def paced_stream(job, tokenizer, on_text=None):
    stream = make_stream(job, tokenizer, on_text)
    paced = Paced(stream.streamer(), stream)
    stream.streamer = lambda: paced
    return stream


long_chat.session.token_stream = paced_stream
long_chat.view.add_class("browser-long-chat")
long_chat"""

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers",
                            "browser: drives JupyterLab in Chromium (select with -m browser)")


@dataclass
class Lab:
    """A running JupyterLab: where it listens, its token, and the folder it serves."""

    port: int
    token: str
    root: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def notebook_url(self, name: str) -> str:
        return self.url(f"lab/tree/{name}") + "&reset"

    def has(self, name: str) -> bool:
        return (self.root / name).is_file()


# processes ---------------------------------------------------------------------------------------
def live_processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process that is not a zombie, read from /proc."""
    table: dict[int, tuple[int, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if fields[0] != "Z":
            table[int(stat.parent.name)] = (int(fields[1]), command.strip())
    return table


def ours(table: dict[int, tuple[int, str]], markers: tuple[str, ...]) -> set[int]:
    """Processes below this one, and those naming one of ``markers`` (double-forked helpers)."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found = {pid for pid, (_, command) in table.items() if any(m in command for m in markers)}
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found - {os.getpid()}


@pytest.fixture(scope="module")
def spawned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set up first, torn down last: fails if anything the browser fixtures started still runs.

    Ours = below this process (Playwright's driver and its Chromium, the server and its kernels),
    or naming this session's temporary folder (double-forked helpers of the server). Never another
    run's: processes of a Playwright run elsewhere on the machine are not ours to judge or end.
    """
    markers = (str(tmp_path_factory.getbasetemp()),)
    before = ours(live_processes(), markers)
    yield
    deadline = time.monotonic() + 10
    while (left := ours(table := live_processes(), markers) - before) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    lines = [f"{pid} {table[pid][1][:160]}" for pid in sorted(left) if pid in table]
    for pid in left:  # ours: never leave them behind, even when failing
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not lines, "processes left running after the browser tests:\n" + "\n".join(lines)


# the server --------------------------------------------------------------------------------------
def mode_env() -> dict[str, str]:
    """Tiny mode, unless this process has ``OVNB_TINY=0``: real mode with the hub cut off."""
    if os.environ.get("OVNB_TINY", "1").strip().lower() in ("0", "false", "no", "off"):
        return {"OVNB_TINY": "0", "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    return {"OVNB_TINY": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_settings(folder: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def series_notebook(number: str) -> str | None:
    """The name of the series' notebook ``number`` (e.g. "03" -> 03-chat.ipynb), if written."""
    found = sorted((REPO / "notebooks").glob(f"{number}-*.ipynb"))
    return found[0].name if found else None


def has_image_widget() -> bool:
    return (REPO / "ovnb" / "widgets" / "image.py").is_file()


def has_mask_painter() -> bool:
    return (REPO / "ovnb" / "widgets" / "maskpaint.py").is_file()


def write_fixture_notebook(path: Path, image: bool, edit: bool = False) -> None:
    """Our own notebook: a short chat, a long chat (for Stop), an image generator if asked, and
    an image generator with an image to edit if asked."""
    import nbformat

    cells = [
        nbformat.v4.new_markdown_cell("# Browser test fixture\nWidgets on tiny models."),
        nbformat.v4.new_code_cell("import ovnb"),
        nbformat.v4.new_code_cell('chat = ovnb.Chat("tiny-llm")\n'
                                  'chat.view.add_class("browser-short-chat")\nchat'),
        # a long answer that streams for 18 s or more, each token 20 ms apart until Stop (tiny-llm
        # wrote 2000 tokens in ~3 s, which a busy browser's click missed once in CI); two turns of
        # it fit tiny-llm's 2048-token context (a run held at 1000 tokens filled it at the second
        # turn, which then ended by itself)
        nbformat.v4.new_code_cell(HELD_CHAT),
        # a model's markdown, heading included, as a conversation shows it
        nbformat.v4.new_code_cell(
            'shown = ovnb.Chat("tiny-llm")\n'
            'shown.session.publish_now(messages=[{"role": "user", "content": "Markdown?"}, '
            '{"role": "assistant", "content": "# A heading\\n\\nSome **bold**, `code` and '
            '<script>alert(1)</script>."}])\n'
            'shown.view.add_class("browser-markdown-chat")\nshown'),
    ]
    if image:
        cells.append(nbformat.v4.new_code_cell(
            'images = ovnb.ImageGenerator("tiny-sd", width=64, height=48, num_inference_steps=4)\n'
            'images.view.add_class("browser-image")\nimages'))
    if edit:  # an image to edit, ready for a mask painted with the mouse
        cells.append(nbformat.v4.new_code_cell(
            'from PIL import Image\nfrom ovnb.images import samples\n\n'
            'editor = ovnb.ImageGenerator("tiny-sd", width=64, height=48, num_inference_steps=3)\n'
            'editor.choose_image(Image.open(samples()["house"]).resize((64, 48)), "house")\n'
            f'editor.view.controls["brush"].value = {EDIT_BRUSH}\n'
            'editor.view.add_class("browser-image-edit")\neditor'))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)


def wait_until_serving(lab: Lab, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {lab.process.returncode}")
        try:
            urllib.request.urlopen(lab.url("api/status"), timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer on port {lab.port} within {timeout:.0f} s")


def stop_server(lab: Lab) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure its process is gone."""
    try:
        request = urllib.request.Request(lab.url("api/shutdown"), method="POST")
        urllib.request.urlopen(request, timeout=10).read()
        lab.process.wait(timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if lab.process.poll() is None:
        os.killpg(lab.process.pid, signal.SIGTERM)
        try:
            lab.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(lab.process.pid, signal.SIGKILL)
            lab.process.wait()


@pytest.fixture(scope="module")
def lab(spawned: None, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a copy of notebooks/ plus the fixture notebook; models prepared first."""
    import ovnb

    image = has_image_widget()
    for model in ("tiny-llm", "tiny-sd") if image else ("tiny-llm",):
        ovnb.prepare(model, cache_dir=cache)
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    if (REPO / "notebooks").is_dir():
        shutil.copytree(REPO / "notebooks", root,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    root.mkdir(exist_ok=True)
    # the fixture holds an image generator only while the series has no text-to-image notebook
    write_fixture_notebook(root / FIXTURE_NOTEBOOK, image and series_notebook("06") is None,
                           image and has_mask_painter())
    write_settings(base / "settings")
    env = {**os.environ, **mode_env(), "OVNB_CACHE": str(cache),
           "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
           "IPYTHONDIR": str(base / "ipython")}
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "jupyterlab-server.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = Lab(port, token, root, process)
    try:
        wait_until_serving(server)
        yield server
    finally:
        stop_server(server)
        log.close()


# the browser -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(spawned: None) -> Iterator[Any]:
    """The system Chromium under Playwright (no browser download)."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="pip install playwright (setup.sh)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (setup.sh)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# pages -------------------------------------------------------------------------------------------
def open_and_run(browser: Any, lab: Lab, name: str, run_all_ms: int, settle_ms: int = 60_000,
                 step_ms: int = 30_000) -> tuple[Any, Any, float]:
    """A page showing notebook ``name`` after Run All Cells (within ``run_all_ms``, its kernel
    idle within ``settle_ms``), its context, and the seconds taken; ``step_ms`` bounds each
    other page action."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(step_ms)
    page = context.new_page()
    started = time.monotonic()
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    page.evaluate(RUN_ALL, run_all_ms)
    page.wait_for_function(KERNEL_IDLE, timeout=settle_ms)
    return page, context, time.monotonic() - started
