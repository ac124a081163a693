"""Participation ratio: the formula on known spectra, the streaming covariance, and the trained/untrained
comparison on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrm.analysis.dimensionality import (
    CovarianceAccumulator,
    compare_trained_untrained,
    format_report,
    measure_dimensionality,
    participation_ratio,
    participation_ratio_from_eigenvalues,
    plot_report,
    untrained_like,
)
from hrm.analysis.examples import load_examples
from hrm.checkpoints import load_checkpoint


def test_pr_of_known_spectra():
    assert participation_ratio_from_eigenvalues([1, 1, 1, 1]) == pytest.approx(4)
    assert participation_ratio_from_eigenvalues([5, 0, 0]) == pytest.approx(1)
    assert participation_ratio_from_eigenvalues([2, 1]) == pytest.approx(9 / 5)
    assert participation_ratio_from_eigenvalues([0, 0]) == 0.0
    assert participation_ratio_from_eigenvalues([1, 1, -1e-12]) == pytest.approx(2)  # round-off clipped


def test_pr_of_samples():
    rng = np.random.default_rng(0)
    iso = rng.standard_normal((20000, 8))
    assert participation_ratio(iso) == pytest.approx(8, rel=0.02)
    line = np.outer(rng.standard_normal(500), rng.standard_normal(8)) + 3.0  # one direction, shifted
    assert participation_ratio(line) == pytest.approx(1, abs=1e-6)
    # Fewer samples than dimensions goes through the Gram matrix: the same non-zero spectrum.
    wide = rng.standard_normal((5, 40))
    centred = wide - wide.mean(0)
    expected = participation_ratio_from_eigenvalues(np.linalg.eigvalsh(centred.T @ centred))
    assert participation_ratio(wide) == pytest.approx(expected)
    assert participation_ratio(wide[:1]) == 0.0


def test_streaming_covariance_equals_batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    acc = CovarianceAccumulator(6)
    for chunk in np.array_split(x, 7):
        acc.add(torch.as_tensor(chunk))
    assert acc.count == 300
    assert acc.participation_ratio() == pytest.approx(participation_ratio(x), rel=1e-9)


def test_measure_on_tiny_model(sudoku4_ckpt, sudoku4_data):
    model = load_checkpoint(sudoku4_ckpt).model
    ex = load_examples(sudoku4_data, "test", num=10, seed=0)
    res = measure_dimensionality(model, ex.inputs, ex.puzzle_identifiers, num_segments=3, batch_size=4)
    D = model.config.hidden_size
    assert 1.0 <= res.pr_high <= D and 1.0 <= res.pr_low <= D
    assert res.num_samples == 10 * 3 * 16 and res.sample_dim == D
    assert [c[0] for c in res.curve] == [1, 2, 4, 8, 10]
    assert res.curve[-1][1:] == (res.pr_high, res.pr_low)
    seq = measure_dimensionality(model, ex.inputs, ex.puzzle_identifiers, num_segments=3, sample="sequence")
    assert seq.sample_dim == 16 * D and seq.num_samples == 30 and seq.pr_high <= 29 + 1e-6
    with pytest.raises(ValueError, match="sample"):
        measure_dimensionality(model, ex.inputs, ex.puzzle_identifiers, sample="bogus")


def test_trained_vs_untrained(sudoku4_ckpt, sudoku4_data, tmp_path):
    model = load_checkpoint(sudoku4_ckpt).model
    ex = load_examples(sudoku4_data, "test", num=6, seed=3)
    state = torch.random.get_rng_state()
    report = compare_trained_untrained(model, ex.inputs, ex.puzzle_identifiers, num_segments=2, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # the control's init does not touch the global RNG
    assert report.trained.label == "trained" and report.untrained.label == "untrained"
    # The control is HRM(config) seeded with `seed`: comparing it with itself gives identical numbers.
    twin = untrained_like(model, seed=5)
    again = compare_trained_untrained(twin, ex.inputs, ex.puzzle_identifiers, num_segments=2, seed=5)
    assert again.trained.pr_high == pytest.approx(again.untrained.pr_high)
    assert again.untrained.pr_high == pytest.approx(report.untrained.pr_high)
    text = format_report(report)
    assert "PR(z_H)" in text and "trained" in text and "untrained" in text and "89.95" in text
    d = report.to_dict()
    assert d["trained"]["ratio"] == pytest.approx(report.trained.pr_high / report.trained.pr_low)
    path = plot_report(report, tmp_path / "pr.png")
    assert path.stat().st_size > 5000


def test_load_examples_is_seeded_and_maps_ignore_labels(sudoku4_data):
    a = load_examples(sudoku4_data, "test", num=5, seed=0)
    b = load_examples(sudoku4_data / "test", num=5, seed=0)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(a) == 5 and (np.diff(a.indices) > 0).all()
    assert len(load_examples(sudoku4_data, "test", num=None)) == 24
    assert a.labels.min() >= 2 and (a.puzzle_identifiers == 0).all()
