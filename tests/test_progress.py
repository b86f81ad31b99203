"""Running tools: success is quiet, failure names the tool's own last error."""
from __future__ import annotations

import sys

import pytest

from ovnb.errors import OvnbError
from ovnb.progress import run_tool


def test_success() -> None:
    run_tool([sys.executable, "-c", "print('hello')"], "saying hello")


def test_failure_names_the_last_error_line() -> None:
    script = "import sys; print('working'); print('ValueError: bad shape'); print('bye'); sys.exit(3)"
    with pytest.raises(OvnbError) as err:
        run_tool([sys.executable, "-c", script], "exporting")
    assert str(err.value) == "exporting failed (exit 3): ValueError: bad shape"


def test_a_terminals_control_sequences_are_neither_shown_nor_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """tqdm ends a bar with ESC[?25h, errors come in colour: a notebook would show boxes."""
    from ovnb import progress

    shown: list[str] = []

    class Recording:
        def set_postfix_str(self, text: str, refresh: bool = True) -> None:
            shown.append(text)

        def update(self, n: int = 1) -> None: ...

        def close(self) -> None: ...

    monkeypatch.setattr(progress, "bar", lambda *args, **kwargs: Recording())
    script = ("import sys; print('\\x1b[?25l 65/? [00:24<00:00]\\x1b[?25h'); "
              "print('\\x1b[31mValueError: bad shape\\x1b[0m'); sys.exit(2)")
    with pytest.raises(OvnbError) as err:
        run_tool([sys.executable, "-c", script], "exporting")
    assert str(err.value) == "exporting failed (exit 2): ValueError: bad shape"
    assert shown == ["65/? [00:24<00:00]", "ValueError: bad shape"]


def test_messages_go_to_stderr_outside_a_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    from ovnb import progress

    assert not progress.in_kernel()
    progress.say("building tiny-llm")
    captured = capsys.readouterr()
    assert captured.err == "[ovnb] building tiny-llm\n" and captured.out == ""


def test_in_a_kernel_a_message_is_a_grey_line_not_stderr(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Jupyter shows stderr on a red background, as errors: a progress note is not one."""
    import IPython.display

    from ovnb import progress

    shown: list[tuple[dict, dict]] = []
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    progress.say("exporting <fp16>")
    assert capsys.readouterr().err == ""
    (bundle, options), = shown
    assert options == {"raw": True}
    assert bundle["text/plain"] == "[ovnb] exporting <fp16>"
    assert f"color:{progress.QUIET}" in bundle["text/html"] and "&lt;fp16&gt;" in bundle["text/html"]


def test_in_kernel_knows_a_kernel_from_a_terminal_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import IPython

    from ovnb import progress

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    assert progress.in_kernel()
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace())  # terminal
    assert not progress.in_kernel()
