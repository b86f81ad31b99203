"""The ``ovnb`` command: prepare models and list the catalog from a terminal.

``ovnb prepare`` prints progress on stderr and the prepared folder as the last stdout line, so
scripts can use ``folder=$(ovnb prepare tiny-llm | tail -n 1)``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ovnb.catalogs import PRECISIONS
from ovnb.errors import OvnbError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ovnb", description="OpenVINO GenAI models for Jupyter")
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="download or build, export and cache a model")
    prep.add_argument("model_id", help="catalog id (see `ovnb list`) or Hugging Face id")
    prep.add_argument("--precision", choices=PRECISIONS, help="weights (default: the catalog's)")
    prep.add_argument("--cache-dir", help="model cache (default: $OVNB_CACHE or ~/.cache/ovnb)")
    show = commands.add_parser("list", help="print the model catalog")
    show.add_argument("--task", choices=["chat", "speech", "image", "vision-chat"])
    return parser


def _prepare(args: argparse.Namespace) -> None:
    from ovnb.models import prepare

    print(prepare(args.model_id, args.precision, args.cache_dir))


def _list(args: argparse.Namespace) -> None:
    from ovnb.catalogs import catalog

    rows = [(e["id"], e["task"], e.get("default_precision", "fp16"), e.get("description", ""))
            for e in catalog(args.task)]
    table = [("ID", "TASK", "DEFAULT", "DESCRIPTION"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for row in table:
        print("  ".join(col.ljust(w) for col, w in zip(row, widths)) + "  " + row[3])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (1: a problem the message explains)."""
    args = _parser().parse_args(argv)
    try:
        {"prepare": _prepare, "list": _list}[args.command](args)
    except OvnbError as exc:
        print(f"ovnb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ovnb: interrupted; the cache holds no partial model (run the same command to resume)",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
