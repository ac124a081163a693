"""Distributed helpers in a single process: a world of one, collectives are identities."""

from __future__ import annotations

import pytest
import torch

from hrm.errors import UserError
from hrm.runtime import distributed as dist_utils


def test_without_torchrun_the_world_is_one_process(monkeypatch, capsys):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = dist_utils.init_distributed("cpu")
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main) == (0, 1, False, True)
    t = torch.tensor([1.0, 2.0])
    assert dist_utils.all_reduce_sum(t) is t and t.tolist() == [1.0, 2.0]
    assert dist_utils.all_reduce_max(3.5) == 3.5
    assert dist_utils.broadcast_object({"a": 1}) == {"a": 1}
    dist_utils.barrier()
    dist_utils.print0("hello")
    assert capsys.readouterr().out == "hello\n"
    dist_utils.broadcast_buffers(torch.nn.Linear(2, 2))  # no-op


def test_mps_multiprocess_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match="MPS"):
        dist_utils.init_distributed("mps")
    assert not dist_utils.get_context().enabled
