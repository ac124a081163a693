"""The page of a comparison folder (``hrm compare``): its records as a table, the summary and every PNG plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.study_dir import RECORDS_FILE, SUMMARY_CSV, SUMMARY_MD, TEST_TIME_MD
from hrm.view.common import MAX_IMAGES, png_data_uri


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
    return out


def comparison_page(path: Path, *, limit: int, start: int) -> dict[str, Any]:
    records = []
    file = path / RECORDS_FILE
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{file}: cannot read ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # a torn last line from a killed cell: skipped, as metrics.jsonl
                continue
            raise UserError(
                f"{file}:{number}: not valid JSON ({exc.msg}); rebuild with `hrm compare --report`"
            ) from None
        if not isinstance(record, dict):
            raise UserError(f"{file}:{number}: expected one JSON object per cell")
        records.append(_flatten(record))
    columns: list[str] = []
    for r in records:
        columns.extend(k for k in r if k not in columns)
    summary = None
    if (path / SUMMARY_CSV).is_file():
        try:
            with open(path / SUMMARY_CSV, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UserError(f"{path / SUMMARY_CSV}: cannot read ({exc})") from None
        summary = {"header": rows[0] if rows else [], "rows": rows[1:]}
    markdown = None
    # The summary, then the depth x breadth table of `hrm compare --test-time` when it was run (its plot is one of
    # the PNGs below).
    texts = [
        (path / name).read_text(encoding="utf-8", errors="replace")
        for name in (SUMMARY_MD, TEST_TIME_MD)
        if (path / name).is_file()
    ]
    if texts:
        markdown = "\n\n".join(texts)
    plots = []
    for png in sorted([*path.glob("*.png"), *path.glob("plots/*.png")])[:MAX_IMAGES]:
        src = png_data_uri(png)
        if src:
            plots.append({"name": str(png.relative_to(path)), "src": src})
    shown = records[start : start + limit]
    return {
        "title": f"comparison {path.name}",
        "columns": columns,
        "records": shown,
        "total": len(records),
        "start": start,
        "summary": summary,
        "markdown": markdown,
        "plots": plots,
        "notes": [] if records else [f"{RECORDS_FILE} holds no records yet"],
    }
