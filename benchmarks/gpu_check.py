"""One prepared GPU check: turn a lent accelerator into committed numbers in one command (≤ 8 minutes).

Run from the repository root (the package need not be installed)::

    PYTHONPATH=src python3 benchmarks/gpu_check.py --data-root ../shared/data --out benchmarks/results
    python benchmarks/gpu_check.py --tiny --out /tmp/gc          # tiny sizes, CPU, fp32: checks the script itself

Stages, in this order, each with its own time budget inside one overall deadline (``--minutes``, default 8);
a stage that fails records its error string in the JSON and the next stage runs:

1. ``environment``: torch, CUDA, driver, GPU name, memory, SM count.
2. ``hrm_step``: the paper's 27M HRM (hidden 512, 8 heads, 4+4 layers, N=T=2, Sudoku 9×9: seq 81, vocab 11, a
   512-wide puzzle embedding) training step (``hrm.training.trainer.train_step``: segment with the 1-step
   gradient, the extra no-grad segment for the Q-continue target, backward, AdamATan2 + sign-SGD) in bf16 at the
   paper's global batch 768 (halved until it fits), eager and ``torch.compile``'d: sample-segments/s, achieved
   TFLOP/s (matmul FLOPs counted analytically, cross-checked by ``torch.utils.flop_counter``), MFU against the
   GPU's dense bf16 peak (table below) and against a same-dtype 8192³ matmul measured in the same run, peak memory.
3. ``trm_step``: the same for a TRM family when the package has one (else recorded as skipped).
4. ``gpu_tests``: ``pytest -m gpu`` in a subprocess.
5. ``train_sanity``: builds the Sudoku-Extreme-like dataset from ``--data-root`` (few augmentations), trains the
   ``sudoku-extreme-1k`` recipe for about 3 minutes with ``python -m hrm train``, checks that the loss falls and
   the token accuracy rises, that a checkpoint was written, and that ``python -m hrm evaluate`` on it works.

The JSON (``<out>/gpu_check_<device name>.json``) is rewritten after every stage, so a run cut short still
leaves the stages it finished. Progress lines go to stdout, flushed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
if str(SRC) not in sys.path:  # run as `python3 benchmarks/gpu_check.py` from a checkout, installed or not
    sys.path.insert(0, str(SRC))

import torch  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from the vendors' data sheets, matched against
# torch.cuda.get_device_name() by the first key it contains (more specific names first).
BF16_PEAK_TFLOPS = [
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H200", 989.0),
    ("GH200", 989.0),
    ("H800", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
]

# The paper's Sudoku model and batch.
FULL = dict(vocab_size=11, seq_len=81, batch_size=768)
TINY = dict(vocab_size=7, seq_len=16, batch_size=8)


def log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def bf16_peak_tflops(name: str) -> float | None:
    for key, peak in BF16_PEAK_TFLOPS:
        if key in name:
            return peak
    return None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "unknown"


def child_env() -> dict[str, str]:
    """The environment for subprocesses: ours, with src/ on PYTHONPATH (the package may not be installed)."""
    env = dict(os.environ)
    parts = [str(SRC)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class StageTimeoutError(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: float):
    """Raise StageTimeoutError in the main thread after ``seconds`` (a safety net for in-process stages)."""
    if not hasattr(signal, "setitimer") or seconds <= 0:
        yield
        return

    def handler(signum, frame):
        raise StageTimeoutError(f"stage exceeded its budget of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Report:
    """The JSON report, rewritten atomically after every change."""

    def __init__(self, path: Path, args: argparse.Namespace):
        self.path = path
        self.data = {
            "check": "gpu_check",
            "version": 1,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "tiny": bool(args.tiny),
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "stages": {},
        }
        self.write()

    def stage(self, name: str, record: dict) -> None:
        self.data["stages"][name] = record
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


# ---------------------------------------------------------------------------------------------------------------
# Stage 1: environment
# ---------------------------------------------------------------------------------------------------------------


def stage_environment(ctx: dict) -> dict:
    device = ctx["device"]
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": str(device),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        import triton  # noqa: F401

        info["triton"] = triton.__version__
    except Exception as exc:  # not installed, or broken: either way compile on CUDA will not work
        info["triton"] = f"unavailable ({type(exc).__name__})"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu_name=props.name,
            gpu_count=torch.cuda.device_count(),
            gpu_memory_gib=props.total_memory / 2**30,
            sm_count=props.multi_processor_count,
            compute_capability=f"{props.major}.{props.minor}",
            cudnn=torch.backends.cudnn.version(),
            bf16_supported=torch.cuda.is_bf16_supported(),
            bf16_peak_tflops_table=bf16_peak_tflops(props.name),
        )
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            info["nvidia_smi"] = out.stdout.strip() or out.stderr.strip()
        except Exception as exc:
            info["nvidia_smi"] = f"unavailable ({type(exc).__name__}: {exc})"
    return info


# ---------------------------------------------------------------------------------------------------------------
# Stages 2 and 3: training-step throughput
# ---------------------------------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(n: int, dtype: torch.dtype, device: torch.device, min_seconds: float) -> float:
    """Achieved TFLOP/s of an n×n×n ``torch.mm`` in ``dtype`` (best of a few timed bursts)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b)
    sync(device)
    best = 0.0
    deadline = time.perf_counter() + min_seconds
    while True:
        reps, start = 0, time.perf_counter()
        while reps < 4 or time.perf_counter() - start < min_seconds / 4:
            torch.mm(a, b)
            reps += 1
            if reps % 4 == 0:
                sync(device)
        sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e12)
        if time.perf_counter() >= deadline:
            return best


def hrm_step_flops(config, batch: int) -> dict[str, int]:
    """Matmul FLOPs of one HRM training step, counted analytically (see benchmarks/bench_train.py)."""
    from hrm.model.layers import swiglu_width

    total_len = config.total_len
    hidden = config.hidden_size
    width = swiglu_width(hidden, config.expansion)
    tokens = batch * total_len
    # q, k, v and output projections, SwiGLU gate+up and down; attention scores and values over all heads.
    block = 2 * tokens * (4 * hidden * hidden + 3 * hidden * width) + 4 * batch * total_len * total_len * hidden
    heads = 2 * batch * config.seq_len * hidden * config.vocab_size + 2 * batch * hidden * 2
    low_calls = config.high_cycles * config.low_cycles
    segment = (low_calls * config.low_layers + config.high_cycles * config.high_layers) * block + heads
    graph = (config.low_layers + config.high_layers) * block + heads  # the last f_L and f_H calls carry the grad
    return {
        "segment_forward": segment,  # the step's segment: no-grad calls + the two grad-carrying calls
        "target_segment_forward": segment,  # the extra no-grad segment for the Q-continue target
        "backward": 2 * graph,  # input and weight gradients of the grad-carrying calls
        "total": 2 * segment + 2 * graph,
    }


def counted_flops(step_fn) -> int | None:
    """Matmul FLOPs of one call of ``step_fn`` counted by torch's dispatcher (None if unavailable)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            step_fn()
        return int(counter.get_total_flops())
    except Exception as exc:  # a cross-check only: never lose the timing to it
        log(f"  flop counter failed ({type(exc).__name__}: {str(exc)[:200]})")
        return None


def synthetic_batch(vocab_size: int, seq_len: int, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    data = {
        "inputs": torch.randint(1, vocab_size, (batch, seq_len), generator=g, dtype=torch.int32),
        "labels": torch.randint(1, vocab_size, (batch, seq_len), generator=g, dtype=torch.int32),
        "puzzle_identifiers": torch.zeros(batch, dtype=torch.int32),
    }
    return {k: v.to(device) for k, v in data.items()}


def measure_step(
    build_model, recipe, model_config, batch: int, ctx: dict, compiled: str | None, budget_s: float, flops: dict | None
) -> dict:
    """Build a fresh model, run warm-up steps (compilation included), then time steps for about ``budget_s``."""
    from hrm.runtime.device import resolve_precision
    from hrm.training.trainer import build_optimizers, compile_model, train_step

    device = ctx["device"]
    precision = resolve_precision(device, ctx["dtype"])
    torch.manual_seed(0)
    model = build_model(model_config).to(device).train()
    model.forward_dtype = precision.forward_dtype
    if compiled == "modules":  # what `runtime.compile=true` does in the trainer
        compile_model(model)
    elif compiled == "whole":  # the whole ACT forward (embeddings, both modules, heads, target segment) as one graph
        model.compile(dynamic=False)
    elif compiled == "whole-cudagraphs":  # the same, replayed as CUDA graphs (no per-kernel launch cost)
        model.compile(dynamic=False, mode="reduce-overhead")
    dense, sparse = build_optimizers(model, recipe)
    optimizers = ([(sparse, recipe.optim.puzzle_emb_lr)] if sparse is not None else []) + [(dense, recipe.optim.lr)]
    data = synthetic_batch(model_config.vocab_size, model_config.seq_len, batch, device)
    state = {"carry": model.initial_carry(data)}

    def step():
        if compiled == "whole-cudagraphs":
            torch.compiler.cudagraph_mark_step_begin()
        state["carry"], values = train_step(
            model,
            state["carry"],
            data,
            optimizers,
            global_batch_size=batch,
            loss_type=model_config.loss_type,
            stablemax_dtype=precision.stablemax_dtype,
        )
        return values

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    values = step()  # the first step compiles when compiled
    sync(device)
    first_step_s = time.perf_counter() - start
    for _ in range(2):
        values = step()
    sync(device)
    counted = counted_flops(step) if compiled is None else None
    times: list[float] = []
    timing_start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - timing_start < budget_s and len(times) < 50):
        start = time.perf_counter()
        values = step()
        sync(device)
        times.append(time.perf_counter() - start)
    best, median = min(times), sorted(times)[len(times) // 2]
    record = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "compiled": compiled,
        "batch_size": batch,
        "forward_dtype": str(precision.forward_dtype).replace("torch.", ""),
        "first_step_seconds": first_step_s,
        "timed_steps": len(times),
        "step_seconds_best": best,
        "step_seconds_median": median,
        "sample_segments_per_s": batch / median,
        "sample_segments_per_s_best": batch / best,
        "metrics_finite": bool(torch.isfinite(values).all().item()),
    }
    if counted is not None:
        record["flops_counted_by_torch"] = counted
    if flops is not None:
        total = flops["total"]
        record["flops_per_step"] = total
        record["achieved_tflops"] = total / median / 1e12
        record["achieved_tflops_best"] = total / best / 1e12
        if ctx.get("peak_tflops"):
            record["mfu_vs_datasheet_peak"] = record["achieved_tflops"] / ctx["peak_tflops"]
        if ctx.get("matmul_tflops"):
            record["fraction_of_measured_matmul"] = record["achieved_tflops"] / ctx["matmul_tflops"]
    if device.type == "cuda":
        record["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return record  # the model and optimisers are freed on return; the caller empties the CUDA cache


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def step_benchmark(build_model, recipe, model_config, flops_fn, ctx: dict, budget_s: float) -> dict:
    """Eager then compiled step throughput at the largest batch ≤ the paper's that fits."""
    deadline = time.perf_counter() + budget_s
    sizes = ctx["sizes"]
    batch = sizes["batch_size"]
    result: dict = {
        "model": {
            k: getattr(model_config, k)
            for k in ("hidden_size", "num_heads", "expansion", "high_layers", "low_layers", "vocab_size", "seq_len")
            if hasattr(model_config, k)
        },
        "requested_batch_size": batch,
    }
    for attr in ("high_cycles", "low_cycles", "puzzle_emb_ndim", "halt_max_steps"):
        if hasattr(model_config, attr):
            result["model"][attr] = getattr(model_config, attr)
    # "compiled" is the trainer's runtime.compile (the recurrent modules); the whole-model variants show what more
    # compilation buys. On CPU (the --tiny check) only the trainer's variant runs.
    variants: list[tuple[str, str | None]] = [("eager", None)]
    if ctx["compile"]:
        variants.append(("compiled", "modules"))
        if ctx["device"].type == "cuda":
            variants += [("compiled_whole", "whole"), ("compiled_whole_cudagraphs", "whole-cudagraphs")]
    for index, (name, compiled) in enumerate(variants):
        left = deadline - time.perf_counter()
        if left < 5:
            result[name] = {"status": "skipped", "reason": "out of time"}
            continue
        # Eager gets a third of what is left, compiled the rest (its compilation is in the warm-up).
        timing_s = min(2.0 if ctx["tiny"] else 10.0, left / (len(variants) - index + 1) / 2)
        while True:
            try:
                log(f"  {name}: batch {batch}")
                flops = flops_fn(model_config, batch) if flops_fn is not None else None
                record = measure_step(build_model, recipe, model_config, batch, ctx, compiled, timing_s, flops)
                if ctx["device"].type == "cuda":
                    torch.cuda.empty_cache()
                record["status"] = "ok"
                result[name] = record
                summary = f"{record['sample_segments_per_s']:.0f} sample-segments/s"
                if "achieved_tflops" in record:
                    summary += f", {record['achieved_tflops']:.3g} TFLOP/s"
                if "mfu_vs_datasheet_peak" in record:
                    summary += f", MFU {record['mfu_vs_datasheet_peak']:.1%}"
                if "peak_memory_gib" in record:
                    summary += f", peak {record['peak_memory_gib']:.1f} GiB"
                log(f"  {name}: {summary}")
                break
            except StageTimeoutError as exc:  # keep what was measured (e.g. eager when compiling ran too long)
                result[name] = {"status": "error", "error": str(exc)}
                log(f"  {name}: {exc}")
                return finish_step_result(result)
            except Exception as exc:
                if is_oom(exc) and batch > 1:
                    batch //= 2
                    gc.collect()
                    if ctx["device"].type == "cuda":
                        torch.cuda.empty_cache()
                    log(f"  {name}: out of memory, retrying at batch {batch}")
                    continue
                result[name] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000]}
                log(f"  {name}: error {type(exc).__name__}: {str(exc)[:300]}")
                break
    return finish_step_result(result)


def finish_step_result(result: dict) -> dict:
    eager, compiled = result.get("eager", {}), result.get("compiled", {})
    ran = [v for v in (eager, compiled) if v]
    result["status"] = "ok" if ran and all(v.get("status") in ("ok", "skipped") for v in ran) else "failed"
    result["flops_note"] = (
        "flops_per_step: matmul FLOPs counted analytically; flops_counted_by_torch: torch.utils.flop_counter on "
        "one eager step (it does not count the CPU's fused SDPA kernel, so on CPU it lacks the attention FLOPs)"
    )
    if eager.get("status") == "ok" and compiled.get("status") == "ok":
        result["compile_speedup"] = eager["step_seconds_median"] / compiled["step_seconds_median"]
    timed = {k: v for k, v in result.items() if isinstance(v, dict) and v.get("status") == "ok" and "compiled" in v}
    if timed:
        best = min(timed, key=lambda k: timed[k]["step_seconds_median"])
        result["fastest_variant"] = best
        if "mfu_vs_datasheet_peak" in timed[best]:
            result["best_mfu_vs_datasheet_peak"] = timed[best]["mfu_vs_datasheet_peak"]
    if eager.get("flops_per_step") and eager.get("flops_counted_by_torch"):
        result["analytic_over_counted_flops"] = eager["flops_per_step"] / eager["flops_counted_by_torch"]
    return result


def hrm_model_config(ctx: dict):
    from hrm.training.recipes import get_recipe

    recipe = get_recipe("sudoku-extreme-1k")
    sizes = ctx["sizes"]
    if ctx["tiny"]:
        recipe.arch.hidden_size = 32
        recipe.arch.num_heads = 4
        recipe.arch.high_layers = 1
        recipe.arch.low_layers = 1
        recipe.arch.puzzle_emb_ndim = 32
    return recipe, recipe.model_config(sizes["vocab_size"], sizes["seq_len"], 1)


def stage_hrm_step(ctx: dict, budget_s: float) -> dict:
    from hrm.model import HRM

    recipe, model_config = hrm_model_config(ctx)
    return step_benchmark(HRM, recipe, model_config, hrm_step_flops, ctx, budget_s)


def find_trm():
    """The TRM family's registry spec, or a string saying why there is none (the family may not exist yet)."""
    import importlib

    try:
        registry = importlib.import_module("hrm.model.registry")
    except ImportError:
        return "skipped: no trm family (hrm.model.registry does not exist)"
    families = getattr(registry, "FAMILIES", {})
    name = next((n for n in families if "trm" in n.lower()), None)
    if name is None:
        return f"skipped: no trm family (registered: {', '.join(sorted(families)) or 'none'})"
    return families[name]


def stage_trm_step(ctx: dict, budget_s: float) -> dict:
    """TRM's training step (paper size: the family config's defaults), FLOPs counted by torch's dispatcher."""
    import dataclasses

    from hrm.training.recipes import RECIPES, get_recipe

    spec = find_trm()
    if isinstance(spec, str):
        return {"status": "skipped", "reason": spec}
    sizes = ctx["sizes"]
    fields = {f.name for f in dataclasses.fields(spec.config_cls)}
    kwargs = {"vocab_size": sizes["vocab_size"], "seq_len": sizes["seq_len"], "num_puzzle_identifiers": 1}
    if ctx["tiny"]:
        kwargs.update(hidden_size=32, num_heads=4, puzzle_emb_ndim=32)
    model_config = spec.config_cls(**{k: v for k, v in kwargs.items() if k in fields})
    recipe_name = next((n for n in RECIPES if spec.name in n and "sudoku" in n), "sudoku-extreme-1k")
    recipe = get_recipe(recipe_name)
    result = step_benchmark(spec.model_cls, recipe, model_config, None, ctx, budget_s)
    result["family"] = spec.name
    result["optimizer_recipe"] = recipe_name
    counted = result.get("eager", {}).get("flops_counted_by_torch")
    for name in ("eager", "compiled"):
        record = result.get(name, {})
        if record.get("status") == "ok" and counted:
            record["flops_per_step"] = counted
            record["achieved_tflops"] = counted / record["step_seconds_median"] / 1e12
            if ctx.get("peak_tflops"):
                record["mfu_vs_datasheet_peak"] = record["achieved_tflops"] / ctx["peak_tflops"]
            if ctx.get("matmul_tflops"):
                record["fraction_of_measured_matmul"] = record["achieved_tflops"] / ctx["matmul_tflops"]
    result["flops_note"] = "flops_per_step = torch.utils.flop_counter's count of one eager step (no analytic count)"
    return result


# ---------------------------------------------------------------------------------------------------------------
# Stage 4: the gpu-marked tests
# ---------------------------------------------------------------------------------------------------------------


def run_logged(cmd: list[str], timeout_s: float, log_file: Path, cwd: Path = REPO) -> tuple[int | str, str]:
    """Run ``cmd`` with its output streamed to our stdout and ``log_file``; return (exit code or 'timeout', tail)."""
    log(f"  $ {' '.join(cmd)}")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    with log_file.open("w") as sink:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        deadline = time.perf_counter() + timeout_s
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        code: int | str | None = None
        while code is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                proc.kill()
                proc.wait()
                code = "timeout"
                break
            if sel.select(timeout=min(left, 1.0)):
                line = proc.stdout.readline()
                if line:
                    sink.write(line)
                    lines.append(line.rstrip("\n"))
                    if len(lines) > 400:
                        del lines[:200]
                    print(f"    | {line.rstrip()}"[:300], flush=True)
                    continue
            if proc.poll() is not None:
                rest = proc.stdout.read()
                if rest:
                    sink.write(rest)
                    lines.extend(rest.splitlines())
                code = proc.returncode
        sel.close()
    return code, "\n".join(lines[-40:])


def stage_gpu_tests(ctx: dict, budget_s: float) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    code, tail = run_logged(cmd, budget_s, ctx["work"] / "gpu_tests.log")
    counts = {}
    for key in ("passed", "failed", "skipped", "error", "errors", "deselected"):
        match = re.search(rf"(\d+) {key}\b", tail)
        if match:
            counts[key] = int(match.group(1))
    status = "ok" if code == 0 else "failed"
    if code == 5:  # pytest: no tests collected
        status = "failed"
    return {"status": status, "exit_code": code, "counts": counts, "output_tail": tail[-3000:]}


# ---------------------------------------------------------------------------------------------------------------
# Stage 5: a short training run of the Sudoku-Extreme-like recipe, then `hrm evaluate`
# ---------------------------------------------------------------------------------------------------------------


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trend(records: list[dict], key: str) -> dict | None:
    """Mean of ``key`` over the first and the last fifth of the training records."""
    values = [r[key] for r in records if r.get("split") == "train" and r.get(key) is not None]
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if len(values) < 4:
        return None
    k = max(1, len(values) // 5)
    return {"first": sum(values[:k]) / k, "last": sum(values[-k:]) / k, "records": len(values)}


def stage_train_sanity(ctx: dict, budget_s: float) -> dict:
    work: Path = ctx["work"]
    run_dir = work / "train_run"
    result: dict = {}
    deadline = time.perf_counter() + budget_s
    if ctx["tiny"]:
        recipe = "tiny"
        overrides = [f"data.path={work / 'data-tiny'}", "schedule.max_steps=40"]
        device = "cpu"
    else:
        data_root = ctx["data_root"]
        if data_root is None or not (Path(data_root) / "sudoku").is_dir():
            return {"status": "skipped", "reason": f"--data-root {data_root} has no sudoku/ folder"}
        data_dir = work / "sudoku-extreme-like"
        build = [
            sys.executable,
            "-m",
            "hrm",
            "data",
            "sudoku",
            "--preset",
            "sudoku-extreme-like",
            "--data-root",
            str(data_root),
            "--num-aug",
            str(ctx["num_aug"]),
            "--out",
            str(data_dir),
            "--force",
            "--no-progress",
        ]
        start = time.perf_counter()
        code, tail = run_logged(build, min(120.0, deadline - time.perf_counter()), work / "data_build.log")
        result["data_build"] = {"exit_code": code, "seconds": time.perf_counter() - start, "num_aug": ctx["num_aug"]}
        if code != 0:
            result.update(status="error", error=f"dataset build failed ({code})", output_tail=tail[-2000:])
            return result
        recipe = "sudoku-extreme-1k"
        left_min = (deadline - time.perf_counter() - ctx["eval_reserve_s"]) / 60.0
        minutes = min(ctx["train_minutes"], left_min - 0.5)  # 0.5 min for start-up, the final eval and the save
        if minutes < 0.5:
            result.update(status="skipped", reason="out of time before training")
            return result
        overrides = [
            f"data.path={data_dir}",
            f"schedule.time_budget_minutes={minutes:.2f}",
            "optim.warmup_steps=100",  # the recipe's 2,000 warm-up steps are longer than this run
            "eval.max_examples=1024",
            "logging.log_every=10",
            "logging.plot=false",
        ]
        device = "auto"
    overrides += ["logging.progress=false", f"runtime.compile={ctx['train_compile']}", *ctx["train_overrides"]]
    cmd = [sys.executable, "-m", "hrm", "train", recipe, *overrides, "--out", str(run_dir)]
    if device != "auto":
        cmd += ["--device", device]
    result["train_command"] = " ".join(cmd[1:])
    start = time.perf_counter()
    left = deadline - time.perf_counter() - (ctx["eval_reserve_s"] if not ctx["tiny"] else 10)
    code, tail = run_logged(cmd, max(left, 10.0), work / "train.log")
    result["train"] = {"exit_code": code, "seconds": time.perf_counter() - start}
    records = read_metrics(run_dir)
    train_records = [r for r in records if r.get("split") == "train"]
    evals = [r for r in records if r.get("split") != "train"]
    result["train"]["steps"] = train_records[-1]["step"] if train_records else 0
    if train_records and train_records[-1].get("steps_per_s") is not None:
        result["train"]["steps_per_s_last"] = train_records[-1]["steps_per_s"]
    result["loss"] = trend(records, "lm_loss")
    result["token_accuracy"] = trend(records, "accuracy")
    result["last_eval"] = evals[-1] if evals else None
    checkpoints = sorted(p.name for p in run_dir.glob("step-*") if p.is_dir())
    result["checkpoints"] = checkpoints
    if code != 0:
        result.update(status="error", error=f"training exited with {code}", output_tail=tail[-2000:])
        return result
    evaluate = [
        sys.executable,
        "-m",
        "hrm",
        "evaluate",
        "--checkpoint",
        str(run_dir),
        "--out",
        str(work / "eval"),
        "--no-progress",
    ]
    if ctx["tiny"]:
        evaluate += ["--device", "cpu"]
    start = time.perf_counter()
    code, tail = run_logged(evaluate, max(deadline - time.perf_counter(), 30.0), work / "evaluate.log")
    result["evaluate"] = {"exit_code": code, "seconds": time.perf_counter() - start}
    eval_json = work / "eval" / "eval.json"
    if eval_json.is_file():
        result["evaluate"]["result"] = json.loads(eval_json.read_text())
    checks = {
        "loss_falls": bool(result["loss"] and result["loss"]["last"] < result["loss"]["first"]),
        "token_accuracy_rises": bool(
            result["token_accuracy"] and result["token_accuracy"]["last"] > result["token_accuracy"]["first"]
        ),
        "checkpoint_written": bool(checkpoints),
        "evaluate_works": code == 0 and eval_json.is_file(),
    }
    result["checks"] = checks
    result["status"] = "ok" if all(checks.values()) else "failed"
    if code != 0:
        result["evaluate"]["output_tail"] = tail[-2000:]
    return result


# ---------------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="the shared data folder (with sudoku/), for train_sanity")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="folder for the JSON")
    parser.add_argument(
        "--work",
        type=Path,
        help="scratch folder for the dataset and the run, kept (default: a temporary folder, removed at the end; "
        "the logs, metrics.jsonl and eval.json are copied next to the JSON either way)",
    )
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, fp32, CPU unless --device: checks the script")
    parser.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:N")
    parser.add_argument(
        "--minutes",
        type=float,
        default=8.0,
        help="overall deadline (default 8; the last subprocess may overrun it by 30 s)",
    )
    parser.add_argument("--train-minutes", type=float, default=3.0, help="training time in train_sanity (default 3)")
    parser.add_argument("--num-aug", type=int, default=1000, help="Sudoku augmentations per puzzle (default 1000)")
    parser.add_argument(
        "--train-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra `hrm train` overrides for train_sanity (e.g. a smaller model to try the stage on a CPU)",
    )
    parser.add_argument(
        "--compile",
        choices=("on", "off", "auto"),
        default="auto",
        help="also time the torch.compile'd step: auto (default) = on, except off with --tiny",
    )
    parser.add_argument("--batch", type=int, help="start the step benchmarks at this batch (default: 768; tiny 8)")
    parser.add_argument(
        "--stages",
        default="environment,hrm_step,trm_step,gpu_tests,train_sanity",
        help="comma list of stages to run (default: all, in this order)",
    )
    return parser.parse_args(argv)


# Upper bounds in seconds per stage: a stage gets at most this, and no more than the deadline leaves after
# keeping up to 60 s for each later stage (a skipped TRM stage or quick tests leave their time to training).
PLANNED_S = {"environment": 15, "hrm_step": 140, "trm_step": 110, "gpu_tests": 45, "train_sanity": 220}
TINY_PLANNED_S = {"environment": 30, "hrm_step": 60, "trm_step": 60, "gpu_tests": 180, "train_sanity": 240}
STAGES = {
    "environment": lambda ctx, budget: stage_environment(ctx),
    "hrm_step": stage_hrm_step,
    "trm_step": stage_trm_step,
    "gpu_tests": stage_gpu_tests,
    "train_sanity": stage_train_sanity,
}
IN_PROCESS = {"environment", "hrm_step", "trm_step"}


def measure_matmul(ctx: dict, report: Report, tiny: bool) -> None:
    """The same-dtype matmul ceiling, measured once, before the step benchmarks that are compared with it."""
    device = ctx["device"]
    try:
        n = 256 if tiny else 8192
        from hrm.runtime.device import resolve_precision

        dtype = resolve_precision(device, ctx["dtype"]).forward_dtype  # the dtype the step benchmarks run in
        ctx["matmul_tflops"] = matmul_tflops(n, dtype, device, 0.5 if tiny else 3.0)
        report.data["matmul"] = {"n": n, "dtype": str(dtype).replace("torch.", ""), "tflops": ctx["matmul_tflops"]}
        if ctx["peak_tflops"]:
            report.data["matmul"]["fraction_of_datasheet_peak"] = ctx["matmul_tflops"] / ctx["peak_tflops"]
        log(f"{n}^3 {dtype} matmul: {ctx['matmul_tflops']:.3g} TFLOP/s")
    except Exception as exc:
        report.data["matmul"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    report.data["bf16_peak_tflops_datasheet"] = ctx["peak_tflops"]
    report.write()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    overall_deadline = t0 + args.minutes * 60.0
    from hrm.runtime.device import resolve_device

    device = resolve_device("cpu" if args.tiny and args.device == "auto" else args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    prefix = "gpu_check_tiny_" if args.tiny else "gpu_check_"
    out_path = args.out / f"{prefix}{slug(name)}.json"
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    report = Report(out_path, args)
    log(f"device {device} ({name}); writing {out_path}")
    ctx = {
        "device": device,
        "tiny": args.tiny,
        "dtype": "float32" if args.tiny and device.type == "cpu" else "auto",
        "sizes": {**(TINY if args.tiny else FULL), **({"batch_size": args.batch} if args.batch else {})},
        "compile": args.compile == "on" or (args.compile == "auto" and not args.tiny),
        "train_compile": "auto",  # the default: compiles when a compiler works, else eager
        "data_root": args.data_root,
        "work": work,
        "num_aug": args.num_aug,
        "train_minutes": args.train_minutes,
        "train_overrides": args.train_overrides,
        "eval_reserve_s": 40.0,
        "peak_tflops": bf16_peak_tflops(name) if device.type == "cuda" else None,
    }
    planned = TINY_PLANNED_S if args.tiny else PLANNED_S
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        print(f"gpu_check: unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}", file=sys.stderr)
        return 2
    for index, stage in enumerate(wanted):
        if stage in ("hrm_step", "trm_step") and "matmul" not in report.data:
            measure_matmul(ctx, report, args.tiny)
        later = sum(min(planned[s], 60) for s in wanted[index + 1 :])  # keep a minimum for what follows
        left = overall_deadline - time.perf_counter()
        budget = planned[stage] if stage == wanted[-1] else min(planned[stage], left - later)
        budget = min(budget, left)
        if stage == "environment":  # cheap, and every other number needs it: never squeezed out
            budget = max(budget, planned[stage])
        log(f"stage {stage}: budget {budget:.0f} s")
        start = time.perf_counter()
        if budget < 5:
            record = {"status": "skipped", "reason": f"out of time ({left:.0f} s left)"}
        else:
            try:
                guard = alarm(budget + 30) if stage in IN_PROCESS else contextlib.nullcontext()
                with guard:
                    result = STAGES[stage](ctx, budget)
                record = result if "status" in result else {"status": "ok", **result}
            except Exception as exc:
                record = {
                    "status": "error",
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                    "traceback": traceback.format_exc()[-3000:],
                }
        record["seconds"] = time.perf_counter() - start
        report.stage(stage, record)
        log(f"stage {stage}: {record['status']} in {record['seconds']:.0f} s")
    keep = [work / "train_run" / "metrics.jsonl", work / "eval" / "eval.json", *sorted(work.glob("*.log"))]
    logs = args.out / f"{out_path.stem}_logs"
    for path in keep:
        if path.is_file():
            logs.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, logs / path.name)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    report.data["seconds_total"] = time.perf_counter() - t0
    report.data["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    report.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    report.write()
    statuses = {s: r["status"] for s, r in report.data["stages"].items()}
    log(f"done in {report.data['seconds_total']:.0f} s: {statuses}; wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
