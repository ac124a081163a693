"""``hrm view`` on an evaluation with a difficulty breakdown: the page data and, in a browser, its table."""

from __future__ import annotations

import json

import pytest
import torch

from hrm import view
from hrm.data.sudoku import SudokuBuildOptions, build_sudoku_dataset
from hrm.evaluation.runner import EvaluateOptions, run_evaluation
from tests.evaluation.helpers import save_tiny_checkpoint, tiny_model
from tests.view.test_browser import Page, browser  # noqa: F401  (browser: the shared fixture)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    base = tmp_path_factory.mktemp("view-breakdown")
    data = base / "s4"
    build_sudoku_dataset(
        SudokuBuildOptions(
            out=data, size=4, num_train=6, num_test=20, givens=6, test_givens="5-8", seed=3, show_progress=False
        )
    )
    ckpt = save_tiny_checkpoint(base / "run" / "step-1", tiny_model(), data_root=data)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_evaluation(EvaluateOptions(checkpoint=ckpt, out=base / "eval", max_segments="1,4", progress=False))
    finally:
        torch.set_num_threads(before)
    return base / "eval"


def test_page_carries_the_breakdown_of_every_cap(evaluation):
    report = json.loads((evaluation / "eval.json").read_text())
    page = view.build_page(evaluation)
    rows = page["report"]["rows"]
    assert [r["breakdown"] for r in rows] == [r["breakdown"] for r in report["results"]]
    assert rows[-1]["breakdown"]["by"] == "givens" and rows[-1]["breakdown"]["distinct_values"] >= 2


def test_browser_draws_the_breakdown_table(evaluation, browser, tmp_path):  # noqa: F811
    page_data = view.build_page(evaluation)
    html = view.write_html(view.render_html(page_data), tmp_path / "eval.html")
    p = Page(browser, html.as_uri())
    try:
        groups = page_data["report"]["rows"][-1]["breakdown"]["groups"]
        assert p.page.locator("h2", has_text="exact by givens (M=4)").count() == 1
        cells = p.page.locator("#breakdown tbody tr").evaluate_all(
            "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
        )
        assert [c[0] for c in cells] == [str(g["low"]) for g in groups]
        assert [c[1] for c in cells] == [str(g["count"]) for g in groups]
        assert [c[2] for c in cells] == [f"{100 * g['exact_accuracy']:.2f}%" for g in groups]
        assert p.errors == []
    finally:
        p.close()
