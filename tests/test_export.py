"""Export arguments: each precision maps to the NNCF compression optimum-intel should apply."""
from __future__ import annotations

import pytest

from ovnb.errors import OvnbError
from ovnb.export import precision_args


def _opt(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_fp16_and_int8() -> None:
    assert precision_args("fp16", {}) == ["--weight-format", "fp16"]
    assert precision_args("int8", {}) == ["--weight-format", "int8"]


def test_int4_uses_the_catalog_options() -> None:
    args = precision_args("int4", {"group_size": 64, "ratio": 0.8, "sym": True, "awq": True})
    assert _opt(args, "--weight-format") == "int4"
    assert _opt(args, "--group-size") == "64" and _opt(args, "--ratio") == "0.8"
    assert "--sym" in args and "--awq" in args and _opt(args, "--dataset") == "wikitext2"


def test_int4_npu_is_symmetric_channel_wise() -> None:
    args = precision_args("int4-npu", {"group_size": 64})
    assert _opt(args, "--weight-format") == "int4" and "--sym" in args
    assert _opt(args, "--group-size") == "-1" and _opt(args, "--ratio") == "1.0"


def test_unknown_precision() -> None:
    with pytest.raises(OvnbError):
        precision_args("int2", {})
