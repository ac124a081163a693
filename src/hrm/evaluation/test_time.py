"""Test-time scaling beyond "more segments": several candidate answers per puzzle, then one is picked.

Three ways to spend more inference compute on a puzzle, each measured against the plain answer on the same rows
(:func:`evaluate_test_time`), with its compute cost (segments run per puzzle) beside its accuracy gain:

* **augmentation voting** (Sudoku, Maze; ARC has its own in :mod:`hrm.evaluation.arc_vote`): the puzzle is solved
  in K symmetric views — view 0 the puzzle itself, then Sudoku shuffles (digit relabelling, band/row/stack/column
  permutations, transpose for square boxes) or maze dihedral transforms (at most 8 views) — each answer mapped
  back by the inverse transform, and the most frequent answer wins; ties go to the answer with the higher mean
  halting confidence sigmoid(q_halt) (to the earliest view without a halting head).
* **noisy trajectories** (any family that iterates a state): K runs of the same puzzle, run 0 clean and runs
  1..K−1 with Gaussian noise added to the latent state after every recursion step (every call of the family's
  recurrent modules, see :func:`recurrent_modules`), noise std = ``noise_std`` × the state's RMS over the hidden
  units at that position; the answer of the run whose halting head is most confident (highest final q_halt
  logit) is kept (PTRM, arXiv 2605.19943). A family without a halting head votes instead.
* **oracle verifier** (Sudoku only, ``--rule-check``; reported separately): among a method's candidates, only
  those that are complete valid grids agreeing with the givens compete, when there is at least one.

Every candidate runs the same segment cap (and early exit, when asked) as the plain answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hrm.data.augment import (
    NUM_DIHEDRAL,
    SudokuTransforms,
    dihedral_transform,
    inverse_dihedral_transform,
    sample_sudoku_transforms,
)
from hrm.data.sudoku import box_shape, consistent_with_givens, solutions_valid
from hrm.errors import UserError
from hrm.evaluation.batches import EvalBatch
from hrm.evaluation.metrics import row_metrics

AUGMENT_KINDS = ("sudoku", "maze")

# How a verified method is labelled in tables: on uniquely solvable puzzles the rule check is a perfect verifier.
ORACLE_LABEL = " [oracle pass@K: a perfect verifier]"


def recurrent_modules(model: Any) -> list[torch.nn.Module]:
    """The modules a family applies repeatedly inside a segment, each with the state it updates as its first
    argument and the new state as output: ``model.recurrent_modules()`` when defined, else
    ``model.compile_targets()`` (docs/architecture.md, "Recurrent modules")."""
    for name in ("recurrent_modules", "compile_targets"):
        method = getattr(model, name, None)
        if callable(method):
            return list(method())
    return []


@dataclass
class TestTimeOptions:
    """What to measure; 0 views/runs switches a method off.

    Attributes:
        augment: K symmetric views for augmentation voting (Sudoku, Maze); K >= 2.
        noise: K trajectories (1 clean + K−1 noisy) picked by the halting head; K >= 2.
        noise_std: noise std relative to the state's RMS at each position.
        rules: also report each method with the Sudoku rule check: oracle pass@K (on uniquely solvable puzzles a
            rule-valid grid is the answer, so the check is a perfect verifier, not the model's choice).
        seed: seeds the views and the noise.
        limit: measure on the first this many rows only (0 = all).
        max_segments: the segment cap of every candidate (default the model's M_max).
        early_exit: per-sample early exit in every candidate.
    """

    __test__ = False  # not a pytest class

    augment: int = 0
    noise: int = 0
    noise_std: float = 0.1
    rules: bool = False
    seed: int = 0
    limit: int = 0
    max_segments: int | None = None
    early_exit: bool = False

    def check(self, kind: str, model: Any) -> None:
        if self.augment == 0 and self.noise == 0:
            raise UserError("give --augment-votes K or --noise-samples K (K >= 2) for test-time scaling")
        if self.augment == 1 or self.noise == 1 or self.augment < 0 or self.noise < 0:
            raise UserError("--augment-votes / --noise-samples: K must be >= 2 (K = 1 is the plain answer)")
        if self.augment and kind not in AUGMENT_KINDS:
            raise UserError(
                f"--augment-votes works on Sudoku and Maze data (ARC votes over its own views); this data is {kind!r}"
            )
        if self.rules and kind != "sudoku":
            raise UserError(f"--rule-check is a Sudoku rule check; this data is {kind!r}")
        if self.noise and not recurrent_modules(model):
            raise UserError(
                f"--noise-samples needs a family that iterates a latent state; a {type(model).family!r} model "
                "has no recurrent modules"
            )
        if self.limit < 0:
            raise UserError(f"--test-time-rows {self.limit}: must be >= 0")
        if not self.noise_std > 0:
            raise UserError(f"--noise-std {self.noise_std}: must be > 0")


@dataclass
class Candidates:
    """K candidate answers for B rows, in the puzzle's own frame."""

    predictions: np.ndarray  # int64 [K, B, S]
    q_halt: np.ndarray | None  # float32 [K, B] (None without a halting head)
    segments: np.ndarray  # int64 [K, B]


def _run(model: Any, inputs: torch.Tensor, ids: torch.Tensor, options: TestTimeOptions) -> tuple:
    out = model.predict(inputs, ids, max_segments=options.max_segments, early_exit=options.early_exit)
    q = out["q_halt_logits"]
    return (
        out["logits"].argmax(-1).cpu().numpy().astype(np.int64),
        None if q is None else q.float().cpu().numpy(),
        out["segments"].cpu().numpy().astype(np.int64),
    )


def _stack(runs: list[tuple]) -> Candidates:
    preds = np.stack([r[0] for r in runs])
    q = None if runs[0][1] is None else np.stack([r[1] for r in runs])
    return Candidates(preds, q, np.stack([r[2] for r in runs]))


# --- augmentation views -------------------------------------------------------------------------------------------


class SudokuViews:
    """View 0 = identity, views 1..K−1 = random shuffles; on token grids (token = digit + 1, blank token 1)."""

    def __init__(self, n: int, count: int, rng: np.random.Generator):
        self.n = n
        sampled = sample_sudoku_transforms(rng, count - 1, box_shape(n))
        self.forward = [None] + [sampled[i] for i in range(count - 1)]

    def __len__(self) -> int:
        return len(self.forward)

    def _apply(self, tokens: np.ndarray, view: int, inverse: bool) -> np.ndarray:
        transform = self.forward[view]
        if transform is None:
            return tokens
        if inverse:
            transform = transform.inverse()
        digits = tokens.astype(np.int64) - 1
        digits[(digits < 0) | (digits > self.n)] = 0  # pad / out-of-range predictions count as blank
        one = SudokuTransforms(
            transform.digit_map[None],
            np.array([transform.transpose]),
            transform.row_perm[None],
            transform.col_perm[None],
        )
        moved = digits[:, one.cell_sources()[0]]
        return np.asarray(transform.digit_map).astype(np.int64)[moved] + 1

    def apply(self, tokens: np.ndarray, view: int) -> np.ndarray:
        return self._apply(tokens, view, inverse=False)

    def invert(self, tokens: np.ndarray, view: int) -> np.ndarray:
        return self._apply(tokens, view, inverse=True)


class MazeViews:
    """View k = dihedral transform k (0 = identity) of the n x n grid; at most 8 views."""

    def __init__(self, n: int, count: int):
        self.n = n
        self.count = min(count, NUM_DIHEDRAL)

    def __len__(self) -> int:
        return self.count

    def apply(self, tokens: np.ndarray, view: int) -> np.ndarray:
        grids = tokens.reshape(-1, self.n, self.n)
        return np.ascontiguousarray(dihedral_transform(grids, view)).reshape(tokens.shape[0], -1)

    def invert(self, tokens: np.ndarray, view: int) -> np.ndarray:
        grids = tokens.reshape(-1, self.n, self.n)
        return np.ascontiguousarray(inverse_dihedral_transform(grids, view)).reshape(tokens.shape[0], -1)


def augment_candidates(model: Any, batch: EvalBatch, views: Any, options: TestTimeOptions, plain: tuple) -> Candidates:
    """Solve every view (view 0's run is ``plain``), map each answer back to the puzzle's frame."""
    device = batch.inputs.device
    inputs = batch.inputs.cpu().numpy()
    runs = [plain]
    for view in range(1, len(views)):
        x = torch.as_tensor(views.apply(inputs, view), dtype=batch.inputs.dtype, device=device)
        preds, q, seg = _run(model, x, batch.puzzle_identifiers, options)
        runs.append((views.invert(preds, view), q, seg))
    return _stack(runs)


# --- noisy trajectories -------------------------------------------------------------------------------------------


@contextmanager
def state_noise(model: Any, std: float, generator: torch.Generator) -> Iterator[None]:
    """Add N(0, (std · RMS)²) noise to the output of every recurrent call while inside the block."""

    def hook(module: torch.nn.Module, args: tuple, output: Any) -> Any:
        if not isinstance(output, torch.Tensor):
            return output
        rms = output.float().pow(2).mean(-1, keepdim=True).sqrt()
        noise = torch.randn(output.shape, generator=generator, device="cpu").to(output.device)
        return (output.float() + std * rms * noise).to(output.dtype)

    handles = [m.register_forward_hook(hook) for m in recurrent_modules(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def noise_candidates(
    model: Any, batch: EvalBatch, options: TestTimeOptions, plain: tuple, generator: torch.Generator
) -> Candidates:
    runs = [plain]
    for _ in range(options.noise - 1):
        with state_noise(model, options.noise_std, generator):
            runs.append(_run(model, batch.inputs, batch.puzzle_identifiers, options))
    return _stack(runs)


# --- picking one candidate ----------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def pick(candidates: Candidates, rule: str, allowed: np.ndarray | None = None) -> np.ndarray:
    """One answer per row [B, S]: ``vote`` (most frequent; ties by mean sigmoid(q_halt), then earliest) or
    ``halt`` (highest q_halt logit; a vote without a halting head). ``allowed`` [K, B] limits the pool when a
    row has any allowed candidate (the rule check)."""
    preds, q = candidates.predictions, candidates.q_halt
    K, B, _ = preds.shape
    if rule == "halt" and q is None:
        rule = "vote"
    out = np.empty(preds.shape[1:], dtype=preds.dtype)
    for b in range(B):
        pool = list(range(K))
        if allowed is not None and allowed[:, b].any():
            pool = [k for k in pool if allowed[k, b]]
        if rule == "halt":
            assert q is not None  # "halt" became "vote" above when there are no Q values
            best = max(pool, key=lambda k: (q[k, b], -k))
        else:
            groups: dict[bytes, list[int]] = {}
            for k in pool:
                groups.setdefault(preds[k, b].tobytes(), []).append(k)
            scores = {
                key: (len(ks), float(_sigmoid(q[ks, b]).mean()) if q is not None else 0.0, -ks[0])
                for key, ks in groups.items()
            }
            best = groups[max(scores, key=scores.__getitem__)][0]
        out[b] = preds[best, b]
    return out


def sudoku_answers_valid(inputs: np.ndarray, answers: np.ndarray, n: int) -> np.ndarray:
    """[B]: each answer (tokens [B, S]) is a complete valid grid that agrees with the givens (the oracle verifier)."""
    digits = answers.astype(np.int64) - 1
    complete = ((digits >= 1) & (digits <= n)).all(axis=1)
    digits = np.clip(digits, 0, n)
    givens = np.clip(inputs.astype(np.int64) - 1, 0, None)
    return complete & solutions_valid(digits, n) & consistent_with_givens(givens, digits, n)


def sudoku_valid(candidates: Candidates, inputs: np.ndarray, n: int) -> np.ndarray:
    """[K, B]: :func:`sudoku_answers_valid` of every candidate."""
    return np.stack([sudoku_answers_valid(inputs, preds, n) for preds in candidates.predictions])


# --- the measurement ----------------------------------------------------------------------------------------------


@dataclass
class _Tally:
    exact: float = 0.0
    token: float = 0.0
    count: int = 0
    segments: float = 0.0  # segments run, summed over candidates and rows
    seconds: float = 0.0

    def add(self, predictions: np.ndarray, labels: torch.Tensor, valid: torch.Tensor | None, segments: float) -> None:
        m = row_metrics(torch.as_tensor(predictions, device=labels.device), labels, valid=valid)
        counted = m.counted
        self.exact += float(m.exact[counted].sum())
        self.token += float(m.token_accuracy[counted].sum())
        self.count += int(counted.sum())
        self.segments += segments


def evaluate_test_time(
    model: Any,
    batches: Iterable[EvalBatch],
    kind: str,
    side: int | None,
    options: TestTimeOptions,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Accuracy and cost of the plain answer and of every requested method on the same rows.

    Returns one dict per method: ``method``, ``candidates``, ``exact_accuracy``, ``token_accuracy``,
    ``gain_exact`` (percentage points over the plain answer), ``segments_per_puzzle`` (summed over candidates),
    ``compute_x`` (that over the plain answer's), ``seconds`` (wall time spent producing the candidates, shared
    by the methods that pick from the same candidates), ``oracle_verifier``.
    """
    options.check(kind, model)
    if (options.augment or options.rules) and kind == "sudoku" and side is None:
        raise UserError("cannot tell this Sudoku's side from the dataset; augmentation needs it")
    model.eval()
    rng = np.random.default_rng(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    tallies: dict[str, _Tally] = {}
    meta: dict[str, dict[str, Any]] = {}

    def tally(name: str, candidates: int, domain: bool) -> _Tally:
        if name not in tallies:
            tallies[name] = _Tally()
            meta[name] = {"candidates": candidates, "oracle_verifier": domain}
        return tallies[name]

    views: Any = None
    if options.augment and kind == "sudoku":
        assert side is not None  # checked above
        views = SudokuViews(side, options.augment, rng)
    seen = 0
    for batch in batches:
        if options.limit and seen >= options.limit:
            break
        if options.limit and seen + batch.size > options.limit:
            batch = _head(batch, options.limit - seen)
        seen += batch.size
        if batch.size == 0 or batch.labels is None:
            continue
        labels, valid = batch.labels, batch.valid
        start = time.perf_counter()
        plain = _run(model, batch.inputs, batch.puzzle_identifiers, options)
        plain_seconds = time.perf_counter() - start
        t = tally("plain", 1, False)
        t.add(plain[0], labels, valid, float(plain[2][_rows(valid, plain[2])].sum()))
        t.seconds += plain_seconds
        inputs = batch.inputs.cpu().numpy()
        methods: list[tuple[str, Candidates, str, float]] = []
        if options.augment:
            if kind == "maze" and views is None:
                views = MazeViews(int(round(inputs.shape[1] ** 0.5)), options.augment)
            start = time.perf_counter()
            cands = augment_candidates(model, batch, views, options, plain)
            methods.append((f"augment-vote x{len(views)}", cands, "vote", plain_seconds + time.perf_counter() - start))
        if options.noise:
            start = time.perf_counter()
            cands = noise_candidates(model, batch, options, plain, generator)
            label = (
                f"noise-{'halt' if cands.q_halt is not None else 'vote'} x{options.noise} (std {options.noise_std:g})"
            )
            methods.append((label, cands, "halt", plain_seconds + time.perf_counter() - start))
        for name, cands, rule, seconds in methods:
            rows = _rows(valid, cands.segments[0])
            cost = float(cands.segments[:, rows].sum())
            t = tally(name, cands.predictions.shape[0], False)
            t.add(pick(cands, rule), labels, valid, cost)
            t.seconds += seconds
            if options.rules:
                assert side is not None  # rules are for Sudoku only (options.check), whose side is checked above
                allowed = sudoku_valid(cands, inputs, side)
                t = tally(f"{name} + oracle verifier", cands.predictions.shape[0], True)
                t.add(pick(cands, rule, allowed), labels, valid, cost)
                t.seconds += seconds
        if progress is not None:
            progress(batch.size)
    if not tallies:
        raise UserError("no labelled rows to measure test-time scaling on")
    base = tallies["plain"]
    out = []
    for name, t in tallies.items():
        count = max(t.count, 1)
        exact = t.exact / count
        out.append(
            {
                "method": name,
                **meta[name],
                "rows": t.count,
                "exact_accuracy": exact,
                "token_accuracy": t.token / count,
                "gain_exact": 100 * (exact - base.exact / max(base.count, 1)),
                "segments_per_puzzle": t.segments / count,
                "compute_x": (t.segments / max(base.segments, 1e-9)),
                "seconds": t.seconds,
            }
        )
    return out


def _head(batch: EvalBatch, rows: int) -> EvalBatch:
    def cut(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[:rows]

    return EvalBatch(
        batch.inputs[:rows], batch.puzzle_identifiers[:rows], cut(batch.labels), cut(batch.valid), cut(batch.index)
    )


def _rows(valid: torch.Tensor | None, like: np.ndarray) -> np.ndarray:
    return np.ones(like.shape[-1], dtype=bool) if valid is None else valid.cpu().numpy().astype(bool)


def format_test_time(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'method':<44} {'exact%':>7} {'gain pp':>8} {'token%':>7} {'segments/puzzle':>16} {'compute':>8} {'s':>7}"
    )
    lines = ["test-time scaling (same rows; compute = segments run / the plain answer's):", header]
    for r in rows:
        name = r["method"] + (ORACLE_LABEL if r["oracle_verifier"] else "")
        lines.append(
            f"{name:<58} {100 * r['exact_accuracy']:>7.2f} {r['gain_exact']:>+8.2f} {100 * r['token_accuracy']:>7.2f} "
            f"{r['segments_per_puzzle']:>16.2f} {r['compute_x']:>7.1f}x {r['seconds']:>7.1f}"
        )
    return "\n".join(lines)
