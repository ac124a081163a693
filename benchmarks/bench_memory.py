"""Peak training memory as the recursion deepens: N×T from 2×2 to 8×8 (the 1-step gradient keeps it flat).

Each (N, T) runs in a fresh subprocess, which builds the model and optimisers, takes a baseline, runs a few
training steps (``hrm.training.trainer.train_step``) and reports the peak:

* on CUDA, ``torch.cuda.max_memory_allocated`` (exact tensor memory);
* on CPU, the peak resident set size (``ru_maxrss``), both in total and above the baseline taken just before the
  first step (the baseline holds the interpreter, torch, the weights and the batch; the optimiser state, created
  by the first step, is the same for every N×T).

The aim is a ratio ≤ 1.1 between 8×8 and 2×2: only the last f_L and f_H calls keep activations for backward.

Usage::

    python benchmarks/bench_memory.py                        # CPU, width 256, batch 32, Sudoku-sized inputs
    python benchmarks/bench_memory.py --device cuda --hidden 512 --batch 256
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

CYCLES = ((2, 2), (2, 4), (4, 4), (4, 8), (8, 8))


def measure(args: argparse.Namespace) -> dict:
    """Runs inside the subprocess: one (N, T) configuration."""
    import torch

    from hrm.model import HRM, HRMConfig
    from hrm.training.config import TrainConfig
    from hrm.training.trainer import build_optimizers, train_step

    device = torch.device(args.device)
    config = HRMConfig(
        vocab_size=11,
        seq_len=81,
        hidden_size=args.hidden,
        num_heads=max(1, args.hidden // 64),
        high_layers=args.layers,
        low_layers=args.layers,
        high_cycles=args.high_cycles,
        low_cycles=args.low_cycles,
        halt_max_steps=4,
    )
    torch.manual_seed(0)
    model = HRM(config).to(device).train()
    if device.type == "cuda":
        model.forward_dtype = torch.bfloat16
    dense, sparse = build_optimizers(model, TrainConfig())
    optimizers = [(sparse, 1e-4), (dense, 1e-4)]
    batch = {
        "inputs": torch.randint(1, 11, (args.batch, 81), dtype=torch.int32, device=device),
        "labels": torch.randint(1, 11, (args.batch, 81), dtype=torch.int32, device=device),
        "puzzle_identifiers": torch.zeros(args.batch, dtype=torch.int32, device=device),
    }
    carry = model.initial_carry(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    for _ in range(args.steps):
        carry, _ = train_step(model, carry, batch, optimizers, global_batch_size=args.batch)
    seconds = (time.perf_counter() - start) / args.steps
    out = {
        "high_cycles": args.high_cycles,
        "low_cycles": args.low_cycles,
        "step_seconds": seconds,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "baseline_rss_bytes": baseline_rss,
    }
    if device.type == "cuda":
        torch.cuda.synchronize()
        out["cuda_peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
        out["cuda_baseline_allocated_bytes"] = baseline
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2, help="blocks per module (f_L and f_H)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--cycles", default=",".join(f"{n}x{t}" for n, t in CYCLES), help="e.g. 2x2,8x8")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--high-cycles", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--low-cycles", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.high_cycles is not None:  # the subprocess
        print(json.dumps(measure(args)))
        return 0

    rows = []
    for item in args.cycles.split(","):
        n, t = (int(v) for v in item.lower().split("x"))
        cmd = [
            sys.executable,
            __file__,
            "--device",
            args.device,
            "--hidden",
            str(args.hidden),
            "--layers",
            str(args.layers),
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--high-cycles",
            str(n),
            "--low-cycles",
            str(t),
        ]
        result = subprocess.run(cmd, check=True, capture_output=True, text=True)
        row = json.loads(result.stdout.strip().splitlines()[-1])
        row["rss_above_baseline_bytes"] = row["peak_rss_bytes"] - row["baseline_rss_bytes"]
        rows.append(row)
        print(
            f"N×T = {n}×{t}: peak RSS {row['peak_rss_bytes'] / 2**20:8.1f} MiB "
            f"(+{row['rss_above_baseline_bytes'] / 2**20:6.1f} MiB over the baseline)"
            + (
                f", CUDA peak {row['cuda_peak_allocated_bytes'] / 2**20:.1f} MiB"
                if "cuda_peak_allocated_bytes" in row
                else ""
            )
            + f", {row['step_seconds']:.2f} s/step",
            file=sys.stderr,
        )
    first, last = rows[0], rows[-1]
    key = "cuda_peak_allocated_bytes" if "cuda_peak_allocated_bytes" in first else "peak_rss_bytes"
    report = {
        "benchmark": "train_memory_vs_cycles",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "device": args.device,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "model": {
            "hidden_size": args.hidden,
            "layers_per_module": args.layers,
            "batch_size": args.batch,
            "seq_len": 81,
        },
        "metric": key,
        "ratio_last_to_first": last[key] / first[key],
        "ratio_above_baseline_last_to_first": (
            last["rss_above_baseline_bytes"] / max(first["rss_above_baseline_bytes"], 1)
        ),
        "rows": rows,
    }
    print(
        f"peak ratio {rows[-1]['high_cycles']}x{rows[-1]['low_cycles']} / {rows[0]['high_cycles']}x"
        f"{rows[0]['low_cycles']}: {report['ratio_last_to_first']:.3f}",
        file=sys.stderr,
    )
    out = args.out or Path(__file__).parent / "results" / f"train_memory_{args.device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
