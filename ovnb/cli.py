"""The ``ovnb`` command: prepare models, stage a workshop, list the catalog, check a machine.

``ovnb prepare`` prints progress on stderr and the prepared folder as the last stdout line, so
scripts can use ``folder=$(ovnb prepare tiny-llm | tail -n 1)``. ``--all-defaults`` and
``--from FILE`` prepare many models and print a summary table instead. ``ovnb doctor --classroom N``
adds whether N learners fit this machine; ``ovnb classroom --config`` writes an example
``jupyterhub_config.py`` for a workshop, ``--course DIR`` releases the series as nbgrader
assignments and ``--grade DIR`` grades what learners submitted.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ovnb.catalogs import PRECISIONS
from ovnb.families import TASKS
from ovnb.errors import OvnbError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ovnb", description="OpenVINO GenAI models for Jupyter")
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="download or build, export and cache models")
    prep.add_argument("model_id", nargs="?",
                      help="catalog id (see `ovnb list`) or Hugging Face id")
    prep.add_argument("--precision", choices=PRECISIONS, help="weights (default: the catalog's)")
    prep.add_argument("--cache-dir", help="model cache (default: $OVNB_CACHE or ~/.cache/ovnb)")
    prep.add_argument("--trust-remote-code", action="store_true",
                      help="allow exports that run the model repo's own code")
    many = prep.add_mutually_exclusive_group()
    many.add_argument("--all-defaults", action="store_true",
                      help="every task's default model (with OVNB_TINY=1: all tiny and offline ones)")
    many.add_argument("--from", dest="from_file", metavar="FILE",
                      help="a file of `ID [PRECISION]` lines (# starts a comment)")
    show = commands.add_parser("list", help="print the model catalog")
    show.add_argument("--task", choices=TASKS)
    doctor = commands.add_parser("doctor", help="check packages, devices, memory, cache and hub")
    doctor.add_argument("--cache-dir", help="model cache (default: $OVNB_CACHE or ~/.cache/ovnb)")
    doctor.add_argument("--classroom", type=_learners, metavar="N",
                        help="also say whether N learners fit this machine for the staged models")
    room = commands.add_parser("classroom", help="a JupyterHub for a workshop: its config, and "
                                                 "the series as nbgrader assignments")
    todo = room.add_mutually_exclusive_group(required=True)
    todo.add_argument("--config", nargs="?", const="-", metavar="FILE",
                      help="write the example jupyterhub_config.py to FILE (default: stdout)")
    todo.add_argument("--course", metavar="DIR",
                      help="make DIR an nbgrader course of the series and release its assignments")
    todo.add_argument("--grade", metavar="DIR",
                      help="collect and grade the submissions to the course in DIR; print scores")
    room.add_argument("--exchange", default=None, metavar="DIR",
                      help="nbgrader's exchange folder, shared with the learners "
                           "(default: /srv/nbgrader/exchange)")
    room.add_argument("--notebooks", default=None, metavar="DIR",
                      help="the series' notebooks (default: the ones beside this ovnb)")
    return parser


def _learners(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of learners (1 or more), got {text!r}")
    return int(text)


def _prepare(args: argparse.Namespace) -> int:
    if args.all_defaults or args.from_file:
        return _stage(args)
    if not args.model_id:
        raise OvnbError("give a MODEL_ID, --all-defaults or --from FILE (`ovnb list` shows ids)")
    from ovnb.models import prepare

    print(prepare(args.model_id, args.precision, args.cache_dir, args.trust_remote_code))
    return 0


def _stage(args: argparse.Namespace) -> int:
    """Prepare many models; exit 1 when any failed (the table says which and why)."""
    from ovnb import staging

    if args.model_id or args.precision:
        raise OvnbError("--all-defaults and --from prepare a list: give no MODEL_ID or --precision "
                        "(precisions go in the file, after each id)")
    items = staging.read_list(args.from_file) if args.from_file else staging.default_items()
    rows = staging.stage(items, args.cache_dir)
    print(staging.table(rows, args.cache_dir))
    return 1 if any(row.status == "failed" for row in rows) else 0


def _list(args: argparse.Namespace) -> int:
    from ovnb import catalogs

    print(catalogs.table(args.task))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from ovnb import doctor

    checks = doctor.run(args.cache_dir, classroom=args.classroom)
    print(doctor.report(checks, args.cache_dir))
    return doctor.exit_code(checks)


def _classroom(args: argparse.Namespace) -> int:
    """The example JupyterHub config, or the nbgrader course (--course, --grade)."""
    if args.course or args.grade:
        return _course(args)
    from ovnb import classroom

    if args.config == "-":
        print(classroom.config_text(), end="")
        return 0
    path = Path(args.config).expanduser()
    if path.exists():
        raise OvnbError(f"{path} exists: remove it, or give another FILE")
    try:
        path.write_text(classroom.config_text())
    except OSError as exc:
        raise OvnbError(f"cannot write {path} ({exc.strerror}): choose a writable FILE") from None
    print(path)
    return 0


def _course(args: argparse.Namespace) -> int:
    """Lay out and release the course, or grade it: nbgrader does the work."""
    from ovnb import course

    if args.grade:
        if args.exchange or args.notebooks:
            raise OvnbError("--grade reads the course's own settings: give only its DIR")
        made = course.open_course(args.grade)
        course.grade(made)
        print(course.table(made))
        return 0
    exchange = Path(args.exchange).expanduser() if args.exchange else course.EXCHANGE
    notebooks = (course.with_exercises(Path(args.notebooks).expanduser()) if args.notebooks
                 else None)
    try:
        made = course.lay_out(Path(args.course).expanduser(), exchange, notebooks=notebooks)
    except PermissionError as exc:
        raise OvnbError(f"cannot write {exc.filename}: run as the instructor who owns it "
                        "(or choose other folders with --course and --exchange)") from None
    released = course.release(made)
    print(f"released {len(released)} assignments of course {made.course_id!r} to {made.exchange}")
    print(f"learners' servers need JUPYTER_CONFIG_PATH={made.learner_config_dir} "
          "(the example jupyterhub_config.py sets it)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (1: a problem the message explains)."""
    args = _parser().parse_args(argv)
    try:
        return {"prepare": _prepare, "list": _list, "doctor": _doctor,
                "classroom": _classroom}[args.command](args)
    except OvnbError as exc:
        print(f"ovnb: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ovnb list | head` closed our stdout: nothing is wrong
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("ovnb: interrupted; the cache holds no partial model (run the same command to resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
