"""A classroom on a real JupyterHub: three learners, one read-only model cache, own compile caches,
and the series as nbgrader assignments they fetch, solve and submit.

The instructor's steps, then the learners': a shared cache is staged (`ovnb prepare --from FILE`)
and made read-only, the series is released as a course (`ovnb classroom --course`); a hub on
loopback starts three users' servers through its REST API; each user chats with tiny-llm in a
kernel of their own server (all three at once), driven over the kernel websocket as a browser
would. Then: every answer came from the shared model, nothing was written to the shared cache, and
each user's compiled blobs went to a folder in their own home. The learners then fetch notebook 03
from nbgrader's Assignments service of their own server, write answers through the contents API
(as JupyterLab saves), check them with `%ovnb check` in a kernel opened for the notebook, and
submit; the instructor grades (`ovnb classroom --grade`).
Everything started is stopped.

The shared entry is a copy of the session's prepared tiny-llm (as when an instructor copies a staged
cache onto the server): `ovnb prepare --from` checks it and reports it ready, without the 40 s
export that tests/test_staging.py already covers.
"""
from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nbformat
import pytest

from ovnb import course as courses
from tests.classroom import hub as hubs

pytestmark = pytest.mark.classroom

USERS = ["ada", "grace", "linus"]
KERNEL_CODE = """
import json, os
import ovnb
from ovnb.devices import compile_cache_dir

folder = ovnb.prepare("tiny-llm")
# AUTO gets a compile cache (CACHE_DIR), so a compiled blob is written: it must land in this
# user's own folder, never in the shared model cache
chat = ovnb.Chat("tiny-llm", device="AUTO", properties={"INFERENCE_PRECISION_HINT": "f32"},
                 max_new_tokens=8)
answer = chat.send("Hello, who are you?")
blobs = compile_cache_dir()
print(json.dumps({"answer": answer, "error": chat.last_error, "folder": str(folder),
                  "user": os.environ.get("JUPYTERHUB_USER"), "home": os.environ["HOME"],
                  "cache_dir": chat.plan.properties.get("CACHE_DIR"), "compile_cache": str(blobs),
                  "blobs": sorted(p.name for p in blobs.iterdir()),
                  "pid": os.getpid(), "server_pid": os.getppid()}))
"""


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its size, mtime and mode: any write changes it (even as
    root, whom a read-only mode does not stop)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_mode)
            for p in [root, *root.rglob("*")]}


def set_writable(root: Path, writable: bool) -> None:
    write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~write)


@pytest.fixture(scope="module")
def shared(llm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The workshop's cache, staged with `ovnb prepare --from FILE`, then made read-only."""
    root = tmp_path_factory.mktemp("classroom") / "shared-cache"
    shutil.copytree(llm, root / "models" / "tiny-llm" / "fp16")
    models = root.parent / "workshop.txt"
    models.write_text("# the classroom test's models\ntiny-llm\n")
    staged = subprocess.run([sys.executable, "-m", "ovnb", "prepare", "--from", str(models),
                             "--cache-dir", str(root)], capture_output=True, text=True)
    assert staged.returncode == 0, staged.stderr
    assert staged.stdout.splitlines()[1].split()[:3] == ["tiny-llm", "fp16", "ready"], staged.stdout
    set_writable(root, False)
    yield root
    set_writable(root, True)  # so pytest can delete it


@pytest.fixture(scope="module")
def course(shared: Path) -> courses.Course:
    """The series released as an nbgrader course, as `ovnb classroom --course DIR` does."""
    made = shared.parent / "course"
    done = subprocess.run([sys.executable, "-m", "ovnb", "classroom", "--course", str(made),
                           "--exchange", str(shared.parent / "exchange")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return courses.open_course(made)


@pytest.fixture(scope="module")
def hub(shared: Path, course: courses.Course) -> Iterator[hubs.Hub]:
    if hubs.proxy_command() is None:
        pytest.skip("configurable-http-proxy is missing: npm install -g configurable-http-proxy "
                    "(setup.sh installs it)")
    pytest.importorskip("jupyterhub", reason="pip install -e '.[dev]' (setup.sh) installs it")
    environment = {"OVNB_CACHE": str(shared), "HF_HUB_OFFLINE": "1",
                   "TOKENIZERS_PARALLELISM": "false",
                   "JUPYTER_CONFIG_PATH": str(course.learner_config_dir)}  # as the example config
    running = hubs.start(shared.parent, environment)
    try:
        yield running
    finally:
        killed = hubs.stop(running)
    assert not killed, "processes the hub left running (killed now):\n" + "\n".join(killed)


@pytest.fixture(scope="module")
def servers(hub: hubs.Hub) -> hubs.Hub:
    """The three learners' servers, running."""
    hub.add_users(USERS)
    for name in USERS:  # all three spawn at once, as when a class logs in
        hub.start_server(name)
    for name in USERS:
        assert hub.wait_ready(name)["url"] == f"/user/{name}/"
    return hub


def test_three_learners_share_one_read_only_cache(servers: hubs.Hub, shared: Path) -> None:
    hub, before = servers, snapshot(shared)
    with ThreadPoolExecutor(len(USERS)) as pool:  # the three learners chat at the same time
        outputs = pool.map(lambda name: hub.run(name, hub.start_kernel(name), KERNEL_CODE), USERS)
        seen = {name: json.loads(out.strip().splitlines()[-1]) for name, out in zip(USERS, outputs)}
    hub.track_children()  # the kernels are still running: record them to check they stop
    homes = shared.parent / "homes"
    for name, report in seen.items():
        assert report["user"] == name
        assert report["answer"] and report["error"] == "", report
        assert report["folder"] == str(shared / "models" / "tiny-llm" / "fp16")
        assert report["home"] == str(homes / name)
        assert report["cache_dir"] == report["compile_cache"]
        assert Path(report["compile_cache"]).is_relative_to(homes / name)
        assert report["blobs"], f"{name}'s kernel compiled nothing into its cache"
        assert report["pid"] in hub.started and report["server_pid"] in hub.started
    # one model, greedy, f32: every learner got the same answer from the one shared copy
    assert len({report["answer"] for report in seen.values()}) == 1
    assert len({report["compile_cache"] for report in seen.values()}) == len(USERS)
    assert snapshot(shared) == before
    assert not list(shared.rglob("*.blob"))


def listing(response: httpx.Response) -> list[dict]:
    """The assignments an nbgrader Assignments answer lists (it says success or why not)."""
    answer = response.json()
    assert answer["success"], answer
    return answer["value"]


def solved(notebook: dict, source: nbformat.NotebookNode, numbers: set[int]) -> dict:
    """A learner's notebook with the answers to ``numbers`` written in (the series' own)."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id", "")
        if grade_id in answers and int(grade_id[2:].split("-")[0]) in numbers:
            cell["source"] = answers[grade_id]
    return notebook


def test_learners_fetch_solve_submit_and_are_graded(
        servers: hubs.Hub, course: courses.Course, shared: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub, assignment = servers, "03-chat"
    listed = listing(hub.request("GET", f"/user/{USERS[0]}/assignments",
                                 params={"course_id": course.course_id}))
    released = {a["assignment_id"] for a in listed if a["status"] == "released"}
    assert released == set(course.assignments()) and len(released) == 19, released
    source = nbformat.read(course.root / "source" / assignment / f"{assignment}.ipynb", 4)
    work = {"ada": {1, 2}, "grace": {1}, "linus": set()}  # all, half, untouched
    form = {"course_id": course.course_id, "assignment_id": assignment}
    for name, numbers in work.items():
        fetched = listing(hub.request("POST", f"/user/{name}/assignments/fetch", data=form))
        assert {"fetched"} == {a["status"] for a in fetched if a["assignment_id"] == assignment}
        path = f"/user/{name}/api/contents/{assignment}/{assignment}.ipynb"
        fetched = hub.request("GET", path).json()["content"]
        hub.request("PUT", path, json={"type": "notebook", "format": "json",
                                       "content": solved(fetched, source, numbers)})
        after = listing(hub.request("POST", f"/user/{name}/assignments/submit", data=form))
        assert "submitted" in {a["status"] for a in after if a["assignment_id"] == assignment}
    # %ovnb check in a kernel opened for the notebook, as JupyterLab opens one: the server tells
    # the kernel its notebook, whose saved answers and checks it reads (ada has written hers but
    # not run them yet; linus has written nothing)
    notebook = f"{assignment}/{assignment}.ipynb"
    said = {name: hub.run(name, hub.open_notebook(name, notebook), "%load_ext ovnb\n%ovnb check")
            for name in ("ada", "linus")}
    assert said["ada"].splitlines()[0] == ("Exercise 1 (1 point): not yet: name 'pirate' is not "
                                          "defined: run your answer's cell first"), said
    assert said["linus"].splitlines()[0].startswith(
        "Exercise 1 (1 point): not yet: not answered: write your answer in its cell"), said
    assert said["linus"].splitlines()[-1] == "0 of 2 passed: 0 of 2 points", said
    hub.track_children()
    inbound = course.exchange / course.course_id / "inbound"
    submissions = sorted(p.name for p in inbound.iterdir())
    assert [s.split("+")[:2] for s in submissions] == [[n, assignment] for n in sorted(work)]
    # what keeps learners apart where each is their own account: nobody can list the inbound
    # folder (submissions are named with a random part), the course folder (solutions, grades) is
    # the instructor's, the learners' nbgrader config is read-only to them
    assert stat.S_IMODE(inbound.stat().st_mode) & 0o777 == 0o733
    assert stat.S_IMODE(course.root.stat().st_mode) == 0o700
    config = course.learner_config_dir / "nbgrader_config.py"
    assert not config.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    # the instructor grades, with the learners' tiny models
    monkeypatch.setenv("OVNB_TINY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OVNB_CACHE", str(shared))
    graded = subprocess.run([sys.executable, "-m", "ovnb", "classroom", "--grade",
                             str(course.root)], capture_output=True, text=True)
    assert graded.returncode == 0, graded.stderr[-3000:]
    rows = {line.split()[0]: line.split()[1:] for line in graded.stdout.splitlines()[1:]}
    assert rows == {"ada": ["2/2"], "grace": ["1/2"], "linus": ["0/2"]}, graded.stdout
