"""Benchmark: memory per learner when N learners on one machine load the same models.

Each learner is a real Jupyter kernel (jupyter_client) that loads the default chat model and the
default speech model from one cache, answers one question and transcribes one LibriVox clip. Then
each kernel's memory is read from /proc/PID/smaps_rollup (Rss, Pss, Shared_*, Private_*), its
mappings from /proc/PID/smaps are grouped by what they map (the model weights in the cache,
OpenVINO's libraries, other libraries, anonymous memory), and the script says how many learners
fit this machine's RAM, counting shared pages once. An idle single-user Jupyter server (what a
hub adds per learner) is measured too. Prints figures, asserts nothing.

    python benchmarks/classroom.py [--learners 4] [--cache-dir DIR] [--chat ID] [--speech ID]
                                   [--clip WAV] [--no-server]

Figures are in MB of 2**20 bytes (what /proc counts, divided by 1024); ovnb's estimates are in GB
of 10**9 bytes.

Shared pages: OpenVINO maps model weights from disk (mmap), so kernels that load the same folder
share those pages through the page cache, as they share the libraries' code. What each learner
adds is its private memory: its heap, the compiled model's buffers, the KV cache.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel
from kernel import execute  # benchmarks/kernel.py (this script's folder is on sys.path)

CHAT, SPEECH = "HuggingFaceTB/SmolLM2-135M-Instruct", "openai/whisper-tiny.en"
QUESTION = "What is the capital of France? Answer in one sentence."
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty")
MB = 1024  # smaps counts kB

KERNEL_CODE = textwrap.dedent("""
    import json, os, time
    import ovnb

    models = []  # kept loaded: the memory is measured after the answers

    def ask(chat_id, question):
        start = time.perf_counter()
        chat = ovnb.Chat(chat_id, max_new_tokens=32)
        models.append(chat)
        answer = chat.send(question)
        return {"text": answer, "error": chat.last_error, "seconds": time.perf_counter() - start}

    def listen(speech_id, clip):
        start = time.perf_counter()
        transcriber = ovnb.Transcriber(speech_id)
        models.append(transcriber)
        text = transcriber.transcribe(clip)
        return {"text": text, "error": transcriber.last_error,
                "seconds": time.perf_counter() - start}
""")


@dataclass
class Memory:
    """One process's memory in kB: the smaps_rollup totals and Rss/shared/private by kind."""

    totals: dict[str, int]
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def shared(self) -> int:
        return self.totals["Shared_Clean"] + self.totals["Shared_Dirty"]

    @property
    def private(self) -> int:
        return self.totals["Private_Clean"] + self.totals["Private_Dirty"]


def rollup(pid: int) -> dict[str, int]:
    """The smaps_rollup fields of ``pid`` (kB)."""
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in FIELDS:
            found[name] = int(rest.split()[0])
    return found


MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$")


def kind_of(path: str, cache: Path) -> str:
    """What a mapping holds, by its path."""
    if path.startswith(str(cache)):
        parts = Path(path).relative_to(cache).parts  # models/<id>/<precision>/<file>
        name = "/".join(parts[1:3]).replace("--", "/") if len(parts) > 3 else "?"
        return f"weights {name}" if path.endswith(".bin") else f"other files {name}"
    if ".so" in path or path.endswith(("/python", "/python3")) or re.search(r"python3\.\d+$", path):
        return "OpenVINO libraries" if "openvino" in path else "other libraries and Python"
    if path in ("", "[heap]") or path.startswith("[anon"):
        return "anonymous (heap, compiled buffers, KV cache)"
    return "other (stack, other files)"


def by_kind(pid: int, cache: Path) -> dict[str, dict[str, int]]:
    """Rss, shared and private kB of ``pid``'s mappings, grouped by ``kind_of``."""
    kinds: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        header = MAPPING.match(line)
        if header:
            current = kinds.setdefault(kind_of(header.group(1).strip(), cache),
                                       {"Rss": 0, "shared": 0, "private": 0})
            continue
        name, _, rest = line.partition(":")
        if current is None or name not in FIELDS or name == "Pss":
            continue
        value = int(rest.split()[0])
        key = "Rss" if name == "Rss" else "shared" if name.startswith("Shared") else "private"
        current[key] += value
    return kinds


def measure(pid: int, cache: Path) -> Memory:
    return Memory(rollup(pid), by_kind(pid, cache))


def meminfo() -> dict[str, int]:
    """MemTotal and MemAvailable (kB)."""
    found = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("MemTotal", "MemAvailable"):
            found[name] = int(rest.split()[0])
    return found


# learners --------------------------------------------------------------------------------------
def start_learner(env: dict[str, str]) -> tuple[object, object, int]:
    """A kernel with ovnb imported: (manager, client, its PID)."""
    manager, client = start_new_kernel(env=env)
    pid = int(execute(client, "import os; print(os.getpid())").strip())
    execute(client, KERNEL_CODE)
    return manager, client, pid


def call(client: object, code: str) -> dict:
    return json.loads(execute(client, f"print(json.dumps({code}))").strip().splitlines()[-1])


def idle_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """An idle Jupyter server, as a hub starts one per learner; (process, PID) once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=env["HOME"])
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return process, process.pid
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the Jupyter server did not answer in 2 minutes")


# report ----------------------------------------------------------------------------------------
def mb(kb: float) -> str:
    return f"{kb / MB:7.1f}"


def table(rows: list[tuple[str, Memory]]) -> list[str]:
    lines = [f"  {'MB':30} " + " ".join(f"{name:>13}" for name in FIELDS)]
    for label, memory in rows:
        lines.append(f"  {label:30} " + " ".join(f"{mb(memory.totals[n]):>13}" for n in FIELDS))
    return lines


def mean_memory(memories: list[Memory]) -> Memory:
    totals = {n: sum(m.totals[n] for m in memories) // len(memories) for n in FIELDS}
    kinds: dict[str, dict[str, int]] = {}
    for memory in memories:
        for kind, values in memory.kinds.items():
            into = kinds.setdefault(kind, {"Rss": 0, "shared": 0, "private": 0})
            for key, value in values.items():
                into[key] += value // len(memories)
    return Memory(totals, kinds)


def shared_lines(mean: Memory) -> list[str]:
    lines = [f"  {'MB (mean per learner)':50} {'Rss':>8} {'shared':>8} {'private':>8}"]
    for kind, values in sorted(mean.kinds.items(), key=lambda item: -item[1]["Rss"]):
        lines.append(f"  {kind:50} {mb(values['Rss']):>8} {mb(values['shared']):>8} "
                     f"{mb(values['private']):>8}")
    return lines


def model_lines(steps: list[list[Memory]], labels: list[str], folders: list[Path],
                cache: Path) -> list[str]:
    """What loading each model added to a learner's kernel (mean over learners), and how much
    of it is the model's weights mapped from the cache."""
    lines = [f"  {'MB (mean per learner)':50} {'Rss':>8} {'weights':>8} {'the rest':>8}"]
    for number, (label, folder) in enumerate(zip(labels, folders), 1):
        kind = kind_of(str(folder / "x.bin"), cache)
        rss = [step[number].totals["Rss"] - step[number - 1].totals["Rss"] for step in steps]
        weights = [step[number].kinds.get(kind, {}).get("Rss", 0) for step in steps]
        added, mapped = sum(rss) / len(rss), sum(weights) / len(weights)
        lines.append(f"  {label:50} {mb(added):>8} {mb(mapped):>8} {mb(added - mapped):>8}")
    return lines


def fit_lines(mean: Memory, server: Memory | None, before: dict[str, int], room: Any) -> list[str]:
    """How many learners fit: counting shared pages once, counting none as shared, and
    ovnb.classroom's estimate (what ``ovnb doctor --classroom N`` uses); for the RAM available
    when the benchmark started and for the whole RAM."""
    private = mean.private + (server.private if server else 0)
    shared = mean.shared + (server.shared if server else 0)
    alone = mean.totals["Rss"] + (server.totals["Rss"] if server else 0)
    lines = [f"  each learner adds {mb(private).strip()} MB private"
             f"{' (kernel + server)' if server else ''}; {mb(shared).strip()} MB are pages "
             "shared with the others (counted once)",
             f"  ovnb's estimate: {room.per_learner_gb:.2f} GB per learner alone, of which "
             f"{room.shared_gb:.2f} GB weights shared"]
    for label, ram in (("available at the start", before["MemAvailable"]),
                       ("this machine's RAM", before["MemTotal"])):
        gb = ram * 1024 / 1e9  # kB -> GB (10^9 bytes), as ovnb's estimates
        lines.append(f"  {label} ({gb:.1f} GB): measured {max(0, int((ram - shared) // private))} "
                     f"learners sharing pages, {int(ram // alone)} if nothing were shared; "
                     f"estimated {room.most(gb)} sharing the weights, "
                     f"{room.most(gb, sharing=False)} if nothing were shared")
    return lines


def learn(learners: list[tuple[object, object, int]], args: argparse.Namespace, clip: Path,
          cache: Path) -> list[list[Memory]]:
    """Each learner asks, then listens; its memory before, after the chat, after the speech."""
    steps = []
    for number, (_, client, pid) in enumerate(learners, 1):
        memory = [measure(pid, cache)]
        asked = call(client, f"ask({args.chat!r}, {QUESTION!r})")
        memory.append(measure(pid, cache))
        heard = call(client, f"listen({args.speech!r}, {str(clip)!r})")
        memory.append(measure(pid, cache))
        steps.append(memory)
        print(f"  learner {number} (pid {pid}): answered in {asked['seconds']:.1f} s "
              f"{asked['text'][:60]!r}{asked['error']}; transcribed in {heard['seconds']:.1f} s "
              f"{heard['text'][:50]!r}{heard['error']}", flush=True)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=4)
    parser.add_argument("--cache-dir", help="model cache (default: $OVNB_CACHE or ~/.cache/ovnb)")
    parser.add_argument("--chat", default=CHAT)
    parser.add_argument("--speech", default=SPEECH)
    parser.add_argument("--clip", type=Path, help="a speech clip (default: a LibriVox one)")
    parser.add_argument("--no-server", action="store_true", help="skip the idle Jupyter server")
    args = parser.parse_args()

    import ovnb
    from ovnb import classroom
    from ovnb.cache import cache_root

    cache = cache_root(args.cache_dir).resolve()
    folders = [ovnb.prepare(model, cache_dir=cache) for model in (args.chat, args.speech)]
    room = classroom.Plan(args.learners, tuple(classroom.describe(f) for f in folders))
    clip = args.clip or next(iter(sorted(LIBRIVOX.glob("*.wav"))), None) or \
        Path(ovnb.__file__).parent / "data" / "librivox-sense-and-sensibility-0870.flac"
    print(f"classroom: {args.learners} learners; chat {args.chat} ({folders[0].name}), speech "
          f"{args.speech} ({folders[1].name}); clip {clip.name}; cache {cache}", flush=True)
    env = {**os.environ, "OVNB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    before = meminfo()
    learners: list[tuple[object, object, int]] = []
    server, server_memory = None, None
    try:
        for _ in range(args.learners):  # appended one by one: a failure still stops the others
            learners.append(start_learner(env))
        steps = learn(learners, args, clip, cache)
        finals = [measure(pid, cache) for _, _, pid in learners]  # all loaded: pages now shared
        if not args.no_server:
            server = idle_server({**env, "HOME": os.environ.get("HOME", "/tmp")})
            server_memory = measure(server[1], cache)
    finally:
        if server:
            server[0].terminate()
            server[0].wait(timeout=30)
        for manager, client, _ in learners:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    mean = mean_memory(finals)
    rows = [(f"learner {n}", m) for n, m in enumerate(finals, 1)] + [("mean learner", mean)]
    rows += [("a kernel with ovnb, no model", mean_memory([step[0] for step in steps]))]
    rows += [("an idle Jupyter server", server_memory)] if server_memory else []
    print("\nmemory per process (smaps_rollup, both models loaded):", *table(rows), sep="\n")
    labels = [f"chat {args.chat} {folders[0].name}", f"speech {args.speech} {folders[1].name}"]
    print("\nwhat loading each model added:", *model_lines(steps, labels, folders, cache),
          sep="\n")
    print("\nwhat is shared (smaps, by mapping):", *shared_lines(mean), sep="\n")
    print("\nhow many learners fit:", *fit_lines(mean, server_memory, before, room),
          sep="\n")


if __name__ == "__main__":
    main()
