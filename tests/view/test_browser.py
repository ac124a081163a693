"""``hrm view`` pages in a real browser: headless Chromium (the system's, never a downloaded one) via Playwright.

Each page must load with no console errors, draw the right cell values, and page, search and filter. Chromium
comes from the distribution (``.ci/run`` installs it when missing); without it these tests fail under CI
(``CI=true``) and are skipped elsewhere. Set ``HRM_CHROMIUM`` to use another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm import view
from hrm.data.arc import ARC_PALETTE
from hrm.data.format import load_split
from hrm.evaluation.segment_trace import SEGMENTS_FILE, load_segment_predictions
from tests.view import helpers

ARC_RGB = [f"rgb({int(c[1:3], 16)}, {int(c[3:5], 16)}, {int(c[5:7], 16)})" for c in ARC_PALETTE]
TIMEOUT_MS = 30_000  # generous: the machine may be loaded; every wait is for a condition, never a sleep


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required in CI: .ci/run installs Chromium from the distribution's packages)")
    pytest.skip(reason)


def find_chromium() -> str | None:
    explicit = os.environ.get("HRM_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    executable = find_chromium()
    if executable is None:
        _unavailable("no Chromium found (apt-get install chromium, or set HRM_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True)
        try:
            yield b
        finally:
            b.close()


class Page:
    """One loaded page and the console errors / uncaught exceptions it produced."""

    def __init__(self, browser, url: str):
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']")

    def values(self, grid_locator) -> list[int]:
        return grid_locator.locator(".c").evaluate_all("cells => cells.map(c => Number(c.dataset.v))")

    def close(self):
        self.page.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    base = tmp_path_factory.mktemp("view-browser")
    data = helpers.sudoku_dataset(base / "s4")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread avoids oversubscribing a shared CPU
    try:
        evaluation = helpers.evaluation_dir(base, data, save=20, early_exit=True)
    finally:
        torch.set_num_threads(before)
    built = {
        "dataset": data,
        "evaluation": evaluation,
        "run": helpers.run_dir(base),
        "comparison": helpers.comparison_dir(base),
    }
    html = {}
    for kind, path in built.items():
        html[kind] = view.write_html(view.render_html(view.build_page(path)), base / f"{kind}.html")
    return built, html


@pytest.fixture
def open_page(browser):
    opened: list[Page] = []

    def _open(path_or_url) -> Page:
        url = path_or_url if isinstance(path_or_url, str) else Path(path_or_url).as_uri()
        page = Page(browser, url)
        opened.append(page)
        return page

    yield _open
    for page in opened:
        page.close()


def test_dataset_page_grids_paging_search_and_filters(pages, open_page):
    from playwright.sync_api import expect

    built, html = pages
    p = open_page(html["dataset"])
    page = p.page
    train = load_split(built["dataset"] / "train").set()
    first = page.locator(".card.item").first
    assert first.get_attribute("data-index") == "0"
    assert p.values(first.locator(".grid[data-role=input]")) == (train["inputs"][0].astype(int) - 1).tolist()
    assert p.values(first.locator(".grid[data-role=label]")) == (train["labels"][0].astype(int) - 1).tolist()
    givens = int((train["inputs"][0] > 1).sum())
    expect(first.locator(".grid[data-role=input] .c.given")).to_have_count(givens)

    info = page.locator(".pageinfo")
    page.select_option("#aug", "original")
    expect(info).to_have_attribute("data-matching", "6")
    page.select_option("#aug", "augmented")
    expect(info).to_have_attribute("data-matching", "12")
    page.select_option("#aug", "all")

    page.select_option("#split", "test")
    test = load_split(built["dataset"] / "test").set()
    expect(page.locator("#shown")).to_have_attribute("data-embedded", "30")
    expect(info).to_have_attribute("data-page", "1")
    page.click("button.next")
    expect(info).to_have_attribute("data-page", "2")
    expect(page.locator(".card.item")).to_have_count(6)
    card = page.locator(".card.item").first
    expect(card).to_have_attribute("data-index", "24")
    assert p.values(card.locator(".grid[data-role=input]")) == (test["inputs"][24].astype(int) - 1).tolist()
    page.click("button.prev")
    expect(info).to_have_attribute("data-page", "1")

    page.fill("#search", "17")
    expect(page.locator(".card.item")).to_have_count(1)
    expect(page.locator(".card.item").first).to_have_attribute("data-index", "17")
    page.fill("#search", "no such puzzle")
    expect(info).to_have_text("nothing matches")
    assert p.errors == []


def test_arc_page_uses_the_ten_arc_colours(arc_eval_dir, tmp_path, open_page):
    root = arc_eval_dir.parent / "arc"
    out = view.write_html(view.render_html(view.build_page(root)), tmp_path / "arc.html")
    p = open_page(out)
    page = p.page
    page.select_option("#split", "test")
    grid = page.locator(".card.item").first.locator(".grid[data-role=label]")
    values = p.values(grid)
    colours = grid.locator(".c").evaluate_all("cells => cells.map(c => getComputedStyle(c).backgroundColor)")
    assert len(values) == len(colours) > 0
    assert colours == [ARC_RGB[v] for v in values]
    assert ARC_RGB[1] == "rgb(0, 116, 217)" and ARC_RGB[9] == "rgb(135, 12, 37)"  # the standard ARC blue and maroon
    test = load_split(root / "test").set()
    assert values == view.display_grid({"style": "arc"}, test["labels"][0]).reshape(-1).tolist()
    page.fill("#search", "bbbb0002")
    n = page.locator(".pageinfo").get_attribute("data-matching")
    assert int(n) == sum(1 for it in view.build_page(root)["splits"][1]["items"] if it["task"] == "bbbb0002")
    assert p.errors == []


def test_custom_dataset_page_shows_the_alphabet(tmp_path, open_page):
    root = helpers.custom_dataset(tmp_path)
    p = open_page(view.write_html(view.render_html(view.build_page(root)), tmp_path / "custom.html"))
    grid = p.page.locator(".card.item").first.locator(".grid[data-role=input]")
    assert grid.locator(".c").all_inner_texts() == ["1", "2", "+", "3", "=", "·"]
    assert p.errors == []


def test_evaluation_page_segments_wrong_cells_and_filters(pages, open_page):
    from playwright.sync_api import expect

    built, html = pages
    meta, arrays = load_segment_predictions(built["evaluation"] / SEGMENTS_FILE)
    assert meta["early_exit"]
    p = open_page(html["evaluation"])
    page = p.page
    expect(page.locator("#metrics tbody tr")).to_have_count(3)
    cards = page.locator(".card.item")
    expect(cards).to_have_count(8)
    for r in range(3):
        card = cards.nth(r)
        assert card.get_attribute("data-index") == str(int(arrays["index"][r]))
        for s in range(4):
            pred = arrays["predictions"][r, s].astype(int)
            grid = card.locator(f".grid[data-role=segment-{s + 1}]")
            assert p.values(grid) == np.clip(pred - 1, 0, 4).tolist()
            wrong = int((pred != arrays["labels"][r]).sum())
            expect(grid.locator(".c.wrong")).to_have_count(wrong)
        halts = np.flatnonzero(arrays["q_halt_logits"][r] > arrays["q_continue_logits"][r])
        used = int(halts[0]) + 1 if halts.size else 4
        assert card.get_attribute("data-used") == str(used)
        expect(card.locator("figure.final .grid")).to_have_attribute("data-role", f"segment-{used}")

    halts = arrays["q_halt_logits"] > arrays["q_continue_logits"]
    used = np.where(halts.any(1), halts.argmax(1) + 1, 4)
    final = arrays["predictions"][np.arange(len(used)), used - 1]
    solved = (final == arrays["labels"]).all(1)
    info = page.locator(".pageinfo")
    page.check("#wrong-only")
    expect(info).to_have_attribute("data-matching", str(int((~solved).sum())))
    page.uncheck("#wrong-only")
    assert len(set(used.tolist())) > 1  # the filter below separates something
    for m in sorted(set(used.tolist())):
        page.select_option("#segments", str(m))
        expect(info).to_have_attribute("data-matching", str(int((used == m).sum())))
    page.select_option("#segments", "all")
    expect(info).to_have_attribute("data-matching", "20")
    assert p.errors == []


def test_arc_evaluation_page_votes(arc_eval_dir, tmp_path, open_page):
    from playwright.sync_api import expect

    out = view.write_html(view.render_html(view.build_page(arc_eval_dir)), tmp_path / "arc-eval.html")
    p = open_page(out)
    page = p.page
    expect(page.locator(".card.task")).to_have_count(2)
    expect(page.locator("#pass-at")).to_contain_text("pass@1")
    expect(page.locator(".card.task").first.locator(".grid[data-role=solution]").first).to_be_visible()
    page.fill("#task-search", "bbbb")
    expect(page.locator(".card.task")).to_have_count(1)
    assert p.errors == []


def test_run_page_draws_curves(pages, open_page):
    from playwright.sync_api import expect

    built, html = pages
    p = open_page(html["run"])
    page = p.page
    expect(page.locator("#charts svg.chart")).to_have_count(4)  # LM loss, exact, token accuracy, lr
    loss = page.locator("svg.chart[data-title='LM loss'] polyline[data-name=train]")
    assert len(loss.get_attribute("points").split()) == 60
    expect(page.locator("#checkpoints tbody tr")).to_have_count(1)
    expect(page.locator("#config")).to_contain_text('"recipe": "tiny"')
    assert p.errors == []


def test_comparison_page_table_filter_and_plots(pages, open_page):
    from playwright.sync_api import expect

    built, html = pages
    p = open_page(html["comparison"])
    page = p.page
    expect(page.locator("#records tbody tr")).to_have_count(4)
    page.fill("#search", "trm")
    expect(page.locator("#records tbody tr")).to_have_count(2)
    expect(page.locator("#summary tbody tr")).to_have_count(2)
    assert page.locator("img.plot").evaluate("img => img.complete && img.naturalWidth") == 30
    assert p.errors == []


def test_served_page_loads_without_errors(pages, open_page):
    from playwright.sync_api import expect

    built, html = pages
    with view.page_server(Path(html["dataset"]).read_text(), port=0) as server:
        p = open_page(f"http://127.0.0.1:{server.server_address[1]}/")
        expect(p.page.locator(".card.item").first).to_be_visible()
        assert p.errors == []
