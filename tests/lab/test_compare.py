"""The comparison lab: spec validation, statistics, a resumable grid (runs/compare/smoke.yaml), reports, Ray."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from hrm.cli import main
from hrm.errors import UserError
from hrm.lab import cell as lab_cell
from hrm.lab import grid as lab_grid
from hrm.lab import plan as lab_plan
from hrm.lab import records as lab_records
from hrm.lab import report as lab_report
from hrm.lab import spec as lab_spec
from hrm.lab import stats as lab_stats
from hrm.lab import study_dir
from hrm.training.config import TrainConfig
from hrm.training.recipes import get_recipe
from hrm.training.trainer import train

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "runs" / "compare" / "smoke.yaml"


def write_spec(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "tasks: [tiny]\nfamilies: [hrm]\nseeds: [0]\nbudget: {steps: 4}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("[hrm]", "[hrm, resnet]"), "unknown model family 'resnet'"),
        (GOOD.replace("[tiny]", "[tiniest]"), "unknown recipe 'tiniest'"),
        (GOOD + "colour: red\n", "unknown key(s) colour"),
        (GOOD.replace("[hrm]", "[{name: wide, model: hrm, overrides: {arch.widht: 64}}]"), "arch.widht"),
        (GOOD.replace("{steps: 4}", "{hours: 1}"), "unknown budget 'hours'"),
        (GOOD.replace("{steps: 4}", "{steps: -1}"), "budget steps must be a number > 0"),
        (GOOD.replace("seeds: [0]", "seeds: [0, 0]"), "repeat a seed"),
        (GOOD.replace("[hrm]", "[hrm, hrm]"), "used twice"),
        ("tasks: [tiny\n", "not valid YAML"),
        (GOOD.replace("[hrm]", "[{name: 'a b', model: hrm}, {name: a-b, model: gru}]"), "folder name 'a-b'"),
        (GOOD.replace("[hrm]", "[{name: 'x/y', model: hrm}, {name: 'x y', model: gru}]"), "folder name 'x-y'"),
        (GOOD.replace("[hrm]", "[{name: 'é', model: hrm}, {name: 'ü', model: gru}]"), "folder name 'x'"),
        (GOOD + "overrides: {model: gru}\n", "an override sets model=gru"),
        (GOOD.replace("[tiny]", "[{name: t, recipe: tiny, overrides: [model=trm]}]"), "an override sets model=trm"),
        (GOOD.replace("[hrm]", "[gru]") + "overrides: {trm.num_layers: -5}\n", "trm section is not used"),
        (GOOD.replace("seeds: [0]", "seeds: 1000000000000"), "at most 1000 seeds"),
        (GOOD.replace("seeds: [0]", "seeds: [18446744073709551616]"), "each in 0..4294967295"),
        (GOOD + "eval: {segments: [1000000000]}\n", "at most 4096 segments"),
        (
            GOOD.replace("[hrm]", "[{name: deep, model: transformer, overrides: {transformer.num_layers: 100000}}]"),
            "at most 1024",
        ),
    ],
)
def test_bad_spec_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, text, message):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "bad.yaml", text)
    assert main(["compare", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no out dir, no dataset


def test_plan_applies_overrides_in_order_and_flops_budget_sets_steps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = lab_spec.parse_spec(
        {
            "tasks": [{"name": "t", "recipe": "tiny", "overrides": ["lr=1e-3"]}],
            "families": ["hrm", {"name": "flat", "model": "hrm", "overrides": {"arch.flat": True}}, "gru"],
            "seeds": 2,
            "budget": {"flops": "2e10"},
            "overrides": {"lr": 2e-3},
        }
    )
    cells = lab_plan.plan_cells(spec)
    # seed-major: every family's seed 0 before any seed 1 (a study stopped early holds one whole comparison)
    assert [c.id for c in cells] == [
        "hrm__t__s0",
        "flat__t__s0",
        "gru__t__s0",
        "hrm__t__s1",
        "flat__t__s1",
        "gru__t__s1",
    ]
    assert cells[0].config.optim.lr == 2e-3  # the spec's overrides come after the task's
    assert cells[1].config.arch.flat is True and cells[1].config.runtime.seed == 0
    assert cells[4].config.arch.flat is True and cells[4].config.runtime.seed == 1
    lab_plan.prepare_cells(cells, spec.budget, log=lambda _: None)
    for cell in cells:
        assert cell.flops_per_step > 0 and cell.parameters["trunk"] > 0
        assert 0 < cell.flops_per_step_measured != cell.flops_per_step  # a FLOPs budget spends measured FLOPs
        assert cell.config.schedule.max_steps == int(2e10 // cell.flops_per_step_measured)
    # equal FLOPs budget: the cheaper family gets more steps
    gru, hrm = cells[2], cells[0]
    assert (gru.flops_per_step_measured < hrm.flops_per_step_measured) == (
        gru.config.schedule.max_steps > hrm.config.schedule.max_steps
    )


def test_t_quantiles_and_interval():
    # two-sided 95% critical values of Student's t (any statistics table)
    for df, expected in ((1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (10, 2.228), (30, 2.042)):
        assert lab_stats.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)
    mean, sd, half = lab_stats.mean_sd_ci([0.5, 0.7, 0.6])
    assert mean == pytest.approx(0.6) and sd == pytest.approx(0.1)
    assert half == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-3)
    assert lab_stats.mean_sd_ci([0.3]) == (0.3, None, None)


def test_smoke_spec_runs_then_skips_finished_cells(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "smoke"
    assert main(["compare", str(SMOKE), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / study_dir.RECORDS_FILE).read_text().splitlines()]
    assert sorted((r["family"], r["seed"]) for r in records) == [("hrm", 0), ("hrm", 1), ("trm", 0), ("trm", 1)]
    for r in records:
        assert r["steps"] == 30 and r["train_flops"] == 30 * r["flops_per_step"] > 0
        assert 0 <= r["exact_accuracy"] <= 1 and 0 < r["token_accuracy"] <= 1
        assert 1 <= r["mean_segments"] <= r["max_segments"]
        assert [p["segments"] for p in r["scaling"]] == [1, 2, 3, 4]  # the spec's caps and M_max = 3
        assert r["machine"]["threads"] == 1 and r["parameters"]["trunk"] > 0
        assert TrainConfig.from_dict(r["config"]).model == r["model"]
        # Sudoku data: exact accuracy by givens at M_max, whose groups add up to the evaluated rows
        assert r["breakdown"]["by"] == "givens"
        groups = r["breakdown"]["groups"]
        assert sum(g["count"] for g in groups) == r["eval_rows"]
        exact = sum(g["exact_accuracy"] * g["count"] for g in groups) / r["eval_rows"]
        assert exact == pytest.approx(r["exact_accuracy"])
    rows = list(csvrows(out / study_dir.SUMMARY_CSV))
    assert [(row["family"], row["seeds"]) for row in rows] == [("hrm", "2"), ("trm", "2")]
    assert "| hrm | tiny | 2 |" in (out / study_dir.SUMMARY_MD).read_text()
    for name in (study_dir.COMPUTE_PLOT, study_dir.SEGMENTS_PLOT):
        assert (out / study_dir.PLOTS_DIR / name).stat().st_size > 1000
    before = (out / study_dir.RECORDS_FILE).read_text()

    spec = lab_spec.load_spec(SMOKE)
    result = lab_grid.run_compare(spec, out, log=lambda _: None)
    assert result.ran == [] and len(result.skipped) == 4
    assert (out / study_dir.RECORDS_FILE).read_text() == before

    # A torn record is not a finished cell: it is kept aside, named, and the cell runs again (S2)
    torn = out / study_dir.CELLS_DIR / result.skipped[0] / study_dir.RECORD_FILE
    torn.write_text(torn.read_text()[:40])
    lines: list[str] = []
    result = lab_grid.run_compare(spec, out, log=lines.append)
    assert result.ran == [torn.parent.name] and len(result.skipped) == 3 and not result.failed
    assert any("not a complete record" in line for line in lines)
    assert lab_records.valid_record(torn) is not None and (torn.parent / "record.json.corrupt").is_file()
    assert len(result.records) == 4

    # --report rebuilds the table and the plots from the records alone
    (out / study_dir.SUMMARY_MD).unlink()
    shutil.rmtree(out / study_dir.PLOTS_DIR)
    capsys.readouterr()
    assert main(["compare", "--report", str(out)]) == 0
    assert (out / study_dir.SUMMARY_MD).read_text().count("| tiny |") == 2
    assert (out / study_dir.PLOTS_DIR / study_dir.COMPUTE_PLOT).is_file()
    # ... also from records.jsonl alone (e.g. the copy committed under runs/results/)
    copied = tmp_path / "copied"
    copied.mkdir()
    shutil.copy(out / study_dir.RECORDS_FILE, copied / study_dir.RECORDS_FILE)
    assert main(["compare", "--report", str(copied)]) == 0
    assert (copied / study_dir.SUMMARY_CSV).read_text() == (out / study_dir.SUMMARY_CSV).read_text()

    # the same directory with a changed spec is refused before anything runs
    changed = write_spec(tmp_path / "changed.yaml", SMOKE.read_text().replace("{steps: 30}", "{steps: 31}"))
    assert main(["compare", str(changed), "--out", str(out)]) == 2
    assert "different config" in capsys.readouterr().err


def csvrows(path: Path):
    import csv

    with open(path, newline="") as handle:
        yield from csv.DictReader(handle)


def test_interrupted_cell_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = lab_spec.parse_spec(
        {"tasks": ["tiny"], "families": ["hrm"], "budget": {"steps": 6}, "eval": {"max_examples": 8}}
    )
    (cell,) = lab_plan.plan_cells(spec)
    lab_plan.prepare_cells([cell], spec.budget, log=lambda _: None)
    cell_dir = tmp_path / "cell"
    cell_dir.mkdir()
    (cell_dir / study_dir.CELL_FILE).write_text(json.dumps(lab_plan.cell_plan(cell, spec)))
    # "interrupted": the same run stopped after 3 steps with a checkpoint
    partial = TrainConfig.from_dict(cell.config.to_dict())
    partial.schedule.max_steps = 3
    train(partial, cell_dir / study_dir.RUN_SUBDIR)
    record = lab_cell.run_cell_here(cell_dir)
    assert record["resumed"] is True and record["steps"] == 6
    steps = [json.loads(line)["step"] for line in (cell_dir / "run" / "metrics.jsonl").read_text().splitlines()]
    assert min(steps) <= 3 and max(steps) == 6
    assert get_recipe("tiny").model == "hrm"


def test_ray_engine_runs_cells_as_tasks(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'hrm-reasoning[ray]')")
    monkeypatch.chdir(tmp_path)
    spec = lab_spec.parse_spec(
        {
            "tasks": ["tiny"],
            "families": ["hrm", "gru"],
            "budget": {"steps": 3},
            "eval": {"max_examples": 8},
            "parallel": 2,
            "engine": "ray",
        }
    )
    result = lab_grid.run_compare(spec, tmp_path / "out", log=lambda _: None)
    assert not result.failed and sorted(r["family"] for r in result.records) == ["gru", "hrm"]


SEARCH = "task: tiny\nfamily: hrm\nbudget: {steps: 2}\ntrials: 2\nparams: {optim.lr: {low: 1.0e-3, high: 1.0e-2}}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SEARCH.replace("optim.lr:", "optim.lrr:"), "optim.lrr"),
        (SEARCH.replace("high: 1.0e-2}", "high: 1.0e-2, step: 0}"), "step: must be > 0"),
        (SEARCH.replace("high: 1.0e-2}", "high: 1.0e-2, step: -0.001}"), "step: must be > 0"),
        (SEARCH.replace("high: 1.0e-2}", "high: 1.0e-2, step: 0.001, log: true}"), "step and log cannot be combined"),
        (SEARCH + "seed: -1\n", "seed must be an integer in 0..4294967295"),
    ],
)
def test_bad_search_spec_is_one_line(tmp_path, monkeypatch, capsys, text, message):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "s.yaml", text)
    assert main(["compare", "--search", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_a_corrupt_study_is_one_line(tmp_path, monkeypatch, capsys):
    pytest.importorskip("optuna", reason="Optuna is an optional extra (pip install 'hrm-reasoning[search]')")
    from hrm.lab.study_dir import STUDY_FILE

    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "s.yaml", SEARCH)
    out = tmp_path / "out"
    out.mkdir()
    (out / STUDY_FILE).write_bytes(b"this is not sqlite" * 100)
    assert main(["compare", "--search", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "not a readable Optuna study" in err[-1] and "Traceback" not in "\n".join(err)
    assert sorted(p.name for p in out.iterdir()) == [STUDY_FILE]  # kept as it was, no spec.yaml written


def test_search_minimal_spec_is_valid():
    from hrm.lab.search import load_search_spec

    spec = load_search_spec(REPO / "runs" / "compare" / "search_minimal.yaml")
    assert spec.sampler == "grid" and len(spec.params[0].choices) == spec.trials == 7


def test_optuna_grid_search_runs_trials_as_lab_cells(tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="Optuna is an optional extra (pip install 'hrm-reasoning[search]')")
    from hrm.lab.search import parse_search_spec, run_search

    monkeypatch.chdir(tmp_path)
    spec = parse_search_spec(
        {
            "task": "tiny",
            "family": "hrm",
            "budget": {"steps": 3},
            "eval": {"max_examples": 8},
            "trials": 2,
            "sampler": "grid",
            "params": {"optim.lr": {"choices": [1e-3, 3e-3]}},
        }
    )
    result = run_search(spec, tmp_path / "out", parallel=1, log=lambda _: None)
    assert sorted(t["params"]["optim.lr"] for t in result.trials) == [1e-3, 3e-3]
    records = lab_records.load_records(tmp_path / "out")
    assert sorted(r["family"] for r in records) == ["trial-000", "trial-001"]
    assert {r["config"]["optim"]["lr"] for r in records} == {1e-3, 3e-3}
    # 3 steps: both trials at 0% exact, so the tie goes to the better token accuracy (not to the first trial)
    assert all(t["exact_accuracy"] == 0 for t in result.trials)
    by_token = max(records, key=lambda r: r["token_accuracy"])
    assert result.best is not None and result.best["overrides"] == [f"optim.lr={by_token['config']['optim']['lr']}"]
    assert result.best["tie_break"]["token_accuracy"] == pytest.approx(by_token["token_accuracy"])
    # rerunning continues the study: nothing left to do
    again = run_search(spec, tmp_path / "out", parallel=1, log=lambda _: None)
    assert len(again.trials) == 2
    # S3: asking for more trials than the grid has does not train a duplicate configuration ...
    more = run_search(dataclasses.replace(spec, trials=5), tmp_path / "out", parallel=1, log=lambda _: None)
    assert len(more.trials) == 2
    # ... and a changed budget is not ranked with the old trials
    other = dataclasses.replace(spec, base=dataclasses.replace(spec.base, budget=lab_spec.Budget("steps", 4)))
    with pytest.raises(UserError, match="another budget"):
        run_search(other, tmp_path / "out", parallel=1, log=lambda _: None)


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "runs" / "compare").glob("*.yaml")))
def test_shipped_specs_are_valid(name):
    path = REPO / "runs" / "compare" / f"{name}.yaml"
    if "params" in yaml.safe_load(path.read_text()):  # a search spec: its trials are cells of its base spec
        from hrm.lab.search import load_search_spec

        spec = load_search_spec(path).base
    else:
        spec = lab_spec.load_spec(path)
    cells = lab_plan.plan_cells(spec)
    assert len(cells) == len(spec.families) * len(spec.tasks) * len(spec.seeds)
    assert len({c.id for c in cells}) == len(cells)
    if spec.tune is not None:  # every family's search space checked against its config
        pytest.importorskip("optuna", reason="Optuna is an optional extra (pip install 'hrm-reasoning[search]')")
        from hrm.lab.tune import search_specs

        searches = search_specs(spec)
        assert len(searches) == len(spec.families) * len(spec.tasks)
        assert len({s.trials for s in searches.values()}) == 1  # the same trial budget for every family


def test_minutes_budget_is_a_wall_clock_limit():
    spec = lab_spec.parse_spec({"tasks": ["tiny"], "families": ["lstm"], "budget": {"minutes": 1.5}})
    (cell,) = lab_plan.plan_cells(spec)
    assert cell.config.schedule.time_budget_minutes == 1.5
    assert cell.config.schedule.max_steps == lab_plan.MINUTES_MAX_STEPS
    assert lab_spec.Budget("minutes", 1.5).describe() == "1.5 wall minutes"


def test_a_cell_planned_by_an_older_version_still_matches():
    """A config key added to the library since a cell ran takes its default: the study resumes; a changed or an
    unknown key still counts as a different plan."""
    spec = lab_spec.parse_spec({"tasks": ["tiny"], "families": ["hrm"], "seeds": 1, "budget": {"steps": 5}})
    plan = lab_plan.cell_plan(lab_plan.plan_cells(spec)[0], spec)
    older = json.loads(json.dumps(plan))
    del older["config"]["data"]["gen_test_givens"]  # a key this version has and an older one did not
    assert lab_plan.same_plan(older, plan)
    changed = json.loads(json.dumps(plan))
    changed["config"]["optim"]["lr"] = 1.0
    assert not lab_plan.same_plan(changed, plan)
    unknown = json.loads(json.dumps(plan))
    unknown["config"]["optim"]["no_such_key"] = 1
    assert not lab_plan.same_plan(unknown, plan)


def test_spec_with_yaml_aliases_is_refused(tmp_path):
    """An alias bomb (a few hundred bytes that expand to gigabytes) is refused at parse time, in one line."""
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b]\n'
    spec = write_spec(tmp_path / "bomb.yaml", bomb)
    with pytest.raises(UserError, match="aliases"):
        lab_spec.load_spec(spec)


def test_out_that_is_another_kind_of_folder_is_refused_untouched(tmp_path, monkeypatch, capsys):
    """D2: a folder that is not a comparison keeps its files (summary.md, spec.yaml... would be overwritten)."""
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "s.yaml", GOOD)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "summary.md").write_text("my notes")
    assert main(["compare", str(spec), "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert "not a comparison" in err.strip().splitlines()[-1]
    assert (
        sorted(p.name for p in other.iterdir()) == ["summary.md"] and (other / "summary.md").read_text() == "my notes"
    )


def test_a_second_compare_on_a_live_folder_is_refused(tmp_path, monkeypatch, capsys):
    """D1: the folder is locked by the process running it; a second `hrm compare` on it changes nothing."""
    from hrm.runtime.files import DirectoryLock

    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "s.yaml", GOOD)
    out = tmp_path / "out"
    out.mkdir()
    (out / study_dir.SPEC_FILE).write_text(GOOD)
    with DirectoryLock(out, study_dir.COMPARE_LOCK, "comparison folder"):
        assert main(["compare", str(spec), "--out", str(out)]) == 2
        assert "in use by another hrm process" in capsys.readouterr().err
        assert not (out / study_dir.CELLS_DIR).exists()


def test_a_cell_held_by_another_process_keeps_its_run_folder(tmp_path):
    """D1: a cell's run folder is judged only under the cell's lock, so a live run is never deleted."""
    from hrm.runtime.files import DirectoryLock

    cell_dir = tmp_path / "cell"
    run = cell_dir / study_dir.RUN_SUBDIR
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("{}\n")  # a live run before its first checkpoint
    (cell_dir / study_dir.CELL_FILE).write_text(json.dumps({"eval": {}, "config": TrainConfig().to_dict()}))
    with DirectoryLock(cell_dir, study_dir.CELL_LOCK, "comparison cell"):
        with pytest.raises(UserError, match="in use by another hrm process"):
            lab_cell.run_cell_here(cell_dir)
    assert (run / "metrics.jsonl").is_file()


def test_out_that_cannot_be_created_is_one_line(tmp_path, monkeypatch, capsys):
    """T10: an --out that cannot be made (here: under a regular file) is a UserError, not FileNotFoundError."""
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "s.yaml", GOOD)
    (tmp_path / "file").write_text("x")
    assert main(["compare", str(spec), "--out", str(tmp_path / "file" / "sub")]) == 2
    assert "--out" in capsys.readouterr().err.strip().splitlines()[-1]


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 of the parent and a PID probe are POSIX here")
def test_a_cell_stops_when_the_comparison_process_is_killed(tmp_path, monkeypatch):
    """After kill -9 of the process running a comparison, its cell does not train on as an orphan."""
    import os
    import signal
    import subprocess
    import textwrap
    import time

    monkeypatch.chdir(tmp_path)
    spec = lab_spec.parse_spec(yaml.safe_load(GOOD.replace("{steps: 4}", "{steps: 100000}")))
    (cell,) = lab_plan.plan_cells(spec)
    lab_plan.prepare_cells([cell], spec.budget, log=lambda _: None)
    cell_dir = tmp_path / "cell"
    cell_dir.mkdir()
    (cell_dir / study_dir.CELL_FILE).write_text(json.dumps(lab_plan.cell_plan(cell, spec)))
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                from hrm.lab.grid import run_cell_process
                run_cell_process({str(cell_dir)!r}, 1)
                """
            ),
        ],
        cwd=tmp_path,
    )
    pid_file = cell_dir / f"{study_dir.CELL_LOCK}.pid"
    try:
        deadline = time.monotonic() + 300
        while not (pid_file.is_file() and pid_file.read_text().strip().isdigit()):  # the cell holds its lock
            assert parent.poll() is None, (cell_dir / study_dir.LOG_FILE).read_text()
            assert time.monotonic() < deadline, "the cell never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert child != parent.pid and _alive(child)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=60)
    deadline = time.monotonic() + 120
    while _alive(child):
        assert time.monotonic() < deadline, "the cell kept running after its comparison was killed"
        time.sleep(0.05)
    assert "the comparison process ended" in (cell_dir / study_dir.LOG_FILE).read_text()


def test_a_failed_cell_reports_its_own_error_line_not_later_output(tmp_path):
    """The reason shown for a failed cell is its error line, even when another process wrote to the log after it."""
    log = tmp_path / study_dir.LOG_FILE
    log.write_text(
        "$ python -m hrm.lab.cell old\nhrm compare: cell error: an old failure\n"
        "$ python -m hrm.lab.cell new\n"
        "hrm compare: cell error: this cell is in use by another hrm process (PID 7)\n"
        "step 120/4000 loss 1.23\n"
    )
    assert lab_grid.failure_line(log) == "hrm compare: cell error: this cell is in use by another hrm process (PID 7)"
    log.write_text("$ python -m hrm.lab.cell new\nTraceback ...\nValueError: boom\n")
    assert lab_grid.failure_line(log) == "ValueError: boom"


def test_cells_dropped_from_the_spec_leave_the_table(tmp_path, monkeypatch):
    """S5: a family removed from the spec keeps its folder but no longer shows in the records or the report."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    for cell in ("hrm__tiny__s0", "gru__tiny__s0"):
        (out / study_dir.CELLS_DIR / cell).mkdir(parents=True)
        record = {
            "cell": cell,
            "family": cell.split("__")[0],
            "model": cell.split("__")[0],
            "task": "tiny",
            "parameters": {"total": 10},
            **dict.fromkeys(("exact_accuracy", "token_accuracy", "wall_s", "mean_segments"), 0.5),
            **dict.fromkeys(("steps", "train_flops", "flops_per_step"), 4),
        }
        (out / study_dir.CELLS_DIR / cell / study_dir.RECORD_FILE).write_text(json.dumps(record))
    assert [r["cell"] for r in lab_records.load_records(out)] == ["gru__tiny__s0", "hrm__tiny__s0"]  # no spec: all
    (out / study_dir.SPEC_FILE).write_text(GOOD)  # the spec now has only the hrm family
    assert [r["cell"] for r in lab_records.load_records(out)] == ["hrm__tiny__s0"]
    assert [r["cell"] for r in lab_records.read_records(out, only={"hrm__tiny__s0"})] == ["hrm__tiny__s0"]
    assert (out / study_dir.CELLS_DIR / "gru__tiny__s0" / study_dir.RECORD_FILE).is_file()  # kept on disk


@pytest.mark.parametrize("text", ["[]", '{"cell": "x"}', '{"cell": "x", "exact_accuracy": "high"}', "\x00\xff"])
def test_a_corrupt_record_is_not_a_finished_cell(tmp_path, text):
    """T5: a record of the wrong type or without its numbers is not finished (the cell reruns) and never a crash."""
    (tmp_path / study_dir.RECORD_FILE).write_bytes(text.encode("latin-1"))
    assert lab_records.valid_record(tmp_path / study_dir.RECORD_FILE) is None


@pytest.mark.parametrize("content", [b"[]\n", b'{"cell": "x"}\n', b"\xff\xfe\x00binary"])
def test_a_corrupt_records_file_is_one_line_for_report(tmp_path, capsys, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / study_dir.RECORDS_FILE).write_bytes(content)
    assert main(["compare", "--report", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and study_dir.RECORDS_FILE in err[0]


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", b"[]", b'{"eval": {}}', b'{"eval": [], "config": {}}'])
def test_a_corrupt_cell_plan_is_a_user_error(tmp_path, content):
    (tmp_path / study_dir.CELL_FILE).write_bytes(content)
    with pytest.raises(UserError, match=study_dir.CELL_FILE):
        lab_cell.run_cell_here(tmp_path)


def test_a_cell_reports_test_once_and_validation_for_choices(tmp_path, monkeypatch):
    """Issue 22: with a validation split, a cell records test metrics (the report) and validation metrics (what a
    search maximises and the summary's val column shows)."""
    from hrm.lab.search import selection_score

    monkeypatch.chdir(tmp_path)
    text = (
        "tasks: [{name: t, recipe: tiny, overrides: [data.path=d, data.gen_num_val=8, data.eval_split=val]}]\n"
        "families: [hrm]\nseeds: [0]\nbudget: {steps: 3}\neval: {segments: [1]}\n"
    )
    spec = lab_spec.parse_spec(yaml.safe_load(text), text=text)
    result = lab_grid.run_compare(spec, tmp_path / "out", log=lambda _: None)
    (record,) = result.records
    assert record["test_split"] == "test" and record["eval_rows"] == 32  # the tiny recipe's 32 test puzzles
    validation = record["validation"]
    assert validation["split"] == "val" and validation["rows"] == 8
    assert selection_score(record, "exact_accuracy") == validation["exact_accuracy"]
    assert selection_score({**record, "validation": None}, "token_accuracy") == record["token_accuracy"]
    row = lab_report.summarise([record])[0]
    assert row["val_exact_mean"] == validation["exact_accuracy"] and "val exact %" in lab_report.format_markdown([row])
    # A curve, not one point: the budget's 3 steps evaluate validation at every step (ceil(3 / 4) = 1).
    assert "schedule.eval_every_steps=1" in record["overrides"]
    curve = record["curve"]
    assert [p["step"] for p in curve] == [1, 2, 3]
    assert [p["train_flops"] for p in curve] == [s * record["flops_per_step_measured"] for s in (1, 2, 3)]
    assert curve[-1]["exact_accuracy"] == validation["exact_accuracy"]  # the last evaluation is the final model
    assert row["common_train_flops"] == record["train_flops_measured"] == curve[-1]["train_flops"]
    assert row["val_exact_at_common_mean"] == curve[-1]["exact_accuracy"]
    assert (tmp_path / "out" / study_dir.PLOTS_DIR / study_dir.VALIDATION_PLOT).is_file()
    # The common budget of a task is the smallest any cell reached; a cell is read at its last point within it.
    short = {**record, "family": "short", "curve": curve[:2]}
    rows = {r["family"]: r for r in lab_report.summarise([record, short])}
    assert rows["hrm"]["common_train_flops"] == curve[1]["train_flops"]
    assert rows["hrm"]["val_exact_at_common_mean"] == curve[1]["exact_accuracy"]


TUNED = (
    "tasks: [{name: t, recipe: tiny, overrides: [data.path=d, data.gen_num_val=8, data.eval_split=val]}]\n"
    "families: [hrm, gru]\nseeds: [0, 1]\nbudget: {steps: 2}\neval: {segments: [1]}\nparallel: 2\n"
    "tune:\n  trials: 2\n  sampler: grid\n  params: {optim.lr: {choices: [0.001, 0.01]}}\n"
    "  families: {gru: {gru.hidden_size: {choices: [16]}}}\n"
)


def test_tune_searches_every_family_the_same_way_then_runs_the_seeds_at_the_best(tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="Optuna is an optional extra (pip install 'hrm-reasoning[search]')")
    monkeypatch.chdir(tmp_path)
    spec = lab_spec.parse_spec(yaml.safe_load(TUNED), text=TUNED)
    result = lab_grid.run_compare(spec, tmp_path / "out", log=lambda _: None)
    assert not result.failed and len(result.records) == 4  # parallel: 2 runs two trials side by side in one folder
    for family in ("hrm", "gru"):
        trials = json.loads((tmp_path / "out" / "tune" / f"{family}__t" / "trials.json").read_text())
        assert len(trials["trials"]) == 2  # the same trial budget for each family
        best = trials["best"]["overrides"]
        for record in (r for r in result.records if r["family"] == family):
            assert record["tuned"]["trials"] == 2 and record["tuned"]["overrides"] == best
            assert set(best) <= set(record["overrides"])  # the seeds run at the family's best
    gru = next(r for r in result.records if r["family"] == "gru")
    assert "gru.hidden_size=16" in gru["tuned"]["overrides"]  # the family's own knob was searched
    assert "Tuned on validation" in (tmp_path / "out" / study_dir.SUMMARY_MD).read_text()
    # A rerun continues the finished searches (nothing left) and skips the finished cells.
    again = lab_grid.run_compare(
        lab_spec.parse_spec(yaml.safe_load(TUNED), text=TUNED), tmp_path / "out", log=lambda _: None
    )
    assert again.ran == [] and len(again.skipped) == 4


def test_a_bad_tune_block_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="Optuna is an optional extra (pip install 'hrm-reasoning[search]')")
    monkeypatch.chdir(tmp_path)
    for text, message in [
        (GOOD + "tune: {trials: 2, params: {optim.lrr: {choices: [1]}}}\n", "optim.lrr"),
        (GOOD + "tune: {params: {optim.lr: {choices: [0.1]}}}\n", "missing 'trials'"),
        (GOOD + "tune: {trials: 2, families: {trm: {}}}\n", "trm not in families"),
        (GOOD + "tune: {trials: 2, colour: red}\n", "unknown key(s) colour"),
    ]:
        spec = lab_spec.parse_spec(yaml.safe_load(text), text=text)
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            lab_grid.run_compare(spec, tmp_path / "out", log=lambda _: None)
        assert not (tmp_path / "out").exists()


def test_check_lists_the_cells_and_the_searches_and_refuses_a_bad_tune_block(tmp_path, capsys):
    pytest.importorskip("optuna", reason="Optuna is an optional extra (pip install 'hrm-reasoning[search]')")
    good = write_spec(tmp_path / "good.yaml", GOOD + "tune: {trials: 3, params: {optim.lr: {choices: [0.001]}}}\n")
    assert main(["compare", str(good), "--check"]) == 0
    out = capsys.readouterr().out
    assert "1 cells" in out and "1 searches (family x task) of 3 trial(s) each" in out and "hrm__tiny__s0" in out
    bad = write_spec(tmp_path / "bad.yaml", GOOD + "tune: {trials: 3, params: {optim.lrr: {choices: [1]}}}\n")
    assert main(["compare", str(bad), "--check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "optim.lrr" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "good.yaml"]


def test_the_summary_tabulates_test_accuracy_at_m_max_at_16_segments_and_with_early_exit():
    base = {
        "family": "hrm", "model": "hrm", "task": "t", "parameters": {"trunk": 10}, "flops_per_step": 1,
        "steps": 4, "train_flops": 4, "wall_s": 60.0, "token_accuracy": 0.9, "mean_segments": 3.0,
    }  # fmt: skip
    records = [
        {**base, "cell": f"c{i}", "exact_accuracy": acc, "early_exit": {"exact_accuracy": acc / 2},
         "scaling": [{"segments": 4, "exact_accuracy": acc}, {"segments": 16, "exact_accuracy": deep}]}
        for i, (acc, deep) in enumerate([(0.2, 0.4), (0.4, 0.6)])
    ]  # fmt: skip
    (row,) = lab_report.summarise(records)
    assert row["exact_mean"] == pytest.approx(0.3) and row["exact_at_16_mean"] == pytest.approx(0.5)
    assert row["early_exit_exact_mean"] == pytest.approx(0.15)
    table = lab_report.format_markdown([row])
    assert "| 50.0 | 15.0 |" in table and "exact % at 16 seg." in table
    header, rule, line = table.splitlines()[:3]
    assert header.count("|") == rule.count("|") == line.count("|")  # every column filled
    (without,) = lab_report.summarise([{**records[0], "scaling": [], "early_exit": None}])
    assert without["exact_at_16_mean"] is None and without["early_exit_exact_mean"] is None
