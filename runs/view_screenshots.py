"""Make the ``hrm view`` screenshots in docs/ (docs/view-*.png) from real inputs.

    python runs/view_screenshots.py --work /tmp/view-shots [--run RUN_DIR] [--data-root ../shared/data]

1. an evaluation of the shipped 6×6 Sudoku checkpoint on freshly generated 6×6 puzzles with only 14 givens
   (harder than the 20 it was trained on, so some answers change over segments and some stay wrong), with
   per-sample early exit and ``--save-predictions``;
2. an ARC dataset built from the first 12 ARC-AGI-1 evaluation tasks of the shared data (8 augmentations);
3. a run directory (``--run``, default: ``hrm train tiny`` for 200 steps, a few minutes on 2 shared cores).

Each page is written with ``hrm view`` and photographed in headless Chromium (the system's, via Playwright).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SHIPPED = REPO / "src" / "hrm" / "assets" / "pretrained" / "sudoku-6x6" / "step-2305"


def hrm(*args: str | Path) -> None:
    cmd = [sys.executable, "-m", "hrm", *map(str, args)]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def shoot(browser, html: Path, out: Path, prepare, clip_to: str, width: int = 1200) -> None:
    from PIL import Image

    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    prepare(page)
    box = page.locator(clip_to).bounding_box()
    raw = out.with_suffix(".raw.png")
    page.screenshot(
        path=str(raw), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": box["y"] + box["height"] + 8}
    )
    page.close()
    if errors:
        raise SystemExit(f"{html}: console errors {errors}")
    # A 64-colour palette keeps the PNGs small (flat UI colours survive it).
    Image.open(raw).convert("RGB").quantize(colors=64).save(out, optimize=True)
    raw.unlink()
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/view-shots"))
    parser.add_argument("--run", type=Path, help="run directory to show (default: train the tiny recipe longer)")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)

    s6 = work / "sudoku-6x6-g14"
    if not s6.is_dir():
        hrm("data", "sudoku", "--size", 6, "--givens", 14, "--num-train", 100, "--num-test", 500, "--seed", 3,
            "--out", s6, "--no-progress")  # fmt: skip
    ev = work / "eval"
    if not (ev / "segment_predictions.npz").is_file():
        hrm("evaluate", "--checkpoint", SHIPPED, "--data", s6, "--early-exit", "--save-predictions", 200,
            "--out", ev, "--no-progress")  # fmt: skip
    tasks = work / "arc12.json"
    if not tasks.is_file():
        source = json.loads((args.data_root / "arc-agi-1" / "evaluation.json").read_text())
        tasks.write_text(json.dumps({k: source[k] for k in sorted(source)[:12]}))
    arc = work / "arc12"
    if not arc.is_dir():
        hrm("data", "arc", "--evaluation", tasks, "--num-aug", 8, "--out", arc, "--no-progress")
    run = args.run
    if run is None:
        run = work / "tiny-run"
        if not run.is_dir():
            hrm("train", "tiny", "--out", run, "schedule.epochs=50", "schedule.eval_interval=10",
                f"data.path={work / 'sudoku-4x4-tiny'}")  # fmt: skip

    pages = {}
    for name, path in (("evaluation", ev), ("arc-dataset", arc), ("run", run)):
        pages[name] = work / f"{name}.html"
        hrm("view", path, "--out", pages[name])

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium)

        def wrong_only(page):
            page.check("#wrong-only")
            page.locator(".card.item").first.scroll_into_view_if_needed()

        shoot(browser, pages["evaluation"], DOCS / "view-evaluation.png", wrong_only, ".card.item >> nth=1")
        shoot(
            browser,
            pages["arc-dataset"],
            DOCS / "view-arc-dataset.png",
            lambda page: page.select_option("#aug", "original"),
            ".card.item >> nth=7",
        )
        shoot(browser, pages["run"], DOCS / "view-run.png", lambda page: None, "#checkpoints")
        browser.close()


if __name__ == "__main__":
    main()
