"""ARC: inverse augmentation against the data package's forward transforms; voting over a built dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrm.data.arc import ArcVariants, decode_grid, encode_grid, variant_name
from hrm.data.augment import arc_augment, random_colour_maps
from hrm.data.format import load_identifiers, load_split
from hrm.data.sampling import iter_eval_batches
from hrm.evaluation.arc_vote import ArcRowVoter, make_view, views_from_identifiers, views_from_records
from hrm.evaluation.batches import _to_eval_batch
from hrm.evaluation.evaluate import SegmentOutputs
from tests.evaluation.helpers import ARC_TASKS, build_arc


@pytest.mark.parametrize("tid", range(8))
def test_invert_undoes_every_augmentation(tid):
    rng = np.random.default_rng(tid)
    grid = rng.integers(0, 10, size=(3, 5)).astype(np.uint8)
    for cmap in random_colour_maps(rng, 4):
        canvas = encode_grid(arc_augment(grid, tid, cmap))  # what the model sees and should predict
        view = make_view("t", tid, cmap)
        assert np.array_equal(view.invert(decode_grid(canvas)), grid)
        # Through the identifier name too (the reference's route).
        lookup = views_from_identifiers(["<blank>", variant_name("t", tid, cmap)])
        assert lookup(1, None).task_id == "t"
        assert np.array_equal(lookup(1, None).invert(decode_grid(canvas)), grid)
        assert lookup(0, None) is None
    assert make_view("t", 0, np.arange(10)).identity and not make_view("t", tid or 1, np.arange(10)).identity


@pytest.fixture(scope="module")
def arc_root(tmp_path_factory):
    return build_arc(tmp_path_factory.mktemp("arc") / "arc")


def _feed(root, lookup, predict, cap=2):
    """Run ArcRowVoter over the test split with ``predict(labels_row, pid) -> tokens`` as the 'model'."""
    split = load_split(root / "test")
    voter = ArcRowVoter(lookup)
    for raw in iter_eval_batches(split, 5):
        batch = _to_eval_batch(raw, torch.device("cpu"))
        labels = batch.labels.numpy()
        preds = np.stack(
            [predict(np.where(lab < 0, 0, lab), int(pid)) for lab, pid in zip(labels, batch.puzzle_identifiers.numpy())]
        )
        n = batch.size
        outputs = SegmentOutputs(
            predictions=torch.as_tensor(preds),
            q_halt_logits=torch.zeros(n),
            q_continue_logits=torch.zeros(n),
            segments=torch.full((n,), cap),
        )
        voter(cap, batch, outputs)
    return voter.voter(cap)


def test_oracle_predictions_vote_to_the_truth(arc_root):
    for lookup in (views_from_records(ArcVariants.load(arc_root)), views_from_identifiers(load_identifiers(arc_root))):
        voter = _feed(arc_root, lookup, lambda lab, pid: lab)
        score = voter.score((1, 2))
        assert score.num_tasks == 2 and score.num_test_inputs == 3
        assert score.pass_at == {1: 1.0, 2: 1.0}
        # Each test input collected one vote per view (original + 3 variants), all for the same de-augmented grid.
        for entries in voter.tasks.values():
            for e in entries.values():
                assert len(e.candidates) == 1 and next(iter(e.candidates.values())).votes == 4
        sub = voter.submission()
        assert sub["aaaa0001"][0]["attempt_1"] == ARC_TASKS["aaaa0001"]["test"][0]["output"]
        assert sub["aaaa0001"][1]["attempt_1"] == ARC_TASKS["aaaa0001"]["test"][1]["output"]
        assert sub["bbbb0002"][0]["attempt_1"] == ARC_TASKS["bbbb0002"]["test"][0]["output"]


def test_wrong_minority_loses_and_one_wrong_input_fails_the_task(arc_root):
    variants = ArcVariants.load(arc_root)
    lookup = views_from_records(variants)
    wrong = encode_grid(np.zeros((1, 1), np.uint8))

    def predict(lab, pid):
        if pid == 0:
            return lab  # padding row
        task = variants.task_id(pid)
        tid, cmap = variants.transform(pid)
        is_original = tid == 0 and np.all(cmap == np.arange(10))
        if task == "bbbb0002" and not is_original:
            return wrong  # 3 wrong views outvote the right original: pass@1 fails, pass@2 holds
        if task == "aaaa0001" and decode_grid(lab).shape in ((1, 2), (2, 1)):
            return wrong  # second test input always wrong: the whole task fails at every K
        return lab

    score = _feed(arc_root, lookup, predict).score((1, 2, 10))
    assert score.solved == {1: [], 2: ["bbbb0002"], 10: ["bbbb0002"]}
    assert score.pass_at == {1: 0.0, 2: 0.5, 10: 0.5}
