"""Telling the user what is happening: one-line messages and tqdm.auto bars.

Messages go to stderr so that the CLI's stdout stays machine-readable (its last line is the folder).
In a Jupyter kernel, stderr is shown on a red background, as errors are: there a message is a grey
line of HTML instead (a progress note is not an error). tqdm.auto shows a notebook bar in Jupyter
and a text bar in a terminal.
"""
from __future__ import annotations

import collections
import html
import re
import subprocess
import sys
from collections.abc import Sequence

from ovnb.errors import OvnbError

# a terminal's control sequences (colours, cursor moves: tqdm ends its bars with ESC[?25h), which a
# notebook shows as a box and a few characters
ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
# quiet text in a notebook's HTML output: the theme's secondary text colour (readable in light and
# dark; a fixed #666 was 3.3:1 on the dark theme's background)
QUIET = "var(--jp-content-font-color2, #616161)"


def say(message: str) -> None:
    """Show a one-line status message: on stderr, or as a grey line in a notebook."""
    line = f"[ovnb] {message}"
    if in_kernel():
        from IPython.display import display

        display({"text/plain": line, "text/html": f"<span style='color:{QUIET};font-size:90%'>"
                 f"{html.escape(line)}</span>"}, raw=True)
    else:
        print(line, file=sys.stderr, flush=True)


def in_kernel() -> bool:
    """Whether this runs inside a Jupyter kernel (not a terminal IPython, not a plain script)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def bar(total: int | None, desc: str, unit: str = "it"):  # -> tqdm
    """A progress bar that fits where we run (notebook widget or terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)


def run_tool(args: Sequence[str], desc: str, env: dict[str, str] | None = None) -> None:
    """Run a command (an argument list, never a split string) with a live activity bar.

    The bar counts output lines and shows the latest one (as plain text); on failure the error
    names the command's last meaningful lines instead of dumping its whole log.
    """
    tail: collections.deque[str] = collections.deque(maxlen=30)
    say(desc)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", env=env, bufsize=1)
    progress = bar(None, desc, unit="line")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            for part in ESCAPES.sub("", line).replace("\r", "\n").splitlines():
                if part.strip():
                    tail.append(part.strip())
                    progress.set_postfix_str(part.strip()[:60], refresh=False)
            progress.update(1)
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        progress.close()
    if code != 0:
        detail = _last_error(tail)
        raise OvnbError(f"{desc} failed (exit {code}): {detail}")


def _last_error(lines: collections.deque[str]) -> str:
    """The most telling line of a failed tool's output: its last error, else its last line."""
    for line in reversed(lines):
        if "Error" in line or "error:" in line:
            return line
    return lines[-1] if lines else "no output"
