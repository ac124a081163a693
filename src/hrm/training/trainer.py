"""The training loop: :func:`train` (set-up, loop, teardown) and :func:`train_step` (one optimiser step).

One optimiser step, as in the reference (spec §2-3):

1. one call of the ACT model on the persistent carry: every row runs **one segment**; rows that halted on the
   previous step were refilled from the new batch (same row index), the others keep their sample;
2. the ACT loss over all rows, divided by the *global* batch size, backward; gradients are **summed** over ranks
   (DDP with a sum hook), which makes them the mean over the global batch;
3. the learning-rate schedule is written into both optimisers, then the sign-SGD of the puzzle-ID table steps
   (it gathers the touched rows over ranks itself) and then Adam-atan2 (or AdamW) on every parameter.

The carry persists across steps and across evaluations (evaluation uses its own). Total steps =
int(epochs · total_groups · mean_puzzle_examples / global_batch_size) unless ``schedule.max_steps`` or a time budget
says otherwise.

Differences from the reference (all documented in ``docs/differences.md``): evaluations happen every
``eval_interval`` epochs' worth of *steps* (the reference evaluates when its loader finishes an iteration of
``eval_interval`` epochs, which is the same up to rounding); training can resume exactly; the best checkpoint is
kept; metrics of steps on which no row halted are logged as null instead of 0; optional EMA, gradient clipping,
time budget and AdamW.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hrm.checkpoints.format import (
    MODEL_FILE,
    TRAIN_STATE_FILE,
    from_storable,
    load_model_state,
    load_train_state,
    read_model_config,
    to_storable,
    upgraded,
)
from hrm.checkpoints.locate import latest_checkpoint, list_checkpoints, resolve_checkpoint
from hrm.data.config import ensure_dataset
from hrm.data.format import (
    check_token_range,
    first_puzzle_per_group,
    head_of_split,
    load_identifiers,
    load_split,
)
from hrm.data.kind import dataset_kind
from hrm.data.sampling import TrainSampler
from hrm.data.sudoku import SudokuBatchAugmenter
from hrm.errors import UserError
from hrm.evaluation.evaluate import evaluate_model
from hrm.model import Carry, ReasoningModel, act_loss
from hrm.model.registry import build_model
from hrm.runtime import distributed as dist_utils
from hrm.runtime.compile import CompileError, CompileSetting, compile_modules, uncompile_modules
from hrm.runtime.device import (
    Precision,
    batch_to_device,
    resolve_device,
    resolve_precision,
    rng_state,
    set_deterministic,
    set_rng_state,
    widest_float,
)
from hrm.runtime.logging import MetricsLogger, check_trackers
from hrm.training.config import TrainConfig
from hrm.training.optim import AdamATan2, PuzzleEmbeddingSignSGD, build_muon, set_lr
from hrm.training.progress import TrainProgress
from hrm.training.run_dir import BEST_ON_LABELS, TRAIN_CONFIG_FILE, RunDir
from hrm.training.schedule import eval_every_for, learning_rate, total_steps_for

TRAIN_STATE_VERSION = 1

# Per-step metrics, summed over rows (act_loss's sums); losses are divided by the global batch, the rest by count.
METRIC_KEYS = (
    "count",
    "lm_loss",
    "q_halt_loss",
    "q_continue_loss",
    "accuracy",
    "exact_accuracy",
    "q_halt_accuracy",
    "steps",
    "skipped",  # 1 for a step the non-finite guard skipped (its other values are zeros)
)
LOSS_KEYS = ("lm_loss", "q_halt_loss", "q_continue_loss")


@dataclass
class TrainResult:
    """What :func:`train` returns (on every rank)."""

    run_dir: Path
    step: int
    total_steps: int
    last_eval: dict[str, float] | None
    best: dict[str, Any] | None
    checkpoint: Path | None
    elapsed_s: float
    # Training samples loaded into the carry (a row takes a new puzzle when it halts: a family that halts early sees
    # more puzzles per step); None when the run resumed from a state saved before this was counted.
    samples_loaded: int | None = None


# ---------------------------------------------------------------------------------------------------------------
# One step
# ---------------------------------------------------------------------------------------------------------------


def split_rows(carry: Carry, batch: dict[str, torch.Tensor], parts: int) -> list[tuple[Carry, dict[str, torch.Tensor]]]:
    """Cut the carry and the batch into ``parts`` equal row ranges (micro-batches); :func:`join_rows` undoes it.

    Rows are independent in every family (a row's segment reads only its own state and sample), so running the
    ranges one after the other is the big batch's step, up to the order of floating-point sums.
    """
    rows = carry.halted.shape[0]
    if rows % parts:
        raise ValueError(f"{rows} rows cannot be split into {parts} equal micro-batches")
    size = rows // parts
    state = carry.state_dict()
    cls = type(carry)
    return [
        (
            cls.from_state_dict({k: v[i * size : (i + 1) * size] for k, v in state.items()}),
            {k: v[i * size : (i + 1) * size] for k, v in batch.items()},
        )
        for i in range(parts)
    ]


def join_rows(carries: Sequence[Carry]) -> Carry:
    """The carry of the whole batch from its micro-batches' carries, in row order."""
    if len(carries) == 1:
        return carries[0]
    states = [c.state_dict() for c in carries]
    return type(carries[0]).from_state_dict({k: torch.cat([s[k] for s in states]) for k in states[0]})


def _dense_params(optimizers: Sequence[tuple[Any, float]]) -> list[torch.Tensor]:
    return [
        p
        for opt, _ in optimizers
        if isinstance(opt, torch.optim.Optimizer)
        for group in opt.param_groups
        for p in group["params"]
        if p.grad is not None
    ]


def _masked_optimizer_step(optimizer: torch.optim.Optimizer, keep: torch.Tensor) -> None:
    """``optimizer.step()`` whose effect is kept only where ``keep`` (a 0-dim bool on the device) is true.

    No host synchronisation: the step always runs and the parameters and optimiser state it touched are put back
    with ``torch.where`` when ``keep`` is false. The cost is one copy of the stepped parameters and their state per
    step. State created by this step (a parameter's first) is reset to zeros, which is a fresh state; state tensors
    on another device than ``keep`` (Adam-style step counters kept on the host) are left as stepped.
    """
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    fresh: list[torch.Tensor] = []
    for p in params:
        saved.append((p, p.detach().clone()))
        state = optimizer.state.get(p)
        if not state:
            fresh.append(p)
            continue
        saved.extend((v, v.clone()) for v in state.values() if isinstance(v, torch.Tensor) and v.device == keep.device)
    optimizer.step()
    with torch.no_grad():
        for tensor, before in saved:
            tensor.copy_(torch.where(keep, tensor, before))
        for p in fresh:
            for value in optimizer.state.get(p, {}).values():
                if isinstance(value, torch.Tensor) and value.device == keep.device:
                    value.copy_(torch.where(keep, value, torch.zeros_like(value)))


def train_step(
    model: nn.Module,
    carry: Carry,
    batch: dict[str, torch.Tensor],
    optimizers: Sequence[tuple[Any, float]],
    *,
    global_batch_size: int,
    loss_type: str = "stablemax",
    stablemax_dtype: torch.dtype = torch.float64,
    grad_clip: float = 0.0,
    micro_batches: int = 1,
    guard: str = "sync",
) -> tuple[Carry, torch.Tensor]:
    """One optimiser step on the local batch; returns the new carry and the step's summed metrics.

    ``model`` is an :class:`HRM` in train mode, or the DDP wrapper of one (whose gradient hook sums over ranks).
    ``optimizers`` are (optimiser, learning rate) pairs, stepped in the given order after the rate is written
    (the reference order is the puzzle-embedding sign-SGD, then the dense optimiser). ``grad_clip`` > 0 clips the
    global norm of the dense optimisers' gradients. The metrics come back as one tensor, ordered as
    :data:`METRIC_KEYS`, on the model's device.

    ``micro_batches`` > 1 (gradient accumulation) runs the rows in that many equal ranges one after the other, each
    backward adding to the gradients (DDP reduces them once, after the last); every loss is still divided by the
    global batch, so the update is the one-batch update up to floating-point summation order.

    The non-finite guard: when the summed loss or the gradient norm (dense and puzzle-embedding gradients, agreed
    over ranks) is not finite, nothing is updated (weights, optimiser state, puzzle table, carry) and the metrics
    are zeros with ``skipped`` = 1. ``guard="sync"`` reads that on the host (cheap off CUDA); ``guard="masked"``
    never does: the updates run and are undone on the device (see :func:`_masked_optimizer_step`).
    """
    parts = [(carry, batch)] if micro_batches == 1 else split_rows(carry, batch, micro_batches)
    carries: list[Carry] = []
    total: torch.Tensor | None = None
    loss_sum: torch.Tensor | None = None
    for index, (part_carry, part_batch) in enumerate(parts):
        last = index == len(parts) - 1
        no_sync = getattr(model, "no_sync", None)  # DDP: reduce the gradients in the last backward only
        with no_sync() if (no_sync is not None and not last) else contextlib.nullcontext():
            part_carry, outputs = model(part_carry, part_batch)
            loss, metrics = act_loss(
                outputs,
                part_carry.current_data["labels"],
                part_carry.halted,
                part_carry.steps,
                loss_type,
                stablemax_dtype,
            )
            (loss / global_batch_size).backward()
        carries.append(part_carry)
        dtype = widest_float(loss.device)
        zero = torch.zeros((), device=loss.device)
        values = torch.stack([metrics.get(k, zero).detach().to(dtype) for k in METRIC_KEYS])
        total = values if total is None else total + values
        loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
    assert total is not None and loss_sum is not None
    new_carry = join_rows(carries)

    dense = _dense_params(optimizers)
    if grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(dense, grad_clip)
    else:
        norm = torch.nn.utils.get_total_norm([p.grad for p in dense if p.grad is not None])
    sparse = [g for opt, _ in optimizers if isinstance(opt, PuzzleEmbeddingSignSGD) for g in opt.pending_grads()]
    bad = ~(torch.isfinite(loss_sum) & torch.isfinite(norm))
    for grad in sparse:
        bad = bad | ~torch.isfinite(grad).all()
    if dist_utils.is_initialized():  # every rank must take the same decision (the losses are local)
        bad = dist_utils.all_reduce_sum(bad.to(torch.float32)) > 0
    keep = ~bad
    skipped_index = METRIC_KEYS.index("skipped")

    if guard == "sync":
        if bool(bad):
            for optimizer, _ in optimizers:
                optimizer.zero_grad(set_to_none=True)
                if isinstance(optimizer, PuzzleEmbeddingSignSGD):
                    optimizer.discard_pending()
            skipped = torch.zeros_like(total)
            skipped[skipped_index] = 1
            return carry, skipped
        for optimizer, lr in optimizers:
            set_lr(optimizer, lr)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return new_carry, total

    for optimizer, lr in optimizers:
        set_lr(optimizer, lr)
        if isinstance(optimizer, PuzzleEmbeddingSignSGD):
            optimizer.step(keep=keep)
        else:
            _masked_optimizer_step(optimizer, keep)
        optimizer.zero_grad(set_to_none=True)
    old, new = carry.state_dict(), new_carry.state_dict()
    kept = type(new_carry).from_state_dict({k: torch.where(keep, v, old[k]) for k, v in new.items()})  # 0-dim keep
    total = torch.where(keep, total, torch.zeros_like(total))
    total[skipped_index] = bad.to(total.dtype)
    return kept, total


def summarise_train_metrics(sums: torch.Tensor, num_steps: int, global_batch_size: int) -> dict[str, float | None]:
    """Turn summed :data:`METRIC_KEYS` over ``num_steps`` steps into the logged values (reference normalisation).

    Losses are divided by the global batch (and averaged over the steps that updated); accuracy, exact_accuracy,
    q_halt_accuracy and steps by the number of halted rows, or null when no row halted; ``skipped_steps`` counts
    the steps the non-finite guard skipped.
    """
    values = dict(zip(METRIC_KEYS, sums.tolist()))
    count = values.pop("count")
    skipped = int(values.pop("skipped"))
    updated = num_steps - skipped
    out: dict[str, float | None] = {"count": count, "skipped_steps": skipped}
    for key, value in values.items():
        if key in LOSS_KEYS:
            out[key] = value / (global_batch_size * updated) if updated > 0 else None
        else:
            out[key] = value / count if count > 0 else None
    return out


# ---------------------------------------------------------------------------------------------------------------
# Set-up helpers
# ---------------------------------------------------------------------------------------------------------------


def _init_weights_from(model: ReasoningModel, path: str) -> None:
    """Copy a checkpoint's weights into ``model`` (``checkpoint.init_from``); one-line errors on any mismatch."""
    from safetensors.torch import load_file

    step_dir = resolve_checkpoint(path, which="best")
    source = read_model_config(step_dir, family=type(model).family)
    ours = model.config
    for name in ("vocab_size", "seq_len", "num_puzzle_identifiers"):
        if getattr(source, name) != getattr(ours, name):
            raise UserError(
                f"checkpoint.init_from={path}: its {name} is {getattr(source, name)} but the training "
                f"data needs {getattr(ours, name)}; start from a checkpoint trained on compatible data"
            )
    load_model_state(model, load_file(str(step_dir / MODEL_FILE), device="cpu"), source=str(step_dir / MODEL_FILE))


def build_optimizers(
    model: ReasoningModel, config: TrainConfig
) -> tuple[torch.optim.Optimizer, PuzzleEmbeddingSignSGD | None]:
    """The dense optimiser over every parameter and the sign-SGD over the puzzle-ID table (if there is one)."""
    optim = config.optim
    if optim.optimizer == "adam_atan2":
        dense: torch.optim.Optimizer = AdamATan2(
            model.parameters(), lr=0.0, betas=optim.betas, weight_decay=optim.weight_decay
        )
    elif optim.optimizer == "muon":  # ours: Muon on the hidden matrices, adam_atan2/adamw on the other parameters
        dense = build_muon(model, optim)
    else:
        dense = torch.optim.AdamW(
            model.parameters(), lr=0.0, betas=optim.betas, weight_decay=optim.weight_decay, eps=optim.adamw_eps
        )
    sparse = None
    if model.puzzle_emb is not None:
        sparse = PuzzleEmbeddingSignSGD(model.puzzle_emb, lr=0.0, weight_decay=optim.puzzle_emb_weight_decay)
    return dense, sparse


# runtime.compile=auto compiles only runs at least this long: compilation costs seconds to a minute, and saves
# ~30% of a CPU step (1.4x measured on cpu-sudoku-6x6), so short runs (smoke runs, tests) are faster eager.
AUTO_COMPILE_MIN_STEPS = 200
AUTO_COMPILE_MIN_MINUTES = 2.0


def _compiled_modules(model: ReasoningModel) -> list[nn.Module]:
    return list(model.compile_targets())  # each family names its recurrent modules: where the step's time goes


def compile_model(model: ReasoningModel, setting: CompileSetting = True, device: torch.device | None = None) -> bool:
    """Compile the family's recurrent modules in place per ``setting`` (see :mod:`hrm.runtime.compile`).

    Parameter names, hence checkpoints, are unchanged. Returns True if compiled.
    """
    device = device if device is not None else next(model.parameters()).device
    return compile_modules(_compiled_modules(model), setting, device)


def compile_pays(config: TrainConfig, total_steps: int) -> bool:
    """Whether ``runtime.compile=auto`` should compile this run: long enough for the compilation to pay back."""
    minutes = config.schedule.time_budget_minutes
    return total_steps >= AUTO_COMPILE_MIN_STEPS and (minutes == 0 or minutes >= AUTO_COMPILE_MIN_MINUTES)


# ---------------------------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------------------------


def nonfinite_tensors(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def clock() -> float:
    """Seconds on a monotonic clock: the trainer's one time source (a test replaces it to make timing exact)."""
    return time.perf_counter()


class _Trainer:
    """State of one run; :func:`train` drives it. Not public: use :func:`train` and :func:`train_step`."""

    def __init__(self, config: TrainConfig, run_dir: Path, resume: bool):
        self.config = config.validate()
        self.run = RunDir(run_dir, keep_last=config.checkpoint.keep_last, keep_best=config.checkpoint.keep_best)
        self.resume = resume
        self.start_time = clock()  # restarted when the loop begins: set-up does not count against a time budget

    # --- set-up ------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Check and load everything first, write last: a run that cannot start (a missing tracker package, bad
        data, an override that does not fit the checkpoint, nothing to resume) leaves the run directory as it was
        (or absent), its train_config.json and metrics untouched."""
        cfg = self.config
        check_trackers(cfg.logging.tensorboard, cfg.logging.wandb)
        device = resolve_device(cfg.runtime.device)
        self.ctx = dist_utils.init_distributed(device.type)
        if self.ctx.enabled and device.type == "cuda":
            device = torch.device("cuda", self.ctx.local_rank)
        self.precision: Precision = resolve_precision(device, cfg.runtime.dtype)
        self.device = device
        if cfg.runtime.num_threads > 0:
            torch.set_num_threads(cfg.runtime.num_threads)
        set_deterministic(cfg.runtime.deterministic)
        if cfg.schedule.global_batch_size % self.ctx.world_size != 0:
            raise UserError(
                f"schedule.global_batch_size ({cfg.schedule.global_batch_size}) must be divisible by "
                f"the number of processes ({self.ctx.world_size})"
            )
        self.local_batch_size = cfg.schedule.global_batch_size // self.ctx.world_size
        if self.local_batch_size % cfg.schedule.grad_accum_steps != 0:
            raise UserError(
                f"schedule.grad_accum_steps ({cfg.schedule.grad_accum_steps}) must divide each process's "
                f"{self.local_batch_size} rows (global batch {cfg.schedule.global_batch_size} over "
                f"{self.ctx.world_size} processes); choose a divisor"
            )
        # The non-finite guard reads its flag on the host every step except on CUDA, where that would stall the
        # queue: there the skipped update is undone on the device and the count of skips is read when logging.
        self.guard = "masked" if device.type == "cuda" else "sync"

        self._setup_data()
        self._setup_model()  # before the run directory exists, so that a bad checkpoint.init_from leaves nothing
        self.step = 0
        self.elapsed_before = 0.0
        self.best: dict[str, Any] | None = None
        self.last_eval: dict[str, float] | None = None
        self.metric_sums = torch.zeros(len(METRIC_KEYS), dtype=widest_float(self.device), device=self.device)
        self.metric_steps = 0
        self.samples_loaded = torch.zeros((), dtype=torch.int64, device=self.device)  # this rank's, on the device
        self.samples_counted = True
        self.nonfinite_run = torch.zeros((), dtype=torch.int64, device=self.device)  # skipped steps in a row
        self.last_update_step = 0  # the last step that updated the weights (as far as the host has read)
        self.carry: Carry | None = None
        self.total_steps = total_steps_for(
            cfg, self.train_split.metadata.total_groups, self.train_split.metadata.mean_puzzle_examples
        )
        self.eval_every = eval_every_for(
            cfg, self.train_split.metadata.total_groups, self.train_split.metadata.mean_puzzle_examples
        )
        compile_setting = cfg.runtime.compile
        if compile_setting == "auto" and not compile_pays(cfg, self.total_steps):
            compile_setting = False
        self.compiled = compile_model(self.model, compile_setting, self.device)
        self.resume_from: Path | None = None
        if self.resume:
            self._lock_run_dir()  # before reading: no other process may be writing its checkpoints
            self.resume_from, weights, state = self._find_resumable()
            self._load(self.resume_from, weights, state)
        else:
            if list_checkpoints(self.run.path):
                raise UserError(
                    f"{self.run.path} already holds checkpoints; resume with `hrm train --resume {self.run.path}` "
                    "or choose another --out"
                )
            torch.manual_seed(cfg.runtime.seed + self.ctx.rank)
        self._write_run_dir()  # everything above has been checked: only now is anything written
        if self.ctx.enabled:
            self.step_model = dist_utils.data_parallel(self.model, self.device)
        self.logger = None
        if self.ctx.is_main:
            self.logger = MetricsLogger(
                self.run.path,
                resume_step=self.step if self.resume_from is not None else None,
                tensorboard=cfg.logging.tensorboard,
                wandb=cfg.logging.wandb,
                wandb_project=cfg.logging.wandb_project,
                run_name=f"{cfg.name} {self.run.path.name}",
                config=cfg.to_dict(),
            )

    def _lock_run_dir(self) -> None:
        """Rank 0 holds an exclusive lock on the run directory for the whole run (released in :meth:`close`)."""
        if self.ctx.is_main and not self.run.locked:
            self.run.create()
            self.run.lock()

    def _find_resumable(self) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
        """The newest checkpoint whose weights and training state both read completely, with them.

        A damaged newest checkpoint (a truncated file from a full disk or a copy cut short) is skipped, with a note,
        in favour of the previous complete one; with none, one UserError and nothing is written.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        run_path = self.run.path
        if not (run_path / TRAIN_CONFIG_FILE).is_file():
            raise UserError(
                f"{run_path} is not a run directory (no {TRAIN_CONFIG_FILE}); pass the one `hrm train` made"
            )
        skipped: list[str] = []
        for _, path in reversed(list_checkpoints(run_path)):
            if not (path / TRAIN_STATE_FILE).is_file():
                skipped.append(f"{path.name}: no {TRAIN_STATE_FILE}")
                continue
            try:
                state = load_train_state(path)
                weights = load_file(str(path / MODEL_FILE), device="cpu")
            except UserError as exc:
                skipped.append(f"{path.name}: {exc}")
                continue
            except (SafetensorError, OSError) as exc:
                skipped.append(f"{path.name}: {MODEL_FILE} unreadable ({exc})")
                continue
            bad = nonfinite_tensors(weights) + nonfinite_tensors(state.get("live_parameters") or {})
            if bad:  # written before the non-finite guard existed: resuming from it would train on NaN
                skipped.append(f"{path.name}: non-finite values in {bad[0]}")
                continue
            for reason in skipped:
                dist_utils.print0(f"note: skipping {reason}; resuming from {path.name}", file=sys.stderr)
            return path, weights, state
        why = f" ({'; '.join(skipped)})" if skipped else " (no step-N directory)"
        raise UserError(
            f"{run_path}: no checkpoint to resume from{why}; start a new run without --resume, "
            "or pass a run directory with a complete checkpoint"
        )

    def _write_run_dir(self) -> None:
        if self.ctx.is_main:
            self.run.create()
            self._lock_run_dir()
            self.run.clean_partial_writes()
            self.run.write_config(self.config)
            if self.resume_from is not None:  # the interrupted process may have recorded a best past this checkpoint
                self.run.set_best(self.best)
        dist_utils.barrier()

    def _setup_data(self) -> None:
        cfg = self.config
        root = ensure_dataset(cfg.data, generate=self.ctx.is_main, wait=dist_utils.barrier)
        self.data_root = root
        self.train_split = load_split(root / cfg.data.train_split)
        self.data_kind = dataset_kind(root, self.train_split.metadata)  # recorded in every checkpoint
        self.eval_split = None
        if cfg.data.eval_split:  # "" = no evaluation; a name that is not there is a mistake, not "no evaluation"
            eval_dir = root / cfg.data.eval_split
            if not eval_dir.is_dir():
                found = sorted(p.name for p in root.iterdir() if (p / "dataset.json").is_file())
                raise UserError(
                    f"data.eval_split={cfg.data.eval_split!r}: {root} has no such split (it has "
                    f"{', '.join(found) or 'none'}); use one of those, or data.eval_split='' for no evaluation"
                )
            self.eval_split = load_split(eval_dir)
        if self.eval_split is not None and cfg.eval.max_examples > 0:
            self.eval_split = head_of_split(self.eval_split, cfg.eval.max_examples)
        self.select_split = None
        if cfg.checkpoint.best_on == "train":
            self.select_split = first_puzzle_per_group(self.train_split, cfg.checkpoint.best_groups)
        # Before the run directory exists: out-of-vocabulary tokens would otherwise fail deep in the embedding.
        for split in (self.train_split, self.eval_split):
            if split is not None:
                check_token_range(split)
        try:
            self.identifiers: list[str] | None = load_identifiers(root)
        except UserError:
            self.identifiers = None
        self.sampler = TrainSampler(
            self.train_split, cfg.schedule.global_batch_size, self.ctx.rank, self.ctx.world_size, cfg.runtime.seed
        )
        self.batches: Iterator[dict[str, np.ndarray]] = iter(self.sampler)
        self.augment: SudokuBatchAugmenter | None = None
        if cfg.data.online_augment:
            meta = self.train_split.metadata
            if self.data_kind != "sudoku":
                raise UserError(f"data.online_augment=true supports Sudoku datasets only; {root} is not one")
            self.augment = SudokuBatchAugmenter(
                meta.seq_len, cfg.runtime.seed, cfg.schedule.global_batch_size, self.ctx.rank, self.ctx.world_size
            )

    def _setup_model(self) -> None:
        cfg = self.config
        meta = self.train_split.metadata
        try:  # a dataset.json with an absurd vocab_size is refused here, before anything is allocated
            model_config = cfg.model_config(meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers)
        except ValueError as exc:
            raise UserError(f"{self.data_root}: the model for this dataset is impossible: {exc}") from None
        torch.manual_seed(cfg.runtime.seed)  # the same initial weights on every rank
        model = build_model(cfg.model, model_config)
        if cfg.checkpoint.init_from and not self.resume:
            _init_weights_from(model, cfg.checkpoint.init_from)
        model.to(self.device)
        model.forward_dtype = self.precision.forward_dtype
        model.train()
        self.model = model
        self.dense, self.sparse = build_optimizers(model, cfg)
        self.ema = None
        if cfg.ema.enabled:
            from hrm.training.ema import EMA

            self.ema = EMA(model, cfg.ema.decay)
        self.step_model = model

    # --- checkpoints -------------------------------------------------------------------------------------------

    def _train_state(self) -> dict[str, Any]:
        assert self.carry is not None
        carry = {k: dist_utils.gather_rows(v, self.ctx) for k, v in self.carry.state_dict().items()}
        rng = rng_state(self.device)
        rng_all = [rng] if not self.ctx.enabled else dist_utils.all_gather_objects(rng)
        state = {
            "version": TRAIN_STATE_VERSION,
            "step": self.step,
            "total_steps": self.total_steps,
            "elapsed_s": self.elapsed(),
            "world_size": self.ctx.world_size,
            "dense_optimizer": self.dense.state_dict(),
            "sparse_optimizer": self.sparse.state_dict() if self.sparse is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            # model.safetensors holds the EMA weights (and the live buffers); resuming needs the live weights too.
            "live_parameters": (
                {k: v.detach().cpu().clone() for k, v in self.model.named_parameters()}
                if self.ema is not None
                else None
            ),
            "sampler": to_storable(self.sampler.state_dict()),
            "carry": carry,
            "rng": rng_all,
            "metric_sums": self.metric_sums.cpu().clone(),
            "samples_loaded": self.total_samples_loaded(),
            "metric_steps": self.metric_steps,
            "best": self.best,
        }
        return state

    def save(self) -> Path | None:
        """Write ``step-N`` (collective: every rank must call it; rank 0 writes).

        Never writes a non-finite value: the guard keeps the weights finite, and this checks it (a host sync per
        checkpoint) so that no later ``--resume`` or ``best`` can start from one.
        """
        if self.guard == "masked":
            self.check_divergence()
        bad = nonfinite_tensors(dict(self.model.named_parameters()))
        if self.ema is not None:
            bad += [f"EMA {name}" for name in nonfinite_tensors(self.ema.shadow)]
        if bad:
            raise UserError(
                f"step {self.step}: {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} hold non-finite values; "
                "nothing was saved (lower optim.lr or set optim.grad_clip)"
            )
        state = self._train_state()
        path = None
        if self.ctx.is_main:
            meta = self.train_split.metadata
            ctx = self.ema.swapped_in(self.model) if self.ema is not None else contextlib.nullcontext()
            with ctx:  # model.safetensors holds the EMA weights when EMA is on (the ones evaluated)
                path = self.run.save(
                    self.step,
                    self.model,
                    train_config=self.config.to_dict(),
                    dataset={"metadata": meta.to_dict(), "source": str(self.data_root), "kind": self.data_kind},
                    identifiers=self.identifiers,
                    meta={
                        "total_steps": self.total_steps,
                        "eval": self.last_eval,
                        "ema": self.ema is not None,
                        "recipe": self.config.name,
                    },
                    train_state=state,
                )
        dist_utils.barrier()
        return path

    def _load(self, path: Path, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Restore the run from ``path``'s weights and training state (read by :meth:`_find_resumable`)."""
        if state.get("version") != TRAIN_STATE_VERSION:
            raise UserError(f"{path}: train_state version {state.get('version')} is not supported")
        load_model_state(self.model, weights, source=str(path))
        if state["live_parameters"] is not None:
            with torch.no_grad():
                live = upgraded(self.model, state["live_parameters"])
                for name, param in self.model.named_parameters():
                    param.copy_(live[name])
        self.dense.load_state_dict(state["dense_optimizer"])
        if self.sparse is not None and state["sparse_optimizer"] is not None:
            self.sparse.load_state_dict(state["sparse_optimizer"])
        if self.ema is not None:
            if state["ema"] is None:
                raise UserError(f"{path}: the run was trained without EMA; resume with ema.enabled=false")
            self.ema.load_state_dict({**state["ema"], "shadow": upgraded(self.model, state["ema"]["shadow"])})
        self.sampler.load_state_dict(from_storable(state["sampler"]))
        self.batches = iter(self.sampler)
        self.step = int(state["step"])
        self.total_steps = int(state["total_steps"]) if self.config.schedule.max_steps <= 0 else self.total_steps
        self.elapsed_before = float(state["elapsed_s"])
        self.metric_sums = state["metric_sums"].to(self.device)
        loaded = state.get("samples_loaded")  # absent in states saved before it was counted
        self.samples_counted = isinstance(loaded, int)
        self.samples_loaded.fill_(int(loaded) if isinstance(loaded, int) and self.ctx.is_main else 0)
        self.metric_steps = int(state["metric_steps"])
        self.best = state["best"]
        same_world = int(state["world_size"]) == self.ctx.world_size
        rank, local = self.ctx.rank, self.local_batch_size
        carry = {k: v[rank * local : (rank + 1) * local].to(self.device) for k, v in state["carry"].items()}
        self.carry = self.model.carry_cls.from_state_dict(carry)
        if same_world:
            set_rng_state(state["rng"][rank], self.device)
        else:
            dist_utils.print0(
                f"note: resuming {state['world_size']}-process training on {self.ctx.world_size} "
                "processes; the random streams are reseeded",
                file=sys.stderr,
            )
            torch.manual_seed(self.config.runtime.seed + rank + self.step)

    # --- evaluation --------------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, float] | None:
        if self.eval_split is None:
            return None
        metrics = self._evaluate_split(self.eval_split)
        self.last_eval = metrics
        return metrics

    def _evaluate_split(self, split: Any) -> dict[str, float]:
        cfg = self.config
        batch_size = cfg.eval.batch_size or cfg.schedule.global_batch_size
        ctx = self.ema.swapped_in(self.model) if self.ema is not None else contextlib.nullcontext()
        start = clock()
        with ctx:
            metrics = evaluate_model(
                self.model,
                split,
                batch_size,
                self.ctx.rank,
                self.ctx.world_size,
                stablemax_dtype=self.precision.stablemax_dtype,
                progress=cfg.logging.progress and self.ctx.is_main,
            )
        metrics["eval_seconds"] = clock() - start
        return metrics

    def evaluate_and_log(self, progress: TrainProgress) -> bool:
        """Evaluate, log, plot and record the best; returns whether this evaluation is the best so far."""
        metrics = self.evaluate()
        assert metrics is not None
        self.log({"step": self.step, "split": "eval", **metrics})
        if self.ctx.is_main:
            progress.write(
                f"step {self.step}: eval exact_accuracy {metrics['exact_accuracy']:.4f} "
                f"accuracy {metrics['accuracy']:.4f} ({int(metrics['count'])} rows)",
            )
        best_on = self.config.checkpoint.best_on
        if best_on == "train":
            # Chosen on training puzzles, never on the test split the results are reported on.
            selection = self._evaluate_split(self.select_split)
            self.log({"step": self.step, "split": "select", **selection})
            value = float(selection["exact_accuracy"])
        else:
            value = float(metrics["exact_accuracy"])
        self.plot()
        if best_on == "none" or (self.best is not None and value <= float(self.best["value"])):
            return False
        self.best = {"step": self.step, "metric": "exact_accuracy", "value": value, "on": BEST_ON_LABELS[best_on]}
        if self.ctx.is_main:
            self.run.set_best(self.best)
        return True

    # --- helpers -----------------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.elapsed_before + clock() - self.start_time

    def time_fraction(self) -> float:
        budget = self.config.schedule.time_budget_minutes * 60.0
        if budget <= 0:
            return 0.0
        # Every rank must see the same value (it sets the learning rate and the stopping step).
        return dist_utils.all_reduce_max(self.elapsed()) / budget

    def log(self, record: dict[str, Any]) -> None:
        if self.logger is not None:
            self.logger.log(record)

    def plot(self) -> None:
        if self.ctx.is_main and self.config.logging.plot:
            from hrm.training.plots import plot_run

            try:
                plot_run(self.run.path)
            except Exception as exc:  # a plotting failure must never stop training
                print(f"warning: could not write the training curves ({type(exc).__name__}: {exc})", file=sys.stderr)

    # --- the loop ----------------------------------------------------------------------------------------------

    def run_loop(self) -> TrainResult:
        """Step until the schedule (or the time budget) ends; log, evaluate and checkpoint on the way."""
        cfg = self.config
        progress = TrainProgress(
            self.total_steps,
            self.step,
            enabled=cfg.logging.progress and self.ctx.is_main,
            budget_s=cfg.schedule.time_budget_minutes * 60.0,
        )
        last_saved: Path | None = None
        saved_step = -1
        # The time budget counts training (steps and evaluations) from here, not the set-up before it (loading data,
        # building and compiling the model): under load set-up alone could exhaust a short budget.
        self.start_time = clock()
        self.interval_start, self.interval_steps = self.start_time, 0  # for steps_per_s
        self.stepped = False  # no optimiser step yet in this process (a compile failure shows up at the first)
        time_fraction = self.time_fraction()
        try:
            while self.step < self.total_steps and time_fraction < 1.0:
                values, lr = self.optimizer_step(time_fraction)
                self.metric_sums += values
                self.metric_steps += 1
                self.interval_steps += 1
                time_fraction = self.time_fraction()
                last_step = self.step >= self.total_steps or time_fraction >= 1.0
                if self.metric_steps >= cfg.logging.log_every or last_step:
                    progress.show(self.log_train_metrics(lr), self.last_eval)
                progress.advance(self.step, self.total_steps, time_fraction)

                # Once in a while: evaluate (log, plot, track the best), then checkpoint.
                eval_now = self.step % self.eval_every == 0 or (last_step and cfg.schedule.eval_at_end)
                new_best = self.evaluate_and_log(progress) if eval_now and self.eval_split is not None else False
                if self.save_due(eval_now, new_best, last_step):
                    last_saved, saved_step = self.save(), self.step
        finally:
            progress.close(self.step)
        return TrainResult(
            run_dir=self.run.path,
            step=self.step,
            total_steps=self.total_steps,
            last_eval=self.last_eval,
            best=self.best,
            checkpoint=last_saved if saved_step == self.step else latest_checkpoint(self.run.path),
            elapsed_s=self.elapsed(),
            samples_loaded=self.total_samples_loaded(),
        )

    def total_samples_loaded(self) -> int | None:
        """Samples loaded into the carry so far, summed over ranks (a collective: every rank calls it)."""
        total = int(dist_utils.all_reduce_sum(self.samples_loaded.clone()).item())
        return total if self.samples_counted else None

    def optimizer_step(self, time_fraction: float) -> tuple[torch.Tensor, float]:
        """One optimiser step on the next batch; returns its summed metrics (:data:`METRIC_KEYS`) and the rate."""
        cfg = self.config
        raw = next(self.batches)
        if self.augment is not None:
            raw = self.augment(raw, self.step + 1)
        batch = batch_to_device(raw, self.device, self.model.batch_keys)
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        refilled = self.carry.halted.sum()  # halted rows take this batch's samples in this step
        self.step += 1
        lr = learning_rate(cfg, cfg.optim.lr, self.step, self.total_steps, time_fraction)
        emb_lr = learning_rate(cfg, cfg.optim.puzzle_emb_lr, self.step, self.total_steps, time_fraction)
        optimizers = ([(self.sparse, emb_lr)] if self.sparse is not None else []) + [(self.dense, lr)]

        def step() -> tuple[Carry, torch.Tensor]:
            assert self.carry is not None  # created above
            return train_step(
                self.step_model,
                self.carry,
                batch,
                optimizers,
                global_batch_size=cfg.schedule.global_batch_size,
                loss_type=cfg.loss_type,
                stablemax_dtype=self.precision.stablemax_dtype,
                grad_clip=cfg.optim.grad_clip,
                micro_batches=cfg.schedule.grad_accum_steps,
                guard=self.guard,
            )

        try:
            self.carry, values = step()
        except Exception as exc:
            if not (self.compiled and not self.stepped):  # compilation happens (and fails) at the first call
                raise
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            if cfg.runtime.compile != "auto":
                raise CompileError(f"runtime.compile=true failed ({message}); run with runtime.compile=false") from exc
            # runtime.compile=auto: the failed call stopped before the optimisers stepped and before the carry was
            # replaced; a failure in the backward pass may have left partial gradients, so they are cleared.
            tqdm.write(f"torch.compile is not usable here ({message}); training without it", file=sys.stderr)
            uncompile_modules(_compiled_modules(self.model))
            self.compiled = False
            for optimizer, _ in optimizers:
                optimizer.zero_grad(set_to_none=True)
            self.carry, values = step()
        self.stepped = True
        skipped = values[METRIC_KEYS.index("skipped")]
        self.samples_loaded += refilled * (1 - skipped.to(torch.int64))  # a skipped step keeps the old carry
        self.nonfinite_run = (self.nonfinite_run + 1) * skipped.to(torch.int64)
        if self.guard == "sync":
            if bool(skipped):
                self.check_divergence()
            else:
                self.last_update_step = self.step
                if self.ema is not None:
                    self.ema.update(self.model)
        elif self.ema is not None:
            self.ema.update(self.model, keep=skipped == 0)
        return values, lr

    def check_divergence(self) -> None:
        """Stop the run (one UserError, exit code 2) after ``schedule.max_nonfinite_steps`` skipped steps in a row.

        A host read of the device counter: every step off CUDA, at each log and checkpoint on CUDA.
        """
        run = int(self.nonfinite_run.item())
        if run == 0:
            self.last_update_step = self.step
            return
        limit = self.config.schedule.max_nonfinite_steps
        if run < limit:
            return
        cfg = self.config
        first = self.step - run + 1
        kept = latest_checkpoint(self.run.path) if self.ctx.is_main else None
        where = f"; the newest checkpoint ({kept.name}) holds finite weights" if kept is not None else ""
        low_precision = self.precision.forward_dtype != torch.float32
        dtype_hint = "; or train in float32 (runtime.dtype=float32)" if low_precision else ""
        raise UserError(
            f"training diverged: steps {first}-{self.step} ({run} in a row, schedule.max_nonfinite_steps={limit}) "
            f"had a non-finite loss or gradient norm, so none of them updated the weights{where}; the usual cause "
            f"is a learning rate too high (optim.lr={cfg.optim.lr:g}): lower it, lengthen optim.warmup_steps or "
            f"set optim.grad_clip (e.g. 1.0){dtype_hint}"
        )

    def log_train_metrics(self, lr: float) -> dict[str, Any]:
        """Log the train metrics summed since the last log (all-reduced over ranks) and start a new interval."""
        if self.guard == "masked":
            self.check_divergence()
        sums = dist_utils.all_reduce_sum(self.metric_sums.clone())
        now = clock()
        record = {
            "step": self.step,
            "split": "train",
            "lr": lr,
            **summarise_train_metrics(sums, self.metric_steps, self.config.schedule.global_batch_size),
            "steps_per_s": self.interval_steps / max(now - self.interval_start, 1e-9),
            "elapsed_s": self.elapsed(),
        }
        self.log(record)
        self.metric_sums.zero_()
        self.metric_steps = 0
        self.interval_start, self.interval_steps = now, 0
        return record

    def save_due(self, eval_now: bool, new_best: bool, last_step: bool) -> bool:
        ckpt = self.config.checkpoint
        return (
            (eval_now and ckpt.every_eval)
            or (new_best and ckpt.keep_best)
            or (ckpt.every_steps > 0 and self.step % ckpt.every_steps == 0)
            or (last_step and ckpt.at_end)
        )

    def close(self) -> None:
        logger = getattr(self, "logger", None)  # absent when __init__ failed before creating it
        if logger is not None:
            logger.close()
        self.run.unlock()
        # Drop the DDP wrapper (its reducer holds the process group) so the group can be torn down now.
        if getattr(self, "model", None) is not None:
            self.step_model = self.model


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> TrainResult:
    """Train ``config`` into ``run_dir`` (created if needed) and return the final state.

    With ``resume`` the run continues from the newest checkpoint in ``run_dir`` that holds a training state: the
    weights, both optimisers, the EMA, the carry, the sampler position, the random streams and the step. On CPU in
    deterministic mode (``runtime.deterministic=true``) the continued run logs the same per-step losses, bit for
    bit, as an uninterrupted one. Under ``torchrun`` every rank calls this; rank 0 logs and writes checkpoints.
    """
    trainer = _Trainer(config, Path(run_dir), resume)
    # The run may change process-wide torch settings (threads, deterministic kernels): restore them afterwards.
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    # A process group this call creates is destroyed on every way out: left to the interpreter's exit, gloo's
    # threads can abort the process ("terminate called without an active exception") after a finished run.
    owns_group = not dist_utils.is_initialized()
    try:
        trainer.setup()
        result = trainer.run_loop()
        dist_utils.barrier()  # every rank is past its last collective before the group goes away
        return result
    finally:
        trainer.close()
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        if owns_group:
            import gc

            gc.collect()  # DDP's hooks form reference cycles: free them before the group they use goes away
            dist_utils.destroy_distributed()
