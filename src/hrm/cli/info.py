"""``hrm info [--checkpoint DIR]``: what a checkpoint holds: config, parameter counts, data provenance, last eval."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a checkpoint: config, parameters, dataset, last evaluation",
        description="Print a checkpoint's model config, parameter counts (the trunk, i.e. the paper's count, and the "
        "transductive puzzle-ID table separately), the dataset it was trained on and its last "
        "evaluation metrics.",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="step-N directory, or run directory (its latest checkpoint; RUN_DIR/best for the best); "
        "default: the checkpoint shipped with hrm",
    )
    parser.add_argument(
        "--tasks",
        action="store_true",
        help="list the puzzle names the checkpoint knows (ARC: the task ids, without augmented variants)",
    )
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.set_defaults(func=run)


def checkpoint_info(ckpt) -> dict[str, Any]:
    """Everything ``hrm info`` reports, as a JSON-serialisable dict."""
    from hrm.data.arc import parse_variant_name
    from hrm.errors import UserError
    from hrm.inference.solve import describe_model, model_kind

    config = ckpt.model_config
    counts = ckpt.model.num_parameters()
    try:
        kind = model_kind(config, ckpt.dataset, ckpt)
        task = describe_model(config, kind)
    except UserError:  # an unknown puzzle type is reported, not fatal
        kind, task = None, f"unknown puzzle type (vocab {config.vocab_size}, seq_len {config.seq_len})"
    dataset = dict(ckpt.dataset or {})
    if "build" not in dataset:  # provenance: the recorded dataset's build.json, when that folder still exists
        from hrm.checkpoints import recorded_data_path

        root = recorded_data_path(ckpt)
        if root is not None and (root / "build.json").is_file():
            try:
                dataset["build"] = json.loads((root / "build.json").read_text())
            except (OSError, json.JSONDecodeError):
                pass
    identifiers = ckpt.identifiers or []
    tasks = [n for n in identifiers if n != "<blank>" and parse_variant_name(n)[0] == n]
    table_ids = config.num_puzzle_identifiers if config.puzzle_emb_ndim else 0
    return {
        "checkpoint": str(ckpt.path),
        "step": ckpt.meta.get("step"),
        "hrm_version": ckpt.meta.get("hrm_version"),
        "recipe": ckpt.meta.get("recipe"),
        "kind": kind,
        "task": task,
        "family": ckpt.family,
        "flops_per_segment": int(ckpt.model.flops_per_segment(1)),  # one sample's forward through one segment
        "max_segments": int(ckpt.model.max_segments),
        "model_config": config.to_dict(),
        "parameters": {
            "trunk": counts["trunk"],
            "puzzle_embedding": counts["puzzle_embedding"],
            "puzzle_embedding_shape": [table_ids, config.puzzle_emb_ndim],
            "total": counts["total"],
        },
        "dataset": dataset or None,
        "identifiers": {"count": len(identifiers), "tasks": len(tasks)},
        "last_eval": ckpt.meta.get("eval"),
        "meta": ckpt.meta,
        "train_config": ckpt.train_config,
    }


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        out = []
        for key, value in data.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [(prefix, data)]


def _short(value: Any, limit: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rows(pairs: list[tuple[str, Any]], empty: str) -> list[str]:
    return [f"  {key:<32} {_short(value)}" for key, value in pairs] or [f"  {empty}"]


def format_info(info: dict[str, Any]) -> str:
    p = info["parameters"]
    lines = [f"checkpoint:   {info['checkpoint']}"]
    lines.append(
        f"step:         {info['step']}"
        + (f" (recipe {info['recipe']})" if info.get("recipe") else "")
        + (f", written by hrm {info['hrm_version']}" if info.get("hrm_version") else "")
    )
    lines.append(f"trained on:   {info['task']}")
    family = info.get("family", "hrm")
    lines.append(
        f"model family: {family}; {info['flops_per_segment']:,} forward FLOPs per sample per segment, "
        f"at most {info['max_segments']} segments"
    )
    lines += ["", "parameters"]
    paper = {"hrm": " (27,275,266 for the 27M Sudoku model)", "trm": " (6,828,034 / 5,028,866 for TRM-Att / TRM-MLP)"}
    lines.append(f"  trunk            {p['trunk']:>13,}  trainable weights: the paper's count" + paper.get(family, ""))
    rows, ndim = p["puzzle_embedding_shape"]
    lines.append(
        f"  puzzle-ID table  {p['puzzle_embedding']:>13,}  {rows:,} ids × {ndim}: a buffer trained by "
        "sign-SGD, transductive (one vector per training puzzle), not in the paper's 27M"
    )
    lines.append(f"  total            {p['total']:>13,}")
    lines += ["", "model config"]
    lines += [f"  {key:<22} {value}" for key, value in info["model_config"].items()]
    ids = info["identifiers"]
    variants = (
        f" ({ids['tasks']:,} tasks; the rest are augmented variants)" if ids["tasks"] and info["kind"] == "arc" else ""
    )
    lines += ["", "dataset"]
    lines += _rows(_flatten(info["dataset"] or {}), "(no dataset.json in the checkpoint)")
    lines.append(f"  {'identifiers':<32} {ids['count']:,} names{variants}")
    lines += ["", "last evaluation"]
    lines += _rows(_flatten(info["last_eval"] or {}), "(none recorded)")
    picks = [
        ("schedule.global_batch_size", "batch"),
        ("schedule.epochs", "epochs"),
        ("optim.optimizer", "optimizer"),
        ("optim.lr", "lr"),
        ("optim.weight_decay", "weight decay"),
        ("runtime.seed", "seed"),
        ("data.path", "data"),
    ]
    flat = dict(_flatten(info["train_config"] or {}))
    chosen = [(label, flat[key]) for key, label in picks if key in flat]
    if chosen:
        lines += ["", "training"] + _rows(chosen, "")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hrm.checkpoints import open_checkpoint
    from hrm.data.arc import parse_variant_name

    ckpt = open_checkpoint(args.checkpoint, "cpu")
    if args.tasks:
        names = [n for n in ckpt.identifiers or [] if n != "<blank>" and parse_variant_name(n)[0] == n]
        if args.json:
            print(json.dumps(names))
        else:
            print("\n".join(names) if names else "(the checkpoint has no named puzzles: every puzzle shares id 0)")
        return 0
    info = checkpoint_info(ckpt)
    print(json.dumps(info, indent=1, default=str) if args.json else format_info(info))
    return 0
