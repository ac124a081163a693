"""Shared fixtures: tiny configs that run in milliseconds on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.model import HRMConfig

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny_config(**overrides) -> HRMConfig:
    base = dict(
        vocab_size=7,
        seq_len=16,
        num_puzzle_identifiers=3,
        hidden_size=32,
        num_heads=4,
        expansion=2.0,
        high_layers=1,
        low_layers=1,
        high_cycles=2,
        low_cycles=2,
        halt_max_steps=4,
    )
    base.update(overrides)
    return HRMConfig(**base)


def tiny_batch(config: HRMConfig, batch_size: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, config.vocab_size, (batch_size, config.seq_len), generator=g, dtype=torch.int32)
    labels = torch.randint(0, config.vocab_size, (batch_size, config.seq_len), generator=g, dtype=torch.int32)
    ids = torch.randint(0, config.num_puzzle_identifiers, (batch_size,), generator=g, dtype=torch.int32)
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids}


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one intra-op thread (no oversubscription on a shared CPU); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present")
    return SHARED_DATA


# A tiny 4×4 Sudoku dataset and a matching tiny checkpoint (the analysis and viewer tests).
@pytest.fixture(scope="session")
def sudoku4_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "sudoku4"
    build_sudoku_dataset(SudokuBuildOptions(out=out, size=4, num_train=8, num_test=24, givens=6, show_progress=False))
    return out


@pytest.fixture(scope="session")
def sudoku4_ckpt(tmp_path_factory):
    from tests.inference import helpers as inference_helpers

    return inference_helpers.sudoku_checkpoint(tmp_path_factory.mktemp("ckpt") / "step-7", n=4, halt_max_steps=4)
