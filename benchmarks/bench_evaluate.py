"""Evaluation at ARC scale on the CPU: rows/s, kernel (system) time and page faults, with and without
``hrm.runtime.memory.keep_freed_memory`` (what ``hrm evaluate`` applies on the CPU).

Each measurement is a fresh worker process (the allocator setting is process-wide and one-way) that loads the
checkpoint, evaluates the first ``--rows`` rows of the split at ``--batch-size`` exactly as ``hrm evaluate`` does
(``evaluate_batches``: every row runs M segments), and reports wall, user and system time and minor page faults.
Workers alternate (before, after, before, after, ...) so that load changes hit both; the load average is recorded
with every pair. The achieved FLOP/s (forward matmul FLOPs, counted analytically) is compared with an fp32
``torch.mm`` of the model's largest projection shape measured in the same worker.

Usage (a toy model on an ARC-AGI-1 build, as in issue 13)::

    hrm data arc --preset arc-agi-1 --data-root ../shared/data --num-aug 8 --allow-duplicates --out /tmp/arc8
    hrm train arc-agi-1 data=/tmp/arc8 arch.hidden_size=64 arch.num_heads=4 arch.high_layers=1 arch.low_layers=1 \\
        arch.halt_max_steps=2 max_steps=2 global_batch_size=32 runtime.device=cpu --out /tmp/arc-toy
    python benchmarks/bench_evaluate.py --checkpoint /tmp/arc-toy --data /tmp/arc8 --rows 256 --pairs 2 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> dict:
    import torch

    from hrm.checkpoints.locate import open_checkpoint
    from hrm.data.format import load_split
    from hrm.evaluation.batches import split_batches
    from hrm.evaluation.evaluate import evaluate_batches
    from hrm.model.layers import swiglu_width
    from hrm.runtime.memory import keep_freed_memory

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_check import hrm_step_flops

    applied = keep_freed_memory() if args.mode == "after" else False
    if args.threads:
        torch.set_num_threads(args.threads)
    model = open_checkpoint(args.checkpoint, device="cpu").model.eval()
    split = load_split(Path(args.data) / "test")
    cfg = model.config
    rows = min(args.rows, split.num_examples)

    def batches():
        seen = 0
        for batch in split_batches(split, args.batch_size, torch.device("cpu")):
            if seen >= rows:
                return
            yield batch
            seen += batch.size

    if args.profile:  # a separate worker: the profiler's overhead never touches the timed runs
        with torch.profiler.profile() as prof:
            evaluate_batches(model, batches(), [cfg.halt_max_steps], progress=False)
        ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in ops)
        return {"mode": args.mode, "top_ops": [{"op": e.key, "share": e.self_cpu_time_total / total} for e in ops[:6]]}
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    evaluate_batches(model, batches(), [cfg.halt_max_steps], progress=False)
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    evaluated = -(-rows // args.batch_size) * args.batch_size if rows % args.batch_size else rows
    flops = hrm_step_flops(cfg, evaluated)["segment_forward"] * cfg.halt_max_steps
    width = swiglu_width(cfg.hidden_size, cfg.expansion)
    m = args.batch_size * cfg.total_len
    # The output is allocated once: with glibc's default policy a fresh [m, 2*width] output per call would be
    # mmap'ed and faulted in every time, and the ceiling would then depend on the allocator setting under test.
    a, b = torch.randn(m, cfg.hidden_size), torch.randn(cfg.hidden_size, 2 * width)
    c = torch.mm(a, b)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 2.0:
        torch.mm(a, b, out=c)
        reps += 1
    mm_flops = 2 * m * cfg.hidden_size * 2 * width * reps / (time.perf_counter() - start)
    wall = t1 - t0
    return {
        "mode": args.mode,
        "allocator_setting_applied": applied,
        "rows": evaluated,
        "wall_s": wall,
        "user_s": r1.ru_utime - r0.ru_utime,
        "system_s": r1.ru_stime - r0.ru_stime,
        "minor_page_faults": r1.ru_minflt - r0.ru_minflt,
        "max_rss_mib": r1.ru_maxrss / 1024,
        "rows_per_s": evaluated / wall,
        "achieved_gflops": flops / wall / 1e9,
        "shape_matmul_gflops": mm_flops / 1e9,
        "fraction_of_shape_matmul": flops / wall / mm_flops,
        "load_average": list(os.getloadavg()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="run or step directory of an ARC-scale model")
    parser.add_argument("--data", required=True, help="dataset root with test/")
    parser.add_argument("--rows", type=int, default=512, help="rows evaluated per measurement (default 512)")
    parser.add_argument("--batch-size", type=int, default=256, help="as hrm evaluate's default (256)")
    parser.add_argument("--pairs", type=int, default=2, help="before/after pairs, alternating (default 2)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "evaluate_cpu.json")
    parser.add_argument(
        "--profile", action="store_true", help="then profile one more 'after' worker: the top operators' time shares"
    )
    parser.add_argument("--mode", choices=("before", "after"), help=argparse.SUPPRESS)  # worker process
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(worker(args)))
        return 0
    runs = []
    worker_argv = [a for a in sys.argv[1:] if a != "--profile"]  # the timed workers run without the profiler
    for pair in range(args.pairs):
        for mode in ("before", "after"):
            cmd = [sys.executable, __file__, *worker_argv, "--mode", mode]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(
                f"pair {pair} {mode:6s}: {run['rows_per_s']:.2f} rows/s, wall {run['wall_s']:.1f} s, "
                f"user {run['user_s']:.1f} s, system {run['system_s']:.1f} s, "
                f"{run['minor_page_faults']:,} page faults, {run['fraction_of_shape_matmul']:.0%} of same-shape mm, "
                f"load {run['load_average'][0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
    ratios = [after["rows_per_s"] / before["rows_per_s"] for before, after in zip(runs[::2], runs[1::2])]
    profile = None
    if args.profile:
        cmd = [sys.executable, __file__, *worker_argv, "--profile", "--mode", "after"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        profile = json.loads(proc.stdout.strip().splitlines()[-1])["top_ops"]
        for entry in profile:
            print(f"profile (after): {entry['share']:6.1%} {entry['op']}", file=sys.stderr)
    report = {
        "benchmark": "evaluate_arc_cpu",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "checkpoint": str(args.checkpoint),
        "data": str(args.data),
        "speedup_rows_per_s_each_pair": ratios,
        "runs": runs,
        "profile_after_top_ops": profile,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"after/before rows/s per pair: {', '.join(f'{r:.2f}' for r in ratios)}; wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
