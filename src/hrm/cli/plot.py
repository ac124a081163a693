"""``hrm plot RUN_DIR``: write the run's training curves to a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="plot a run's training curves to a PNG",
        description="Plot the loss, accuracy, segment and learning-rate curves of a run "
        "directory (from its metrics.jsonl).",
    )
    parser.add_argument("run_dir", type=Path, help="run directory written by `hrm train`")
    parser.add_argument("--out", type=Path, help="PNG to write (default: RUN_DIR/curves.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrm.runtime.files import check_output_file
    from hrm.training.plots import plot_run

    if args.out is not None:
        check_output_file(args.out, "--out")
    print(plot_run(args.run_dir, args.out))
    return 0
