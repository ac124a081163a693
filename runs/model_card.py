"""Copy a trained run's best checkpoint into the package as a shipped model and write its model card.

    python runs/model_card.py --name sudoku-9x9 --run runs_out/ship-sudoku-9x9 \
        --val RUN/eval-val/eval.json --test RUN/eval-test/eval.json --command "hrm train ..." \
        --dest src/hrm/assets/pretrained/sudoku-9x9

Called by runs/ship_models.sh. Everything in the card is read from the run (config, metrics, checkpoint) and the
two `hrm evaluate` outputs: nothing is typed in by hand. The checkpoint is copied without ``train_state.pt`` (the
optimiser state) and must stay under 2 MB. The card's YAML front matter holds the fields
:data:`hrm.checkpoints.shipped.CARD_FIELDS` (read by `hrm models`; checked by tests/checkpoints/test_shipped.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import torch
import yaml

from hrm.checkpoints import open_checkpoint
from hrm.checkpoints.locate import resolve_checkpoint
from hrm.checkpoints.shipped import CARD_FIELDS
from hrm.runtime.logging import read_metrics

SHIPPED_FILES = ("model.safetensors", "config.json", "dataset.json", "identifiers.json", "meta.json")
MAX_BYTES = 2 * 1024 * 1024
BREAKDOWN_NAMES = {"givens": "givens", "path_length": "shortest-path length"}


def _result(path: Path) -> dict:
    data = json.loads(path.read_text())
    main = data["results"][0]  # the model's M_max, every row running it (the reference's evaluation)
    return {
        "rows": data["num_rows"],
        "max_segments": main["max_segments"],
        "exact_accuracy": main["exact_accuracy"],
        "token_accuracy": main["token_accuracy"],
        "valid_solution_rate": main.get("valid_solution_rate"),
        "breakdown": main.get("breakdown"),
        "data": data["data"],
    }


def _accuracy(result: dict) -> str:
    exact, token = 100 * result["exact_accuracy"], 100 * result["token_accuracy"]
    return f"**{exact:.1f}%** of {result['rows']} (token {token:.1f}%)"


def _table(by: str, val: dict | None, test: dict | None) -> list[str]:
    groups = {}
    for split, result in (("val", val), ("test", test)):
        for group in ((result or {}).get("breakdown") or {}).get("groups", []):
            key = (group["low"], group["high"])
            groups.setdefault(key, {})[split] = group
    if not groups:
        return []
    label = BREAKDOWN_NAMES.get(by, by)
    lines = [
        f"| {label} | validation puzzles | validation exact | test puzzles | test exact |",
        "|---|---:|---:|---:|---:|",
    ]
    for (low, high), per in sorted(groups.items()):
        name = str(low) if low == high else f"{low}-{high}"
        cells = []
        for split in ("val", "test"):
            group = per.get(split)
            cells += [str(group["count"]), f"{100 * group['exact_accuracy']:.1f}%"] if group else ["0", "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--name", "--run", "--val", "--test", "--command", "--dest"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()

    run = Path(args.run)
    step_dir = resolve_checkpoint(run, which="best")
    config = json.loads((run / "train_config.json").read_text())
    dataset = json.loads((step_dir / "dataset.json").read_text())
    meta = json.loads((step_dir / "meta.json").read_text())
    parameters = int(open_checkpoint(step_dir).model.num_parameters()["total"])  # as `hrm info` counts them
    train_records = [r for r in read_metrics(run) if r.get("split") == "train"]
    last = train_records[-1]
    val, test = _result(Path(args.val)), _result(Path(args.test))
    best = json.loads((run / "best.json").read_text()) if (run / "best.json").is_file() else meta.get("best")

    dest = Path(args.dest)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / step_dir.name).mkdir(parents=True)
    for name in SHIPPED_FILES:
        if (step_dir / name).is_file():
            shutil.copy2(step_dir / name, staging / step_dir.name / name)
    size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
    if size > MAX_BYTES:
        shutil.rmtree(staging)
        print(f"error: {step_dir} is {size / 1e6:.2f} MB; a shipped model must stay under 2 MB", file=sys.stderr)
        return 2

    data_cfg = config["data"]
    family = config["model"]
    section = config.get({"hrm": "arch"}.get(family, family), {})
    kind = dataset.get("kind", "?")
    by = (test.get("breakdown") or {}).get("by", "")
    card = {
        "name": args.name,
        "kind": kind,
        "size": data_cfg.get("gen_size"),
        "family": family,
        "architecture": section,
        "recipe": config["name"],
        "command": args.command,
        "parameters": parameters,
        "checkpoint": step_dir.name,
        "selected_on": "validation exact accuracy (RUN/best)",
        "best": best,
        "steps": last["step"],
        "train_elapsed_s": last.get("elapsed_s"),
        "validation": {k: v for k, v in val.items() if k != "data"},
        "test": {k: v for k, v in test.items() if k != "data"},
        "data": {k: v for k, v in data_cfg.items() if k.startswith("gen_") or k in ("online_augment",)},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "bytes": size,
    }
    by_value = {}
    for group in (test.get("breakdown") or {}).get("groups", []):
        key = group["low"] if group["low"] == group["high"] else f"{group['low']}-{group['high']}"
        by_value[key] = round(group["exact_accuracy"], 4)
    front = {
        "family": family,
        "recipe": config["name"],
        "command": args.command,
        "seed": config["runtime"].get("seed"),
        "checkpoint": step_dir.name,
        "parameters": parameters,
        "data": f"{data_cfg.get('gen_num_train')} training, {data_cfg.get('gen_num_val')} validation and "
        f"{data_cfg.get('gen_num_test')} test puzzles generated by hrm (seed {data_cfg.get('gen_seed')}), "
        f"{data_cfg.get('path')}",
        "data_licence": "no third-party data; the puzzles are generated by this project's code (Apache-2.0)",
        "licence": "Apache-2.0",
        "validation_exact_accuracy": round(val["exact_accuracy"], 4),
        "validation_puzzles": val["rows"],
        "test_exact_accuracy": round(test["exact_accuracy"], 4),
        "test_puzzles": test["rows"],
        "test_exact_by": {by: by_value} if by else {},
        "selected_on": card["selected_on"],
        "steps": card["steps"],
    }
    missing = [f for f in CARD_FIELDS if f not in front]
    assert not missing, missing

    shown = ("mlp_t", "num_layers", "hidden_size", "high_cycles", "low_cycles", "halt_max_steps", "pos_encodings")
    shape = ", ".join(f"{k}={v}" for k, v in section.items() if k in shown)
    what = "Sudoku" if kind == "sudoku" else "maze" if kind == "maze" else kind
    grid = f"{card['size']}×{card['size']}"
    ranges = []
    if kind == "sudoku":
        test_givens = data_cfg.get("gen_test_givens") or data_cfg.get("gen_givens")  # unset: as in training
        ranges.append(f"givens {data_cfg.get('gen_givens')} in training, {test_givens} in test")
    lines = [
        f"# `{args.name}`: {grid} {what}",
        "",
        f"The shipped model `hrm solve` uses for {grid} {what} puzzles when no `--checkpoint` is given.",
        "",
        "| | |",
        "|---|---|",
        f"| family | `{family}` ({shape}) |",
        f"| parameters | {parameters:,} ({size / 1e6:.2f} MB shipped, without optimiser state) |",
        f"| recipe | `{config['name']}` with the overrides in the command below |",
        f"| training | {card['steps']:,} optimiser steps, batch {config['schedule']['global_batch_size']}, "
        f"{(card['train_elapsed_s'] or 0) / 60:.1f} min on {platform.processor() or platform.machine()} "
        f"(torch {torch.__version__}, {config['runtime'].get('num_threads') or 'all'} thread(s), beside other jobs) |",
        f"| checkpoint | `{step_dir.name}`, chosen on validation exact accuracy |",
        f"| data | generated by `hrm` itself (seed {data_cfg.get('gen_seed')}): {data_cfg.get('gen_num_train')} "
        f"training, {data_cfg.get('gen_num_val')} validation, {data_cfg.get('gen_num_test')} test puzzles"
        + (f"; {'; '.join(ranges)}" if ranges else "")
        + " |",
        f"| validation exact | {_accuracy(val)} |",
        f"| test exact | {_accuracy(test)}, read once after the checkpoint was chosen |",
        "",
        "Both at the model's M_max "
        f"({test['max_segments']} segments, every row running all of them). Single seed. Command:",
        "",
        "```bash",
        args.command,
        "```",
        "",
    ]
    table = _table(by, val, test)
    if table:
        lines += [f"Exact accuracy by {BREAKDOWN_NAMES.get(by, by)}:", "", *table, ""]
    lines += [
        "**Licence.** Trained only on puzzles `hrm`'s own generators made from a seed (no third-party data); the",
        "weights are distributed under the project's licence (Apache-2.0), like the code.",
        "",
    ]
    header = "# Read by hrm.checkpoints.shipped (`hrm models`); the fields are described in src/hrm/assets/README.md.\n"
    text = "---\n" + header + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(lines)
    (staging / "MODEL_CARD.md").write_text(text)
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    print(f"shipped {step_dir} -> {dest} ({size / 1e6:.2f} MB); card: {dest / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
