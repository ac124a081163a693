"""One cell of ``hrm compare``, in its own process: ``python -m hrm.analysis.compare_cell CELL_DIR``.

The comparison lab starts one such process per cell (locally or as a Ray task) so that each cell's torch thread
count holds and a crashed cell cannot take the others down. It trains (or resumes) the run in ``CELL_DIR/run``,
evaluates it and writes ``CELL_DIR/record.json``; see :mod:`hrm.analysis.compare`.
"""

from __future__ import annotations

import sys

from hrm.errors import UserError


def main(argv: list[str] | None = None) -> int:
    from hrm.analysis.compare import run_cell_here

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m hrm.analysis.compare_cell CELL_DIR", file=sys.stderr)
        return 2
    try:
        record = run_cell_here(argv[0])
    except UserError as exc:
        print(f"hrm compare: cell error: {exc}", file=sys.stderr)
        return 2
    print(f"cell {record['cell']}: exact {record['exact_accuracy']:.4f} after {record['steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
