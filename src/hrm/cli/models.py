"""``hrm models``: the models shipped with hrm, the ones ``hrm solve`` picks from by the puzzle's kind and size."""

from __future__ import annotations

import argparse
import json
from typing import Any

EPILOG = """\
Every folder under hrm/assets/pretrained/ is a shipped model; its kind and size are read from its checkpoint, its
accuracies from the MODEL_CARD.md beside it (else the run's last evaluation in meta.json). `hrm solve PUZZLE`
without --checkpoint uses the one whose kind and size match the puzzle; `hrm info --checkpoint PATH` shows one in
full. Accuracies are exact accuracy (every cell right) on the split named; '-' where none is recorded.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the models shipped with hrm (what `hrm solve` uses without --checkpoint)",
        description="List the shipped models: name, puzzle kind and size, model family, parameters, file size, "
        "validation and test exact accuracy, and where each lives.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the list as JSON (one object per model)")
    parser.set_defaults(func=run)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def format_models(rows: list[dict[str, Any]]) -> str:
    """The text table of ``hrm models`` (``rows`` as :meth:`ShippedModel.to_dict` gives them)."""
    if not rows:
        return "no shipped models in this install (hrm/assets/pretrained/ is empty); pass --checkpoint to hrm solve"
    header = ["name", "task", "family", "parameters", "files", "val exact", "test exact", "path"]
    table = [
        [
            r["name"],
            r["task"] if r["error"] is None else "unreadable",
            r["family"] or "-",
            f"{r['parameters']:,}" if r["parameters"] is not None else "-",
            _megabytes(r["file_bytes"]),
            _percent(r["validation_exact_accuracy"]),
            _percent(r["test_exact_accuracy"]),
            r["path"],
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *table]]
    for r in rows:
        if r["error"] is not None:
            lines.append(f"{r['name']}: not usable: {r['error']}")
        elif r["model_card"] is None:
            lines.append(f"{r['name']}: no MODEL_CARD.md (accuracies from meta.json)")
        elif r["card_error"] is not None:
            lines.append(f"{r['name']}: {r['card_error']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hrm.checkpoints import list_shipped

    rows = [model.to_dict() for model in list_shipped()]
    print(json.dumps(rows, indent=1) if args.json else format_models(rows))
    return 0
