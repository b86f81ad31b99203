"""Binder, proven: build the environment from binder/ alone, then run every notebook under 2 GB.

What repo2docker does with this repository, step by step, on this machine:
1. copy the repository's tracked files (what a clone holds) into a work folder;
2. make a fresh virtualenv (no site packages) and ``pip install -r binder/requirements.txt``
   from the repository's root (repo2docker's working directory; ``-e .`` installs ovnb from it);
3. run ``binder/postBuild`` there, with a fresh HOME (the image's home: its default model cache);
4. run each notebook top to bottom as ``binder/start jupyter nbconvert --execute ...`` (start
   sets the session's environment, then hands over), each in its own memory cgroup limited to
   2 GB, swap included, as Binder limits a session, and print its peak memory.

The hub is cut off while the notebooks run (HF_ENDPOINT is a closed loopback port): on Binder the
hub answers, but every Binder default prepares offline, so the run is the same (on a machine
without network, fallbacks would show; here nothing may need the hub).

Memory: a cgroup v2 ``memory.max`` where the memory controller is on cgroup v2, else the cgroup v1
``memory.limit_in_bytes`` + ``memory.memsw.limit_in_bytes`` (the same enforcement: the kernel
reclaims page cache, then kills at the limit). "peak" is the cgroup's own high-water mark
(``memory.peak`` / ``memory.max_usage_in_bytes``): it counts page cache, which the kernel
reclaims under the limit, so it can sit near 2 GB without harm; "anon peak" polls the
non-reclaimable part (anonymous memory: what must fit). An OOM kill is counted and reported.
The cgroup is made inside this process's own cgroup (nothing else is touched); needs root.

    python benchmarks/binder_check.py [--work DIR] [--limit-gb 2] [--reuse] [NOTEBOOK ...]

Prints figures; asserts nothing. Exit code 1 when a step or a notebook failed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
GB = 1024**3
POLL = 0.2  # seconds between memory samples
NOTEBOOK_TIMEOUT = 3600  # seconds for one notebook, all cells


# --- memory cgroups ---------------------------------------------------------------------------
class Cgroup:
    """A memory-limited cgroup made inside this process's own cgroup (v2, else v1)."""

    def __init__(self, name: str, limit: int) -> None:
        self.version, parent = _own_memory_cgroup()
        self.path = parent / name
        self.path.mkdir()
        if self.version == 2:
            self._write("memory.max", limit)
            self._write("memory.swap.max", 0)
        else:
            self._write("memory.limit_in_bytes", limit)
            if (self.path / "memory.memsw.limit_in_bytes").exists():
                self._write("memory.memsw.limit_in_bytes", limit)  # swap included

    def _write(self, name: str, value: int | str) -> None:
        (self.path / name).write_text(str(value))

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def join(self) -> None:
        """Move the calling process in (run in the child, before exec)."""
        self._write("cgroup.procs", os.getpid())

    def peak(self) -> int:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return int(self._read(name))

    def anon(self) -> int:
        stat = dict(line.split() for line in self._read("memory.stat").splitlines())
        if self.version == 2:
            return int(stat["anon"])
        return int(stat.get("total_rss", stat["rss"]))  # v1 rss already counts huge pages

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        lines = dict(line.split() for line in self._read(name).splitlines())
        return int(lines.get("oom_kill", 0))

    def pids(self) -> list[int]:
        return [int(p) for p in self._read("cgroup.procs").split()]

    def remove(self) -> None:
        """End what is left of this run's processes (only those in this cgroup), then remove it."""
        for _ in range(50):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        self.path.rmdir()


def _own_memory_cgroup() -> tuple[int, Path]:
    """(version, folder) of this process's cgroup in the hierarchy that has the memory controller."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0":  # cgroup v2: memory must be enabled for our children
            for _, point, kind, *_ in mounts:
                if kind == "cgroup2":
                    folder = Path(point) / path.lstrip("/")
                    subtree = folder / "cgroup.subtree_control"
                    if "memory" in (folder / "cgroup.controllers").read_text().split():
                        if "memory" not in subtree.read_text().split():
                            subtree.write_text("+memory")
                        return 2, folder
        elif "memory" in controllers.split(","):
            for _, point, kind, options, *_ in mounts:
                if kind == "cgroup" and "memory" in options.split(","):
                    return 1, Path(point) / path.lstrip("/")
    raise SystemExit("no writable memory cgroup here (cgroup v2 with the memory controller, or "
                     "v1 memory): run as root on Linux")


# --- running a step -------------------------------------------------------------------------------
@dataclass
class Run:
    """One step under the limit: how it ended and what it used."""

    name: str
    code: int
    seconds: float
    peak: int
    anon_peak: int
    oom_kills: int
    tail: str

    @property
    def result(self) -> str:
        if self.oom_kills:
            return f"KILLED (out of memory, {self.oom_kills}x)"
        return "ok" if self.code == 0 else f"FAILED (exit {self.code}): {self.tail}"


def run_limited(name: str, args: list[str], cwd: Path, env: dict[str, str], limit: int,
                log: Path) -> Run:
    """Run ``args`` in a fresh cgroup limited to ``limit`` bytes, sampling its memory."""
    group = Cgroup(f"ovnb-binder-{os.getpid()}-{name}", limit)
    highest = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(POLL):
            highest[0] = max(highest[0], group.anon())

    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=group.join, start_new_session=True)
        threading.Thread(target=sample, daemon=True).start()
        try:
            code = proc.wait(timeout=NOTEBOOK_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
    done.set()
    seconds = time.perf_counter() - start
    figures = Run(name, code, seconds, group.peak(), max(highest[0], group.anon()),
                  group.oom_kills(), _tail(log))
    group.remove()
    return figures


def _tail(log: Path) -> str:
    """The most telling line of a failed run's log: its last error line, else its last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error:" in line:
            return line[:200]
    return lines[-1][:200] if lines else "no output"


# --- building the environment ----------------------------------------------------------------------
def copy_repo(dest: Path) -> None:
    """The repository's tracked files, as a clone has them (the working tree's content)."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def session_env(work: Path, hub: str) -> dict[str, str]:
    """A Binder session's environment: the venv first on PATH, its own HOME, nothing of ours but
    how this machine's pip reaches its package indexes (PIP_* and the user's pip.conf: on Binder,
    pip has the network)."""
    keep = ("LANG", "LC_ALL", "TERM", "TMPDIR", "USER")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    user_pip = Path.home() / ".config" / "pip" / "pip.conf"
    if user_pip.is_file() and "PIP_CONFIG_FILE" not in env:
        env["PIP_CONFIG_FILE"] = str(user_pip)
    home = work / "home"
    env.update(HOME=str(home), PATH=f"{work / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
               VIRTUAL_ENV=str(work / "venv"), HF_ENDPOINT=hub, PYTHONUNBUFFERED="1",
               JUPYTER_CONFIG_DIR=str(home / ".jupyter"))
    return env


def build(work: Path, env: dict[str, str]) -> float:
    """Steps 1-2: the copy and the virtualenv with binder/requirements.txt; seconds taken."""
    start = time.perf_counter()
    repo = work / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    copy_repo(repo)
    (work / "home").mkdir(exist_ok=True)
    shutil.rmtree(work / "venv", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    pip = [str(work / "venv" / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True, env=env)
    install(work, env)
    return time.perf_counter() - start


def install(work: Path, env: dict[str, str]) -> None:
    """``pip install -r binder/requirements.txt`` from the copy's root into the work venv (in a
    reused venv, pip adds only what the file gained since: the same packages as a fresh build)."""
    repo = work / "repo"
    pip = [str(work / "venv" / "bin" / "python"), "-m", "pip"]
    env = _without_retries_if_unreachable(repo / "binder" / "requirements.txt", env)
    with open(work / "pip.log", "w") as log:
        done = subprocess.run([*pip, "install", "-r", "binder/requirements.txt"], cwd=repo,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"pip install -r binder/requirements.txt failed: {_tail(work / 'pip.log')}")


def _without_retries_if_unreachable(requirements: Path, env: dict[str, str]) -> dict[str, str]:
    """pip retries an index it cannot reach five times per package (minutes over a whole install);
    where an extra index's host does not even resolve, retrying it cannot help: turn retries off.
    What gets installed is the same (the packages come from the indexes that answer)."""
    hosts = [urlparse(line.split(None, 1)[1]).hostname
             for line in requirements.read_text().splitlines()
             if line.startswith(("--extra-index-url", "--index-url")) and " " in line]
    unreachable = []
    for host in filter(None, hosts):
        try:
            socket.getaddrinfo(host, 443)
        except socket.gaierror:
            unreachable.append(host)
    if not unreachable:
        return env
    print(f"note: {', '.join(unreachable)} does not resolve here; pip retries off (what that "
          "index serves comes from this machine's own indexes)", flush=True)
    return {**env, "PIP_RETRIES": "0"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mb(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names or numbers (default: all)")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    parser.add_argument("--limit-gb", type=float, default=2.0, help="memory limit (Binder: 2)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse --work's virtualenv (step 2 installs only what "
                        "binder/requirements.txt gained); the repository's files are copied "
                        "again and postBuild runs again (staged models are kept)")
    parser.add_argument("--build-only", action="store_true", help="stop after postBuild")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="ovnb-binder-"))
    limit = int(args.limit_gb * GB)
    env = session_env(work, f"http://127.0.0.1:{closed_port()}")
    repo = work / "repo"
    runs: list[Run] = []
    if args.reuse and not (work / "venv" / "bin" / "python").exists():
        raise SystemExit(f"--reuse: no virtualenv in {work / 'venv'}: give --work the folder of "
                         "an earlier run, or leave --reuse out")
    if args.reuse:
        copy_repo(repo)  # the venv's ovnb is this folder (-e .): it runs the current files
        start = time.perf_counter()
        install(work, env)  # what binder/requirements.txt gained since the venv was made
        print(f"environment: {time.perf_counter() - start:.0f} s (reused venv + pip install -r "
              "binder/requirements.txt: only what it lacked)", flush=True)
    else:
        print(f"building in {work} from binder/ ...", flush=True)
        print(f"environment: {build(work, env):.0f} s (fresh venv + pip install -r "
              "binder/requirements.txt)", flush=True)
    runs.append(run_limited("postBuild", ["binder/postBuild"], repo, env, limit,
                            work / "postBuild.log"))  # resumable: staged models are only read
    print(f"postBuild: {runs[-1].result}, {runs[-1].seconds:.0f} s, peak {mb(runs[-1].peak)} MB, "
          f"anon peak {mb(runs[-1].anon_peak)} MB", flush=True)
    wanted = [] if args.build_only else sorted((repo / "notebooks").glob("*.ipynb"))
    if args.notebooks:
        wanted = [p for p in wanted if any(p.name.startswith(n) for n in args.notebooks)]
    (work / "out").mkdir(exist_ok=True)
    for path in wanted:
        command = ["binder/start", "python", "-m", "jupyter", "nbconvert", "--to", "notebook",
                   "--execute", f"--ExecutePreprocessor.timeout={NOTEBOOK_TIMEOUT}",
                   "--output-dir", str(work / "out"), f"notebooks/{path.name}"]
        runs.append(run_limited(path.stem, command, repo, env, limit,
                                work / "out" / f"{path.stem}.log"))
        print(f"{path.stem}: {runs[-1].result}, {runs[-1].seconds:.0f} s, peak "
              f"{mb(runs[-1].peak)} MB, anon peak {mb(runs[-1].anon_peak)} MB", flush=True)
    print(f"\nunder a {args.limit_gb:g} GB limit (swap included), logs in {work}")
    print(f"{'step':32} {'result':10} {'seconds':>8} {'peak MB':>9} {'anon peak MB':>13}")
    for run in runs:
        status = "ok" if run.result == "ok" else run.result.split(" ")[0]
        print(f"{run.name:32} {status:10} {run.seconds:8.0f} {mb(run.peak):>9} "
              f"{mb(run.anon_peak):>13}")
    for run in runs:
        if run.result != "ok":
            print(f"{run.name}: {run.result}")
    return 0 if all(run.result == "ok" for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
