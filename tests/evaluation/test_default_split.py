"""`hrm evaluate` without --split reports the training config's test split, not the validation split a generated
recipe chose its checkpoints on (issue 22, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrm.checkpoints.format import Checkpoint
from hrm.evaluation.inputs import default_split


@pytest.mark.parametrize(
    ("train_config", "split"),
    [
        ({"data": {"eval_split": "val", "test_split": "test"}}, "test"),  # a generated recipe today
        ({"data": {"eval_split": "test"}}, "test"),  # written before data.test_split existed
        ({"data": {"eval_split": "holdout"}}, "holdout"),
        (None, "test"),  # a reference checkpoint: no training config
    ],
)
def test_default_split(train_config, split):
    assert default_split(Checkpoint(Path("x"), None, None, train_config=train_config)) == split  # type: ignore[arg-type]
