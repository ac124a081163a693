"""Which setting learns minimal 6x6 Sudoku fastest on a CPU? A search on the comparison lab, driven by Optuna.

``--sampler grid`` (the default) runs the named candidates of ``runs/compare/search_minimal.yaml`` (the original
hand-written search's, less the curriculum, which chains two runs: runs/cpu_sudoku_6x6_minimal_curriculum.sh);
``--sampler tpe`` searches ranges instead (learning rate, its floor, M_max, width) with Optuna's TPE sampler.
Every trial trains ``cpu-sudoku-6x6-minimal`` for the same wall-clock budget with the same thread count; the
lab's directory holds the records, table, plots, the Optuna study (rerun to continue) and ``trials.json``.

Usage::

    python runs/search_minimal.py --minutes 8 --parallel 2 --out runs_out/search-minimal
    python runs/search_minimal.py --sampler tpe --trials 12 --minutes 8 --out runs_out/search-minimal-tpe

Needs ``pip install 'hrm[search]'`` (Optuna). Results: a Markdown table on stdout, ``OUT/trials.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from hrm.lab.search import format_trials, parse_search_spec, run_search

SPEC = Path(__file__).resolve().parent / "compare" / "search_minimal.yaml"
TPE_PARAMS = {
    "optim.lr": {"low": 5e-4, "high": 1e-2, "log": True},
    "optim.lr_min_ratio": {"choices": [0.1, 1.0]},
    "arch.halt_max_steps": {"choices": [2, 4, 8]},
    "arch.hidden_size": {"choices": [64, 128]},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per trial")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per trial")
    parser.add_argument("--parallel", type=int, default=2, help="trials at a time")
    parser.add_argument("--sampler", choices=("grid", "tpe"), default="grid")
    parser.add_argument("--trials", type=int, help="number of trials (default: every grid candidate, or 12)")
    parser.add_argument("--out", type=Path, default=Path("runs_out/search-minimal"))
    args = parser.parse_args()
    data = yaml.safe_load(SPEC.read_text())
    data["budget"] = {"minutes": args.minutes}
    data["threads"] = args.threads
    if args.sampler == "tpe":
        data.update(sampler="tpe", params=TPE_PARAMS, trials=args.trials or 12, name="search-minimal-tpe")
    elif args.trials:
        data["trials"] = args.trials
    spec = parse_search_spec(data, text=yaml.safe_dump(data, sort_keys=False))
    result = run_search(spec, args.out, parallel=args.parallel)
    print(format_trials(result, spec.metric))
    return 0


if __name__ == "__main__":
    sys.exit(main())
