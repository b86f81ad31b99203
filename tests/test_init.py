"""``import ovnb`` must stay instant: no heavy framework may load with it."""
from __future__ import annotations

import subprocess
import sys

import ovnb

HEAVY = ("openvino", "openvino_genai", "torch", "transformers", "optimum", "nncf", "diffusers")


def test_import_loads_no_framework() -> None:
    code = "import sys, ovnb; print(' '.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""


def test_lazy_names_resolve() -> None:
    assert callable(ovnb.prepare) and callable(ovnb.adapters) and callable(ovnb.catalog)
    assert {"prepare", "adapters", "catalog"} <= set(dir(ovnb))


def test_unknown_name_is_attribute_error() -> None:
    try:
        ovnb.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
