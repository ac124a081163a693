"""Sign-SGD across 2 gloo ranks equals one process stepping on the concatenated batch."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hrm.model.puzzle_embedding import PuzzleEmbedding
from hrm.training.optim import PuzzleEmbeddingSignSGD

NUM_IDS, NDIM, LR, WD = 6, 3, 0.25, 0.5
# Each round: per-rank (ids, grads). Round 0 has equal local batches; id 2 gets +1 on rank 0 and −3 on
# rank 1, so only the cross-rank sum (−2) gives the right sign. Round 1 has unequal batches (3 vs 1 rows),
# round 2 has nothing on rank 1 (it must still take part in the collectives).
ROUNDS: list[list[tuple[list[int], list[list[float]]]]] = [
    [([2, 0], [[1.0, -2.0, 0.5], [1.0, 1.0, 1.0]]), ([2, 5], [[-3.0, 1.0, 0.5], [0.0, -1.0, 2.0]])],
    [([1, 1, 4], [[2.0, 2.0, -1.0], [-1.0, -3.0, -1.0], [0.5, 0.0, 0.0]]), ([1], [[-2.0, 0.5, 4.0]])],
    [([3], [[-1.0, -1.0, 1.0]]), ([], [])],
]


def initial_table() -> torch.Tensor:
    return torch.arange(NUM_IDS * NDIM, dtype=torch.float32).reshape(NUM_IDS, NDIM) / 4.0 - 2.0


def backward_rows(emb: PuzzleEmbedding, ids: list[int], grads: list[list[float]]) -> None:
    if not ids:
        return
    out = emb(torch.tensor(ids), torch.float32)
    (out * torch.tensor(grads)).sum().backward()


def train_rounds(rank: int | None) -> torch.Tensor:
    """Run every round; ``rank=None`` means one process with both ranks' rows concatenated."""
    emb = PuzzleEmbedding(NUM_IDS, NDIM)
    emb.weight.copy_(initial_table())
    emb.train()
    opt = PuzzleEmbeddingSignSGD(emb, lr=LR, weight_decay=WD)
    for per_rank in ROUNDS:
        if rank is None:
            backward_rows(emb, per_rank[0][0] + per_rank[1][0], per_rank[0][1] + per_rank[1][1])
        else:
            backward_rows(emb, *per_rank[rank])
        opt.step()
    return emb.weight.clone()


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=2, timeout=timedelta(seconds=60)
    )
    try:
        torch.save(train_rounds(rank), os.path.join(out_dir, f"table{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo")
def test_two_gloo_ranks_match_single_process(tmp_path: Path) -> None:
    init_file = tmp_path / "rendezvous"
    ctx = mp.spawn(_worker, args=(str(init_file), str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            pytest.fail("distributed workers did not finish (deadlock in the collectives?)")

    expected = train_rounds(None)
    table0 = torch.load(tmp_path / "table0.pt", weights_only=True)
    table1 = torch.load(tmp_path / "table1.pt", weights_only=True)
    assert torch.equal(table0, table1)
    assert torch.equal(table0, expected)
    # Sanity: the cross-rank sum mattered (rank 0 alone would move id 2's first coordinate the other way).
    assert expected[2, 0] > initial_table()[2, 0] * (1 - LR * WD)
    assert torch.equal(expected[3:4], initial_table()[3:4] * (1 - LR * WD) - LR * torch.tensor([[-1.0, -1.0, 1.0]]))
