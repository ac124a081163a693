"""The ``hrm`` command line: ``hrm <command> ...``; each command lives in its own module here.

Every command module exposes ``register(subparsers)``, which adds its parser and sets ``func``. A
:class:`hrm.errors.UserError` (bad input, missing file, mismatched checkpoint) is printed as one line and
exits with code 2; set ``HRM_TRACEBACK=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from hrm._version import __version__
from hrm.errors import UserError

# Order is the order in `hrm --help`.
COMMAND_MODULES = ("data", "train", "demo", "plot", "convert", "evaluate", "solve", "analyze", "view", "info")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrm",
        description="Hierarchical Reasoning Model: build datasets, train, evaluate, solve and analyse.",
    )
    parser.add_argument("--version", action="version", version=f"hrm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"hrm.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if os.environ.get("HRM_TRACEBACK"):
            raise
        print(f"hrm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hrm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`, which closed early: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
