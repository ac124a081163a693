"""``hrm data sudoku|maze|arc|custom``: build datasets offline, deterministically, in the reference format.

Thin layer: parse arguments into the builder's options dataclass, call it, print the summary.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hrm.cli.arg_types import count, seed
from hrm.errors import UserError
from hrm.model.limits import MAX_GENERATED, MAX_MAZE_SIZE


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="build a dataset (sudoku, maze, arc, custom)",
        description="Build a dataset folder (train/, test/, identifiers.json, build.json) in the reference HRM "
        "format. Every build is offline and deterministic given --seed; it is written to a temporary "
        "folder and renamed into place when complete.",
    )
    parser.set_defaults(func=lambda args: _help(parser))
    sub = parser.add_subparsers(dest="data_command", metavar="KIND")
    _register_sudoku(sub)
    _register_maze(sub)
    _register_arc(sub)
    _register_custom(sub)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _common(p: argparse.ArgumentParser, default_seed: int = 0) -> None:
    p.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    p.add_argument("--seed", type=seed, default=default_seed, help=f"random seed (default {default_seed})")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _finish(out: Path, started: float) -> int:
    from hrm.data.build import BuildSummary

    summary = BuildSummary.read(out)
    print(summary.format(out))
    print(f"  built in {time.perf_counter() - started:.1f} s")
    return 0


# ----------------------------------------------------------------------------------------------------------------
# sudoku


def _register_sudoku(sub) -> None:
    p = sub.add_parser(
        "sudoku",
        help="Sudoku from Sudoku-Extreme CSVs, puzzle line files, or the generator",
        description="Each split reads a Sudoku-Extreme CSV (source,question,answer,rating), puzzle line files "
        "(with optional solutions; otherwise solved exactly, unique solutions required), or is "
        "generated (--num-train/--num-test). Training puzzles get --num-aug validity-preserving "
        "shuffles each.",
    )
    p.add_argument(
        "--preset",
        choices=["sudoku-extreme-like"],
        help="train on a seeded 1k subsample of the forum-hardest 11+ list, test on top1465 + "
        "hardest-1106 (see docs/data.md); needs --data-root",
    )
    p.add_argument("--data-root", type=Path, help="the shared data folder (with sudoku/), for --preset")
    p.add_argument("--train-csv", type=Path, help="Sudoku-Extreme-format CSV for the train split")
    p.add_argument("--test-csv", type=Path, help="Sudoku-Extreme-format CSV for the test split")
    p.add_argument("--min-difficulty", type=int, help="keep CSV rows with rating >= this (both splits)")
    p.add_argument("--train-puzzles", type=Path, nargs="+", default=[], help="puzzle line file(s) for train")
    p.add_argument("--train-solutions", type=Path, nargs="+", default=[], help="matching solution file(s)")
    p.add_argument("--test-puzzles", type=Path, nargs="+", default=[], help="puzzle line file(s) for test")
    p.add_argument("--test-solutions", type=Path, nargs="+", default=[], help="matching solution file(s)")
    p.add_argument("--size", type=int, default=9, help="board size for generated puzzles: 4, 6, 8, 9 (default 9)")
    p.add_argument(
        "--num-train", type=count(MAX_GENERATED, minimum=0), default=0, help="generate this many training puzzles"
    )
    p.add_argument(
        "--num-test", type=count(MAX_GENERATED, minimum=0), default=0, help="generate this many test puzzles"
    )
    p.add_argument(
        "--num-val",
        type=count(MAX_GENERATED, minimum=0),
        default=0,
        help="a val/ split of this many puzzles drawn like the training ones (generated, or carved from the training "
        "files), disjoint from train and test; what checkpoint and hyperparameter choices should read",
    )
    p.add_argument(
        "--givens",
        help="givens of generated puzzles: a number, a range like 18-22, or 'minimal' "
        "(default by size: 4×4 6, 6×6 20, 9×9 30)",
    )
    p.add_argument(
        "--test-givens",
        help="givens of generated test puzzles, in the same forms (default: --givens), e.g. --givens 28-45 "
        "--test-givens 30-40",
    )
    p.add_argument("--subsample-size", type=int, help="keep this many training puzzles (seeded draw)")
    p.add_argument("--num-aug", type=int, default=0, help="shuffled variants per training puzzle (default 0)")
    p.add_argument(
        "--exclude-train-overlap",
        action="store_true",
        help="drop test puzzles whose puzzle or solution also occurs in the training pool",
    )
    _common(p)
    p.set_defaults(func=_run_sudoku)


def _run_sudoku(args) -> int:
    from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset, sudoku_extreme_like_options

    started = time.perf_counter()
    common = dict(force=args.force, show_progress=not args.no_progress)
    if args.preset:
        if args.data_root is None:
            raise UserError("--preset sudoku-extreme-like needs --data-root (the shared data folder)")
        if args.train_csv or args.test_csv or args.train_puzzles or args.test_puzzles:
            raise UserError("--preset chooses the source files itself; drop --train-*/--test-*")
        opts = sudoku_extreme_like_options(
            args.data_root,
            args.out,
            seed=args.seed,
            subsample_size=args.subsample_size if args.subsample_size is not None else 1000,
            num_aug=args.num_aug,
            **common,
        )
    else:
        opts = SudokuBuildOptions(
            out=args.out,
            size=args.size,
            train_csv=args.train_csv,
            test_csv=args.test_csv,
            train_puzzles=list(args.train_puzzles),
            train_solutions=list(args.train_solutions),
            test_puzzles=list(args.test_puzzles),
            test_solutions=list(args.test_solutions),
            num_train=args.num_train,
            num_test=args.num_test,
            num_val=args.num_val,
            givens=args.givens,
            test_givens=args.test_givens,
            min_difficulty=args.min_difficulty,
            subsample_size=args.subsample_size,
            num_aug=args.num_aug,
            seed=args.seed,
            exclude_train_overlap=args.exclude_train_overlap,
            **common,
        )
    out = build_sudoku_dataset(opts)
    return _finish(out, started)


# ----------------------------------------------------------------------------------------------------------------
# maze


def _register_maze(sub) -> None:
    p = sub.add_parser(
        "maze",
        help="mazes: generated (hard, shortest-path labels) or read from text/CSV",
        description="Generate n×n mazes (charset '# SGo', vocab 6) whose labels are verified shortest paths, or "
        "read text mazes / the hub's CSV format. Train and test are disjoint up to symmetry.",
    )
    p.add_argument("--size", type=count(MAX_MAZE_SIZE, minimum=4), default=30, help="maze side (default 30)")
    p.add_argument(
        "--num-train",
        type=count(MAX_GENERATED, minimum=0),
        default=1000,
        help="generated training mazes (default 1000)",
    )
    p.add_argument(
        "--num-test", type=count(MAX_GENERATED, minimum=0), default=1000, help="generated test mazes (default 1000)"
    )
    p.add_argument(
        "--num-val",
        type=count(MAX_GENERATED, minimum=0),
        default=0,
        help="a val/ split of this many generated mazes, distinct from train and test (default 0: none)",
    )
    p.add_argument("--train-file", type=Path, help="text mazes (blank-line separated) or CSV for train")
    p.add_argument("--test-file", type=Path, help="text mazes or CSV for test")
    p.add_argument(
        "--min-path-length",
        type=int,
        help="shortest path must be longer than this (default round(110·n²/900): 110 for 30×30)",
    )
    p.add_argument("--loop-prob", type=float, default=0.05, help="fraction of inner walls removed (default 0.05)")
    p.add_argument(
        "--allow-multiple-paths",
        action="store_true",
        help="allow goals with several shortest paths (label = one canonical shortest path)",
    )
    p.add_argument("--aug", action="store_true", help="add the 8 dihedral transforms of each training maze")
    _common(p)
    p.set_defaults(func=_run_maze)


def _run_maze(args) -> int:
    from hrm.data.maze import MazeBuildOptions, build_maze_dataset

    started = time.perf_counter()
    out = build_maze_dataset(
        MazeBuildOptions(
            out=args.out,
            size=args.size,
            num_train=args.num_train,
            num_test=args.num_test,
            num_val=args.num_val,
            train_file=args.train_file,
            test_file=args.test_file,
            min_path_length=args.min_path_length,
            loop_prob=args.loop_prob,
            unique_path=not args.allow_multiple_paths,
            aug=args.aug,
            seed=args.seed,
            force=args.force,
            show_progress=not args.no_progress,
        )
    )
    return _finish(out, started)


# ----------------------------------------------------------------------------------------------------------------
# arc


class _AppendSource(argparse.Action):
    """Collect --training/--evaluation paths in command-line order as (path, role)."""

    def __call__(self, parser, namespace, values, option_string=None):
        role = "evaluation" if option_string == "--evaluation" else "training"
        items = list(getattr(namespace, self.dest, None) or [])
        items.extend((Path(v), role) for v in values)
        setattr(namespace, self.dest, items)


def _register_arc(sub) -> None:
    p = sub.add_parser(
        "arc",
        help="ARC-AGI-1/2 (+ConceptARC) with dihedral × colour augmentation",
        description="Build an ARC dataset (30×30 canvas, vocab 12) from ARC JSON: one file per split "
        "({task id: task}) or folders of one-file-per-task JSON. Protocol 'transductive' (reference): "
        "evaluation tasks' demonstrations are trained on, their test pairs form the test split; "
        "'strict': evaluation tasks are wholly held out.",
    )
    p.add_argument(
        "--preset",
        choices=["arc-agi-1", "arc-agi-2"],
        help="arc-agi-1: ARC-AGI-1 training+evaluation + ConceptARC corpus (960 tasks, one of them in both "
        "splits: add --drop-duplicates or --allow-duplicates); arc-agi-2: ARC-AGI-2 training+evaluation (1120 "
        "tasks); needs --data-root",
    )
    p.add_argument("--data-root", type=Path, help="the shared data folder, for --preset")
    p.add_argument(
        "--training",
        nargs="+",
        action=_AppendSource,
        dest="sources",
        metavar="PATH",
        help="training-task source(s): a JSON file or a folder of task files",
    )
    p.add_argument(
        "--evaluation",
        nargs="+",
        action=_AppendSource,
        dest="sources",
        metavar="PATH",
        help="evaluation-task source(s)",
    )
    p.add_argument(
        "--dataset-dir",
        type=Path,
        action="append",
        default=[],
        help="upstream layout: subfolder evaluation/ = evaluation tasks, other subfolders = training",
    )
    p.add_argument("--protocol", choices=["transductive", "strict"], default="transductive")
    p.add_argument("--num-aug", type=int, default=1000, help="variants per task besides the original (default 1000)")
    p.add_argument("--retries-factor", type=int, default=5, help="draw at most this × num-aug candidates (default 5)")
    p.add_argument("--no-translate", action="store_true", help="no random translation in the train split")
    p.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="keep tasks whose pairs equal another task's under another id (the build refuses them by default: "
        "a task in both training and evaluation leaks its answers); the reference keeps them",
    )
    p.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="build one copy of each such task: its evaluation copy if it has one, else the first in source order",
    )
    _common(p)
    p.set_defaults(func=_run_arc, sources=None)


def _run_arc(args) -> int:
    from hrm.data.arc import ArcBuildOptions, Duplicates, build_arc_dataset, dataset_dir_sources, preset_sources

    started = time.perf_counter()
    sources = list(args.sources or [])
    for d in args.dataset_dir:
        sources.extend(dataset_dir_sources(d))
    if args.preset:
        if args.data_root is None:
            raise UserError(f"--preset {args.preset} needs --data-root (the shared data folder)")
        if sources:
            raise UserError("--preset chooses the sources itself; drop --training/--evaluation/--dataset-dir")
        sources = preset_sources(args.preset, args.data_root)
    if args.allow_duplicates and args.drop_duplicates:
        raise UserError("--allow-duplicates keeps every copy and --drop-duplicates keeps one; choose one of them")
    duplicates: Duplicates = "keep" if args.allow_duplicates else "drop" if args.drop_duplicates else "refuse"
    out = build_arc_dataset(
        ArcBuildOptions(
            out=args.out,
            sources=sources,
            protocol=args.protocol,
            num_aug=args.num_aug,
            retries_factor=args.retries_factor,
            translate=not args.no_translate,
            seed=args.seed,
            preset=args.preset,
            duplicates=duplicates,
            force=args.force,
            show_progress=not args.no_progress,
        )
    )
    return _finish(out, started)


# ----------------------------------------------------------------------------------------------------------------
# custom


def _register_custom(sub) -> None:
    p = sub.add_parser(
        "custom",
        help="your own sequence tasks from JSONL",
        description='Each line: {"input": ..., "output": ...} as token lists or strings over --alphabet, '
        'optional "puzzle" and "group" keys. Sequences are padded to --seq-len with PAD 0.',
    )
    p.add_argument("--train", type=Path, required=True, help="training JSONL")
    p.add_argument("--test", type=Path, required=True, help="test JSONL")
    p.add_argument("--seq-len", type=int, help="fixed sequence length (default: the longest sequence)")
    p.add_argument("--alphabet", help="characters of string records, in token order")
    p.add_argument("--vocab-size", type=int, help="user tokens 0..V-1 for token-list records")
    p.add_argument(
        "--puzzle-ids",
        choices=["shared", "per-puzzle"],
        default="shared",
        help="one shared puzzle identifier (default) or one per 'puzzle' key",
    )
    p.add_argument("--input-key", default="input")
    p.add_argument("--output-key", default="output")
    p.add_argument("--puzzle-key", default="puzzle")
    p.add_argument("--group-key", default="group")
    _common(p)
    p.set_defaults(func=_run_custom)


def _run_custom(args) -> int:
    from hrm.data.custom import CustomBuildOptions, build_custom_dataset

    started = time.perf_counter()
    out = build_custom_dataset(
        CustomBuildOptions(
            out=args.out,
            train=args.train,
            test=args.test,
            seq_len=args.seq_len,
            alphabet=args.alphabet,
            vocab_size=args.vocab_size,
            input_key=args.input_key,
            output_key=args.output_key,
            puzzle_key=args.puzzle_key,
            group_key=args.group_key,
            puzzle_ids=args.puzzle_ids,
            seed=args.seed,
            force=args.force,
            show_progress=not args.no_progress,
        )
    )
    return _finish(out, started)
