"""Step time of :class:`hrm.training.optim.AdamATan2` vs ``torch.optim.AdamW(foreach=True)``.

The optimisers update the parameter shapes of the reference 27M model (Sudoku: vocab 11, seq_len 81,
27,275,266 parameters in 36 tensors) with fixed random gradients. Steps of the two optimisers are interleaved
(A, B, A, B, ...) so that drift in machine load hits both equally; the ratio of the medians is reported.

    .venv/bin/python benchmarks/bench_optim.py [--device cpu|cuda] [--steps 30] [--threads N] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from hrm.model import HRM, HRMConfig
from hrm.training.optim import AdamATan2


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per optimiser")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--note", default=None, help="free text stored in the result (e.g. machine load)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "optim.json"))
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    shapes = [p.shape for p in HRM(HRMConfig(vocab_size=11, seq_len=81)).parameters()]
    numel = sum(torch.Size(s).numel() for s in shapes)

    def make_params() -> list[torch.nn.Parameter]:
        gen = torch.Generator().manual_seed(1)
        params = []
        for shape in shapes:
            p = torch.nn.Parameter((torch.randn(shape, generator=gen) * 0.02).to(device))
            p.grad = (torch.randn(shape, generator=gen) * 1e-3).to(device)
            params.append(p)
        return params

    optimisers = {
        "AdamW(foreach=True)": torch.optim.AdamW(
            make_params(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, foreach=True
        ),
        # The default path for the device (sliced on CPU, multi-tensor elsewhere): the one that is reported.
        "AdamATan2": AdamATan2(make_params(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1),
        # The other path, for information.
        "AdamATan2(other path)": AdamATan2(
            make_params(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, foreach=device.type == "cpu"
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in optimisers}
    for i in range(args.warmup + args.steps):
        for name, opt in optimisers.items():
            _sync(device)
            start = time.perf_counter()
            opt.step()
            _sync(device)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)

    summary = {
        name: {
            "median_ms": 1e3 * statistics.median(ts),
            "mean_ms": 1e3 * statistics.fmean(ts),
            "min_ms": 1e3 * min(ts),
        }
        for name, ts in times.items()
    }
    base, ours = summary["AdamW(foreach=True)"], summary["AdamATan2"]
    result = {
        "benchmark": "optimizer step time on the 27M HRM parameter shapes",
        "command": "benchmarks/bench_optim.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k not in ("out", "note") and v is not None),
        "note": args.note,
        "num_parameters": numel,
        "num_tensors": len(shapes),
        "timed_steps": args.steps,
        "results": summary,
        "ratio_median": ours["median_ms"] / base["median_ms"],
        "ratio_min": ours["min_ms"] / base["min_ms"],
        "ratio_median_other_path": summary["AdamATan2(other path)"]["median_ms"] / base["median_ms"],
        "default_path": "sliced (foreach=False)" if device.type == "cpu" else "multi-tensor (foreach=True)",
        "machine": {
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
