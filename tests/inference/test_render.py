"""Text and pictures of solve results: side-by-side grids, traces, GIF frames and PNG files."""

from __future__ import annotations

import pytest
from PIL import Image

from hrm.inference.render import format_result, format_trace, grid_lines, save_gif, save_pngs, side_by_side
from hrm.inference.solve import solve
from tests.inference import helpers
from tests.inference.helpers import SUDOKU_6


@pytest.fixture(scope="module")
def traced(sudoku_ckpt):
    return solve(str(sudoku_ckpt), SUDOKU_6, trace=True, device="cpu")


def test_text_report(traced):
    text = format_result(traced)
    assert "6×6 Sudoku with 12 givens" in text
    assert "input" in text and f"answer (segment {traced.segments})" in text
    assert "valid:" in text and "segments:" in text and "confidence:" in text and "sigmoid of q_halt" in text
    first = text.splitlines()[3]
    assert first.startswith(". . . | . 4 3")  # the input's first row, with the answer beside it
    assert "\x1b[" not in text and "\x1b[" in format_result(traced, color=True)


def test_sudoku_grid_lines_and_side_by_side():
    lines = grid_lines("sudoku", helpers.load_digits(SUDOKU_6, 6))
    assert lines[0] == ". . . | . 4 3" and lines[2] == "------+------" and len(lines) == 8
    joined = side_by_side([["ab", "c"], ["x"]], ["one", "two"])
    assert joined.splitlines() == ["one    two", "ab     x", "c"]


def test_trace_text(traced):
    text = format_trace(traced)
    for seg in traced.trace:
        assert f"#{seg.segment} p={seg.confidence:.2f} Δ{seg.changed}" in text


def test_gif_has_one_frame_per_segment(traced, tmp_path):
    path = save_gif(traced, tmp_path / "sub" / "trace.gif")
    assert path.stat().st_size > 2000
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == traced.segments
        size = gif.size
    assert size[0] > 400 and size[1] > 200


def test_pngs_per_segment_and_overview(traced, tmp_path):
    paths = save_pngs(traced, tmp_path / "png")
    assert [p.name for p in paths] == [f"segment-{m:02d}.png" for m in range(1, traced.segments + 1)] + ["overview.png"]
    sizes = set()
    for p in paths[:-1]:
        with Image.open(p) as img:
            sizes.add(img.size)
        assert p.stat().st_size > 2000
    assert len(sizes) == 1  # frames share one size, so they animate cleanly


def test_maze_and_arc_pictures(maze_ckpt, arc_ckpt, tmp_path):
    maze_file = tmp_path / "m.txt"
    maze_file.write_text(helpers.maze_text()[0])
    result = solve(str(maze_ckpt), str(maze_file), max_segments=2, early_exit=False, trace=True, device="cpu")
    with Image.open(save_gif(result, tmp_path / "maze.gif")) as gif:
        assert gif.n_frames == 2
    arc_result = solve(str(arc_ckpt), str(helpers.write_arc_task(tmp_path / "abc123.json")), trace=True, device="cpu")
    paths = save_pngs(arc_result, tmp_path / "arc")
    assert len(paths) == arc_result.segments + 1 and all(p.stat().st_size > 1000 for p in paths)
    assert "ARC task abc123" in format_result(arc_result)
