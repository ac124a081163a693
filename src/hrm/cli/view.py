"""``hrm view PATH [--out FILE.html] [--serve [--port N]]``: browse a dataset, evaluation, run or comparison."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
examples:
  hrm view data/sudoku-6x6                      # dataset: puzzles drawn as grids, search, split, augmentation
  hrm view eval/ --out eval.html                # hrm evaluate --out eval/ --save-predictions 200
  hrm view runs/s6 --serve                      # run: curves, config, checkpoints, on http://127.0.0.1:8765/
  hrm view data/arc-1 --start 5000 --limit 300  # another slice of a large dataset
  hrm view data/arc-1 --match 00576224          # every view of one ARC task, from the whole dataset
  hrm view data/arc-1 --originals               # originals only (no augmented versions)

The page is one self-contained HTML file (no network): open it by double-clicking. See docs/view.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "view",
        help="look at a dataset, evaluation, run or comparison in a browser (one self-contained HTML page)",
        description="Write one self-contained HTML page (inline CSS and JavaScript, no network) showing PATH: a "
        "dataset (puzzles as grids), an evaluation output (every segment's prediction with wrong cells marked, "
        "q_halt/q_continue, where it halted, ARC votes), a run directory (curves, config, checkpoints) or a "
        "comparison-lab directory (table and plots). Large inputs are embedded in part (--start, --limit).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="dataset, evaluation output, run or comparison folder")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="HTML file to write (default: <PATH name>.html here; none with --serve)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=500,
        metavar="N",
        help="examples per split (puzzles, ARC tasks, records) embedded in the page (default 500)",
    )
    parser.add_argument("--start", type=int, default=0, metavar="K", help="first example embedded (default 0)")
    parser.add_argument(
        "--match",
        metavar="TEXT",
        help="dataset: embed only puzzles whose identifier name contains TEXT (any case), e.g. an ARC task id",
    )
    parser.add_argument(
        "--originals", action="store_true", help="dataset: embed only originals (no augmented versions)"
    )
    parser.add_argument("--serve", action="store_true", help="serve the page on 127.0.0.1 until Ctrl-C")
    parser.add_argument("--port", type=int, default=8765, metavar="N", help="port for --serve (default 8765; 0 = any)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrm.errors import UserError
    from hrm.view import build_page, default_out, render_html, serve_html, write_html

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: must be in 0..65535")
    out = args.out if args.out is not None else (None if args.serve else default_out(args.path))
    if args.out is not None and _inside(Path(args.out), Path(args.path)):  # before anything is read or written
        raise UserError(f"--out {out}: is inside {args.path}, which is being read; write the page elsewhere")
    page = build_page(args.path, limit=args.limit, start=args.start, match=args.match, originals=args.originals)
    text = render_html(page)
    if out is not None:
        print(f"wrote {write_html(text, out)}", flush=True)
    if args.serve:
        serve_html(text, args.port, announce=lambda line: print(line, flush=True))
    return 0


def _inside(out: Path, source: Path) -> bool:
    """Whether writing ``out`` would overwrite ``source`` or something in it (the input being read)."""
    out, source = out.resolve(), source.resolve()
    return out == source or source in out.parents
