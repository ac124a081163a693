"""``hrm train RECIPE [key=value ...]`` and ``hrm train --resume RUN_DIR``: train HRM.

Runs in one process, or data-parallel under ``torchrun --nproc-per-node N -m hrm train ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hrm.errors import UserError

EPILOG = """\
examples:
  hrm train tiny                                   # a few seconds on a CPU: a smoke test
  hrm train cpu-sudoku-6x6                         # 6x6 Sudoku on a laptop CPU (generates its data)
  hrm train sudoku-extreme-1k data=data/sudoku-extreme-1k-aug-1000 --out runs_out/sudoku
  hrm train cpu-sudoku-6x6 arch.hidden_size=128 lr=1e-3 schedule.time_budget_minutes=5
  hrm train --resume runs_out/sudoku               # continue exactly where the run stopped
  torchrun --nproc-per-node 8 -m hrm train arc-agi-1 data=data/arc-aug-1000
  hrm train --list                                 # recipes;  hrm train RECIPE --keys: every override key
"""


class IntermixedParser(argparse.ArgumentParser):
    """Accepts ``key=value`` overrides before and after options (``hrm train tiny --out DIR lr=1e-3``).

    Plain argparse stops collecting positionals at the first option; the sub-command parser swaps to this class
    and parses with ``parse_known_intermixed_args`` (which itself calls ``parse_known_args``, hence the guard).
    """

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train HRM from a recipe (with key=value overrides) or resume a run",
        description="Train HRM. A recipe gives a complete config; key=value arguments override its fields "
        "(dotted keys such as arch.hidden_size=256, or aliases such as lr=1e-4 data=PATH).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    parser.add_argument("--out", type=Path, help="run directory (default: runs_out/<recipe>-<date>-<time>)")
    parser.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from its newest checkpoint"
    )
    parser.add_argument("--device", help="override runtime.device: auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("--keys", action="store_true", help="list every override key and exit")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(func=run)
    parser.__class__ = IntermixedParser


def resolve_config(args: argparse.Namespace):
    """The TrainConfig and run directory that ``args`` describe (no side effects)."""
    from hrm.training.config import apply_overrides
    from hrm.training.recipes import get_recipe
    from hrm.training.run_dir import RunDir

    overrides = list(args.overrides)
    if args.resume is not None:
        # `hrm train --resume DIR key=value`: argparse puts the first override in `recipe`.
        if args.recipe is not None:
            overrides.insert(0, args.recipe)
        config = RunDir(args.resume).read_config()
        run_dir = args.resume
    else:
        if args.recipe is None:
            raise UserError("give a recipe (hrm train --list shows them) or --resume RUN_DIR")
        if "=" in args.recipe:
            raise UserError(
                f"{args.recipe!r} looks like an override; the first argument must be a recipe name "
                "(hrm train --list shows them)"
            )
        config = get_recipe(args.recipe)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = args.out if args.out is not None else Path("runs_out") / f"{config.name}-{stamp}"
    if args.device:
        overrides.append(f"runtime.device={args.device}")
    config = apply_overrides(config, overrides)
    return config, Path(run_dir)


def run(args: argparse.Namespace) -> int:
    from hrm.runtime.distributed import print0
    from hrm.training.config import valid_keys
    from hrm.training.recipes import RECIPES

    if args.list:
        for name, factory in RECIPES.items():
            doc = (factory.__doc__ or "").strip().splitlines()
            config = factory()
            print(
                f"{name:26s} data={config.data.path}  batch={config.schedule.global_batch_size}  "
                f"lr={config.optim.lr:g}  hidden={config.arch.hidden_size}" + (f"  {doc[0]}" if doc else "")
            )
        return 0
    if args.keys:
        print("\n".join(valid_keys()))
        return 0
    config, run_dir = resolve_config(args)
    print0(json.dumps(config.to_dict(), indent=2))
    if args.print_config:
        return 0
    from hrm.runtime.files import check_output_dir
    from hrm.training.trainer import train

    check_output_dir(run_dir, "--resume" if args.resume is not None else "--out")

    print0(f"run directory: {run_dir}" + (" (resuming)" if args.resume is not None else ""), file=sys.stderr)
    result = train(config, run_dir, resume=args.resume is not None)
    summary = f"finished at step {result.step}/{result.total_steps} in {result.elapsed_s / 60:.1f} min"
    if result.last_eval is not None:
        summary += f"; eval exact_accuracy {result.last_eval['exact_accuracy']:.4f}"
    if result.best is not None:
        on = f", chosen on the {result.best['on']}" if result.best.get("on") else ""
        summary += f" (best {result.best['value']:.4f} at step {result.best['step']}{on})"
    print0(summary, file=sys.stderr)
    if result.checkpoint is not None:
        print0(f"checkpoint: {result.checkpoint}", file=sys.stderr)
    return 0
