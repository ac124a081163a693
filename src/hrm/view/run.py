"""The page of a training run (``hrm train``): its curves, config, best record and checkpoints."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from hrm.runtime.logging import METRICS_JSONL, read_metrics
from hrm.training.run_dir import TRAIN_CONFIG_FILE
from hrm.view.common import finite, read_json

MAX_TRAIN_POINTS = 1500  # training records drawn at most (every k-th beyond that, and the last)


def run_page(path: Path, *, limit: int, start: int) -> dict[str, Any]:
    from hrm.checkpoints.format import META_FILE, TRAIN_STATE_FILE
    from hrm.checkpoints.locate import BEST_FILE, list_checkpoints

    config = None
    if (path / TRAIN_CONFIG_FILE).is_file():
        config = read_json(path / TRAIN_CONFIG_FILE, "the run's config is corrupt")
    best = read_json(path / BEST_FILE, "the run's best record is corrupt") if (path / BEST_FILE).is_file() else None
    records = read_metrics(path)
    series: dict[str, dict[str, list]] = {}
    for split in ("train", "eval"):
        recs = [r for r in records if r.get("split") == split and isinstance(r.get("step"), (int, float))]
        if split == "train" and len(recs) > MAX_TRAIN_POINTS:
            stride = -(-len(recs) // MAX_TRAIN_POINTS)
            recs = recs[::stride] + ([recs[-1]] if (len(recs) - 1) % stride else [])
        keys = sorted({k for r in recs for k, v in r.items() if isinstance(v, (int, float)) and k != "step"})
        series[split] = {"step": [int(r["step"]) for r in recs]}
        for key in keys:
            series[split][key] = [finite(r.get(key)) for r in recs]
    checkpoints = []
    for step, child in list_checkpoints(path):
        meta = None
        if (child / META_FILE).is_file():
            with contextlib.suppress(OSError, json.JSONDecodeError, UnicodeDecodeError):
                meta = json.loads((child / META_FILE).read_text(encoding="utf-8"))
        checkpoints.append(
            {
                "step": step,
                "bytes": sum(f.stat().st_size for f in child.iterdir() if f.is_file()),
                "resumable": (child / TRAIN_STATE_FILE).is_file(),
                "best": bool(isinstance(best, dict) and best.get("step") == step),
                "metrics": meta.get("eval") if isinstance(meta, dict) and isinstance(meta.get("eval"), dict) else None,
            }
        )
    notes = []
    if not records:
        notes.append(f"no {METRICS_JSONL} records yet: no curves")
    return {
        "title": f"run {path.name}",
        "config": config,
        "best": best,
        "series": series,
        "num_records": len(records),
        "checkpoints": checkpoints,
        "notes": notes,
    }
