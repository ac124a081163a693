"""Show a :class:`~hrm.inference.solve.SolveResult`: text grids side by side, and pictures like the paper's Fig. 7.

Text (:func:`format_result`, :func:`format_trace`): the input beside the answer (and the known solution when the
answer is wrong); with ``color`` (ANSI), changed cells are highlighted and wrong cells red.

Pictures (:func:`render_frames`, :func:`save_gif`, :func:`save_pngs`; matplotlib's Agg canvas, no pyplot, no
display needed), one frame per segment, each showing the input, the answer after that segment and the known
answer if there is one:

* Sudoku: givens black; predicted digits blue when right, red when wrong (grey when the puzzle has several
  solutions and the digit breaks no rule); a yellow cell changed in this segment.
* Maze: walls dark, S green, G red; path cells blue when on a shortest S→G path, orange when not (or through a
  wall); a yellow dot marks a cell changed in this segment.
* ARC: the standard ARC palette (0 black, 1 blue, 2 red, 3 green, 4 yellow, 5 grey, 6 magenta, 7 orange,
  8 azure, 9 maroon); a red × marks a cell that differs from the known output, a white dot a changed cell.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hrm.data import maze, sudoku
from hrm.data.arc import ARC_PALETTE
from hrm.inference.effort import MAX_EFFORT
from hrm.inference.puzzles import KEPT, RIGHT, UNKNOWN, WRONG, Puzzle, cell_status, maze_text
from hrm.inference.solve import SolveResult
from hrm.runtime.files import atomic_path, check_output_dir, check_output_file

SUDOKU_COLOURS = {KEPT: "#000000", RIGHT: "#1f5fbf", WRONG: "#d62728", UNKNOWN: "#6f6f6f"}
MAZE_COLOURS = {
    "wall": "#2b2b2b",
    "open": "#ffffff",
    "start": "#2ca02c",
    "goal": "#d62728",
    "path": "#1f77b4",
    "path_wrong": "#ff7f0e",
    "unknown": "#bbbbbb",
}
CHANGED_COLOUR = "#fff1a8"
RULED_KINDS = ("sudoku", "maze")  # kinds whose rules decide whether an answer solves the puzzle

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ANSI_STATUS = {RIGHT: "\x1b[32m", WRONG: "\x1b[31m"}
_ANSI_CHANGED = "\x1b[1;43;30m"
_ANSI_RESET = "\x1b[0m"


# ---------------------------------------------------------------------------------------------------------------
# Text


def _cell_chars(kind: str, grid: np.ndarray) -> list[list[str]]:
    if kind == "sudoku":
        return [["." if v == 0 else str(int(v)) for v in row] for row in grid]
    if kind == "maze":
        return [list(row) for row in maze_text(grid)]
    return [[str(int(v)) for v in row] for row in grid]


def grid_lines(
    kind: str,
    grid: np.ndarray,
    status: np.ndarray | None = None,
    changed: np.ndarray | None = None,
    color: bool = False,
) -> list[str]:
    """A grid as text rows (Sudoku with box separators); with ``color``, ANSI marks on changed/right/wrong cells."""
    grid = np.asarray(grid)
    if grid.size == 0:
        return ["(no grid)"]
    cells = _cell_chars(kind, grid)
    if color:
        for r, row in enumerate(cells):
            for c, ch in enumerate(row):
                if changed is not None and changed.shape == grid.shape and changed[r, c]:
                    row[c] = f"{_ANSI_CHANGED}{ch}{_ANSI_RESET}"
                elif status is not None and int(status[r, c]) in _ANSI_STATUS:
                    row[c] = f"{_ANSI_STATUS[int(status[r, c])]}{ch}{_ANSI_RESET}"
    if kind != "sudoku":
        return ["".join(row) for row in cells]
    n = grid.shape[0]
    box_rows, box_cols = sudoku.box_shape(n)
    lines = []
    for r, row in enumerate(cells):
        if r and r % box_rows == 0:
            lines.append("-+-".join("-" * (2 * box_cols - 1) for _ in range(n // box_cols)))
        groups = [" ".join(row[c : c + box_cols]) for c in range(0, n, box_cols)]
        lines.append(" | ".join(groups))
    return lines


def visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def side_by_side(blocks: Sequence[list[str]], titles: Sequence[str], gap: int = 4) -> str:
    """Text blocks next to each other, each under its title, padded to equal heights."""
    widths = [max([visible_len(t) for t in block] + [visible_len(title)]) for block, title in zip(blocks, titles)]
    height = max(len(b) for b in blocks)
    rows = ["".join(_pad(title, w) + " " * gap for title, w in zip(titles, widths)).rstrip()]
    for i in range(height):
        parts = [_pad(block[i] if i < len(block) else "", w) for block, w in zip(blocks, widths)]
        rows.append((" " * gap).join(parts).rstrip())
    return "\n".join(rows)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - visible_len(text))


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def format_result(result: SolveResult, color: bool = False) -> str:
    """The human-readable report of ``hrm solve``: grids, validity, segments and confidence."""
    p = result.puzzle
    status = cell_status(p, result.answer, result.reference)
    blocks = [grid_lines(result.kind, p.grid), grid_lines(result.kind, result.answer, status, color=color)]
    # A Sudoku or maze answer that breaks a rule is labelled on the grid itself, so it is never read as a solution.
    ruled = result.kind in RULED_KINDS
    titles = ["input", f"answer (segment {result.segments})" + ("" if result.valid or not ruled else ": NOT SOLVED")]
    if result.reference is not None and result.correct is False:
        blocks.append(grid_lines(result.kind, result.reference))
        titles.append("expected" if result.kind != "sudoku" else "solution")
    source = "" if p.source.startswith("<") else f" from {p.source}"
    lines = [f"{p.describe()}{source}", "", side_by_side(blocks, titles), ""]
    if ruled:  # valid means solved: every rule of the puzzle is kept
        verdict = "yes, solved" if result.valid else "no, not solved"
    else:  # ARC: a well-formed grid in the task's colours, which is not yet a solution
        verdict = _yes_no(result.valid)
    lines.append(f"valid:      {verdict}: {result.reason}")
    if result.correct is not None and result.kind != "maze":
        against = (
            "the unique solution"
            if result.kind == "sudoku" and result.reference is not None
            else "the expected output"
            if result.kind == "arc"
            else "the rules"
        )
        lines.append(f"correct:    {_yes_no(result.correct)} (against {against})")
    no_head = math.isnan(result.q_halt_logit)  # a model family without a halting head
    if no_head:
        how = "this model family has no halting head: a fixed number of segments"
    elif result.early_exit and result.halted_early:
        how = f"early exit: the Q-head halted (q_halt > q_continue) at segment {result.segments}"
    elif result.early_exit:
        how = "the Q-head never halted; stopped at the cap"
    else:
        how = "early exit off: ran every segment"
    lines.append(f"segments:   {result.segments} of at most {result.max_segments} ({how})")
    if not no_head:
        q_continue = "" if math.isnan(result.q_continue_logit) else f"; q_continue = {result.q_continue_logit:+.2f}"
        lines.append(
            f"confidence: {result.confidence:.3f} (sigmoid of q_halt = {result.q_halt_logit:+.2f}{q_continue})"
        )
    if result.kind == "arc":
        lines.append(
            f"puzzle id:  {result.puzzle_identifier}"
            + (f" (+ {result.views - 1} augmented views)" if result.views > 1 else "")
        )
    lines += format_effort(result)
    for note in result.notes:
        lines.append(f"note:       {note}")
    return "\n".join(lines)


def format_finetune(result) -> str:  # result: hrm.inference.finetune.FinetuneResult
    """Text for ``hrm solve --finetune-steps``: what was trained, then per test input its two attempts (and the
    expected output when the task gives it), with their votes."""
    lines = [
        f"ARC task {result.task_id}: {result.steps} fine-tuning steps on {result.demo_rows} rows "
        f"({result.views} views x {result.demo_rows // max(result.views, 1)} demonstrations), {result.trained}, "
        f"init {result.init}; {result.seconds:.1f} s (+ {result.predict_seconds:.1f} s to predict)"
        + (f"; {result.skipped_steps} non-finite steps skipped" if result.skipped_steps else ""),
        f"demonstration loss {result.loss_before:.4f} -> {result.loss_after:.4f}",
    ]
    for answer in result.answers:
        blocks = [grid_lines("arc", a) for a in answer.attempts]
        titles = [f"attempt {i + 1} ({v} of {result.views} views)" for i, v in enumerate(answer.votes)]
        if answer.expected is not None:
            blocks.append(grid_lines("arc", answer.expected))
            titles.append("expected")
        lines.append("")
        lines.append(f"test input {answer.index}: {answer.candidates} distinct answer(s) among the views")
        lines.append(side_by_side(blocks, titles))
        if answer.expected is not None:
            lines.append(f"right: {'attempt ' + str(answer.rank) if answer.rank in (1, 2) else 'no'}")
    if result.pass_at is not None:
        lines.append("")
        lines.append(f"pass@1 {_yes_no(result.pass_at[1])}, pass@2 {_yes_no(result.pass_at[2])}")
    return "\n".join(lines)


def format_effort(result: SolveResult) -> list[str]:
    """The ``effort:`` lines: which level answered (and who picked the answer), each level tried with its time; or,
    for an unsolved puzzle solved without ``--effort``, how to try harder."""
    report = result.effort
    if report is None:
        if result.kind in RULED_KINDS and not result.valid and result.test_time is None:
            return [f"effort:     one plain run; --effort {MAX_EFFORT} retries with more test-time compute"]
        return []
    tried = report["levels"]
    last = tried[-1]
    if report["solved"]:
        head = f"solved at level {last['level']} of {report['requested']} in {report['seconds']:.2f} s"
    else:
        head = f"not solved: no level up to {report['requested']} found a valid answer ({report['seconds']:.2f} s)"
    lines = [f"effort:     {head}; answer picked by {last['picked_by']}"]
    if last["rule_check"]:
        lines.append(
            "            (picked by the rule check, a verifier outside the model: the puzzle's own rules chose "
            "among the model's candidates)"
        )
    for level in tried:
        outcome = "solved" if level["valid"] else "not solved"
        plural = "s" if level["candidates"] > 1 else ""
        lines.append(
            f"  level {level['level']}: {level['what']} (cap {level['max_segments']}): {outcome}; "
            f"{level['candidates']} candidate{plural}, {level['segments_run']} segments run, {level['seconds']:.2f} s"
        )
    return lines


def format_trace(result: SolveResult, color: bool = False, width: int = 120) -> str:
    """The answer after every segment, as many per row as fit in ``width`` columns."""
    if not result.trace:
        return "(no trace: solve with trace=True / --trace)"
    p = result.puzzle
    blocks, titles = [], []
    previous = p.grid
    for seg in result.trace:
        changed = (seg.answer != previous) if seg.answer.shape == previous.shape else None
        status = cell_status(p, seg.answer, result.reference)
        blocks.append(grid_lines(result.kind, seg.answer, status, changed, color=color))
        flag = " halt" if seg.halt else ""
        titles.append(f"#{seg.segment} p={seg.confidence:.2f} Δ{seg.changed}{flag}")
        previous = seg.answer
    out = []
    row: list[int] = []
    used = 0
    for i, block in enumerate(blocks):
        w = max([visible_len(t) for t in block] + [visible_len(titles[i])]) + 4
        if row and used + w > width:
            out.append(side_by_side([blocks[j] for j in row], [titles[j] for j in row]))
            row, used = [], 0
        row.append(i)
        used += w
    if row:
        out.append(side_by_side([blocks[j] for j in row], [titles[j] for j in row]))
    legend = "p = sigmoid(q_halt), Δ = cells changed since the previous segment"
    return "\n\n".join(out + [legend])


# ---------------------------------------------------------------------------------------------------------------
# Pictures


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    colour = colour.lstrip("#")
    red, green, blue = (int(colour[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return red, green, blue


def _draw_sudoku(ax, puzzle: Puzzle, grid: np.ndarray, status: np.ndarray | None, changed: np.ndarray | None):
    from matplotlib.patches import Rectangle

    n = grid.shape[0]
    box_rows, box_cols = sudoku.box_shape(n)
    ax.set_xlim(0, n)
    ax.set_ylim(n, 0)
    if changed is not None:
        for r, c in np.argwhere(changed):
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=CHANGED_COLOUR, edgecolor="none"))
    for k in range(n + 1):
        thick = 2.0 if k % box_rows == 0 else 0.5
        ax.plot([0, n], [k, k], color="black", linewidth=thick)
        thick = 2.0 if k % box_cols == 0 else 0.5
        ax.plot([k, k], [0, n], color="black", linewidth=thick)
    size = max(6.0, 90.0 / n)
    for r in range(n):
        for c in range(n):
            v = int(grid[r, c])
            if v == 0:
                continue
            code = KEPT if status is None else int(status[r, c])
            weight = "bold" if puzzle.grid[r, c] != 0 else "normal"
            ax.text(
                c + 0.5,
                r + 0.53,
                str(v),
                ha="center",
                va="center",
                fontsize=size,
                color=SUDOKU_COLOURS[code],
                fontweight=weight,
            )


def _maze_rgb(puzzle: Puzzle, grid: np.ndarray, status: np.ndarray | None) -> np.ndarray:
    colours = {maze.WALL: "wall", maze.OPEN: "open", maze.START: "start", maze.GOAL: "goal", maze.PATH: "path"}
    img = np.ones(grid.shape + (3,))
    for token, name in colours.items():
        img[grid == token] = _hex_rgb(MAZE_COLOURS[name])
    img[~np.isin(grid, list(colours))] = _hex_rgb(MAZE_COLOURS["unknown"])
    if status is not None:
        img[(grid == maze.PATH) & (status == WRONG)] = _hex_rgb(MAZE_COLOURS["path_wrong"])
    return img


def _arc_rgb(grid: np.ndarray) -> np.ndarray:
    palette = np.array([_hex_rgb(c) for c in ARC_PALETTE])
    return palette[np.clip(grid, 0, 9)]


def _draw_image(ax, img: np.ndarray, lines: bool) -> None:
    h, w = img.shape[:2]
    ax.imshow(img, interpolation="nearest", extent=(0, w, h, 0))
    if lines:
        ax.hlines(np.arange(h + 1), 0, w, color="#555555", linewidth=0.4)
        ax.vlines(np.arange(w + 1), 0, h, color="#555555", linewidth=0.4)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)


def draw_grid(
    ax,
    puzzle: Puzzle,
    grid: np.ndarray,
    status: np.ndarray | None = None,
    changed: np.ndarray | None = None,
    title: str = "",
) -> None:
    """Draw one grid of ``puzzle``'s kind into a matplotlib axes."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    grid = np.asarray(grid)
    if grid.size == 0:
        ax.text(0.5, 0.5, "(no grid)", ha="center", va="center", transform=ax.transAxes)
        return
    if puzzle.kind == "sudoku":
        _draw_sudoku(ax, puzzle, grid, status, changed)
        return
    if puzzle.kind == "maze":
        _draw_image(ax, _maze_rgb(puzzle, grid, status), lines=False)
        marks = np.argwhere(changed) if changed is not None else np.zeros((0, 2))
        if len(marks):
            ax.scatter(marks[:, 1] + 0.5, marks[:, 0] + 0.5, s=6, color="#ffd400", marker="o", linewidths=0)
        return
    _draw_image(ax, _arc_rgb(grid), lines=True)
    if status is not None:
        wrong = np.argwhere(status == WRONG)
        if len(wrong):
            ax.scatter(wrong[:, 1] + 0.5, wrong[:, 0] + 0.5, s=30, color="#ff2020", marker="x", linewidths=1.2)
    if changed is not None:
        marks = np.argwhere(changed)
        if len(marks):
            ax.scatter(marks[:, 1] + 0.5, marks[:, 0] + 0.5, s=6, color="#ffffff", marker="o", linewidths=0)


_LEGENDS = {
    "sudoku": "bold black: given   blue: right   red: wrong   yellow: changed in this segment",
    "maze": "blue: path on a shortest route   orange: path off it   yellow dot: changed in this segment",
    "arc": "red ×: differs from the expected output   white dot: changed in this segment",
}


def _segments(result: SolveResult) -> list[tuple[int, np.ndarray, float, bool]]:
    if result.trace:
        return [(s.segment, s.answer, s.confidence, s.halt) for s in result.trace]
    return [(result.segments, result.answer, result.confidence, result.halted_early)]


def _changed_mask(previous: np.ndarray, current: np.ndarray) -> np.ndarray | None:
    return (previous != current) if previous.shape == current.shape else None


def _figure_to_image(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    width, height = canvas.get_width_height()
    return Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")


def render_frames(result: SolveResult, dpi: int = 100) -> list:
    """One PIL image per segment of ``result.trace`` (one image of the final answer when not traced)."""
    from matplotlib.figure import Figure

    p = result.puzzle
    show_reference = result.reference is not None
    panels = 3 if show_reference else 2
    frames = []
    previous = p.grid
    for segment, answer, confidence, halt in _segments(result):
        fig = Figure(figsize=(3.2 * panels, 3.9), dpi=dpi)
        axes = fig.subplots(1, panels)
        draw_grid(axes[0], p, p.grid, title="input")
        status = cell_status(p, answer, result.reference)
        draw_grid(axes[1], p, answer, status, _changed_mask(previous, answer), title=f"segment {segment}")
        if show_reference:
            assert result.reference is not None
            draw_grid(axes[2], p, result.reference, title="expected" if result.kind != "sudoku" else "solution")
        verdict = "halt" if halt else "continue"
        fig.suptitle(
            f"segment {segment}/{result.max_segments}   sigmoid(q_halt) = {confidence:.2f}   Q-head: {verdict}",
            fontsize=10,
        )
        fig.text(0.5, 0.02, _LEGENDS[result.kind], ha="center", fontsize=7, color="#444444")
        fig.subplots_adjust(left=0.02, right=0.98, top=0.84, bottom=0.08, wspace=0.08)
        frames.append(_figure_to_image(fig))
        previous = answer
    return frames


def render_overview(result: SolveResult, dpi: int = 100, columns: int = 8):
    """All segments' answers in one image (a strip like the paper's Fig. 7)."""
    from matplotlib.figure import Figure

    p = result.puzzle
    items = _segments(result)
    cols = min(columns, len(items) + 1)
    rows = math.ceil((len(items) + 1) / cols)
    fig = Figure(figsize=(2.2 * cols, 2.4 * rows + 0.4), dpi=dpi)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    draw_grid(axes[0], p, p.grid, title="input")
    previous = p.grid
    for ax, (segment, answer, confidence, halt) in zip(axes[1:], items):
        status = cell_status(p, answer, result.reference)
        mark = " ■" if halt else ""
        draw_grid(ax, p, answer, status, _changed_mask(previous, answer), title=f"{segment}: p={confidence:.2f}{mark}")
        previous = answer
    for ax in axes[len(items) + 1 :]:
        ax.axis("off")
    fig.text(
        0.5,
        0.01,
        _LEGENDS[result.kind] + "   p = sigmoid(q_halt), ■ = Q-head halts",
        ha="center",
        fontsize=7,
        color="#444444",
    )
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.06, wspace=0.06, hspace=0.25)
    return _figure_to_image(fig)


def save_gif(result: SolveResult, path: str | Path, frame_ms: int = 700, last_ms: int = 2000) -> Path:
    """An animated GIF with one frame per segment; the last frame stays longer."""
    path = check_output_file(path, "--save-gif")
    frames = render_frames(result)
    durations = [frame_ms] * (len(frames) - 1) + [last_ms]
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


def save_pngs(result: SolveResult, directory: str | Path) -> list[Path]:
    """``segment-NN.png`` per segment and ``overview.png`` (all segments) into ``directory``."""
    directory = check_output_dir(directory, "--save-png")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    segments = _segments(result)
    digits = max(2, len(str(segments[-1][0])))
    for (segment, *_), frame in zip(segments, render_frames(result)):
        path = directory / f"segment-{segment:0{digits}d}.png"
        with atomic_path(path) as tmp:
            frame.save(tmp, format="PNG")
        written.append(path)
    overview = directory / "overview.png"
    with atomic_path(overview) as tmp:
        render_overview(result).save(tmp, format="PNG")
    written.append(overview)
    return written
