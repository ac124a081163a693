"""benchmarks/gpu_check.py --tiny on the CPU: every stage runs and the JSON has the structure the GPU run fills in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_runs_every_stage_on_cpu(tmp_path):
    env = dict(os.environ)
    # As the coordinator runs it on the GPU machine: from the repo root, the package on PYTHONPATH only.
    env["PYTHONPATH"] = str(REPO / "src")
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--tiny", "--out", str(tmp_path), "--minutes", "12"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "stage hrm_step" in proc.stdout  # progress is printed as it goes
    report = json.loads((tmp_path / "gpu_check_tiny_cpu.json").read_text())
    assert report["tiny"] is True
    stages = report["stages"]
    assert list(stages) == ["environment", "hrm_step", "trm_step", "gpu_tests", "train_sanity"]
    assert all("seconds" in s and s["status"] in ("ok", "failed", "error", "skipped") for s in stages.values())

    env_info = stages["environment"]
    assert env_info["status"] == "ok" and env_info["torch"] == __import__("torch").__version__

    assert report["matmul"]["tflops"] > 0
    step = stages["hrm_step"]
    assert step["status"] == "ok", step
    eager = step["eager"]
    assert eager["status"] == "ok" and eager["metrics_finite"]
    assert eager["sample_segments_per_s"] > 0 and eager["flops_per_step"] > 0
    assert eager["fraction_of_measured_matmul"] > 0
    # The analytic count agrees with torch's dispatcher count of the same step (matmuls and attention).
    assert 0.9 < step["analytic_over_counted_flops"] < 1.1

    trm = stages["trm_step"]
    if trm["status"] == "skipped":
        assert "trm" in trm["reason"]

    # On the CPU every gpu-marked test is skipped: pytest still runs and reports them.
    tests = stages["gpu_tests"]
    assert tests["status"] == "ok", tests
    assert tests["counts"].get("skipped", 0) >= 1 and tests["counts"].get("failed", 0) == 0

    train = stages["train_sanity"]
    assert train["status"] in ("ok", "failed"), train  # "failed" = a check did not pass, not a crash
    assert train["checks"]["checkpoint_written"] and train["checks"]["evaluate_works"]
    assert train["checks"]["loss_falls"]
    assert train["evaluate"]["result"]
