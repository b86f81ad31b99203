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
