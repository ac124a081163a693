"""Test-time fine-tuning: answer an ARC task the checkpoint was never trained on (issue #23 item 5).

An ARC model's puzzle-ID embedding is transductive (one learned vector per augmented training task), so a new task
has no vector and ``hrm solve`` refuses it (:class:`hrm.inference.solve.UnseenTaskError`). The remedy the field
uses (ARC Prize's HRM analysis; TRM test-time adaptation, arXiv 2511.02886) is done here, on a *copy* of the model:

1. **views**: the task's demonstration pairs get ``views`` augmentations, the original first, drawn exactly as the
   ARC builder draws them (:func:`hrm.data.arc.choose_variants` with :func:`hrm.data.arc.task_rng`: dihedral ×
   colour permutation keeping black, duplicates rejected) and encoded by the builder's own
   :func:`hrm.data.arc.encode_variant_pairs` (translated like the train split, one example per view untranslated);
2. **new rows**: the copy's puzzle table is *replaced* by a small one: row 0 the blank (copied), rows 1..V one
   fresh row per view. A fresh row starts at the mean of the trained rows (``init="mean"``, the default: the
   "average task", which the trained weights already read sensibly) or at zero (``init="zeros"``: what an id
   that training never touched holds, since the table starts at zero). Replacing, not extending, keeps the copy
   small: a full ARC table is ~0.5 billion values and is never duplicated (:func:`copy_with_new_rows`);
3. **steps**: ``steps`` optimiser steps on all V × P demonstration rows at once, each one call of the model's
   training forward (one segment of deep supervision with the persistent carry, ACT halting and its
   exploration, HRM's Q-continue target) and the training loss :func:`hrm.model.act_loss` with the model's
   ``loss_type``. That is the training step of :func:`hrm.training.trainer.train_step` on a fixed batch, minus
   the distributed and non-finite-guard machinery (a non-finite step is skipped and counted). By default only
   the new rows train (Adam, ``lr``); ``weights=True`` also trains every weight (Adam, ``weights_lr``). Adam
   rather than the training's sign-SGD: the V rows are dense here (every step touches all of them), which is the
   case sign-SGD was a stand-in for;
4. **vote**: every test input is run under every view's row (its own augmented frame), the answers are mapped
   back and voted on by :class:`hrm.evaluation.arc_vote.ArcVoter` (votes, then mean sigmoid(q_halt)), giving the
   top-2 candidates per test input (pass@1 / pass@2 when the test outputs are known).

The original model is never modified (its weights, table and ``requires_grad`` flags stay as they were).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from hrm.data import arc
from hrm.data.augment import arc_augment
from hrm.errors import UserError
from hrm.evaluation.arc_vote import ArcVoter, make_view
from hrm.inference.effort import run_rows, sigmoid
from hrm.model import IGNORE_LABEL_ID, act_loss
from hrm.model.limits import MAX_CANDIDATES, MAX_RECURRENCE
from hrm.model.losses import token_cross_entropy

Init = Literal["mean", "zeros"]
# Bounds on what one call may ask for, so a typo cannot allocate or run without end.
MAX_FINETUNE_STEPS = 100_000
MAX_FINETUNE_VIEWS = MAX_CANDIDATES
DEFAULT_VIEWS = 8
DEFAULT_LR = 1e-2  # the reference's puzzle-embedding learning rate (there for sign-SGD; Adam's first steps match it)
DEFAULT_WEIGHTS_LR = 1e-5  # a tenth of the reference's ARC weight lr: adapt, do not overwrite, a trained model


@dataclass
class FinetuneOptions:
    """What :func:`finetune_task` does; see the module docstring.

    Attributes:
        steps: optimiser steps on the demonstrations; 0 runs the same pipeline with the fresh rows untrained
            (the "without fine-tuning" baseline: the views and votes, but nothing learnt about the task).
        views: augmented views of the task, the original included (>= 1; fewer when the task has fewer distinct
            augmentations, as in a build).
        lr: Adam learning rate of the new puzzle-table rows.
        weights: also train every weight of the copy (``--finetune-weights``).
        weights_lr: Adam learning rate of the weights when ``weights``.
        init: the new rows' start, ``"mean"`` of the trained rows or ``"zeros"``.
        translate: translate the demonstrations as the build's train split does (one per view stays put).
        seed: seeds the views, the translations and the training's halting exploration.
        max_segments / early_exit: how the test inputs are run afterwards (default: the model's M_max, early exit).
    """

    steps: int
    views: int = DEFAULT_VIEWS
    lr: float = DEFAULT_LR
    weights: bool = False
    weights_lr: float = DEFAULT_WEIGHTS_LR
    init: Init = "mean"
    translate: bool = True
    seed: int = 0
    max_segments: int | None = None
    early_exit: bool = True

    def check(self) -> None:
        """One-line UserError for a bad option (before any compute)."""
        if not 0 <= self.steps <= MAX_FINETUNE_STEPS:
            raise UserError(f"--finetune-steps {self.steps}: use 0..{MAX_FINETUNE_STEPS} (0: fresh rows, no training)")
        if not 1 <= self.views <= MAX_FINETUNE_VIEWS:
            raise UserError(f"--finetune-views {self.views}: use 1..{MAX_FINETUNE_VIEWS}")
        for name, value in (("--finetune-lr", self.lr), ("--finetune-weights-lr", self.weights_lr)):
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"{name} {value}: must be a finite number > 0")
        if self.init not in ("mean", "zeros"):
            raise UserError(f"init {self.init!r}: choose 'mean' or 'zeros'")
        if self.max_segments is not None and not 1 <= self.max_segments <= MAX_RECURRENCE:
            raise UserError(f"max_segments {self.max_segments}: use 1..{MAX_RECURRENCE}")


@dataclass
class TestAnswer:
    """The voted answers for one test input of the task (grids in the task's own frame and colours)."""

    index: int  # which test input (0-based)
    attempts: list[np.ndarray]  # the top candidates, best first (at most 2)
    votes: list[int]  # views that gave each attempt
    candidates: int  # distinct answers among the views
    expected: np.ndarray | None  # the test output, when the task file gives it
    rank: int | None  # 1-based rank of the expected output among the candidates (None: not among them, or unknown)
    cell_accuracy: float | None  # share of the expected output's cells attempt 1 gets right (0 on a wrong shape)


@dataclass
class FinetuneResult:
    """What :func:`finetune_task` did and found."""

    task_id: str
    answers: list[TestAnswer]
    steps: int  # optimiser steps taken (skipped non-finite steps included)
    skipped_steps: int
    views: int  # views built (may be fewer than asked)
    demo_rows: int  # rows per step: views × demonstration pairs
    trained: str  # "puzzle rows" | "puzzle rows + weights"
    init: str
    loss_before: float  # the demonstrations' final-segment cross-entropy before and after (see demo_loss)
    loss_after: float
    train_losses: list[float]  # the ACT loss of every step, per row
    seconds: float  # fine-tuning time
    predict_seconds: float
    pass_at: dict[int, bool] | None  # {1: .., 2: ..} when every test output is known
    model: Any = field(default=None, repr=False)  # the fine-tuned copy (puzzle ids 1..views are the views)
    view_transforms: list[tuple[int, np.ndarray]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (grids as nested lists)."""
        return {
            "task_id": self.task_id,
            "finetune": {
                "steps": self.steps,
                "skipped_steps": self.skipped_steps,
                "views": self.views,
                "demo_rows": self.demo_rows,
                "trained": self.trained,
                "init": self.init,
                "loss_before": self.loss_before,
                "loss_after": self.loss_after,
                "seconds": self.seconds,
                "predict_seconds": self.predict_seconds,
            },
            "pass_at": None if self.pass_at is None else {str(k): v for k, v in self.pass_at.items()},
            "test": [
                {
                    "index": a.index,
                    "attempts": [g.astype(int).tolist() for g in a.attempts],
                    "votes": a.votes,
                    "candidates": a.candidates,
                    "rank": a.rank,
                    "cell_accuracy": a.cell_accuracy,
                    "expected": None if a.expected is None else a.expected.astype(int).tolist(),
                }
                for a in self.answers
            ],
        }


# ---------------------------------------------------------------------------------------------------------------
# The copy with fresh rows


def new_row_init(model: Any, init: Init) -> torch.Tensor:
    """The start of every fresh row [ndim]: the mean of the trained rows (all but the blank, row 0), or zeros.

    A table with nothing but the blank has no trained rows; its mean start is zero too."""
    emb = model.puzzle_emb
    assert emb is not None  # callers check that the model has a table
    if init == "zeros" or emb.num_ids < 2:
        return torch.zeros(emb.weight.shape[1], dtype=emb.weight.dtype, device=emb.weight.device)
    return emb.weight[1:].mean(0)


def copy_with_new_rows(model: Any, num_rows: int, init: Init = "mean") -> Any:
    """A deep copy of ``model`` whose puzzle table is [1 + num_rows, ndim]: the blank row, then fresh rows.

    The original table is kept out of the copy (``deepcopy``'s memo maps it to the small one), so copying a full
    ARC model costs its weights, not its table. ``config.num_puzzle_identifiers`` of the copy follows the table.
    """
    emb = model.puzzle_emb
    if emb is None:
        raise UserError(
            "this model has no puzzle-ID embedding (puzzle_emb_ndim 0), so there is no row to fine-tune; "
            "pass --finetune-weights to adapt its weights instead"
        )
    with torch.no_grad():
        start = new_row_init(model, init)
        table = torch.cat((emb.weight[:1].clone(), start.expand(num_rows, -1).clone()))
    tuned = copy.deepcopy(model, memo={id(emb.weight): table})
    assert tuned.puzzle_emb is not None and tuned.puzzle_emb.weight is table
    tuned.puzzle_emb.pop_pending()  # rows recorded by a forward of the original are not the copy's to step
    tuned.config.num_puzzle_identifiers = int(table.shape[0])
    return tuned


# ---------------------------------------------------------------------------------------------------------------
# Views and rows


def task_views(task: arc.ArcTask, views: int, seed: int) -> arc.TaskVariants:
    """Up to ``views`` augmentations (original first) of the task's demonstrations, drawn as a build draws them.

    Only the demonstrations decide which augmentations are distinct: the test outputs may be unknown."""
    demos = arc.ArcTask(task.task_id, None, task.source, list(task.train), [], task.where)
    rng = arc.task_rng(seed, task.task_id or "")
    return arc.choose_variants(demos, views - 1, rng)


def demo_batch(
    task: arc.ArcTask, variants: arc.TaskVariants, translate: bool, seed: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """All views × demonstration pairs as one training batch; view v (0-based) reads puzzle id v + 1."""
    pairs = []
    for pair in task.train:
        assert pair.output is not None  # demonstrations always have outputs (arc._parse_task)
        pairs.append((pair.input, pair.output))
    rng = np.random.default_rng([int(seed), 1]) if translate else None
    inputs, labels, _ = arc.encode_variant_pairs(pairs, variants, rng)
    num_v, num_p = len(variants), len(pairs)
    labels_t = torch.as_tensor(labels.reshape(-1, arc.SEQ_LEN).astype(np.int64), device=device)
    # The build stores PAD as the label to ignore (ignore_label_id = PAD); the loss ignores IGNORE_LABEL_ID.
    labels_t[labels_t == arc.PAD_ID] = IGNORE_LABEL_ID
    return {
        "inputs": torch.as_tensor(inputs.reshape(-1, arc.SEQ_LEN).astype(np.int64), device=device),
        "labels": labels_t,
        "puzzle_identifiers": torch.arange(1, num_v + 1, device=device).repeat_interleave(num_p),
    }


def _stablemax_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


@torch.no_grad()
def demo_loss(model: Any, batch: dict[str, torch.Tensor], max_segments: int | None = None) -> float:
    """Mean over rows of the final segment's token cross-entropy (the model's ``loss_type``) on ``batch``.

    A deterministic yardstick (eval mode, every segment run, no exploration), unlike the training loss of one step,
    which depends on where each row's carry is in its segments."""
    was_training = model.training
    model.eval()
    try:
        step = None
        for segment in model.run_segments(batch["inputs"], batch["puzzle_identifiers"], max_segments=max_segments):
            step = segment  # the last segment's answer is the one scored
        assert step is not None  # at least one segment runs
        labels = batch["labels"]
        loss_type = getattr(model.config, "loss_type", "stablemax")
        per_token = token_cross_entropy(step.logits, labels, loss_type, _stablemax_dtype(labels.device))
        counts = (labels != IGNORE_LABEL_ID).sum(-1).clamp_min(1)
        return float((per_token.sum(-1) / counts).mean())
    finally:
        model.train(was_training)


# ---------------------------------------------------------------------------------------------------------------
# Fine-tuning


def _train(tuned: Any, batch: dict[str, torch.Tensor], options: FinetuneOptions) -> tuple[list[float], int]:
    """``options.steps`` training steps of ``tuned`` on ``batch``; returns the per-row loss of each, and how many
    were skipped as non-finite."""
    emb = tuned.puzzle_emb
    for p in tuned.parameters():
        p.requires_grad_(options.weights)  # embeddings only: no weight gradients to compute or hold
    groups: list[dict[str, Any]] = []
    rows: nn.Parameter | None = None
    if emb is not None:
        rows = nn.Parameter(emb.weight[1:].clone())
        groups.append({"params": [rows], "lr": options.lr})
    if options.weights:
        groups.append({"params": [p for p in tuned.parameters()], "lr": options.weights_lr})
    # betas as the reference's dense optimiser (β2 = 0.95): steadier over a few hundred steps than 0.999.
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.95))
    loss_type = getattr(tuned.config, "loss_type", "stablemax")
    dtype = _stablemax_dtype(batch["inputs"].device)
    size = int(batch["inputs"].shape[0])
    losses: list[float] = []
    skipped = 0
    tuned.train()
    carry = tuned.initial_carry(batch)
    for _ in range(options.steps):
        carry, outputs = tuned(carry, batch)
        loss, _ = act_loss(outputs, carry.current_data["labels"], carry.halted, carry.steps, loss_type, dtype)
        (loss / size).backward()
        if rows is not None:
            assert emb is not None
            grad = torch.zeros_like(rows)
            for ids, touched in emb.pop_pending():
                if touched.grad is not None:
                    # Row v + 1 of the table is parameter row v; the blank (id 0) is never in the batch.
                    grad.index_add_(0, ids.reshape(-1) - 1, touched.grad.reshape(-1, rows.shape[1]).to(rows.dtype))
            rows.grad = grad
        value = float(loss.detach()) / size
        finite = math.isfinite(value) and all(
            bool(torch.isfinite(p.grad).all()) for g in groups for p in g["params"] if p.grad is not None
        )
        if finite:
            optimizer.step()
            if rows is not None:
                assert emb is not None
                with torch.no_grad():
                    emb.weight[1:] = rows
        else:
            skipped += 1
        optimizer.zero_grad(set_to_none=True)
        losses.append(value)
    tuned.eval()
    for p in tuned.parameters():
        p.requires_grad_(False)  # the copy is for inference from here on
    return losses, skipped


def _cell_accuracy(attempt: np.ndarray, expected: np.ndarray | None) -> float | None:
    """Share of ``expected``'s cells that ``attempt`` has right; 0 when the shapes differ; None when unknown."""
    if expected is None:
        return None
    if attempt.shape != expected.shape:
        return 0.0
    return float((attempt == expected).mean())


def check_arc_model(model: Any) -> None:
    """UserError unless ``model`` reads ARC canvases (vocab 12, 900 grid tokens) and has a halting-free or
    halting segment loop (every registered family does)."""
    cfg = model.config
    if cfg.vocab_size != arc.VOCAB_SIZE or cfg.seq_len != arc.SEQ_LEN:
        raise UserError(
            f"test-time fine-tuning is for ARC models (vocab {arc.VOCAB_SIZE}, seq_len {arc.SEQ_LEN}); this one has "
            f"vocab {cfg.vocab_size}, seq_len {cfg.seq_len}"
        )


def finetune_task(
    model: Any, task: arc.ArcTask, options: FinetuneOptions, device: torch.device | None = None
) -> FinetuneResult:
    """Fine-tune a copy of ``model`` on ``task``'s demonstrations and vote on its test inputs (module docstring).

    ``model`` is an ARC model of any registered family; it is left as it was. ``task`` needs at least one
    demonstration pair and one test input; test outputs are optional (then ``pass_at`` is None).
    """
    options.check()
    check_arc_model(model)
    if not task.train:
        raise UserError(f"ARC task {task.task_id!r} has no demonstration pairs to fine-tune on")
    if not task.test:
        raise UserError(f"ARC task {task.task_id!r} has no test input to answer")
    if model.puzzle_emb is None and not options.weights:
        copy_with_new_rows(model, 1)  # raises the one-line error that explains it
    dev = device if device is not None else next(model.parameters()).device
    task_id = task.task_id or "task"
    start = time.perf_counter()
    variants = task_views(task, options.views, options.seed)
    num_v = len(variants)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(options.seed)  # the halting exploration draws from the global generator
        if model.puzzle_emb is not None:
            tuned = copy_with_new_rows(model, num_v, options.init)
        else:
            tuned = copy.deepcopy(model)
        tuned = tuned.to(dev)
        batch = demo_batch(task, variants, options.translate, options.seed, dev)
        loss_before = demo_loss(tuned, batch)
        losses, skipped = _train(tuned, batch, options)
        loss_after = demo_loss(tuned, batch)
    seconds = time.perf_counter() - start

    start = time.perf_counter()
    transforms = [(int(t), variants.colour_maps[v]) for v, t in enumerate(variants.tids.tolist())]
    pids = torch.arange(1, num_v + 1, device=dev) if tuned.puzzle_emb is not None else torch.zeros(num_v, device=dev)
    pids = pids.to(torch.long)
    voter = ArcVoter()
    cap = tuned.max_segments if options.max_segments is None else options.max_segments
    for test in task.test:
        rows = np.stack([arc.encode_grid(arc_augment(test.input, tid, cmap)) for tid, cmap in transforms])
        run = run_rows(tuned, torch.as_tensor(rows, dtype=torch.long, device=dev), pids, cap, options.early_exit, False)
        for v, (tid, cmap) in enumerate(transforms):
            view = make_view(task_id, tid, cmap)
            answer = view.invert(arc.decode_grid(run.tokens[v]))
            voter.add(task_id, test.input, answer, sigmoid(run.q_halt[v]), test.output, identity_view=view.identity)
    answers = []
    for index, test in enumerate(task.test):
        entry = voter.test_input(task_id, test.input)
        ranked = entry.ranked()
        rank = next((i + 1 for i, (k, _) in enumerate(ranked) if k == entry.solution_key), None)
        answers.append(
            TestAnswer(
                index=index,
                attempts=[c.grid.astype(np.int64) for _, c in ranked[:2]],
                votes=[c.votes for _, c in ranked[:2]],
                candidates=len(ranked),
                expected=test.output,
                rank=rank if test.output is not None else None,
                cell_accuracy=_cell_accuracy(ranked[0][1].grid, test.output) if ranked else None,
            )
        )
    pass_at = None
    if all(t.output is not None for t in task.test):
        score = voter.score((1, 2))
        pass_at = {k: task_id in score.solved[k] for k in (1, 2)}
    return FinetuneResult(
        task_id=task_id,
        answers=answers,
        steps=options.steps,
        skipped_steps=skipped,
        views=num_v,
        demo_rows=int(batch["inputs"].shape[0]),
        trained="puzzle rows + weights" if options.weights else "puzzle rows",
        init=options.init,
        loss_before=loss_before,
        loss_after=loss_after,
        train_losses=losses,
        seconds=seconds,
        predict_seconds=time.perf_counter() - start,
        pass_at=pass_at,
        model=tuned,
        view_transforms=transforms,
    )


def _open_arc_checkpoint(checkpoint: Any, device: str | torch.device | None) -> Any:
    """An opened ARC checkpoint (a path, or a :class:`~hrm.checkpoints.Checkpoint` as it is); a one-line
    UserError for any other kind."""
    from hrm.checkpoints import Checkpoint, checkpoint_kind, open_checkpoint
    from hrm.runtime.device import resolve_device

    if isinstance(checkpoint, Checkpoint):
        ckpt = checkpoint
    else:
        ckpt = open_checkpoint(checkpoint, resolve_device(str(device) if device is not None else "auto"))
    kind = checkpoint_kind(ckpt)
    if kind != "arc":
        raise UserError(
            f"{ckpt.path}: --finetune-steps is for ARC checkpoints (their puzzle-ID table is per task); this one "
            f"was trained on {kind or 'an unknown kind of data'}"
        )
    check_arc_model(ckpt.model)
    return ckpt


def finetune_checkpoint_task(
    checkpoint: Any,
    puzzle: Any,
    options: FinetuneOptions,
    *,
    task_id: str | None = None,
    device: str | torch.device | None = None,
) -> FinetuneResult:
    """:func:`finetune_task` on a checkpoint (a path, or an opened :class:`~hrm.checkpoints.Checkpoint`) and an ARC
    task (a file path, a task dict, anything :func:`hrm.inference.puzzles.load_puzzle` reads as ARC).

    UserError (one line) when the checkpoint was not trained on ARC or the task is malformed."""
    from hrm.inference.puzzles import load_puzzle

    options.check()  # before the checkpoint is read: a bad count costs nothing
    ckpt = _open_arc_checkpoint(checkpoint, device)
    parsed = load_puzzle(puzzle, "arc", task_id=task_id)
    assert parsed.task is not None  # an ARC puzzle carries its task
    return finetune_task(ckpt.model, parsed.task, options)


# ---------------------------------------------------------------------------------------------------------------
# Many tasks: ``hrm evaluate --arc-json FILE_OR_FOLDER --finetune-steps N``


def read_tasks(path: Path | str, task_ids: list[str] | None = None) -> list[arc.ArcTask]:
    """The ARC tasks of a JSON file (``{task id: task}`` or one task) or of a folder of task files (recursive), in
    file order; only ``task_ids`` when given (a one-line error names any that are missing)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*.json"))
        if not files:
            raise UserError(f"{path}: no .json task files in the folder")
        tasks = [t for f in files for t in arc.read_task_file(f)]
    elif path.is_file():
        tasks = arc.read_task_file(path)
    else:
        raise UserError(f"{path}: no such ARC task file or folder")
    if task_ids:
        by_id = {t.task_id: t for t in tasks}
        missing = [t for t in task_ids if t not in by_id]
        if missing:
            raise UserError(f"{path}: no task(s) {', '.join(missing[:5])}; check --tasks")
        tasks = [by_id[t] for t in task_ids]
    if not tasks:
        raise UserError(f"{path}: no ARC tasks in it")
    return tasks


@dataclass
class FinetuneReport:
    """Every task of a file fine-tuned (and, with a baseline, run untrained): pass@1/2 with and without."""

    source: str
    options: FinetuneOptions
    tasks: list[FinetuneResult]
    baseline: list[FinetuneResult] | None  # the same tasks at steps 0, or None

    @staticmethod
    def _pass(results: list[FinetuneResult], k: int) -> tuple[int, int]:
        scored = [r for r in results if r.pass_at is not None]
        return sum(1 for r in scored if r.pass_at is not None and r.pass_at[k]), len(scored)

    @staticmethod
    def _cells(results: list[FinetuneResult]) -> float | None:
        values = [a.cell_accuracy for r in results for a in r.answers if a.cell_accuracy is not None]
        return float(np.mean(values)) if values else None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, results in (("finetuned", self.tasks), ("baseline", self.baseline)):
            if results is None:
                continue
            row: dict[str, Any] = {"tasks": len(results)}
            for k in (1, 2):
                solved, scored = self._pass(results, k)
                row[f"pass@{k}"] = solved / scored if scored else None
                row[f"solved@{k}"] = solved
            row["scored_tasks"] = self._pass(results, 1)[1]
            row["cell_accuracy"] = self._cells(results)
            row["seconds"] = sum(r.seconds + r.predict_seconds for r in results)
            out[name] = row
        return out

    def to_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "source": self.source,
            "options": {
                "steps": o.steps,
                "views": o.views,
                "lr": o.lr,
                "weights": o.weights,
                "weights_lr": o.weights_lr,
                "init": o.init,
                "translate": o.translate,
                "seed": o.seed,
            },
            "summary": self.summary(),
            "tasks": [r.to_dict() for r in self.tasks],
            "baseline": None if self.baseline is None else [r.to_dict() for r in self.baseline],
        }

    def format(self) -> str:
        o = self.options
        what = "puzzle rows + weights" if o.weights else "puzzle rows"
        lines = [
            f"test-time fine-tuning on {len(self.tasks)} ARC task(s) of {self.source}: {o.steps} steps, "
            f"{o.views} views, {what} (lr {o.lr:g}), init {o.init}"
        ]
        for name, row in self.summary().items():
            label = f"with fine-tuning ({o.steps} steps)" if name == "finetuned" else "without (0 steps)"
            if row["scored_tasks"]:
                cells = row["cell_accuracy"]
                lines.append(
                    f"  {label:<28} pass@1 {row['solved@1']}/{row['scored_tasks']} ({100 * row['pass@1']:.1f}%)  "
                    f"pass@2 {row['solved@2']}/{row['scored_tasks']} ({100 * row['pass@2']:.1f}%)  "
                    f"cells {100 * cells:.1f}%  {row['seconds']:.1f} s"
                )
            else:
                lines.append(f"  {label:<28} no test outputs to score; {row['seconds']:.1f} s")
        return "\n".join(lines)


def finetune_tasks(
    checkpoint: Any,
    path: Path | str,
    options: FinetuneOptions,
    *,
    task_ids: list[str] | None = None,
    baseline: bool = True,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> FinetuneReport:
    """:func:`finetune_task` on every task of ``path`` (and, with ``baseline``, the same at 0 steps)."""
    from tqdm.auto import tqdm

    options.check()
    tasks = read_tasks(path, task_ids)
    ckpt = _open_arc_checkpoint(checkpoint, device)
    tuned: list[FinetuneResult] = []
    plain: list[FinetuneResult] | None = [] if baseline and options.steps > 0 else None
    untrained = dataclasses.replace(options, steps=0)
    for task in tqdm(tasks, desc="fine-tuning", unit="task", disable=not progress):
        result = finetune_task(ckpt.model, task, options)
        result.model = None  # one copy at a time: a report of many tasks keeps answers, not models
        tuned.append(result)
        if plain is not None:
            base = finetune_task(ckpt.model, task, untrained)
            base.model = None
            plain.append(base)
    return FinetuneReport(str(path), options, tuned, plain)


__all__ = [
    "FinetuneOptions",
    "FinetuneReport",
    "FinetuneResult",
    "TestAnswer",
    "copy_with_new_rows",
    "demo_batch",
    "demo_loss",
    "finetune_checkpoint_task",
    "finetune_task",
    "finetune_tasks",
    "read_tasks",
    "task_views",
]
