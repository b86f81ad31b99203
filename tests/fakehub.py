"""A fake Hugging Face hub on 127.0.0.1 that serves local folders as model repos.

It speaks the part of the hub's HTTP API that huggingface_hub 1.21 uses for ``model_info``,
``snapshot_download`` and ``hf_hub_download`` (no xet):
- ``GET /api/models/{repo}[/revision/{rev}]``: the repo's info (sha, siblings, pipeline_tag, config...);
- ``HEAD|GET /{repo}/resolve/{rev}/{file}``: small files answer 200 with ``ETag`` (git blob sha1),
  ``Content-Length`` and ``X-Repo-Commit``; weights ("LFS" files) answer 302 to ``/cdn/{sha256}``
  with ``X-Linked-Etag`` and ``X-Linked-Size``, as the real hub redirects to its CDN;
- a repo added with ``gated="manual"`` serves files only to ``Authorization: Bearer {TOKEN}``;
- errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), which
  huggingface_hub turns into its typed exceptions.
Every request is logged in ``FakeHub.requests`` so tests can check what was (not) fetched.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".onnx", ".msgpack", ".h5", ".pt", ".pth", ".ckpt")
TOKEN = "hf_fake_token"  # the one token that opens gated repos (a real stored token does not)
MAX_THREADS = 16  # bounded: a runaway client cannot make the server spawn threads without end


class Repo:
    """A served folder: its files with their etags, and a commit sha derived from its content."""

    def __init__(self, repo_id: str, folder: Path, info: dict[str, Any]) -> None:
        self.id = repo_id
        self.files: dict[str, Path] = {p.relative_to(folder).as_posix(): p
                                       for p in sorted(folder.rglob("*")) if p.is_file()}
        self.etags = {name: _etag(path) for name, path in self.files.items()}
        self.sha = hashlib.sha1(json.dumps(self.etags, sort_keys=True).encode()).hexdigest()
        self.info = {**_model_info(self, folder), **info}

    def is_lfs(self, name: str) -> bool:
        return name.endswith(LFS_SUFFIXES)


def _etag(path: Path) -> str:
    """The hub's ETag: sha256 of an LFS file, git blob sha1 of any other."""
    data = path.read_bytes()
    if path.name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _model_info(repo: Repo, folder: Path) -> dict[str, Any]:
    """What the hub's /api/models answers, derived from the folder as the hub derives it."""
    config: dict[str, Any] = {}
    library = None
    if (folder / "config.json").is_file():
        full = json.loads((folder / "config.json").read_text())
        config = {k: full[k] for k in ("architectures", "model_type") if k in full}
        library = "transformers"
    if (folder / "model_index.json").is_file():
        index = json.loads((folder / "model_index.json").read_text())
        config = {"diffusers": {"_class_name": index.get("_class_name")}}
        library = "diffusers"
    info: dict[str, Any] = {
        "id": repo.id, "modelId": repo.id, "sha": repo.sha, "private": False, "gated": False,
        "disabled": False, "library_name": library, "tags": [library] if library else [],
        "config": config, "siblings": [{"rfilename": name} for name in repo.files],
    }
    params = _safetensors_params([p for n, p in repo.files.items()
                                  if n.endswith(".safetensors") and "/" not in n])
    if params:
        info["safetensors"] = {"parameters": params, "total": sum(params.values())}
    return info


def _safetensors_params(paths: list[Path]) -> dict[str, int]:
    """Parameter counts per dtype, read from the headers of the root's safetensors, as the hub does."""
    counts: dict[str, int] = {}
    for path in paths:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8).ljust(8, b"\0"))
            if not 0 < size < path.stat().st_size:
                continue  # not a safetensors file: the hub shows no count for it either
            header = json.loads(fh.read(size))
        for name, tensor in header.items():
            if name != "__metadata__":
                n = 1
                for dim in tensor["shape"]:
                    n *= dim
                counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + n
    return counts


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub
        self.slots = threading.BoundedSemaphore(MAX_THREADS)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.slots.acquire()
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a silent client releases its thread

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:
        self._route(body=True)

    def do_HEAD(self) -> None:
        self._route(body=False)

    def _route(self, body: bool) -> None:
        hub = self.server.hub
        path = unquote(urlsplit(self.path).path)
        hub.log(self.command, path)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and (len(parts) == 4 or parts[4:5] == ["revision"]):
            self._info(hub.repo("/".join(parts[2:4])), "/".join(parts[5:]) or "main", body)
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._resolve(hub.repo("/".join(parts[:2])), parts[3], "/".join(parts[4:]), body)
        elif len(parts) == 2 and parts[0] == "cdn" and parts[1] in hub.blobs:
            self._send_file(hub.blobs[parts[1]], {}, body)
        else:
            self._error(404, "NotFound", "no such route", body)

    def _info(self, repo: Repo | None, revision: str, body: bool) -> None:
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository not found", body)
        if revision not in ("main", repo.sha):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        data = json.dumps(repo.info).encode()
        self._reply(200, {"Content-Type": "application/json", "Content-Length": str(len(data))},
                    data if body else b"")

    def _resolve(self, repo: Repo | None, revision: str, name: str, body: bool) -> None:
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository not found", body)
        if revision not in ("main", repo.sha):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        if name not in repo.files:
            return self._error(404, "EntryNotFound", f"{name} does not exist", body, repo.sha)
        if repo.info.get("gated") and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, "GatedRepo", f"Access to model {repo.id} is restricted", body)
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{repo.etags[name]}"'}
        if repo.is_lfs(name):
            size = repo.files[name].stat().st_size
            headers.update({"Location": f"{self.server.hub.url}/cdn/{repo.etags[name]}",
                            "X-Linked-Etag": f'"{repo.etags[name]}"', "X-Linked-Size": str(size),
                            "Content-Length": "0"})
            return self._reply(302, headers, b"")
        self._send_file(repo.files[name], headers, body)

    def _send_file(self, path: Path, headers: dict[str, str], body: bool) -> None:
        data = path.read_bytes()
        start = _range_start(self.headers.get("Range"))
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        headers["Content-Length"] = str(len(data) - start)
        self._reply(status, headers, data[start:] if body else b"")

    def _error(self, status: int, code: str, message: str, body: bool, sha: str | None = None) -> None:
        data = json.dumps({"error": message}).encode()
        headers = {"X-Error-Code": code, "X-Error-Message": message,
                   "Content-Type": "application/json", "Content-Length": str(len(data))}
        if sha:
            headers["X-Repo-Commit"] = sha
        self._reply(status, headers, data if body else b"")

    def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)


def _range_start(header: str | None) -> int:
    """The start of a ``bytes=N-`` range (huggingface_hub resumes downloads with these)."""
    if header and header.startswith("bytes=") and header.endswith("-"):
        return int(header[len("bytes="):-1])
    return 0


class FakeHub:
    """The server: ``add`` folders as repos, point HF_ENDPOINT at ``url``, read ``requests``."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, Path] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def add(self, repo_id: str, folder: Path, **info: Any) -> Repo:
        """Serve ``folder`` as ``repo_id``; ``info`` overrides fields of its /api/models answer."""
        repo = Repo(repo_id, Path(folder), info)
        with self._lock:
            self.repos[repo_id.lower()] = repo
            self.blobs.update({repo.etags[n]: p for n, p in repo.files.items() if repo.is_lfs(n)})
        return repo

    def repo(self, repo_id: str) -> Repo | None:
        return self.repos.get(repo_id.lower())

    def log(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def touched(self, repo_id: str) -> set[str]:
        """Files of ``repo_id`` that any request asked for (HEAD for metadata, GET for content)."""
        prefix = f"/{repo_id}/resolve/"
        return {p[len(prefix):].split("/", 1)[1] for _, p in self.requests if p.startswith(prefix)}


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHub]:
    """A running fake hub for the module's tests, stopped at the end."""
    hub = FakeHub().start()
    try:
        yield hub
    finally:
        hub.stop()


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connections:
    """How many connections a test server accepted (tests count attempts, they never time them)."""

    def __init__(self) -> None:
        self.count = 0


@contextlib.contextmanager
def silent_server(hang_up: bool = False) -> Iterator[tuple[str, Connections]]:
    """A server that accepts connections and never answers, like a black-holed network (or, with
    ``hang_up``, closes each at once, like a hub that refuses): its URL and its connection count."""
    seen = Connections()
    held: list[socket.socket] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.1)
        done = threading.Event()

        def accept() -> None:
            while not done.is_set():
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                seen.count += 1
                if hang_up:
                    conn.close()
                else:
                    held.append(conn)

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}", seen
        finally:
            done.set()
            thread.join()
            for conn in held:
                conn.close()
