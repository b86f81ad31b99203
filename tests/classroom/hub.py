"""A real JupyterHub on loopback for tests: config, start, REST calls, kernels, and a clean stop.

The hub runs with the DummyAuthenticator and the SimpleLocalProcessSpawner (both ship with
JupyterHub, for tests), configurable-http-proxy in front, every port a free loopback one, and an
admin API token given to a service in its config. Kernels are driven the way a learner's browser
drives them: through the proxy, the single-user server's REST API and its kernel websocket.
Every process it starts (hub, proxy, single-user servers, kernels) is recorded by PID, so the stop
can check that each one is gone and end only those.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

SERVICE = "classroom-test"  # the service holding the test's admin API token
# what the token may do: create users, start and stop their servers, and use those servers
SCOPES = ["admin:users", "admin:servers", "access:servers", "read:hub", "shutdown"]
START_TIMEOUT = 300  # seconds a single-user server may take to start on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proxy_command() -> str | None:
    """configurable-http-proxy from npm (setup.sh installs it), or None."""
    return shutil.which("configurable-http-proxy")


@dataclass
class Hub:
    """A running hub: its public URL (the proxy), its admin token and everything it started."""

    folder: Path
    url: str
    token: str
    process: subprocess.Popen[bytes] | None = None
    started: dict[int, psutil.Process] = field(default_factory=dict)

    # REST -----------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``path`` below the public URL, with the admin token; raises on an HTTP error."""
        headers = {"Authorization": f"token {self.token}"}
        response = httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)
        response.raise_for_status()
        return response

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """The hub's REST API (``/hub/api/...``); the decoded JSON answer, or None."""
        response = self.request(method, "/hub/api" + path, **kwargs)
        return response.json() if response.content.strip() else None

    def add_users(self, names: list[str]) -> None:
        self.api("POST", "/users", json={"usernames": names})

    def start_server(self, name: str) -> None:
        """Ask for ``name``'s server; returns at once (the hub answers 201 or 202)."""
        self.request("POST", f"/hub/api/users/{name}/server")

    def wait_ready(self, name: str) -> dict[str, Any]:
        """Follow the hub's spawn progress events for ``name`` until the ready (or failed) one."""
        headers = {"Authorization": f"token {self.token}"}
        url = f"{self.url}/hub/api/users/{name}/server/progress"
        with httpx.stream("GET", url, headers=headers, timeout=START_TIMEOUT) as events:
            events.raise_for_status()
            for line in events.iter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[len("data:"):])
                if event.get("ready"):
                    return event
                if event.get("failed"):
                    raise RuntimeError(f"{name}'s server failed to start: {event.get('message')}"
                                       f"\n{self.log_tail()}")
        raise RuntimeError(f"the progress of {name}'s server ended without a verdict")

    # kernels --------------------------------------------------------------------------------
    def start_kernel(self, name: str) -> str:
        """A new python3 kernel in ``name``'s server (its REST API, through the proxy)."""
        kernel = self.request("POST", f"/user/{name}/api/kernels", json={"name": "python3"})
        return kernel.json()["id"]

    def open_notebook(self, name: str, path: str) -> str:
        """A kernel for the notebook at ``path`` in ``name``'s server, as JupyterLab opens one
        (a session: the server tells the kernel its notebook); its id."""
        session = self.request("POST", f"/user/{name}/api/sessions", json={
            "path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook",
            "kernel": {"name": "python3"}})
        return session.json()["kernel"]["id"]

    def run(self, name: str, kernel_id: str, code: str) -> str:
        """Run ``code`` in the kernel over its websocket; its stdout, raising on an error."""
        import websocket  # websocket-client, which jupyter_server requires

        base = self.url.replace("http://", "ws://")
        url = f"{base}/user/{name}/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(url, header=[f"Authorization: token {self.token}"],
                                         timeout=START_TIMEOUT)
        try:
            msg_id = send_execute(ws, code)
            return collect(ws, msg_id)
        finally:
            ws.close()

    def track(self, pid: int) -> None:
        """Record a process this hub started (by PID, with its start time against PID reuse)."""
        if pid not in self.started:
            self.started[pid] = psutil.Process(pid)

    def track_children(self) -> None:
        """Record every process below the hub now: the proxy, the servers, their kernels."""
        if self.process is not None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.track(child.pid)

    def log_tail(self, lines: int = 40) -> str:
        log = self.folder / "hub.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def send_execute(ws: Any, code: str) -> str:
    """Send an execute_request on the shell channel (Jupyter messaging 5.3 as JSON)."""
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
              "session": uuid.uuid4().hex, "version": "5.3",
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": True}
    ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                        "channel": "shell", "buffers": []}))
    return msg_id


def collect(ws: Any, msg_id: str) -> str:
    """stdout of the request ``msg_id`` until its reply and the kernel's idle status."""
    out, replied, idle = [], False, False
    while not (replied and idle):
        frame = ws.recv()
        if isinstance(frame, bytes):  # a message with binary buffers (widget state): not ours
            continue
        msg = json.loads(frame)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            out.append(content["text"])
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "execute_reply":
            replied = True
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    return "".join(out)


# configuration and life cycle ------------------------------------------------------------------
def write_config(folder: Path, public: int, environment: dict[str, str], token: str) -> Path:
    """The hub's config for a test: loopback ports, dummy users, per-user homes, admin token."""
    config = {
        "JupyterHub": {
            "bind_url": f"http://127.0.0.1:{public}",
            "hub_bind_url": f"http://127.0.0.1:{free_port()}",
            "db_url": f"sqlite:///{folder / 'hub.sqlite'}",
            "cookie_secret_file": str(folder / "cookie_secret"),
            "pid_file": str(folder / "hub.pid"),
            "authenticator_class": "dummy",
            "spawner_class": "simple",
            "services": [{"name": SERVICE, "api_token": token}],
            "load_roles": [{"name": SERVICE, "scopes": SCOPES, "services": [SERVICE]}],
            # answer a spawn request at once (202) instead of waiting 10 s for the server, so the
            # three servers start side by side; readiness comes from the progress events
            "tornado_settings": {"slow_spawn_timeout": 0},
        },
        "ConfigurableHTTPProxy": {"api_url": f"http://127.0.0.1:{free_port()}",
                                  "pid_file": str(folder / "proxy.pid")},
        "SimpleLocalProcessSpawner": {"home_dir_template": str(folder / "homes" / "{username}")},
        "Spawner": {
            "cmd": [sys.executable, "-m", "jupyterhub.singleuser"],
            # the spawner runs servers as the hub's user; as root, jupyter_server must be told so
            "args": ["--ServerApp.allow_root=True"] if os.getuid() == 0 else [],
            "environment": environment,
            "start_timeout": START_TIMEOUT,
            "http_timeout": START_TIMEOUT,
        },
    }
    path = folder / "jupyterhub_config.py"
    lines = ["c = get_config()  # noqa: F821 (JupyterHub provides it)"]
    for section, values in config.items():
        lines += [f"c.{section}.{key} = {value!r}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start(folder: Path, environment: dict[str, str]) -> Hub:
    """Start a hub in ``folder`` whose user servers get ``environment``; returns once it answers."""
    public, token = free_port(), secrets.token_hex(32)
    config = write_config(folder, public, environment, token)
    hub = Hub(folder, f"http://127.0.0.1:{public}", token)
    log = (folder / "hub.log").open("wb")
    hub.process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)],
                                   cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    log.close()
    hub.track(hub.process.pid)
    try:
        wait_answering(hub)
    except BaseException:
        stop(hub)
        raise
    hub.track_children()
    return hub


def wait_answering(hub: Hub, timeout: float = 120) -> None:
    """Until the hub's API answers through the proxy (or the hub exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited with {hub.process.returncode}:\n"
                               f"{hub.log_tail()}")
        try:
            if httpx.get(hub.url + "/hub/api/", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"jupyterhub did not answer within {timeout:.0f} s:\n{hub.log_tail()}")


def stop(hub: Hub) -> list[str]:
    """Shut the hub down (it stops the servers and the proxy), then end any process it started
    that is still there. Returns those that had to be killed (empty when all stopped cleanly)."""
    hub.track_children()
    if hub.process is not None and hub.process.poll() is None:
        try:
            hub.api("POST", "/shutdown", json={"servers": True, "proxy": True})
            hub.process.wait(timeout=60)
        except (httpx.HTTPError, subprocess.TimeoutExpired):
            hub.process.terminate()
            try:
                hub.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
    left = [proc for proc in hub.started.values() if _alive(proc)]
    if left:  # give servers and kernels a moment to finish exiting after the hub
        psutil.wait_procs(left, timeout=20)
    killed = []
    for proc in hub.started.values():
        if _alive(proc):
            killed.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
            proc.kill()
    if hub.process is not None and hub.process.poll() is None:
        hub.process.wait()
    return killed


def _alive(proc: psutil.Process) -> bool:
    """Still our process (same PID and start time) and not a zombie."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
