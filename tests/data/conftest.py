"""Shared fixtures for the data tests: the shared real data (skipped if absent) and tiny synthetic splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hrm.data.format import DatasetMetadata, write_split

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "arc-agi-1" / "evaluation.json").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def make_split(
    path: Path,
    group_sizes: list[list[int]],
    seq_len: int = 4,
    vocab: int = 10,
    ignore_label_id: int | None = 0,
    seed: int = 0,
    num_ids: int | None = None,
):
    """Write a synthetic split: group_sizes[g] lists the example counts of group g's puzzles.

    Example e has inputs[e, 0] = e % 256 (for tracing) and tokens in 1..vocab-1 elsewhere; puzzle p has id p+1.
    """
    rng = np.random.default_rng(seed)
    puzzle_sizes = [s for g in group_sizes for s in g]
    n = sum(puzzle_sizes)
    inputs = rng.integers(1, vocab, size=(n, seq_len)).astype(np.uint8)
    labels = rng.integers(0, vocab, size=(n, seq_len)).astype(np.uint8)
    num_p = len(puzzle_sizes)
    arrays = {
        "inputs": inputs,
        "labels": labels,
        "puzzle_identifiers": np.arange(1, num_p + 1, dtype=np.int32),
        "puzzle_indices": np.concatenate([[0], np.cumsum(puzzle_sizes)]).astype(np.int32),
        "group_indices": np.concatenate([[0], np.cumsum([len(g) for g in group_sizes])]).astype(np.int32),
    }
    meta = DatasetMetadata(
        pad_id=0,
        ignore_label_id=ignore_label_id,
        blank_identifier_id=0,
        vocab_size=vocab,
        seq_len=seq_len,
        num_puzzle_identifiers=num_ids if num_ids is not None else num_p + 1,
        total_groups=len(group_sizes),
        mean_puzzle_examples=n / num_p,
        sets=["all"],
    )
    write_split(path, meta, {"all": arrays})
    return meta, arrays
