"""Building a Sudoku dataset (``hrm data sudoku``) from a CSV, puzzle lines or the generator, with pre-generated
augmentations, into the dataset format of :mod:`hrm.data.format`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrm.data.augment import sample_sudoku_transforms
from hrm.data.build import (
    BuildSummary,
    SplitSummary,
    SplitWriter,
    atomic_output_dir,
    check_output_target,
    finish_root,
    progress,
    source_record,
)
from hrm.data.sudoku.generator import DEFAULT_GIVENS, GivensSpec, generate_many, parse_givens
from hrm.data.sudoku.grid import PAD_ID, SUBSAMPLE_FILE, TEXT_SIZES, box_shape, vocab_size
from hrm.data.sudoku.readers import SudokuRows, concat_rows, read_puzzle_lines, read_sudoku_csv
from hrm.errors import UserError


@dataclass
class SudokuBuildOptions:
    """Options of :func:`build_sudoku_dataset` (and ``hrm data sudoku``).

    Each split takes its puzzles from, in this order of preference: a Sudoku-Extreme CSV (``train_csv`` /
    ``test_csv``), puzzle line files (``train_puzzles`` with optional matching ``train_solutions``), or the
    generator (``num_train`` / ``num_test`` puzzles of ``size`` with ``givens``). ``num_val`` > 0 adds a ``val/``
    split carved from the training distribution: generated like the training puzzles (same givens, its own random
    stream) when they are generated, else drawn from the training pool (and removed from it); disjoint from train
    and test either way, never augmented. Choices (checkpoints, hyperparameters) read it; the test split is read
    once, for the report.

    Attributes:
        out: dataset root to create (``out/train``, ``out/test``, ``out/val`` with ``num_val``,
            ``identifiers.json``, ``build.json``).
        size: board size for generated puzzles (4, 6, 8, 9, ...); file sources infer it and must agree.
        givens: generated puzzles' givens: a count, an inclusive (lo, hi) range, a string "18-22", or "minimal";
            default ``DEFAULT_GIVENS[size]`` (4×4: 6, 6×6: 20, 9×9: 30).
        test_givens: the same for generated test puzzles; default: ``givens`` (so a test split can cover other
            givens than the training split, e.g. train 28-45, test 30-40).
        min_difficulty: keep CSV rows with rating ≥ this (both splits, as the reference).
        subsample_size: keep this many training puzzles, drawn without replacement with ``seed``.
        num_aug: shuffled variants per training puzzle (the original is kept too: 1 + num_aug puzzles per group).
        seed: the only source of randomness (subsample, generator, augmentation).
        exclude_train_overlap: drop test puzzles whose puzzle or solution grid also occurs in the training pool.
        force: replace ``out`` if it exists.
        show_progress: tqdm bars on stderr.
    """

    out: Path
    size: int = 9
    train_csv: Path | None = None
    test_csv: Path | None = None
    train_puzzles: list[Path] = field(default_factory=list)
    train_solutions: list[Path] = field(default_factory=list)
    test_puzzles: list[Path] = field(default_factory=list)
    test_solutions: list[Path] = field(default_factory=list)
    num_train: int = 0
    num_test: int = 0
    num_val: int = 0
    givens: GivensSpec | None = None
    test_givens: GivensSpec | None = None
    min_difficulty: int | None = None
    subsample_size: int | None = None
    num_aug: int = 0
    seed: int = 0
    exclude_train_overlap: bool = False
    force: bool = False
    show_progress: bool = True


# Independent random streams derived from the seed (SeedSequence entropy [seed, stream]).
_STREAM_SUBSAMPLE, _STREAM_AUGMENT, _STREAM_GEN_TRAIN, _STREAM_GEN_TEST, _STREAM_VAL = 1, 2, 3, 4, 5
_AUG_CHUNK = 64  # puzzles per vectorised augmentation chunk (fixed: part of the seed -> bytes contract)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def _load_split_rows(
    kind: str, csv_path: Path | None, puzzles: list[Path], solutions: list[Path], opts: SudokuBuildOptions
) -> tuple[SudokuRows | None, list[dict]]:
    if csv_path is not None and puzzles:
        raise UserError(f"--{kind}-csv and --{kind}-puzzles are exclusive; give one source per split")
    if csv_path is not None:
        return read_sudoku_csv(csv_path, opts.min_difficulty), [source_record(csv_path, f"{kind}-csv")]
    if puzzles:
        if solutions and len(solutions) != len(puzzles):
            raise UserError(
                f"--{kind}-solutions: give one solutions file per --{kind}-puzzles file "
                f"({len(solutions)} for {len(puzzles)})"
            )
        parts, sources = [], []
        for i, p in enumerate(puzzles):
            s = solutions[i] if solutions else None
            parts.append(read_puzzle_lines(p, s, show_progress=opts.show_progress))
            sources.append(source_record(p, f"{kind}-puzzles"))
            if s is not None:
                sources.append(source_record(s, f"{kind}-solutions"))
        return concat_rows(parts), sources
    return None, []


def _check_options(opts: SudokuBuildOptions) -> None:
    if opts.seed < 0:
        raise UserError(f"--seed {opts.seed}: must be ≥ 0")
    if opts.num_aug < 0:
        raise UserError(f"--num-aug {opts.num_aug}: must be ≥ 0")
    if opts.subsample_size is not None and opts.subsample_size <= 0:
        raise UserError(f"--subsample-size {opts.subsample_size}: must be positive")
    if opts.num_train < 0 or opts.num_test < 0 or opts.num_val < 0:
        raise UserError("--num-train/--num-test/--num-val must be ≥ 0")
    if (opts.num_train or opts.num_test) and opts.size not in TEXT_SIZES:
        raise UserError(
            f"--size {opts.size}: the generator makes {', '.join(map(str, TEXT_SIZES))}-wide boards only "
            "(a 16×16 board did not finish in 10 minutes); read bigger puzzles from files instead"
        )


def build_sudoku_dataset(options: SudokuBuildOptions) -> Path:
    """Build a Sudoku dataset root in the reference format; returns its path. See :class:`SudokuBuildOptions`."""
    opts = options
    _check_options(opts)
    out = Path(opts.out)
    check_output_target(out, opts.force)

    train, train_src = _load_split_rows("train", opts.train_csv, opts.train_puzzles, opts.train_solutions, opts)
    test, test_src = _load_split_rows("test", opts.test_csv, opts.test_puzzles, opts.test_solutions, opts)
    n = train.n if train is not None else (test.n if test is not None else opts.size)
    if train is not None and test is not None and train.n != test.n:
        raise UserError(f"train puzzles are {train.n}×{train.n} but test puzzles are {test.n}×{test.n}")
    box = box_shape(n)
    givens = opts.givens if opts.givens is not None else DEFAULT_GIVENS.get(n, (n * n) // 3)
    test_givens = opts.test_givens if opts.test_givens is not None else givens
    if train is None or test is None:  # both specs are checked before any puzzle is generated
        parse_givens(givens, n)
        parse_givens(test_givens, n, "--test-givens")
    generated: dict[str, object] = {}
    if train is None:
        if opts.num_train <= 0:
            raise UserError("no training puzzles: give --train-csv, --train-puzzles or --num-train N (generator)")
        p, s = generate_many(
            opts.num_train,
            n,
            givens,
            _rng(opts.seed, _STREAM_GEN_TRAIN),
            show_progress=opts.show_progress,
            desc="generating train",
        )
        train = SudokuRows(n, p, s, np.arange(1, len(p) + 1), "generated")
        generated["train"] = len(p)
    val = None
    if opts.num_val > 0:
        if "train" in generated:
            p, s = generate_many(
                opts.num_val,
                n,
                givens,
                _rng(opts.seed, _STREAM_VAL),
                exclude={row.tobytes() for row in train.puzzles},
                show_progress=opts.show_progress,
                desc="generating val",
            )
            val = SudokuRows(n, p, s, np.arange(1, len(p) + 1), "generated")
            generated["val"] = len(p)
        else:  # carved out of the training pool: a seeded draw, removed from training
            if opts.num_val >= len(train):
                raise UserError(f"--num-val {opts.num_val}: the training pool has only {len(train)} puzzles")
            idx = np.sort(_rng(opts.seed, _STREAM_VAL).choice(len(train), size=opts.num_val, replace=False))
            keep = np.setdiff1d(np.arange(len(train)), idx)
            val, train = train.take(idx), train.take(keep)
    if test is None:
        if opts.num_test <= 0:
            raise UserError("no test puzzles: give --test-csv, --test-puzzles or --num-test N (generator)")
        p, s = generate_many(
            opts.num_test,
            n,
            test_givens,
            _rng(opts.seed, _STREAM_GEN_TEST),
            exclude={row.tobytes() for row in train.puzzles}
            | ({row.tobytes() for row in val.puzzles} if val is not None else set()),
            show_progress=opts.show_progress,
            desc="generating test",
        )
        test = SudokuRows(n, p, s, np.arange(1, len(p) + 1), "generated")
        generated["test"] = len(p)
    if len(train) == 0:
        raise UserError(f"{train.path}: no training puzzles left (check --min-difficulty)")

    excluded = 0
    if opts.exclude_train_overlap:
        pool = {r.tobytes() for r in train.puzzles} | {r.tobytes() for r in train.solutions}
        if val is not None:  # the validation puzzles came from the training pool
            pool |= {r.tobytes() for r in val.puzzles} | {r.tobytes() for r in val.solutions}
        keep = np.array(
            [(p.tobytes() not in pool) and (s.tobytes() not in pool) for p, s in zip(test.puzzles, test.solutions)],
            dtype=bool,
        )
        excluded = int((~keep).sum())
        test = test.take(np.flatnonzero(keep))
    if len(test) == 0:
        raise UserError(f"{test.path}: no test puzzles left")

    pool_size = len(train)
    picked = None
    if opts.subsample_size is not None and opts.subsample_size < len(train):
        idx = _rng(opts.seed, _STREAM_SUBSAMPLE).choice(len(train), size=opts.subsample_size, replace=False)
        train = train.take(np.sort(idx))
        assert train.file_ids is not None  # set in SudokuRows.__post_init__
        picked = {
            "seed": opts.seed,
            "pool_size": pool_size,
            "files": train.files,
            "rows": [[int(f), int(line)] for f, line in zip(train.file_ids, train.lines)],
        }

    seq_len, vocab = n * n, vocab_size(n)
    with atomic_output_dir(out, force=opts.force) as tmp:
        per_group = 1 + opts.num_aug
        writer = SplitWriter(tmp / "train", seq_len, vocab)
        aug_rng = _rng(opts.seed, _STREAM_AUGMENT)
        num_transposed = 0
        bar = progress(total=len(train), desc="augmenting train", enabled=opts.show_progress, unit="puzzle")
        with bar:
            for start in range(0, len(train), _AUG_CHUNK):
                p = train.puzzles[start : start + _AUG_CHUNK]
                s = train.solutions[start : start + _AUG_CHUNK]
                k = p.shape[0]
                block_in = np.empty((k, per_group, seq_len), np.uint8)
                block_lab = np.empty((k, per_group, seq_len), np.uint8)
                block_in[:, 0], block_lab[:, 0] = p, s
                if opts.num_aug:
                    tf = sample_sudoku_transforms(aug_rng, k * opts.num_aug, box)
                    num_transposed += int(tf.transpose.sum())
                    block_in[:, 1:] = tf.apply(np.repeat(p, opts.num_aug, axis=0)).reshape(k, opts.num_aug, -1)
                    block_lab[:, 1:] = tf.apply(np.repeat(s, opts.num_aug, axis=0)).reshape(k, opts.num_aug, -1)
                writer.add_single_example_groups(
                    (block_in + 1).reshape(-1, seq_len), (block_lab + 1).reshape(-1, seq_len), per_group
                )
                bar.update(k)
        train_meta = writer.finish(pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1)
        test_writer = SplitWriter(tmp / "test", seq_len, vocab)
        test_writer.add_single_example_groups(test.puzzles + 1, test.solutions + 1, 1)
        test_meta = test_writer.finish(
            pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1
        )
        splits = {
            "train": SplitSummary(train_meta.total_groups, writer.num_puzzles, writer.num_examples),
            "test": SplitSummary(test_meta.total_groups, test_writer.num_puzzles, test_writer.num_examples),
        }
        if val is not None:
            val_writer = SplitWriter(tmp / "val", seq_len, vocab)
            val_writer.add_single_example_groups(val.puzzles + 1, val.solutions + 1, 1)
            val_meta = val_writer.finish(
                pad_id=PAD_ID, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1
            )
            splits["val"] = SplitSummary(val_meta.total_groups, val_writer.num_puzzles, val_writer.num_examples)
        mean_givens = {
            "train": float(np.count_nonzero(train.puzzles, axis=1).mean()),
            "test": float(np.count_nonzero(test.puzzles, axis=1).mean()),
            **({"val": float(np.count_nonzero(val.puzzles, axis=1).mean())} if val is not None else {}),
        }
        summary = BuildSummary(
            kind="sudoku",
            seed=opts.seed,
            seq_len=seq_len,
            vocab_size=vocab,
            num_puzzle_identifiers=1,
            splits=splits,
            options={
                "size": n,
                "box": list(box),
                "num_aug": opts.num_aug,
                "subsample_size": opts.subsample_size,
                "min_difficulty": opts.min_difficulty,
                "givens": _givens_record(givens) if generated else None,
                "test_givens": _givens_record(test_givens) if "test" in generated else None,
                "exclude_train_overlap": opts.exclude_train_overlap,
                **({"num_val": opts.num_val} if opts.num_val else {}),
            },
            sources=train_src + test_src,
            stats={
                "training pool": pool_size,
                "generated": generated or "none",
                "test puzzles excluded as overlapping the training pool": excluded,
                "mean givens": mean_givens,
                "augmentation": f"{opts.num_aug} shuffles per puzzle (digits, bands/stacks, rows/cols"
                + (", transpose)" if box[0] == box[1] else "; no transpose for non-square boxes)"),
                "transposed variants": num_transposed,
            },
        )
        if picked is not None:  # the exact training subsample, as (file index, line) in group order
            with open(tmp / SUBSAMPLE_FILE, "w", encoding="utf-8") as f:
                json.dump(picked, f, separators=(",", ":"))
                f.write("\n")
        finish_root(tmp, ["<blank>"], summary)
    return out


def _givens_record(givens: GivensSpec) -> int | str | list[int]:
    """A givens spec as JSON for ``build.json`` (a tuple as a list)."""
    return list(givens) if isinstance(givens, tuple) else givens


def sudoku_extreme_like_options(
    data_root: Path | str, out: Path | str, seed: int = 0, subsample_size: int = 1000, num_aug: int = 1000, **kwargs
) -> SudokuBuildOptions:
    """The "Sudoku-Extreme-like" recipe from ``shared/data/sudoku`` (see docs/data.md).

    Train: a seeded ``subsample_size`` subsample of ``puzzles5_forum_hardest_1905_11+`` (48,766 forum-hardest
    puzzles, SE rating ≥ 11). Test: ``puzzles3_magictour_top1465`` + ``puzzles6_forum_hardest_1106``, minus every
    puzzle whose puzzle or solution also occurs anywhere in the 11+ list (131 of the 1106 list do), so the test set
    is the same for every seed. This is not the hub's Sudoku-Extreme.
    """
    d = Path(data_root) / "sudoku"
    train = d / "puzzles5_forum_hardest_1905_11+.txt"
    tests = [d / "puzzles3_magictour_top1465.txt", d / "puzzles6_forum_hardest_1106.txt"]
    for p in [train, *tests]:
        if not p.is_file():
            raise UserError(f"{p}: not found; --data-root must be the shared data folder (with sudoku/)")
    return SudokuBuildOptions(
        out=Path(out),
        train_puzzles=[train],
        train_solutions=[train.with_name(train.stem + ".solutions.txt")],
        test_puzzles=tests,
        test_solutions=[t.with_name(t.stem + ".solutions.txt") for t in tests],
        subsample_size=subsample_size,
        num_aug=num_aug,
        seed=seed,
        exclude_train_overlap=True,
        **kwargs,
    )
