"""Run code in a real Jupyter kernel: benchmarks and tests measure widgets where comms are real."""
from __future__ import annotations

from typing import Any


def execute(client: Any, code: str, timeout: float = 1800, echo: bool = False) -> str:
    """Run ``code`` through a jupyter_client ``client``; returns its stdout, raising on an error.

    ``echo`` prints everything the kernel streams as it comes (for long runs watched live).
    """
    msg_id = client.execute(code)
    out = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            if echo:
                print(content["text"], end="", flush=True)
            if content["name"] == "stdout":
                out.append(content["text"])
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)
