"""The ``hrm`` command line: ``hrm <command> ...``; each command lives in its own module here.

Every command module exposes ``register(subparsers)``, which adds its parser and sets ``func``. A
:class:`hrm.errors.UserError` (bad input, missing file, mismatched checkpoint) is printed as one line and
exits with code 2, and so is an ``OSError`` from the file system (full disk, read-only, no permission); set
``HRM_TRACEBACK=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from hrm._version import __version__
from hrm.errors import UserError

# Order is the order in `hrm --help`.
COMMAND_MODULES = (
    "data",
    "train",
    "demo",
    "plot",
    "convert",
    "evaluate",
    "solve",
    "models",
    "analyze",
    "compare",
    "view",
    "info",
)


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
    code = _main(argv)
    from hrm.runtime.distributed import created_process_group

    if created_process_group():
        # A torchrun rank whose run is over (its process group already destroyed, its files closed): leave without
        # the interpreter's teardown, during which gloo's C++ threads can still abort the process ("terminate
        # called without an active exception") and turn a finished run into a failed one.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: list[str] | None = None) -> int:
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
    except BrokenPipeError:
        # Output piped into e.g. `head`, which closed early: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A full disk, a read-only file system or a permission problem met while writing: the environment, not a
        # bug, so one line (writers are atomic, so nothing half-written is left behind).
        from hrm.runtime.files import ENVIRONMENT_ERRNOS, os_error_message

        if exc.errno not in ENVIRONMENT_ERRNOS or os.environ.get("HRM_TRACEBACK"):
            raise
        print(f"hrm: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hrm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
