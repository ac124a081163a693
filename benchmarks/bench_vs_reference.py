"""Training-step speed against the reference code (sapientinc/HRM) on the CPU, side by side in one process.

Not part of the test suite: it needs the reference's source, which is not shipped. Get it and run::

    git clone https://github.com/sapientinc/HRM /tmp/hrm-ref       # or any checkout of its models/ folder
    pip install pydantic                                            # the reference's config classes need it
    python benchmarks/bench_vs_reference.py --reference /tmp/hrm-ref --configs d128-9x9,demo-6x6 --steps 6

The reference imports flash-attn; this harness registers a stand-in ``flash_attn`` module whose
``flash_attn_func`` is ``torch.nn.functional.scaled_dot_product_attention`` (the same math), so its model runs on
the CPU in fp32 unchanged. Both models get the same configuration (timing only: weights are not copied), the same
batch and the same work per step: one ACT call (the segment with the 1-step gradient and the extra no-grad
segment for the Q-continue target), the loss, and backward; no optimiser step (see ``bench_optim.py``).
Steps alternate (reference, ours, reference, ours, ...) so that load changes hit both; the ratio of the medians
is reported with the load average. ``--compile`` also times our step with ``runtime.compile`` on; ``--variants``
names other versions of our step to time beside it (other ways of compiling, oneDNN's GEMM in place of MKL's for
the linear layers). ``--repeats R`` repeats the timed loop and reports the median ratio and its range.

The process keeps freed memory for reuse (``hrm.runtime.memory.keep_freed_memory``; ``--default-allocator`` turns
this off). With glibc's default policy the eager steps (ours and the reference's) spend a varying share of their
time in page faults, depending on how far the allocator's dynamic mmap threshold has risen in that process: the
same command gave the reference's demo-6x6 step 300 ms in one process and 340-365 ms in another, and the ratio of
our compiled step to it moved from 1.22x to 1.48x. With freed memory kept, repeated processes agree within ~2%.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]

CONFIGS = {
    # name: (hidden, heads, H_layers, L_layers, N, T, seq_len, vocab, batch)
    "full-27M": (512, 8, 4, 4, 2, 2, 81, 11, 16),
    "d128-9x9": (128, 4, 2, 2, 2, 2, 81, 11, 64),
    "demo-6x6": (64, 4, 2, 2, 2, 2, 36, 8, 128),
}


def install_flash_attn_stand_in() -> None:
    def flash_attn_func(q, k, v, causal=False, **kwargs):
        # flash-attn takes [B, L, H, D]; SDPA takes [B, H, L, D].
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
        return out.transpose(1, 2)

    for name in ("flash_attn_interface", "flash_attn"):
        module = types.ModuleType(name)
        module.flash_attn_func = flash_attn_func
        sys.modules[name] = module


VARIANTS = {
    # name: how this version of our step differs from the eager default
    "compiled": "runtime.compile (the default for runs of >= 200 steps): the two recurrent modules, default mode",
    "compiled_whole": "the whole ACT forward (embeddings, both modules, heads, target segment) as one graph",
    "compiled_autotune": "the recurrent modules with mode=max-autotune-no-cudagraphs (inductor's C++ GEMM templates)",
    "eager_onednn": "eager, every linear layer through oneDNN's fp32 GEMM (mkldnn::_linear_pointwise) instead of MKL's",
    "compiled_onednn": "runtime.compile's modules, every linear layer through oneDNN's fp32 GEMM",
}


def use_onednn_linears(model: torch.nn.Module) -> None:
    """Route every bias-free linear layer of ``model`` through oneDNN's fp32 GEMM (same math, other kernel).

    PyTorch's fp32 ``aten::mm`` on the CPU calls MKL's sgemm; ``mkldnn::_linear_pointwise`` (what inductor uses
    for frozen inference graphs) calls oneDNN's. A custom op with its own backward keeps it usable in training and
    under ``torch.compile``: the input gradient also runs on oneDNN, the weight gradient on ``aten::mm``.
    """
    from hrm.model.layers import CastedLinear

    linear = _onednn_linear_op()
    for module in model.modules():
        if isinstance(module, CastedLinear) and module.bias is None:
            weight = module.weight
            module.forward = lambda x, weight=weight: linear(x, weight)  # type: ignore[method-assign]


@functools.cache  # an op name can be registered only once per process
def _onednn_linear_op():
    def gemm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # x @ weight.T for any leading dims
        flat = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), weight, None, "none", [], "")
        return flat.reshape(*x.shape[:-1], weight.shape[0])

    @torch.library.custom_op("hrm_bench::onednn_linear", mutates_args=())
    def onednn_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return gemm(x, weight)

    @onednn_linear.register_fake
    def _(x, weight):
        return x.new_empty(*x.shape[:-1], weight.shape[0])

    @torch.library.custom_op("hrm_bench::onednn_linear_input_grad", mutates_args=())
    def input_grad(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return gemm(grad, weight.t().contiguous())

    @input_grad.register_fake
    def _(grad, weight):
        return grad.new_empty(*grad.shape[:-1], weight.shape[1])

    def setup_context(ctx, inputs, output):
        x, weight = inputs
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight)

    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = input_grad(grad, weight) if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = grad.reshape(-1, grad.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        return grad_x, grad_w

    onednn_linear.register_autograd(backward, setup_context=setup_context)
    return onednn_linear


def build_pair(name: str, reference: Path, variant: str | None = None):
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    hidden, heads, h_layers, l_layers, n, t, seq_len, vocab, batch = CONFIGS[name]
    sys.path.insert(0, str(reference))
    install_flash_attn_stand_in()
    from models.hrm.hrm_act_v1 import HierarchicalReasoningModel_ACTV1  # the reference's model
    from models.losses import ACTLossHead

    from hrm.model import HRM, HRMConfig, act_loss

    common = dict(hidden_size=hidden, num_heads=heads, expansion=4.0, halt_max_steps=16, halt_exploration_prob=0.1)
    torch.manual_seed(0)
    ref = ACTLossHead(
        HierarchicalReasoningModel_ACTV1(
            dict(
                batch_size=batch,
                seq_len=seq_len,
                puzzle_emb_ndim=hidden,
                num_puzzle_identifiers=1,
                vocab_size=vocab,
                H_cycles=n,
                L_cycles=t,
                H_layers=h_layers,
                L_layers=l_layers,
                pos_encodings="rope",
                forward_dtype="float32",
                **common,
            )
        ),
        loss_type="stablemax_cross_entropy",
    ).train()
    torch.manual_seed(0)
    ours = HRM(
        HRMConfig(
            vocab_size=vocab,
            seq_len=seq_len,
            num_puzzle_identifiers=1,
            puzzle_emb_ndim=hidden,
            high_layers=h_layers,
            low_layers=l_layers,
            high_cycles=n,
            low_cycles=t,
            **common,
        )
    ).train()
    if variant in ("eager_onednn", "compiled_onednn"):
        use_onednn_linears(ours)
    if variant in ("compiled", "compiled_onednn"):
        from hrm.training.trainer import compile_model

        compile_model(ours)
    elif variant == "compiled_whole":
        ours.compile(dynamic=False)
    elif variant == "compiled_autotune":
        for module in ours.compile_targets():
            module.compile(dynamic=False, mode="max-autotune-no-cudagraphs")
    g = torch.Generator().manual_seed(0)
    batch_data = {
        "inputs": torch.randint(1, vocab, (batch, seq_len), generator=g, dtype=torch.int32),
        "labels": torch.randint(1, vocab, (batch, seq_len), generator=g, dtype=torch.int32),
        "puzzle_identifiers": torch.zeros(batch, dtype=torch.int32),
    }
    state = {"ref": ref.initial_carry(batch_data), "ours": ours.initial_carry(batch_data)}

    def ref_step():
        state["ref"], loss, _, _, _ = ref(return_keys=[], carry=state["ref"], batch=batch_data)
        (loss / batch).backward()
        ref.zero_grad(set_to_none=True)
        return loss.item()

    def our_step():
        state["ours"], outputs = ours(state["ours"], batch_data)
        carry = state["ours"]
        loss, _ = act_loss(outputs, carry.current_data["labels"], carry.halted, carry.steps, "stablemax")
        (loss / batch).backward()
        ours.zero_grad(set_to_none=True)
        return loss.item()

    return ours, ref_step, our_step, batch


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a checkout of sapientinc/HRM (with models/)")
    parser.add_argument("--configs", default="full-27M,d128-9x9,demo-6x6", help=f"comma list of {', '.join(CONFIGS)}")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per side (default 8)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time our step compiled (runtime.compile=true)")
    parser.add_argument(
        "--variants",
        default="",
        help=f"further versions of our step to time (--compile: compiled), among {', '.join(VARIANTS)}",
    )
    parser.add_argument("--repeats", type=int, default=1, help="repeats of the timed loop (median ratio, range)")
    parser.add_argument(
        "--default-allocator", action="store_true", help="leave glibc's malloc policy as is (noisier eager steps)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "vs_reference_cpu.json")
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 1 or args.warmup < 1:
        print("--steps, --repeats and --warmup must be >= 1", file=sys.stderr)
        return 2
    kept = False
    if not args.default_allocator:
        sys.path.insert(0, str(REPO / "src"))
        from hrm.runtime.memory import keep_freed_memory

        kept = keep_freed_memory()
    if not (args.reference / "models" / "hrm" / "hrm_act_v1.py").is_file():
        print(
            f"--reference {args.reference}: no models/hrm/hrm_act_v1.py there (clone sapientinc/HRM)", file=sys.stderr
        )
        return 2
    variants = [v.strip() for v in args.variants.split(",") if v.strip()] or (["compiled"] if args.compile else [])
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f"--variants: unknown {', '.join(unknown)}; choose among {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    results = []
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        # Drop the previous config's compiled graphs: every config's modules share one forward code object, and
        # dynamo's per-code cache limit (8) would otherwise send a later config's compiled variants back to eager.
        torch._dynamo.reset()
        ours, ref_step, our_step, batch = build_pair(name, args.reference)
        sides = {"reference": ref_step, "ours_eager": our_step}
        for variant in variants:
            _, _, variant_step, _ = build_pair(name, args.reference, variant=variant)  # only its step
            sides[f"ours_{variant}"] = variant_step
        # Our variants start from the same weights and carry, so their first losses must agree (same math, other
        # kernels); the reference's weights are its own, so its loss is only recorded.
        first_loss = {key: fn() for key, fn in sides.items()}
        for fn in sides.values():
            for _ in range(args.warmup - 1):
                fn()
        times: dict[str, list[float]] = {k: [] for k in sides}
        ratios: dict[str, list[float]] = {k: [] for k in sides if k != "reference"}
        load_start = os.getloadavg()
        for _ in range(args.repeats):
            repeat: dict[str, list[float]] = {k: [] for k in sides}
            for _ in range(args.steps):
                for key, fn in sides.items():  # alternate: every side sees the same load
                    start = time.perf_counter()
                    fn()
                    repeat[key].append(time.perf_counter() - start)
            for key in ratios:
                ratios[key].append(_median(repeat["reference"]) / _median(repeat[key]))
            for key, values in repeat.items():
                times[key] += values
        medians = {k: _median(v) for k, v in times.items()}
        record = {
            "config": name,
            "batch_size": batch,
            "median_step_seconds": medians,
            "speed_ratio_ours_eager_vs_reference": _median(ratios["ours_eager"]),
            "speed_ratio_range": {k: [min(v), max(v)] for k, v in ratios.items()},
            "first_step_loss": first_loss,
            "max_relative_loss_difference_vs_ours_eager": max(
                abs(v / first_loss["ours_eager"] - 1) for k, v in first_loss.items() if k.startswith("ours")
            ),
            "load_average_start": list(load_start),
            "load_average_end": list(os.getloadavg()),
            "step_seconds_all": times,
        }
        others = [k for k in medians if k not in ("reference", "ours_eager")]
        for key in others:
            record[f"speed_ratio_{key}_vs_reference"] = _median(ratios[key])
        results.append(record)
        print(
            f"{name}: reference {medians['reference'] * 1000:.0f} ms, ours {medians['ours_eager'] * 1000:.0f} ms "
            f"({record['speed_ratio_ours_eager_vs_reference']:.3f}x)"
            + "".join(
                f", {key[5:]} {medians[key] * 1000:.0f} ms ({record[f'speed_ratio_{key}_vs_reference']:.3f}x)"
                for key in others
            )
            + f"; load {load_start[0]:.1f}",
            file=sys.stderr,
            flush=True,
        )
    report = {
        "benchmark": "train_step_vs_reference_cpu",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "freed_memory_kept": kept,
        "steps_per_repeat": args.steps,
        "repeats": args.repeats,
        "work_per_step": "one ACT call (grad segment + target segment), loss, backward; no optimiser step",
        "variants": {k: v for k, v in VARIANTS.items() if k in variants},
        "command": " ".join(sys.argv),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
