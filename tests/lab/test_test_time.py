"""``hrm compare --test-time DIR``: depth x breadth over a comparison's cells (``hrm.lab.test_time``)."""

from __future__ import annotations

import json

import pytest
import yaml

from hrm.cli import main
from hrm.errors import UserError
from hrm.evaluation import runner
from hrm.evaluation.depth_breadth import DepthBreadthOptions
from hrm.lab import grid as lab_grid
from hrm.lab import spec as lab_spec
from hrm.lab import test_time as lab_tt
from hrm.view.comparison import comparison_page

SPEC = (
    "tasks: [tiny]\n"
    "families: [hrm, {name: single, model: transformer}]\n"
    "seeds: [0, 1]\nbudget: {steps: 2}\neval: {segments: [1]}\n"
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("tt")
    spec = lab_spec.parse_spec(yaml.safe_load(SPEC), text=SPEC)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # the tiny recipe generates its data under the working directory
        lab_grid.run_compare(spec, root / "out", log=lambda _: None)
    return root


def test_every_cell_is_swept_summarised_and_reused(study, monkeypatch):
    monkeypatch.chdir(study)
    out = study / "out"
    options = DepthBreadthOptions(starts=[1, 2], depth=4, choose=["single", "halt", "vote", "oracle"], limit=6)
    files = lab_tt.run_study_test_time(out, options, families=["hrm"], progress=False, log=lambda _: None)
    assert [f.name for f in files] == ["test_time.md", "test_time.json", "test_time.png"]
    summary = json.loads((out / "test_time.json").read_text())
    rows = summary["rows"]
    assert {r["family"] for r in rows} == {"hrm"} and all(r["seeds"] == 2 for r in rows)
    labels = {r["label"] for r in rows}
    assert "single" in labels and "vote x 2 starts" in labels and any(r["oracle"] for r in rows)
    for r in rows:
        assert r["depth"] == 4 and len(r["exact_mean"]) == len(r["depths"]) == len(r["flops_per_puzzle"])
        assert 0 <= r["exact_at_depth_mean"] <= 1 and r["exact_at_depth_ci95"] is not None  # two seeds
    # The mean over seeds is the mean of the cells' own curves.
    cells = [
        json.loads((out / "test_time" / c / "depth_breadth.json").read_text())
        for c in ("hrm__tiny__s0", "hrm__tiny__s1")
    ]
    single = next(r for r in rows if r["label"] == "single")
    assert single["exact_mean"][-1] == pytest.approx(sum(c["curves"][0]["exact"][-1] for c in cells) / 2)
    assert "| hrm | tiny | 2 | single |" in (out / "test_time.md").read_text()
    page = comparison_page(out, limit=10, start=0)  # `hrm view DIR` shows the table and the plot
    assert "| hrm | tiny | 2 | single |" in page["markdown"]
    assert "test_time.png" in [plot["name"] for plot in page["plots"]]

    def refuse(*_a, **_k):
        raise AssertionError("a finished cell was evaluated again")

    monkeypatch.setattr(runner, "run_evaluation", refuse)
    lab_tt.run_study_test_time(out, options, families=["hrm"], progress=False, log=lambda _: None)  # reused
    with pytest.raises(AssertionError, match="evaluated again"):  # other options: run again
        lab_tt.run_study_test_time(
            out, DepthBreadthOptions(depth=3, limit=6), families=["hrm"], progress=False, log=lambda _: None
        )


def test_a_family_without_state_is_refused_before_anything_runs(study, monkeypatch):
    monkeypatch.chdir(study)
    out = study / "out"
    before = sorted(p.name for p in (out / "test_time").glob("*")) if (out / "test_time").exists() else []
    with pytest.raises(UserError, match=r"cell single__tiny__s0: .*no recurrent state"):
        lab_tt.run_study_test_time(out, DepthBreadthOptions(starts=[2], depth=2), progress=False, log=lambda _: None)
    after = sorted(p.name for p in (out / "test_time").glob("*")) if (out / "test_time").exists() else []
    assert after == before
    with pytest.raises(UserError, match="no finished cell of that family"):
        lab_tt.run_study_test_time(out, DepthBreadthOptions(depth=2), families=["nope"], log=lambda _: None)


def test_cli_errors_are_one_line(study, capsys):
    assert main(["compare", "--test-time", str(study / "out")]) == 2
    assert "needs --depth" in capsys.readouterr().err
    assert main(["compare", "--test-time", str(study / "nothing"), "--depth", "2"]) == 2
    assert "not a comparison directory" in capsys.readouterr().err
    assert main(["compare", "runs/compare/smoke.yaml", "--depth", "2"]) == 2
    assert "go with --test-time" in capsys.readouterr().err
