"""Running the grid (``hrm compare``): every unfinished cell of a spec, ``parallel`` at a time, each in its own
process with ``threads`` torch threads (processes, so that the thread counts hold), on this machine or as Ray tasks
(``engine: ray``, ``pip install hrm[ray]``); then the records and (optionally) the report.

Running the same spec into the same folder again skips finished cells and resumes interrupted ones. Everything
about a spec is checked (spec keys, families, recipes, every override of every cell) before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.cell import CELL_ERROR, EXIT_WITH_PARENT
from hrm.lab.plan import Cell, cell_plan, check_out_dir, plan_cells, prepare_cells
from hrm.lab.records import read_records, valid_record, write_records
from hrm.lab.report import write_report
from hrm.lab.spec import ENGINES, CompareSpec, positive_int
from hrm.lab.study_dir import (
    CELL_FILE,
    CELLS_DIR,
    COMPARE_LOCK,
    LOG_FILE,
    LOG_HEADER,
    RECORD_FILE,
    SPEC_FILE,
    make_out_dir,
    write_json_atomic,
)
from hrm.lab.tune import search_specs, tune_families
from hrm.runtime.files import DirectoryLock


@dataclass
class CompareResult:
    out: Path
    records: list[dict[str, Any]]
    ran: list[str]  # cells run (or resumed) by this call
    skipped: list[str]  # cells already finished
    failed: dict[str, str]  # cell id -> the last line of its log


def cell_command(cell_dir: Path) -> list[str]:
    return [sys.executable, "-m", "hrm.lab.cell", EXIT_WITH_PARENT, str(cell_dir)]


def cell_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(threads)
    return env


def run_cell_process(cell_dir: str, threads: int) -> int:
    """Run one cell in a child process (its output to ``cell_dir/log.txt``); the exit code.

    The child's standard input is a pipe this process holds open and never writes: when this process ends, however
    it ends, the child sees end-of-file and stops (``compare_cell --exit-with-parent``), so no cell trains on as
    an orphan of a killed comparison.
    """
    cell_dir_path = Path(cell_dir)
    with open(cell_dir_path / LOG_FILE, "a", encoding="utf-8") as log:
        log.write(f"{LOG_HEADER}{' '.join(cell_command(cell_dir_path))}\n")
        log.flush()
        proc = subprocess.Popen(
            cell_command(cell_dir_path),
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cell_env(threads),
        )
        try:
            return proc.wait()
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C, an exception): the cell goes with us
                proc.kill()
                proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()


def failure_line(path: Path) -> str:
    """Why the last run of a cell failed: its error line if it printed one, else the last line it wrote.

    Only the lines after the last command header count (the log is appended to by every rerun), and an error line
    wins over later output (such as progress lines from another process that was still writing to the log).
    """
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    starts = [i for i, line in enumerate(lines) if line.startswith(LOG_HEADER)]
    lines = lines[starts[-1] + 1 :] if starts else lines
    errors = [line for line in lines if line.startswith(CELL_ERROR)]
    return errors[-1] if errors else (lines[-1] if lines else "no output")


def run_compare(
    spec: CompareSpec,
    out: str | os.PathLike,
    *,
    engine: str | None = None,
    parallel: int | None = None,
    log: Callable[[str], None] = print,
    report: bool = True,
    hold_lock: bool = True,
) -> CompareResult:
    """Run every unfinished cell of ``spec`` into ``out``, then write records and (with ``report``) the table and
    plots. ``hold_lock=False``: the caller already holds the folder's lock (a search running trials side by side
    in one folder)."""
    out = Path(out)
    engine = engine or spec.engine
    if engine not in ENGINES:
        raise UserError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if parallel is not None:
        spec.parallel = positive_int(parallel, "--parallel")
    if engine == "ray":
        _require_ray()
    cells = plan_cells(spec)  # everything validated before anything is written
    searches = search_specs(spec) if spec.tune is not None else {}
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    prepare_cells(cells, spec.budget, log=log)  # datasets, FLOPs/step, parameters (nothing under out yet)
    check_out_dir(out, [] if searches else cells, spec)  # tuned cells are checked once their overrides are known
    make_out_dir(out)
    # One comparison process per folder: a second one would rerun (and delete) the first one's live cells.
    with DirectoryLock(out, COMPARE_LOCK, "comparison folder") if hold_lock else contextlib.nullcontext():
        if searches:
            spec = dataclasses.replace(spec, tuned=tune_families(spec, out, searches, log=log))
            cells = plan_cells(spec)
            prepare_cells(cells, spec.budget, log=lambda _: None)
            check_out_dir(out, cells, spec)
        return _run_cells(spec, cells, out, engine, log, report)


def _run_cells(
    spec: CompareSpec, cells: list[Cell], out: Path, engine: str, log: Callable[[str], None], report: bool
) -> CompareResult:
    if spec.text:
        (out / SPEC_FILE).write_text(spec.text, encoding="utf-8")
    todo, skipped = [], []
    for cell in cells:
        cell_dir = out / CELLS_DIR / cell.id
        if (cell_dir / RECORD_FILE).is_file():
            if valid_record(cell_dir / RECORD_FILE) is not None:
                skipped.append(cell.id)
                continue
            # A torn or corrupt record is not a finished cell: keep it aside (never deleted) and run the cell again.
            aside = cell_dir / f"{RECORD_FILE}.corrupt"
            os.replace(cell_dir / RECORD_FILE, aside)
            log(f"  {cell.id}: {RECORD_FILE} is not a complete record (torn or corrupt); moved to {aside.name}, rerun")
        cell_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cell_dir / CELL_FILE, cell_plan(cell, spec))
        todo.append(cell)
    log(
        f"{spec.name}: {len(cells)} cells ({len(skipped)} finished, {len(todo)} to run) under a budget of "
        f"{spec.budget.describe()}; {spec.parallel} at a time x {spec.threads} thread(s), engine {engine}"
    )
    failed: dict[str, str] = {}
    planned = {cell.id for cell in cells}

    def finished(cell: Cell, code: int) -> None:
        cell_dir = out / CELLS_DIR / cell.id
        record = valid_record(cell_dir / RECORD_FILE) if code == 0 else None
        if record is None:
            failed[cell.id] = failure_line(cell_dir / LOG_FILE)
            log(f"  {cell.id}: FAILED (exit {code}): {failed[cell.id]}")
        else:
            log(
                f"  {cell.id}: exact {record['exact_accuracy']:.3f}  token {record['token_accuracy']:.3f}  "
                f"{record['steps']} steps  {record['wall_s'] / 60:.1f} min"
            )
        write_records(out, read_records(out, only=planned))

    folders = (out / CELLS_DIR).iterdir() if (out / CELLS_DIR).is_dir() else ()
    dropped = sorted(p.name for p in folders if p.is_dir() and p.name not in planned)
    if dropped:
        log(
            f"  {len(dropped)} cell folder(s) not in this spec are kept but left out of the table: "
            + ", ".join(dropped[:5])
            + (" ..." if len(dropped) > 5 else "")
        )
    if engine == "ray":
        _run_ray(todo, out, spec, finished)
    else:
        _run_local(todo, out, spec, finished)
    records = read_records(out, log=log, only=planned)
    write_records(out, records)
    if records and report:
        write_report(out, records)
    return CompareResult(out, records, [c.id for c in todo], skipped, failed)


def _run_local(todo: list[Cell], out: Path, spec: CompareSpec, finished: Callable[[Cell, int], None]) -> None:
    with ThreadPoolExecutor(max_workers=spec.parallel) as pool:
        pending = {pool.submit(run_cell_process, str(out / CELLS_DIR / c.id), spec.threads): c for c in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                finished(pending.pop(future), future.result())


def _require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("engine ray needs Ray: pip install 'hrm-reasoning[ray]' (or pip install ray)") from None
    return ray


def _run_ray(todo: list[Cell], out: Path, spec: CompareSpec, finished: Callable[[Cell, int], None]) -> None:
    """Each cell is a Ray task reserving ``threads`` CPUs, running the same cell process as the local engine (so
    ``out`` must be on a file system every node sees)."""
    ray = _require_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if spec.ray_address:
            ray.init(address=spec.ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=spec.parallel * spec.threads, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=spec.threads, max_retries=0)(run_cell_process)
        refs = {task.remote(str(out / CELLS_DIR / c.id), spec.threads): c for c in todo}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                finished(refs.pop(ref), int(ray.get(ref)))
    finally:
        if started_here:
            ray.shutdown()
