"""``hrm compare SPEC.yaml --out DIR`` (a grid of runs under one budget) and ``hrm compare --report DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrm.cli.test_time_args import add_depth_breadth_arguments, depth_breadth_options

EPILOG = """\
examples:
  hrm compare runs/compare/smoke.yaml --out runs_out/smoke      # 2 families x 2 seeds on the tiny recipe
  hrm compare runs/compare/smoke.yaml --out runs_out/smoke      # again: finished cells are skipped
  hrm compare runs/compare/smoke.yaml --check                   # validate the spec only (nothing written)
  hrm compare --report runs_out/smoke                           # rebuild summary.md/.csv and plots/
  hrm compare SPEC.yaml --out DIR --engine ray                  # cells as Ray tasks (pip install 'hrm-reasoning[ray]')
  hrm compare --search SEARCH.yaml --out DIR                    # an Optuna search (pip install 'hrm-reasoning[search]')
  hrm compare --test-time DIR --depth 64 --breadth 1,4 --views 1,8 --test-time-rows 100   # depth x breadth per cell

A spec names tasks (recipes), families (model + overrides) and seeds, and one budget (steps, minutes or flops).
See docs/compare.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run a grid of families x tasks x seeds under one budget; tables and plots over seeds",
        description="The comparison lab: every (family, task, seed) cell of SPEC is trained under one budget and "
        "evaluated on held-out data; one JSON record per cell, a summary table with mean, sd and a 95% "
        "t-interval over seeds, and plots. Resumable: rerun the same command to finish an interrupted grid.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", nargs="?", type=Path, help="the spec (YAML)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: runs_out/compare-NAME)")
    parser.add_argument("--report", type=Path, metavar="DIR", help="rebuild the table and plots of DIR and exit")
    parser.add_argument("--search", type=Path, metavar="SEARCH.yaml", help="run an Optuna search spec instead")
    parser.add_argument("--check", action="store_true", help="validate the spec, list its cells and exit")
    parser.add_argument("--engine", choices=("local", "ray"), help="override the spec's engine")
    parser.add_argument("--parallel", type=int, metavar="N", help="override the spec's cells at a time")
    tt = parser.add_argument_group(
        "depth x breadth over the cells (--test-time DIR --depth D ...: every finished cell's checkpoint on its own "
        "split; DIR/test_time.md, .json, .png; see docs/compare.md)"
    )
    tt.add_argument("--test-time", type=Path, metavar="DIR", help="the comparison directory whose cells to sweep")
    tt.add_argument("--split", default="test", metavar="NAME", help="split of each cell's dataset (default test)")
    tt.add_argument("--families", metavar="F[,F...]", help="only these families' cells")
    tt.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_depth_breadth_arguments(tt, standalone=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrm.errors import UserError
    from hrm.lab.grid import run_compare
    from hrm.lab.plan import plan_cells
    from hrm.lab.report import format_markdown, summarise, write_report
    from hrm.lab.spec import load_spec
    from hrm.lab.study_dir import RECORDS_FILE

    if args.test_time is not None:
        from hrm.lab.test_time import run_study_test_time

        if args.spec is not None or args.search is not None or args.report is not None:
            raise UserError("--test-time DIR takes no spec, --search or --report; use it alone")
        options = depth_breadth_options(args)
        if options is None:
            raise UserError("--test-time DIR needs --depth D (the most segments a trajectory runs)")
        families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
        for path in run_study_test_time(
            args.test_time, options, split=args.split, families=families, progress=not args.no_progress
        ):
            print(f"wrote {path}")
        return 0
    if args.depth is not None:
        raise UserError("--depth and its companions go with --test-time DIR")
    if args.report is not None:
        if args.spec is not None or args.search is not None:
            raise UserError("--report DIR takes no spec; use `hrm compare --report DIR` alone")
        for path in write_report(args.report):
            print(path)
        return 0
    if args.search is not None:
        from hrm.lab import search

        if args.spec is not None:
            raise UserError("give either SPEC or --search SEARCH.yaml, not both")
        search_spec = search.load_search_spec(args.search)
        out = args.out or Path("runs_out") / f"search-{search_spec.name}"
        search_result = search.run_search(search_spec, out, parallel=args.parallel)
        print(search.format_trials(search_result))
        return 0
    if args.spec is None:
        raise UserError("give a spec (e.g. runs/compare/smoke.yaml), --report DIR or --search SEARCH.yaml")
    spec = load_spec(args.spec)
    if args.check:
        cells = plan_cells(spec)
        print(f"{spec.name}: {len(cells)} cells under a budget of {spec.budget.describe()}")
        if spec.tune is not None:
            from hrm.lab.tune import search_specs

            searches = search_specs(spec)  # every family's search space checked against its config
            trials = next(iter(searches.values())).trials
            print(f"  first: {len(searches)} searches (family x task) of {trials} trial(s) each, seed 0")
        for cell in cells:
            print(f"  {cell.id}")
        return 0
    out = args.out or Path("runs_out") / f"compare-{spec.name}"
    result = run_compare(spec, out, engine=args.engine, parallel=args.parallel)
    print(format_markdown(summarise(result.records)) if result.records else "no finished cells")
    print(f"records: {out / RECORDS_FILE}")
    if result.failed:
        raise UserError(
            f"{len(result.failed)} cell(s) failed ({', '.join(result.failed)}); see {out}/cells/ID/log.txt, "
            "then rerun the same command to retry them"
        )
    return 0
