"""Which setting learns minimal 6x6 Sudoku fastest on a CPU? A small, documented search.

Each candidate is ``hrm train cpu-sudoku-6x6-minimal`` with a few overrides, run under the same wall-clock budget
(``--minutes``, the cosine schedule decays over it) and the same number of CPU threads; ``--parallel`` candidates
run side by side (use ``--threads 1 --parallel 2`` on a 2-core machine so that every run gets one core). The table
reports each candidate's held-out exact accuracy after its budget. The curriculum candidate spends the first half
of its budget on 20-given puzzles and the second half on minimal ones, starting from the first half's weights
(``checkpoint.init_from``).

Usage::

    python runs/search_minimal.py --minutes 8 --threads 1 --parallel 2 --out runs_out/search-minimal
    python runs/search_minimal.py --only base,lr-1e-3          # a subset

Results: a Markdown table on stdout and ``OUT/results.json`` (overrides, steps, exact accuracy per candidate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CANDIDATES: dict[str, list[str]] = {
    "base": [],  # the recipe: width 64, 2+2 layers, N=T=2, M_max 4, AdamW lr 3e-3, cosine to 0.1, batch 128
    "lr-1e-3": ["lr=1e-3"],
    "lr-6e-3": ["lr=6e-3"],
    "constant-lr": ["optim.lr_min_ratio=1.0"],
    "mmax-2": ["arch.halt_max_steps=2"],
    "mmax-8": ["arch.halt_max_steps=8"],
    "width-128": ["arch.hidden_size=128"],
    "curriculum": [],  # half the budget on 20-given puzzles, then minimal puzzles from those weights
}


def hrm_command() -> list[str]:
    return [sys.executable, "-m", "hrm"]


def train(recipe: str, out: Path, overrides: list[str], minutes: float, threads: int, log: Path) -> None:
    command = [
        *hrm_command(),
        "train",
        recipe,
        "--out",
        str(out),
        f"schedule.time_budget_minutes={minutes}",
        f"runtime.num_threads={threads}",
        "logging.progress=false",
        "logging.plot=false",
        "checkpoint.every_eval=false",
        "checkpoint.keep_last=1",
        *overrides,
    ]
    with log.open("a") as handle:
        handle.write(" ".join(command) + "\n")
        handle.flush()
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT)


def last_eval(run: Path) -> dict:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in records if r["split"] == "eval"]
    if not evals:
        raise RuntimeError(f"{run} has no evaluation record")
    return evals[-1]


def run_candidate(name: str, args: argparse.Namespace) -> dict:
    out = args.out / name
    log = args.out / f"{name}.log"
    minimal = [f"data={args.data_minimal}", *CANDIDATES[name]]
    start = time.perf_counter()
    if name == "curriculum":
        half = args.minutes / 2
        train("cpu-sudoku-6x6", args.out / "curriculum-g20", [f"data={args.data_g20}"], half, args.threads, log)
        train(
            "cpu-sudoku-6x6-minimal",
            out,
            [*minimal, f"checkpoint.init_from={args.out / 'curriculum-g20'}"],
            half,
            args.threads,
            log,
        )
    else:
        train("cpu-sudoku-6x6-minimal", out, minimal, args.minutes, args.threads, log)
    record = last_eval(out)
    return {
        "name": name,
        "overrides": CANDIDATES[name],
        "steps": record["step"],
        "exact_accuracy": record["exact_accuracy"],
        "token_accuracy": record["accuracy"],
        "eval_lm_loss": record["lm_loss"],
        "wall_s": time.perf_counter() - start,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per candidate")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time")
    parser.add_argument("--only", default="", help="comma-separated candidate names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("runs_out/search-minimal"))
    parser.add_argument("--data-minimal", type=Path, default=Path("data/sudoku-6x6-minimal"))
    parser.add_argument("--data-g20", type=Path, default=Path("data/sudoku-6x6-g20"))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(CANDIDATES)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty; choose another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    # Build both datasets once, before the runs start, so that no two runs generate the same data at once.
    for recipe, data in (("cpu-sudoku-6x6-minimal", args.data_minimal), ("cpu-sudoku-6x6", args.data_g20)):
        if not (data / "train").is_dir():
            subprocess.run(
                [
                    *hrm_command(),
                    "train",
                    recipe,
                    f"data={data}",
                    "max_steps=1",
                    "--out",
                    str(args.out / f"_build-{data.name}"),
                    "logging.progress=false",
                    "logging.plot=false",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        results = list(pool.map(lambda n: run_candidate(n, args), names))
    report = {
        "search": "cpu-sudoku-6x6-minimal",
        "minutes_per_candidate": args.minutes,
        "threads": args.threads,
        "parallel": args.parallel,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": results,
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print("| candidate | overrides | steps | held-out exact | token acc |\n|---|---|---|---|---|")
    for r in sorted(results, key=lambda r: -r["exact_accuracy"]):
        overrides = " ".join(r["overrides"]) or ("20-given warm-up" if r["name"] == "curriculum" else "recipe")
        print(f"| {r['name']} | `{overrides}` | {r['steps']} | {r['exact_accuracy']:.1%} | {r['token_accuracy']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
