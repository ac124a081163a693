"""One answer to "what kind of puzzles is this?": recorded in build.json and checkpoints, guessed only for old data."""

import json

import pytest

from hrm.checkpoints import Checkpoint, checkpoint_kind
from hrm.data.format import DatasetMetadata
from hrm.data.kind import dataset_kind, kind_from_shape, kind_in
from hrm.model import HRM
from tests.conftest import tiny_config


@pytest.mark.parametrize(
    "vocab, seq_len, kind",
    [
        (12, 900, "arc"),
        (11, 81, "sudoku"),
        (6, 16, "sudoku"),  # a 4×4 Sudoku's encoding is also a 4×4 maze's: Sudoku, as every detector said
        (8, 36, "sudoku"),
        (18, 256, "sudoku"),
        (6, 900, "maze"),
        (6, 49, "maze"),
        (7, 25, None),  # 5×5 boards are not a Sudoku size
        (5, 7, None),
    ],
)
def test_kind_from_shape(vocab, seq_len, kind):
    assert kind_from_shape(vocab, seq_len) == kind


def _metadata(vocab, seq_len):
    return DatasetMetadata(
        pad_id=0,
        ignore_label_id=0,
        blank_identifier_id=0,
        vocab_size=vocab,
        seq_len=seq_len,
        num_puzzle_identifiers=1,
        total_groups=1,
        mean_puzzle_examples=1.0,
        sets=["all"],
    )


def test_recorded_kind_wins_over_the_guess(tmp_path):
    assert dataset_kind(tmp_path, _metadata(11, 81)) == "sudoku"  # no build.json: guessed
    (tmp_path / "build.json").write_text(json.dumps({"kind": "custom"}))
    assert dataset_kind(tmp_path, _metadata(11, 81)) == "custom"
    (tmp_path / "build.json").write_text(json.dumps({"kind": "arc-agi-2"}))
    assert dataset_kind(tmp_path) == "arc"
    (tmp_path / "build.json").write_text("{torn")
    assert dataset_kind(tmp_path, _metadata(6, 900)) == "maze"
    assert dataset_kind(None) is None
    assert kind_in({"metadata": {}, "build": {"kind": "maze"}}) == "maze"


def test_checkpoint_kind(tmp_path):
    model = HRM(tiny_config(vocab_size=6, seq_len=16))

    def ckpt(dataset):
        return Checkpoint(path=tmp_path, model=model, model_config=model.config, dataset=dataset)

    assert checkpoint_kind(ckpt({"kind": "maze"})) == "maze"  # recorded by the trainer
    assert checkpoint_kind(ckpt(None)) == "sudoku"  # an old checkpoint without provenance: guessed
    data = tmp_path / "data"
    data.mkdir()
    (data / "build.json").write_text(json.dumps({"kind": "maze"}))
    assert checkpoint_kind(ckpt({"source": str(data)})) == "maze"  # its recorded dataset's build.json


def test_a_recorded_kind_that_does_not_fit_the_data_is_a_user_error(tmp_path):
    """T9: build.json says arc over 4x4 Sudoku data: one clear error, not a reshape traceback in `hrm view`."""
    from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
    from hrm.errors import UserError
    from hrm.view import build_page

    root = tmp_path / "s4"
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=4, num_test=2, givens=8, seed=0, show_progress=False)
    )
    build = json.loads((root / "build.json").read_text())
    build["kind"] = "arc"
    (root / "build.json").write_text(json.dumps(build))
    with pytest.raises(UserError, match=r"build.json: says arc, but the data has vocab_size 6 and seq_len 16"):
        build_page(root)
