"""Metric sinks: JSONL + CSV always, resume truncation, optional trackers fail with a clear message."""

from __future__ import annotations

import builtins
import csv
import json

import pytest

from hrm.errors import UserError
from hrm.runtime.logging import MetricsLogger, read_metrics


def test_jsonl_and_csv_hold_every_record(tmp_path):
    with MetricsLogger(tmp_path) as logger:
        logger.log({"step": 1, "split": "train", "lm_loss": 2.0, "exact_accuracy": None})
        logger.log({"step": 2, "split": "train", "lm_loss": 1.5, "exact_accuracy": 0.25})
        logger.log({"step": 2, "split": "eval", "exact_accuracy": 0.5, "count": 10.0})  # a new column
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [1, 2, 2] and records[2]["count"] == 10.0
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [r["split"] for r in rows] == ["train", "train", "eval"]
    assert rows[0]["count"] == "" and rows[2]["count"] == "10.0" and rows[1]["lm_loss"] == "1.5"


def test_resume_drops_records_past_the_checkpoint(tmp_path):
    with MetricsLogger(tmp_path) as logger:
        for step in range(1, 6):
            logger.log({"step": step, "split": "train", "lm_loss": float(step)})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "split": "tr')  # torn line from a killed process
    with MetricsLogger(tmp_path, resume_step=3) as logger:
        logger.log({"step": 4, "split": "train", "lm_loss": 40.0})
    assert [(r["step"], r["lm_loss"]) for r in read_metrics(tmp_path)] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)]
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 5


def test_non_finite_values_stay_valid_json(tmp_path):
    with MetricsLogger(tmp_path) as logger:
        logger.log({"step": 1, "split": "train", "lm_loss": float("nan"), "q": float("inf")})
    line = (tmp_path / "metrics.jsonl").read_text().strip()
    record = json.loads(line)
    assert record["lm_loss"] is None and record["q"] == float("inf")


@pytest.mark.parametrize("option, module", [("tensorboard", "torch.utils.tensorboard"), ("wandb", "wandb")])
def test_missing_tracker_is_a_one_line_error(tmp_path, monkeypatch, option, module):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(UserError, match=f"pip install {option}"):
        MetricsLogger(tmp_path, **{option: True})
