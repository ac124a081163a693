"""Test-time fine-tuning of an ARC checkpoint on a task it never saw (``hrm.inference.finetune``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrm.checkpoints import open_checkpoint
from hrm.errors import UserError
from hrm.inference.finetune import (
    FinetuneOptions,
    copy_with_new_rows,
    finetune_checkpoint_task,
    finetune_task,
    finetune_tasks,
    read_tasks,
)
from tests.inference import helpers

UNSEEN = "feed01"  # not among the checkpoint's tasks (helpers.arc_checkpoint trains "abc123")


@pytest.fixture(scope="module")
def arc_model(tmp_path_factory):
    path = helpers.arc_checkpoint(tmp_path_factory.mktemp("ft") / "step-7", halt_max_steps=2)
    return path, open_checkpoint(path, torch.device("cpu")).model


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / f"{UNSEEN}.json"
    path.write_text(json.dumps(helpers.ARC_TASK))
    return path


def _task(path):
    return read_tasks(path)[0]


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_copy_has_small_table_at_the_mean_and_leaves_the_original(arc_model):
    _, model = arc_model
    before = _state(model)
    tuned = copy_with_new_rows(model, 3, "mean")
    table = tuned.puzzle_emb.weight
    assert table.shape == (4, model.puzzle_emb.weight.shape[1])
    assert torch.equal(table[0], model.puzzle_emb.weight[0])  # the blank row is kept
    for row in table[1:]:
        assert torch.allclose(row, model.puzzle_emb.weight[1:].mean(0))
    assert tuned.config.num_puzzle_identifiers == 4
    zeros = copy_with_new_rows(model, 2, "zeros")
    assert not zeros.puzzle_emb.weight[1:].any()
    after = _state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_rows_only_trains_rows_and_nothing_else(arc_model, task_file):
    _, model = arc_model
    before = _state(model)
    result = finetune_task(model, _task(task_file), FinetuneOptions(steps=3, views=2, lr=0.05))
    tuned = result.model
    assert result.steps == 3 and len(result.train_losses) == 3 and result.skipped_steps == 0
    assert result.views == 2 and result.demo_rows == 2 * len(helpers.ARC_TASK["train"])
    for name, value in tuned.state_dict().items():
        if "puzzle_emb" not in name:  # every weight of the copy is the original's
            assert torch.equal(value, before[name]), name
    start = model.puzzle_emb.weight[1:].mean(0)
    moved = [not torch.allclose(row, start) for row in tuned.puzzle_emb.weight[1:]]
    assert all(moved)  # every view's row learnt
    assert torch.equal(tuned.puzzle_emb.weight[0], model.puzzle_emb.weight[0])  # the blank never trains
    after = _state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # the original is untouched
    assert all(p.requires_grad for p in model.parameters())


def test_weights_option_learns_the_demonstrations(arc_model, task_file):
    _, model = arc_model
    options = FinetuneOptions(steps=12, views=1, lr=0.05, weights=True, weights_lr=3e-3, translate=False)
    result = finetune_task(model, _task(task_file), options)
    assert result.trained == "puzzle rows + weights"
    # Twelve Adam steps at lr 3e-3 on two demonstrations of a random tiny model: the fit is far from
    # marginal (measured 2.51 -> 0.92, equal in float64 to 1e-6), so fp32 kernel differences cannot flip it.
    assert result.loss_after < result.loss_before - 0.2
    changed = [
        k
        for k, v in result.model.state_dict().items()
        if "puzzle_emb" not in k and not torch.equal(v, _state(model)[k])
    ]
    assert changed


def test_zero_steps_is_the_untrained_baseline_and_runs_are_deterministic(arc_model, task_file):
    _, model = arc_model
    task = _task(task_file)
    base = finetune_task(model, task, FinetuneOptions(steps=0, views=2))
    assert base.train_losses == [] and base.loss_before == base.loss_after
    assert base.pass_at is not None and set(base.pass_at) == {1, 2}
    answer = base.answers[0]
    assert 1 <= len(answer.attempts) <= 2 and sum(answer.votes) <= 2
    assert answer.expected is not None and 0.0 <= answer.cell_accuracy <= 1.0
    one = finetune_task(model, task, FinetuneOptions(steps=2, views=2, seed=3))
    two = finetune_task(model, task, FinetuneOptions(steps=2, views=2, seed=3))
    assert one.train_losses == two.train_losses
    assert torch.equal(one.model.puzzle_emb.weight, two.model.puzzle_emb.weight)
    assert all(np.array_equal(a, b) for a, b in zip(one.answers[0].attempts, two.answers[0].attempts))


def test_unknown_test_output_is_predicted_not_scored(arc_model, tmp_path):
    _, model = arc_model
    task = dict(helpers.ARC_TASK, test=[{"input": [[0, 4], [0, 0]]}])
    path = tmp_path / "x.json"
    path.write_text(json.dumps(task))
    result = finetune_task(model, _task(path), FinetuneOptions(steps=1, views=1))
    assert result.pass_at is None and result.answers[0].rank is None and result.answers[0].cell_accuracy is None
    json.dumps(result.to_dict())  # serialisable


def test_bad_options_and_inputs_are_one_line_errors(arc_model, task_file, tmp_path):
    path, _ = arc_model
    for bad in (
        FinetuneOptions(steps=-1),
        FinetuneOptions(steps=1, views=0),
        FinetuneOptions(steps=1, lr=float("nan")),
    ):
        with pytest.raises(UserError):
            bad.check()
    sudoku = helpers.sudoku_checkpoint(tmp_path / "sudoku" / "step-1")
    with pytest.raises(UserError, match="for ARC checkpoints"):
        finetune_checkpoint_task(sudoku, str(task_file), FinetuneOptions(steps=1), device="cpu")
    no_demos = tmp_path / "empty.json"
    no_demos.write_text(json.dumps({"train": [], "test": helpers.ARC_TASK["test"]}))
    with pytest.raises(UserError):
        finetune_checkpoint_task(path, str(no_demos), FinetuneOptions(steps=1), device="cpu")
    with pytest.raises(UserError, match="no task"):
        read_tasks(task_file, ["nope"])


def test_many_tasks_report_with_and_without(arc_model, tmp_path):
    path, _ = arc_model
    folder = tmp_path / "unseen"
    folder.mkdir()
    for name in ("t1", "t2"):
        (folder / f"{name}.json").write_text(json.dumps(helpers.ARC_TASK))
    report = finetune_tasks(path, folder, FinetuneOptions(steps=1, views=1), device="cpu")
    assert [r.task_id for r in report.tasks] == ["t1", "t2"] and report.baseline is not None
    assert all(r.steps == 0 for r in report.baseline)
    summary = report.summary()
    assert summary["finetuned"]["scored_tasks"] == 2 and summary["baseline"]["scored_tasks"] == 2
    assert "pass@2" in report.format() and "without (0 steps)" in report.format()
    assert json.loads(json.dumps(report.to_dict()))["options"]["steps"] == 1
