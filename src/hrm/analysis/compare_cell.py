"""One cell of ``hrm compare`` in its own process: ``python -m hrm.analysis.compare_cell [--exit-with-parent] DIR``.

The comparison lab starts one such process per cell (locally or as a Ray task) so that each cell's torch thread
count holds and a crashed cell cannot take the others down. It trains (or resumes) the run in ``CELL_DIR/run``,
evaluates it and writes ``CELL_DIR/record.json``; see :mod:`hrm.analysis.compare`.

With ``--exit-with-parent`` the cell ends when the process that started it ends, however it ends (kill -9
included): the parent holds the write end of the cell's standard input and never writes, so end-of-file on it
means the parent is gone. That works on every platform (no process groups or ``prctl``) and keeps a killed
comparison from leaving cells training on as orphans; its checkpoints are written atomically, so the rerun resumes.
"""

from __future__ import annotations

import os
import sys
import threading

from hrm.errors import UserError

EXIT_WITH_PARENT = "--exit-with-parent"
PARENT_GONE_EXIT = 3
CELL_ERROR = "hrm compare: cell error:"  # starts the line a failed cell prints (the lab reports that line)


def exit_when_closed(fd: int) -> threading.Thread:
    """End this process (exit code 3) as soon as file descriptor ``fd`` reaches end-of-file; returns the watcher.

    ``os.read`` on the raw descriptor, not ``sys.stdin.buffer``: a daemon thread blocked inside a buffered reader
    holds its lock, and the interpreter aborts at shutdown when it cannot take that lock.
    """

    def watch() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except (OSError, ValueError):
            pass
        print("hrm compare: the comparison process ended, so this cell stopped; rerun it to resume", flush=True)
        os._exit(PARENT_GONE_EXIT)  # at once: the trainer's files are written atomically, its lock dies with us

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    from hrm.analysis.compare import run_cell_here

    argv = list(sys.argv[1:] if argv is None else argv)
    watch = EXIT_WITH_PARENT in argv
    argv = [a for a in argv if a != EXIT_WITH_PARENT]
    if len(argv) != 1:
        print(f"usage: python -m hrm.analysis.compare_cell [{EXIT_WITH_PARENT}] CELL_DIR", file=sys.stderr)
        return 2
    if watch:
        exit_when_closed(sys.stdin.fileno())
    try:
        record = run_cell_here(argv[0])
    except UserError as exc:
        print(f"{CELL_ERROR} {exc}", file=sys.stderr)
        return 2
    print(f"cell {record['cell']}: exact {record['exact_accuracy']:.4f} after {record['steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
