"""CPU training-step throughput of every model family, and TRM against the TRM reference code side by side.

For each family at a small same-width configuration, times one training step (``model(carry, batch)``: one
segment for every row, the ACT loss, backward, an AdamW step) on a fixed synthetic batch and reports
sample-segments/s, the step's matmul FLOPs (``flops_per_segment`` for the forward, the Q-continue target segment
where the family trains one, and 2× the forward of the part inside the autograd graph for backward), the achieved
FLOP/s and its ratio to a same-shape fp32 ``torch.mm`` measured in the same run.

With ``--trm-reference DIR`` (a checkout of SamsungSAILMontreal/TinyRecursiveModels; its imports ``pydantic`` and
``einops`` must be importable), the reference TRM and ours run the same config with the same weights, alternating
step by step in one process (which one goes first alternates too), ``--repeats`` times. The figure reported is the
median over repeats of the median ratio of back-to-back step pairs (ours / reference; below 1 means ours is faster),
with the range over repeats; process CPU time and the load average before and after each repeat are recorded, as
the machine may be shared. The reference checkout needs only its ``models/`` folder; minimal stand-ins for
``pydantic.BaseModel`` and ``einops.rearrange`` (a transpose) are enough to import it on CPU.

Usage::

    python benchmarks/bench_zoo.py --out benchmarks/results/zoo_cpu.json
    python benchmarks/bench_zoo.py --trm-reference /path/to/TinyRecursiveModels --only trm-att trm-mlp
    # only the side-by-side comparison, written into the existing JSON's ``trm_reference`` section
    python benchmarks/bench_zoo.py --trm-reference DIR --only-reference --steps 8 --repeats 3 \
        --out benchmarks/results/zoo_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import machine_info, time_matmul  # noqa: E402

from hrm.model import HRM, HRMConfig, act_loss  # noqa: E402
from hrm.model.layers import swiglu_width  # noqa: E402
from hrm.model.looped import Looped, LoopedConfig  # noqa: E402
from hrm.model.recurrent import GRUBaseline, GRUConfig, LSTMBaseline, LSTMConfig  # noqa: E402
from hrm.model.transformer import Transformer, TransformerConfig  # noqa: E402
from hrm.model.trm import TRM, TRMConfig  # noqa: E402

DATA = dict(vocab_size=8, seq_len=36, num_puzzle_identifiers=1)  # the cpu-sudoku-6x6 shapes
WIDTH = dict(hidden_size=128, num_heads=4)


def families() -> dict[str, Callable[[], torch.nn.Module]]:
    return {
        "hrm": lambda: HRM(HRMConfig(**DATA, **WIDTH, high_layers=2, low_layers=2, halt_max_steps=8)),
        "trm-att": lambda: TRM(TRMConfig(**DATA, **WIDTH, high_cycles=3, low_cycles=6, halt_max_steps=8)),
        "trm-mlp": lambda: TRM(
            TRMConfig(**DATA, **WIDTH, high_cycles=3, low_cycles=6, halt_max_steps=8, mlp_t=True, pos_encodings="none")
        ),
        "transformer": lambda: Transformer(TransformerConfig(**DATA, **WIDTH, num_layers=4)),
        "transformer-outer": lambda: Transformer(TransformerConfig(**DATA, **WIDTH, num_layers=4, halt_max_steps=8)),
        "looped": lambda: Looped(LoopedConfig(**DATA, **WIDTH, num_layers=2, loops=6, halt_max_steps=8)),
        "gru": lambda: GRUBaseline(GRUConfig(**DATA, hidden_size=128, num_layers=2)),
        "lstm": lambda: LSTMBaseline(LSTMConfig(**DATA, hidden_size=128, num_layers=2)),
    }


def segment_flops(model, batch: int) -> int:
    if isinstance(model, HRM):
        cfg = model.config
        from hrm.model.common import block_flops, linear_flops

        length = cfg.total_len
        calls = cfg.high_cycles * cfg.low_cycles * cfg.low_layers + cfg.high_cycles * cfg.high_layers
        heads = linear_flops(batch * length, cfg.hidden_size, cfg.vocab_size)
        return calls * block_flops(batch, length, cfg.hidden_size, cfg.expansion) + heads
    return model.flops_per_segment(batch)


def graph_fraction(model) -> float:
    """Share of a segment's forward FLOPs that is inside the autograd graph (what backward redoes twice)."""
    cfg = model.config
    if isinstance(model, HRM):
        total = cfg.high_cycles * cfg.low_cycles * cfg.low_layers + cfg.high_cycles * cfg.high_layers
        return (cfg.low_layers + cfg.high_layers) / total
    if isinstance(model, TRM):
        return 1.0 / cfg.high_cycles
    if isinstance(model, Looped):
        return cfg.calls_with_grad / cfg.loops
    return 1.0


def trains_target(model) -> bool:
    if isinstance(model, HRM):
        return model.config.halt_max_steps > 1
    return bool(model.has_halting_head and model.trains_q_continue)


def make_batch(batch: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.randint(1, DATA["vocab_size"], (batch, DATA["seq_len"]), generator=g, dtype=torch.int32),
        "labels": torch.randint(1, DATA["vocab_size"], (batch, DATA["seq_len"]), generator=g, dtype=torch.int32),
        "puzzle_identifiers": torch.zeros(batch, dtype=torch.int32),
    }


def stepper(model, data, batch: int):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    carry = model.initial_carry(data)

    def step():
        nonlocal carry
        carry, outputs = model(carry, data)
        loss, _ = act_loss(outputs, carry.current_data["labels"], carry.halted, carry.steps)
        (loss / batch).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def bench_family(name: str, batch: int, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = families()[name]().train()
    data = make_batch(batch)
    step = stepper(model, data, batch)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    forward = segment_flops(model, batch)
    flops = forward * (2 if trains_target(model) else 1) + 2 * graph_fraction(model) * forward
    best = min(times)
    hidden = model.config.hidden_size
    width = swiglu_width(hidden, 4.0)
    shape_mm = max(time_matmul(batch * DATA["seq_len"], hidden, 2 * width, torch.device("cpu")) for _ in range(3))
    return {
        "family": name,
        "batch_size": batch,
        "parameters": model.num_parameters()["trunk"],
        "step_seconds_best": best,
        "step_seconds_median": sorted(times)[len(times) // 2],
        "sample_segments_per_s": batch / best,
        "flops_per_step": int(flops),
        "achieved_gflops": flops / best / 1e9,
        "shape_matmul_gflops": shape_mm / 1e9,
        "ratio_to_shape_matmul": flops / best / shape_mm,
    }


def bench_trm_reference(reference: Path, mlp_t: bool, batch: int, steps: int, warmup: int, repeats: int) -> dict:
    """Reference TRM vs ours at the same config and weights, alternating steps in one process.

    ``ours_over_reference_time`` is the median over ``repeats`` of each repeat's median ratio of back-to-back step
    pairs (below 1: ours is faster); the range of the repeats' medians is its spread.
    """
    sys.path.insert(0, str(reference))
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1  # type: ignore[import-not-found]

    from hrm.checkpoints.reference_trm import build_trm_from_reference

    arch = dict(
        batch_size=batch,
        seq_len=DATA["seq_len"],
        puzzle_emb_ndim=WIDTH["hidden_size"],
        num_puzzle_identifiers=1,
        vocab_size=DATA["vocab_size"],
        H_cycles=3,
        L_cycles=6,
        H_layers=0,
        L_layers=2,
        hidden_size=WIDTH["hidden_size"],
        expansion=4,
        num_heads=WIDTH["num_heads"],
        pos_encodings="none" if mlp_t else "rope",
        halt_max_steps=8,
        halt_exploration_prob=0.1,
        forward_dtype="float32",
        mlp_t=mlp_t,
        puzzle_emb_len=16,
        no_ACT_continue=True,
    )
    torch.manual_seed(0)
    ref = TinyRecursiveReasoningModel_ACTV1(arch).train()
    raw = {f"model.{k}": v for k, v in ref.state_dict().items()}
    ours = build_trm_from_reference(raw, {"arch": arch}, Path("reference"), None, lambda: None).train()
    data = make_batch(batch)
    steps_by_name = {"reference": stepper(ref, data, batch), "ours": stepper(ours, data, batch)}
    for _ in range(warmup):
        for step in steps_by_name.values():
            step()
    runs = []
    for _ in range(repeats):
        load_before = os.getloadavg()
        wall = {k: [] for k in steps_by_name}
        cpu = {k: [] for k in steps_by_name}
        for i in range(steps):
            # Alternate which model goes first, so that neither always follows the other's cache footprint.
            order = list(steps_by_name.items()) if i % 2 == 0 else list(reversed(steps_by_name.items()))
            for name, step in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                step()
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
        # Each ours/reference pair ran back to back, so its ratio shares the machine's load of that moment.
        pairs = sorted(o / r for o, r in zip(wall["ours"], wall["reference"], strict=True))
        runs.append(
            {
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
                "ours_over_reference_best": min(wall["ours"]) / min(wall["reference"]),
                "ours_over_reference_pair_median": _quantile(pairs, 0.5),
                "ours_over_reference_pair_quartiles": [_quantile(pairs, 0.25), _quantile(pairs, 0.75)],
                "ours_over_reference_cpu_time": sum(cpu["ours"]) / sum(cpu["reference"]),
                "ours_over_reference_cpu_pair_median": _quantile(
                    sorted(o / r for o, r in zip(cpu["ours"], cpu["reference"], strict=True)), 0.5
                ),
                "reference_step_seconds": wall["reference"],
                "ours_step_seconds": wall["ours"],
            }
        )
    medians = sorted(r["ours_over_reference_pair_median"] for r in runs)
    return {
        "comparison": "trm-mlp" if mlp_t else "trm-att",
        "batch_size": batch,
        "steps_per_repeat": steps,
        "ours_over_reference_time": _quantile(medians, 0.5),
        "ours_over_reference_time_range": [medians[0], medians[-1]],
        "repeats": runs,
    }


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile of an already sorted list."""
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="families to run (default: all)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--trm-reference", type=Path, default=None, help="TinyRecursiveModels checkout")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the TRM side-by-side comparison")
    parser.add_argument("--only-reference", action="store_true", help="skip the per-family table")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's); 1 keeps timings steady on a shared machine",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = args.only or list(families())
    if args.only_reference:
        names = []
    results = [bench_family(n, args.batch, args.steps, args.warmup) for n in names if n in families()]
    for r in results:
        print(
            f"{r['family']:>18}: {r['sample_segments_per_s']:8.1f} sample-seg/s, {r['achieved_gflops']:6.2f} GFLOP/s"
            f" ({r['ratio_to_shape_matmul']:.2f}× same-shape matmul), {r['parameters']:,} params"
        )
    comparisons = []
    if args.trm_reference is not None:
        for mlp_t in (False, True):
            c = bench_trm_reference(args.trm_reference, mlp_t, args.batch, args.steps, args.warmup, args.repeats)
            comparisons.append(c)
            low, high = c["ours_over_reference_time_range"]
            print(
                f"{c['comparison']}: ours/reference step time = {c['ours_over_reference_time']:.3f}"
                f" (repeats {low:.3f}–{high:.3f}; below 1: ours is faster)"
            )
    report = {
        "machine": machine_info(torch.device("cpu")),
        "load_average": os.getloadavg(),
        "results": results,
        "trm_reference": comparisons,
    }
    if args.only_reference and args.out and args.out.exists():
        # Keep the per-family table (and its machine record) of the earlier run; replace the comparison only.
        previous = json.loads(args.out.read_text())
        report = {**previous, "trm_reference_machine": report["machine"], "trm_reference": comparisons}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
