"""A classroom on a real JupyterHub: three learners, one read-only model cache, own compile caches.

The instructor's steps, then the learners': a shared cache is staged (`ovnb prepare --from FILE`)
and made read-only; a hub on loopback starts three users' servers through its REST API; each user
chats with tiny-llm in a kernel of their own server (all three at once), driven over the kernel
websocket as a browser would. Then: every answer came from the shared model, nothing was written
to the shared cache, and each user's compiled blobs went to a folder in their own home.
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

import pytest

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
def hub(shared: Path) -> Iterator[hubs.Hub]:
    if hubs.proxy_command() is None:
        pytest.skip("configurable-http-proxy is missing: npm install -g configurable-http-proxy "
                    "(setup.sh installs it)")
    pytest.importorskip("jupyterhub", reason="pip install -e '.[dev]' (setup.sh) installs it")
    environment = {"OVNB_CACHE": str(shared), "HF_HUB_OFFLINE": "1",
                   "TOKENIZERS_PARALLELISM": "false"}
    running = hubs.start(shared.parent, environment)
    try:
        yield running
    finally:
        killed = hubs.stop(running)
    assert not killed, "processes the hub left running (killed now):\n" + "\n".join(killed)


def test_three_learners_share_one_read_only_cache(hub: hubs.Hub, shared: Path) -> None:
    before = snapshot(shared)
    hub.add_users(USERS)
    for name in USERS:  # all three spawn at once, as when a class logs in
        hub.start_server(name)
    for name in USERS:
        assert hub.wait_ready(name)["url"] == f"/user/{name}/"
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
