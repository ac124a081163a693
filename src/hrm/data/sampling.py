"""Batch sampling over a :class:`~hrm.data.format.PuzzleSplit` as the reference does it (hrm-reference.md §4.2).

Training (:class:`TrainSampler`), per epoch:
  1. a fresh permutation of the groups;
  2. for each group in that order, one puzzle (augmented version) drawn uniformly from the group;
  3. that puzzle's examples in random order without replacement, appended until the global batch is full (the
     last puzzle of a batch is truncated to fit; its remaining examples are not carried over);
  4. the final incomplete batch of the epoch is dropped.
Every rank computes the same global batch and keeps rows ``[rank*B/W, (rank+1)*B/W)``.

Randomness is keyed, never global: epoch ``e`` draws its group order and puzzle choices from
``SeedSequence([seed, e, 1])`` and batch ``b`` of it draws its example order from ``SeedSequence([seed, e, 2, b])``.
So the sampler state is just ``(epoch, position)`` and a resumed run reproduces the same batches.

Evaluation (:func:`iter_eval_batches`): examples in order, in global-batch chunks; each rank takes its slice; the
last batch is padded with ``pad_id`` inputs, -100 labels and the blank puzzle identifier, and ``valid`` marks the
real rows.

Batches are dicts of numpy arrays: ``inputs`` int32 [B_local, seq_len], ``labels`` int32 (``ignore_label_id``
remapped to -100), ``puzzle_identifiers`` int32 [B_local]; evaluation batches add ``valid`` bool [B_local] and
``example_index`` int64 [B_local] (index into the split's examples, -1 for padding).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hrm.data.format import PuzzleSplit
from hrm.errors import UserError

IGNORE_LABEL_ID = -100


def total_steps(epochs: float, total_groups: int, mean_puzzle_examples: float, global_batch_size: int) -> int:
    """The reference's training length: ``int(epochs * total_groups * mean_puzzle_examples / global_batch_size)``."""
    return int(epochs * total_groups * mean_puzzle_examples / global_batch_size)


def _check_batch(global_batch_size: int, rank: int, world_size: int) -> int:
    if world_size < 1:
        raise UserError(f"world size must be ≥ 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise UserError(f"rank {rank} is outside 0..{world_size - 1}")
    if global_batch_size < 1 or global_batch_size % world_size:
        raise UserError(
            f"global batch size {global_batch_size} must be a positive multiple of the world size {world_size}"
        )
    return global_batch_size // world_size


def _collate(inputs: np.ndarray, labels: np.ndarray, ignore_label_id: int | None) -> tuple[np.ndarray, np.ndarray]:
    inputs = inputs.astype(np.int32)
    labels = labels.astype(np.int32)
    if ignore_label_id is not None:
        labels[labels == ignore_label_id] = IGNORE_LABEL_ID
    return inputs, labels


@dataclass
class _EpochPlan:
    """The batches of one epoch: for batch b, entries ``starts[b]:starts[b+1]`` of (puzzle, take)."""

    set_names: list[str]
    batch_set: np.ndarray  # [num_batches] index into set_names
    batch_offsets: np.ndarray  # [num_batches + 1] into the entry arrays
    puzzles: np.ndarray  # [entries] puzzle index within its set
    takes: np.ndarray  # [entries] examples taken from that puzzle

    @property
    def num_batches(self) -> int:
        return int(self.batch_set.shape[0])


class TrainSampler:
    """Infinite, seeded, rank-aware training batches over a split (reference semantics, §4.2).

    Args:
        split: the training split (from :func:`hrm.data.format.load_split`).
        global_batch_size: examples per optimiser step summed over ranks.
        rank, world_size: this process's slice of each global batch.
        seed: the sampler's seed (≥ 0); batches depend only on (seed, epoch, position).

    Iterating yields local batches forever (epoch after epoch). ``epoch`` and ``position`` (batches already taken
    in the current epoch) are the whole state; :meth:`state_dict` / :meth:`load_state_dict` save and restore it.
    """

    def __init__(self, split: PuzzleSplit, global_batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        self.local_batch_size = _check_batch(global_batch_size, rank, world_size)
        if seed < 0:
            raise UserError(f"sampler seed must be ≥ 0, got {seed}")
        self.split = split
        self.metadata = split.metadata
        self.global_batch_size = int(global_batch_size)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.seed = int(seed)
        self.epoch = 0
        self.position = 0
        self._plan: _EpochPlan | None = None
        self._plan_epoch = -1
        self._sets = [s for s in self.metadata.sets if split.arrays[s]["group_indices"].shape[0] > 1]
        if not self._sets:
            raise UserError(f"{split.path}: the split has no groups to sample from")
        # Per-set lookups kept in memory (small): CSR offsets and puzzle sizes.
        self._puzzle_sizes = {s: np.diff(split.arrays[s]["puzzle_indices"]).astype(np.int64) for s in self._sets}
        self._all_single = all(bool(np.all(v == 1)) for v in self._puzzle_sizes.values())
        # The most examples one epoch can yield: every group's largest puzzle (per set; batches never mix sets).
        most = max(
            int(np.maximum.reduceat(self._puzzle_sizes[s], split.arrays[s]["group_indices"][:-1]).sum())
            for s in self._sets
        )
        if most < self.global_batch_size:
            raise UserError(
                f"{split.path}: an epoch yields at most {most} examples, fewer than the global batch "
                f"size {self.global_batch_size}; lower the batch size"
            )

    # -- bookkeeping -------------------------------------------------------------------------------------------

    def total_steps(self, epochs: float) -> int:
        """Reference formula: ``int(epochs * total_groups * mean_puzzle_examples / global_batch_size)``."""
        return total_steps(
            epochs, self.metadata.total_groups, self.metadata.mean_puzzle_examples, self.global_batch_size
        )

    def batches_in_epoch(self, epoch: int | None = None) -> int:
        return self._epoch_plan(self.epoch if epoch is None else epoch).num_batches

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "global_batch_size": self.global_batch_size,
        }

    def load_state_dict(self, state: dict) -> None:
        if int(state.get("seed", self.seed)) != self.seed:
            raise UserError(f"sampler state was saved with seed {state['seed']}, this sampler has seed {self.seed}")
        if int(state.get("global_batch_size", self.global_batch_size)) != self.global_batch_size:
            raise UserError(
                f"sampler state was saved with global batch {state['global_batch_size']}, "
                f"this sampler uses {self.global_batch_size}"
            )
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])

    # -- planning ----------------------------------------------------------------------------------------------

    def _epoch_plan(self, epoch: int) -> _EpochPlan:
        if self._plan is not None and self._plan_epoch == epoch:
            return self._plan
        rng = np.random.default_rng([self.seed, epoch, 1])
        B = self.global_batch_size
        set_idx, offsets, puzzles_all, takes_all = [], [0], [], []
        for si, set_name in enumerate(self._sets):
            arrays = self.split.arrays[set_name]
            gidx = arrays["group_indices"].astype(np.int64)
            num_groups = gidx.shape[0] - 1
            order = rng.permutation(num_groups)
            chosen = rng.integers(gidx[order], gidx[order + 1])  # one puzzle per group, uniform
            sizes = self._puzzle_sizes[set_name][chosen]
            if np.all(sizes == 1):
                nb = num_groups // B
                puzzles_all.append(chosen[: nb * B])
                takes_all.append(np.ones(nb * B, np.int64))
                base = offsets[-1]
                offsets.extend((base + B * np.arange(1, nb + 1)).tolist())
                set_idx.extend([si] * nb)
                continue
            cum = np.concatenate([[0], np.cumsum(sizes)])
            start = 0
            entries_p, entries_t = [], []
            while start < num_groups:
                # Smallest end such that groups start..end-1 hold at least B examples.
                end = int(np.searchsorted(cum, cum[start] + B, side="left"))
                if end > num_groups:
                    break  # incomplete final batch: dropped
                take = sizes[start:end].copy()
                take[-1] -= int(cum[end] - cum[start] - B)  # truncate the last puzzle
                entries_p.append(chosen[start:end])
                entries_t.append(take)
                offsets.append(offsets[-1] + (end - start))
                set_idx.append(si)
                start = end
            if entries_p:
                puzzles_all.append(np.concatenate(entries_p))
                takes_all.append(np.concatenate(entries_t))
        if not set_idx:  # this epoch's draws could not fill one batch (next epoch may)
            puzzles_all, takes_all = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        self._plan = _EpochPlan(
            set_names=self._sets,
            batch_set=np.asarray(set_idx, np.int64),
            batch_offsets=np.asarray(offsets, np.int64),
            puzzles=np.concatenate(puzzles_all).astype(np.int64),
            takes=np.concatenate(takes_all).astype(np.int64),
        )
        self._plan_epoch = epoch
        return self._plan

    def _batch_rows(self, plan: _EpochPlan, epoch: int, b: int) -> tuple[str, np.ndarray, np.ndarray]:
        """(set name, example indices [B], puzzle indices [B]) of global batch ``b``."""
        set_name = plan.set_names[int(plan.batch_set[b])]
        lo, hi = int(plan.batch_offsets[b]), int(plan.batch_offsets[b + 1])
        puzzles = plan.puzzles[lo:hi]
        takes = plan.takes[lo:hi]
        starts = self.split.arrays[set_name]["puzzle_indices"][puzzles].astype(np.int64)
        if self._all_single:
            return set_name, starts, puzzles
        sizes = self._puzzle_sizes[set_name][puzzles]
        rng = np.random.default_rng([self.seed, epoch, 2, b])
        # Random order inside each chosen puzzle: sort its examples by (slot, random key), keep the first `take`.
        slot_start = np.cumsum(sizes) - sizes
        slot = np.repeat(np.arange(puzzles.shape[0]), sizes)  # non-decreasing
        order = np.lexsort((rng.random(slot.shape[0]), slot))  # grouped by slot, shuffled within
        rank_in_slot = np.arange(slot.shape[0]) - slot_start[slot]
        keep = order[rank_in_slot < takes[slot]]
        examples = starts[slot[keep]] + (keep - slot_start[slot[keep]])
        return set_name, examples, puzzles[slot[keep]]

    # -- iteration ---------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        plan = self._epoch_plan(self.epoch)
        while self.position >= plan.num_batches:  # next epoch (skipping any whose draws filled no batch)
            self.epoch += 1
            self.position = 0
            plan = self._epoch_plan(self.epoch)
        set_name, examples, puzzles = self._batch_rows(plan, self.epoch, self.position)
        self.position += 1
        lo = self.rank * self.local_batch_size
        hi = lo + self.local_batch_size
        examples, puzzles = examples[lo:hi], puzzles[lo:hi]
        arrays = self.split.arrays[set_name]
        inputs, labels = _collate(arrays["inputs"][examples], arrays["labels"][examples], self.metadata.ignore_label_id)
        return {
            "inputs": inputs,
            "labels": labels,
            "puzzle_identifiers": arrays["puzzle_identifiers"][puzzles].astype(np.int32),
        }


def iter_eval_batches(
    split: PuzzleSplit, global_batch_size: int, rank: int = 0, world_size: int = 1, set_name: str | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """Sequential evaluation batches (reference §4.2), every set in order unless ``set_name`` is given.

    Each global chunk of ``global_batch_size`` examples is split across ranks; rows past the end are padding
    (inputs = pad_id, labels = -100, puzzle identifier = blank, ``valid`` False, ``example_index`` -1).
    """
    local = _check_batch(global_batch_size, rank, world_size)
    meta = split.metadata
    sets = [set_name] if set_name is not None else list(meta.sets)
    for name in sets:
        arrays = split.arrays[name]
        total = int(arrays["inputs"].shape[0])
        pidx = arrays["puzzle_indices"]
        for start in range(0, total, global_batch_size):
            end = min(total, start + global_batch_size)
            lo = min(end, start + rank * local)
            hi = min(end, start + (rank + 1) * local)
            idx = np.arange(lo, hi, dtype=np.int64)
            puzzles = np.searchsorted(pidx, idx, side="right") - 1
            inputs, labels = _collate(arrays["inputs"][lo:hi], arrays["labels"][lo:hi], meta.ignore_label_id)
            ids = arrays["puzzle_identifiers"][puzzles].astype(np.int32)
            n = hi - lo
            pad = local - n
            valid = np.zeros(local, dtype=bool)
            valid[:n] = True
            example_index = np.full(local, -1, dtype=np.int64)
            example_index[:n] = idx
            if pad:
                inputs = np.concatenate([inputs, np.full((pad, meta.seq_len), meta.pad_id, np.int32)])
                labels = np.concatenate([labels, np.full((pad, meta.seq_len), IGNORE_LABEL_ID, np.int32)])
                ids = np.concatenate([ids, np.full(pad, meta.blank_identifier_id, np.int32)])
            yield {
                "inputs": inputs,
                "labels": labels,
                "puzzle_identifiers": ids,
                "valid": valid,
                "example_index": example_index,
            }


def num_eval_batches(split: PuzzleSplit, global_batch_size: int, set_name: str | None = None) -> int:
    sets = [set_name] if set_name is not None else list(split.metadata.sets)
    return sum(-(-int(split.arrays[s]["inputs"].shape[0]) // global_batch_size) for s in sets)
