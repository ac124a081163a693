"""Benchmark the dataset builders at the reference sizes: build time and peak memory.

    .venv/bin/python benchmarks/bench_data_build.py --data-root ../shared/data [--only sudoku|arc|maze] [--keep]

* Sudoku: ``hrm data sudoku --preset sudoku-extreme-like --num-aug 1000`` (1k training puzzles × (1 + 1000)
  variants = 1,001,000 training examples, as the reference's Sudoku-Extreme-1k build).
* ARC: ``hrm data arc --preset arc-agi-1 --num-aug 1000 --allow-duplicates`` (the reference's 960 tasks, its one
  task in both splits kept, up to 1001 variants each; ~7 GB on disk).
* Maze: ``hrm data maze`` (1000 + 1000 generated hard 30×30 mazes, every label verified).

Each build runs in its own process (the real CLI); wall time is measured around it and peak memory is that
process's maximum resident set size (``wait4``). Results go to ``benchmarks/results/data_build.json``. Builds
are written under a temporary folder and deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, return code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    print(out, end="")
    code = os.waitstatus_to_exitcode(status)
    peak_kib = usage.ru_maxrss  # KiB on Linux
    return wall, peak_kib / 1024.0, code


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_SAMPLER_SNIPPET = """
import sys, time
from hrm.data.format import load_dataset_root
from hrm.data.sampling import TrainSampler
sampler = TrainSampler(load_dataset_root(sys.argv[1]).train, int(sys.argv[2]), seed=0)
next(sampler)
start = time.perf_counter()
for _ in range(200):
    next(sampler)
print((time.perf_counter() - start) / 200 * 1000)
"""


def _sampler_throughput(root: Path, batch: int) -> float:
    """Milliseconds per training batch from the built split (CPU trainer's access pattern).

    Runs in a child process: touching memory-mapped pages here would inflate this process's RSS, which a forked
    child's ``ru_maxrss`` can inherit."""
    out = subprocess.run(
        [sys.executable, "-c", _SAMPLER_SNIPPET, str(root), str(batch)], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--only", choices=["sudoku", "arc", "maze"])
    parser.add_argument("--work-dir", type=Path, help="where to build (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the built datasets")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "data_build.json")
    args = parser.parse_args()

    hrm = [sys.executable, "-m", "hrm"]
    benches = {
        "sudoku_extreme_like_1k_x1000": hrm
        + [
            "data",
            "sudoku",
            "--preset",
            "sudoku-extreme-like",
            "--data-root",
            str(args.data_root),
            "--num-aug",
            "1000",
            "--seed",
            "0",
        ],
        "arc_agi_1_aug1000": hrm
        + [
            "data",
            "arc",
            "--preset",
            "arc-agi-1",
            "--data-root",
            str(args.data_root),
            "--num-aug",
            "1000",
            "--seed",
            "0",
            # The size measured so far (960 tasks): training/40853293 = evaluation/070dd51e is kept.
            "--allow-duplicates",
        ],
        "maze_30x30_hard_1k": hrm
        + ["data", "maze", "--size", "30", "--num-train", "1000", "--num-test", "1000", "--seed", "0"],
    }
    if args.only is not None:
        benches = {k: v for k, v in benches.items() if k.startswith(args.only)}

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="hrm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results["environment"] = {
        "cpus_visible": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "numpy": __import__("numpy").__version__,
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "note": "shared 2-core machine; other jobs may have been running (load average recorded per run)",
    }
    results.setdefault("builds", {})
    _, baseline_mib, _ = _run([sys.executable, "-c", "import hrm.cli, hrm.data.sudoku, hrm.data.arc"])
    results["environment"]["baseline_import_rss_mib"] = round(baseline_mib, 1)  # python + numpy + torch (hrm/__init__)
    data_root_shown = os.path.relpath(args.data_root, REPO)
    for name, cmd in benches.items():
        out = work / name
        if out.exists():
            shutil.rmtree(out)
        load_before = os.getloadavg()[0]
        print(f"== {name}: {' '.join(cmd[2:])} --out {out}", flush=True)
        wall, peak_mib, code = _run(cmd + ["--out", str(out), "--no-progress"])
        if code != 0:
            print(f"{name} failed with exit code {code}", file=sys.stderr)
            return 1
        summary = json.loads((out / "build.json").read_text())
        batch = 768
        results["builds"][name] = {
            "command": "hrm "
            + " ".join(data_root_shown if c == str(args.data_root) else c for c in cmd[3:])
            + " --out DIR",
            "wall_seconds": round(wall, 1),
            "peak_rss_mib": round(peak_mib, 1),
            "disk_bytes": _du(out),
            "load_average_before": round(load_before, 2),
            "splits": summary["splits"],
            "num_puzzle_identifiers": summary["num_puzzle_identifiers"],
            "stats": summary["stats"],
            f"train_sampler_ms_per_batch_{batch}": round(_sampler_throughput(out, batch), 3),
        }
        print(f"   {wall:.1f} s, peak RSS {peak_mib:.0f} MiB, {_du(out) / 2**30:.2f} GiB on disk", flush=True)
        if not args.keep:
            shutil.rmtree(out)
    if not args.keep and args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"results -> {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
