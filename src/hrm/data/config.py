"""Where a run's data lives (:class:`DataConfig`, the ``data.*`` keys of a training config) and
:func:`ensure_dataset`, which builds a recipe's synthetic dataset on first use."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hrm.data.format import is_dataset_root
from hrm.data.synthetic import generate_dataset
from hrm.errors import ConfigError, UserError


@dataclass(kw_only=True)
class DataConfig:
    """Where the data lives.

    Attributes:
        path: dataset root holding ``train/`` and ``test/`` (the reference's ``data_path``).
        train_split / eval_split: sub-directories used for training and for periodic evaluation (what best
            checkpoints and early choices read: ``val`` in the generated recipes, ``test`` in the paper's).
        test_split: the held-out split a comparison cell reports once, at the end (``hrm compare``).
        online_augment: ours: apply a fresh random Sudoku shuffle (digit relabelling, band/row/stack/column
            permutations, transpose for square boxes) to every training batch; Sudoku datasets only.
        generate: ours: build a synthetic dataset at ``path`` when it does not exist yet. ``""`` (off),
            ``sudoku`` or ``maze``; the ``gen_*`` fields are its options.
        gen_size: Sudoku side (4, 6 or 9) or maze side.
        gen_num_train / gen_num_test: puzzles in the train / test split.
        gen_num_val: puzzles of a ``val`` split drawn like the training puzzles, disjoint from train and test
            (0 = none).
        gen_givens: Sudoku clues per puzzle: a count (``30``), an inclusive range ``"LO-HI"`` (``"28-45"``, drawn
            uniformly per puzzle), or 0 / ``"minimal"`` (minimal puzzles).
        gen_test_givens: the same for the test split; ``None`` (default) = ``gen_givens``. A test range such as
            ``"30-40"`` lets ``hrm evaluate`` report exact accuracy per number of givens.
        gen_num_aug: pre-generated augmented variants per training puzzle (0 = none; for mazes any value > 0
            adds the 7 other dihedral transforms).
        gen_seed: builder seed.
    """

    path: str = ""
    train_split: str = "train"
    eval_split: str = "test"
    test_split: str = "test"
    online_augment: bool = False
    generate: Literal["", "sudoku", "maze"] = ""
    gen_size: int = 6
    gen_num_train: int = 1000
    gen_num_test: int = 500
    gen_num_val: int = 0
    gen_givens: int | str = 0
    gen_test_givens: int | str | None = None
    gen_num_aug: int = 0
    gen_seed: int = 0

    def sudoku_givens(self, test: bool = False) -> int | str:
        """``gen_givens`` (``test``: ``gen_test_givens``, defaulting to it) as the Sudoku builder takes it: 0 is
        ``"minimal"``; ConfigError (one line) when it is not a count, a range LO-HI or minimal for this size."""
        from hrm.data.sudoku import parse_givens

        key, value = "data.gen_givens", self.gen_givens
        if test and self.gen_test_givens is not None:
            key, value = "data.gen_test_givens", self.gen_test_givens
        if isinstance(value, int) and value == 0:
            return "minimal"
        try:
            parse_givens(value, self.gen_size, option=key)
        except UserError as exc:
            raise ConfigError(str(exc)) from None
        return value


def ensure_dataset(data: DataConfig, *, generate: bool = True, wait: Callable[[], None] = lambda: None) -> Path:
    """The dataset root ``data.path``; built first when ``data.generate`` is set and it does not exist yet.

    ``generate``: whether this process may build it (in a distributed run only rank 0 does); ``wait`` is called
    after that (a barrier there, so that every rank finds the dataset built). UserError when there is no dataset.
    """
    if not data.path:
        raise UserError("no dataset: set data=PATH (a folder with train/ and test/, built with `hrm data ...`)")
    root = Path(data.path)
    if not is_dataset_root(root) and data.generate:
        if generate:
            print(f"generating the {data.generate} dataset at {root} (first use of this recipe)", file=sys.stderr)
            generate_dataset(
                data.generate,
                root,
                size=data.gen_size,
                num_train=data.gen_num_train,
                num_test=data.gen_num_test,
                num_aug=data.gen_num_aug,
                num_val=data.gen_num_val,
                seed=data.gen_seed,
                givens=data.sudoku_givens() if data.generate == "sudoku" else "minimal",
                test_givens=data.sudoku_givens(test=True) if data.generate == "sudoku" else None,
            )
        wait()
    if data.generate and data.gen_num_val > 0 and is_dataset_root(root) and not (root / data.eval_split).is_dir():
        raise UserError(
            f"dataset {root}: built without a {data.eval_split}/ split (by an earlier hrm, or with other options); "
            f"remove the folder to rebuild it with data.gen_num_val={data.gen_num_val}, or pass "
            "data.gen_num_val=0 data.eval_split=test to train on it as it is"
        )
    if not (root / data.train_split).is_dir():
        raise UserError(
            f"dataset {root}: no {data.train_split}/ split folder; build it with `hrm data ...` or pass data=PATH"
        )
    return root
