"""Inputs of every kind ``hrm view`` reads, built small: datasets, evaluation outputs, a run and a comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hrm.data.format import load_identifiers
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.evaluation.runner import EvaluateOptions, run_evaluation
from tests.evaluation.helpers import build_arc, save_tiny_checkpoint, tiny_model


def sudoku_dataset(root: Path) -> Path:
    """4×4 Sudoku: 6 training puzzles with 2 shuffles each (18 rows), 30 test puzzles."""
    build_sudoku_dataset(
        SudokuBuildOptions(out=root, size=4, num_train=6, num_test=30, givens=6, num_aug=2, seed=1, show_progress=False)
    )
    return root


def evaluation_dir(
    base: Path, data: Path, save: int = 20, max_segments: str = "1,2,4", early_exit: bool = False, name: str = "eval"
) -> Path:
    """``hrm evaluate --out`` of a tiny random 4×4 Sudoku model (some rows halt early) with segment predictions."""
    ckpt = base / "run" / "step-1"
    if not ckpt.is_dir():
        save_tiny_checkpoint(ckpt, tiny_model(), data_root=data)
    out = base / name
    run_evaluation(
        EvaluateOptions(
            checkpoint=ckpt,
            data=data,
            out=out,
            save_predictions=save,
            max_segments=max_segments,
            early_exit=early_exit,
            progress=False,
        )
    )
    return out


def arc_evaluation_dir(base: Path) -> Path:
    """An ARC dataset (2 tasks × 4 views) evaluated by a tiny random model: voting details and segments."""
    root = build_arc(base / "arc")
    identifiers = load_identifiers(root)
    model = tiny_model(vocab_size=12, seq_len=900, num_ids=len(identifiers), halt_max_steps=2)
    ckpt = save_tiny_checkpoint(base / "arc-run" / "step-1", model, data_root=root, identifiers=identifiers)
    out = base / "arc-eval"
    run_evaluation(EvaluateOptions(checkpoint=ckpt, data=root, out=out, save_predictions=6, progress=False))
    return out


def run_dir(base: Path, num_train: int = 60) -> Path:
    """A run directory as ``hrm train`` leaves it: config, metrics (train every step, eval twice), best, step-N."""
    run = base / "train-run"
    run.mkdir(parents=True)
    (run / "train_config.json").write_text(json.dumps({"recipe": "tiny", "optim": {"lr": 0.003}}, indent=2))
    lines = []
    for step in range(1, num_train + 1):
        lines.append({"step": step, "split": "train", "lm_loss": 2.0 / step, "accuracy": step / num_train, "lr": 1e-3})
        if step % 30 == 0:
            lines.append({"step": step, "split": "eval", "lm_loss": 3.0 / step, "exact_accuracy": step / 100})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (run / "best.json").write_text(json.dumps({"step": num_train, "metric": "exact_accuracy", "value": 0.6}))
    save_tiny_checkpoint(run / f"step-{num_train}", tiny_model())
    return run


def comparison_dir(base: Path) -> Path:
    """The comparison-lab layout ``hrm view`` assumes: records.jsonl, summary.csv, summary.md, a PNG plot."""
    from PIL import Image

    lab = base / "lab"
    (lab / "plots").mkdir(parents=True)
    records = [
        {"family": fam, "seed": seed, "config": {"hidden_size": 32}, "result": {"exact_accuracy": 0.1 * seed + i}}
        for i, fam in enumerate(("hrm", "trm"))
        for seed in (0, 1)
    ]
    (lab / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (lab / "summary.csv").write_text("family,task,exact mean,exact sd\nhrm,tiny,0.05,0.07\ntrm,tiny,1.05,0.07\n")
    (lab / "summary.md").write_text("| family | exact |\n|---|---|\n| hrm | 0.05 |\n")
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(lab / "plots" / "accuracy.png")
    return lab


def custom_dataset(base: Path) -> Path:
    """A custom string task (``hrm data custom``) over the alphabet ``0123456789+=``, seq_len 6."""
    from hrm.data.custom import CustomBuildOptions, build_custom_dataset

    base.mkdir(parents=True, exist_ok=True)
    train, test = base / "train.jsonl", base / "test.jsonl"
    train.write_text('{"input": "12+3=", "output": "15"}\n{"input": "2+2=", "output": "4"}\n')
    test.write_text('{"input": "1+1=", "output": "2"}\n')
    return build_custom_dataset(
        CustomBuildOptions(
            out=base / "add", train=train, test=test, seq_len=6, alphabet="0123456789+=", show_progress=False
        )
    )
