"""The comparison lab (``hrm compare``): a grid of training runs under one budget, with seeds, records and a table.

A *spec* (YAML; see docs/compare.md) names tasks (recipes, with overrides), families (a model family plus
overrides, under a label) and seeds, and one budget for every cell: optimiser ``steps``, wall ``minutes`` or
training ``flops``. Each cell = (family, task, seed) is one ``hrm train`` run followed by a held-out evaluation;
cells run ``parallel`` at a time, each in its own process with ``threads`` torch threads (processes, so that the
thread counts hold), on this machine or as Ray tasks (``engine: ray``, ``pip install hrm[ray]``).

The output directory::

    DIR/
      spec.yaml            the spec as given (a rerun must describe the same cells)
      records.jsonl        one JSON record per finished cell (the marker ``hrm view`` looks for)
      summary.md / .csv    mean ± sd and a 95% t-interval over seeds per (family, task)
      plots/accuracy_vs_compute.png    held-out exact accuracy against training FLOPs, per family
      plots/accuracy_vs_segments.png   held-out exact accuracy against the inference segment cap, per family
      cells/ID/cell.json   the cell's resolved plan (config, FLOPs/step, parameters)
      cells/ID/run/        its ``hrm train`` run directory (checkpoints: an interrupted cell resumes from them)
      cells/ID/record.json its record, written atomically when the cell finishes
      cells/ID/log.txt     the cell process's output

Running the same spec into the same directory again skips finished cells and resumes interrupted ones.
Everything about a spec is checked (spec keys, families, recipes, every override of every cell) before anything
is written; a problem is one :class:`~hrm.errors.UserError` line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrm.analysis.compare_cell import CELL_ERROR, EXIT_WITH_PARENT
from hrm.errors import UserError
from hrm.model.limits import MAX_RECURRENCE, MAX_SEED, MAX_SEEDS
from hrm.runtime.files import DirectoryLock

COMPARE_LOCK = "compare.lock"  # held by the hrm compare process running this folder; holds its PID
CELL_LOCK = "cell.lock"  # held by the process running one cell
STUDY_FILE = "study.db"  # an Optuna search's storage (hrm.analysis.search), whose trials are cells here
RECORDS_FILE = "records.jsonl"  # hrm.analysis.view's COMPARE_RECORDS
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
SPEC_FILE = "spec.yaml"
PLOTS_DIR = "plots"
COMPUTE_PLOT = "accuracy_vs_compute.png"
SEGMENTS_PLOT = "accuracy_vs_segments.png"
CELLS_DIR = "cells"
CELL_FILE = "cell.json"
RECORD_FILE = "record.json"
LOG_FILE = "log.txt"
LOG_HEADER = "$ "  # starts the line naming the command, written before every run of a cell
RUN_SUBDIR = "run"

BUDGET_KINDS = ("steps", "minutes", "flops")
ENGINES = ("local", "ray")
# Training FLOPs of one optimiser step = TRAIN_FLOPS_FACTOR x the forward FLOPs of one segment over the batch:
# forward + backward ~ 3x forward (the usual convention). Families with a truncated (1-step) gradient spend less
# on the backward; the factor is the same for every family so that budgets stay comparable (docs/compare.md).
TRAIN_FLOPS_FACTOR = 3
# An upper bound on steps under a wall-minutes budget (the time budget is what stops the run).
MINUTES_MAX_STEPS = 10**9

SPEC_KEYS = {
    "name": "a label for the study (default: the spec file's stem)",
    "description": "free text",
    "tasks": "list of recipe names or {name, recipe, overrides}",
    "families": "list of family names or {name, model, overrides}",
    "seeds": "list of integer seeds (or a count N for seeds 0..N-1)",
    "budget": "{steps: N} | {minutes: M} | {flops: F}",
    "overrides": "key=value overrides for every cell (list or mapping)",
    "eval": "{segments: [1, 2, 4], early_exit: true, max_examples: 0, batch_size: 256}",
    "parallel": "cells run at the same time (default 1)",
    "threads": "torch threads per cell (default 1)",
    "engine": "local (default) or ray",
    "ray_address": "an existing Ray cluster's address (default: start a local one)",
}
TASK_KEYS = ("name", "recipe", "overrides")
FAMILY_KEYS = ("name", "model", "overrides")
EVAL_KEYS = ("segments", "early_exit", "max_examples", "batch_size")


# ---------------------------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """A task (recipe + overrides) or a family (model + overrides) under a label."""

    name: str
    base: str  # the recipe of a task, the model family of a family
    overrides: list[str] = field(default_factory=list)


@dataclass
class Budget:
    kind: str  # "steps" | "minutes" | "flops"
    value: float

    def describe(self) -> str:
        if self.kind == "steps":
            return f"{int(self.value)} steps"
        if self.kind == "minutes":
            return f"{self.value:g} wall minutes"
        return f"{self.value:.3g} training FLOPs"


@dataclass
class EvalSpec:
    """Held-out evaluation of every cell: a scaling sweep over ``segments`` (default: 1, 2, 4, ... up to twice
    the family's M_max, and M_max itself) plus, for families with a halting head, one early-exit pass at M_max."""

    segments: list[int] | None = None
    early_exit: bool = True
    max_examples: int = 0
    batch_size: int = 256


@dataclass
class CompareSpec:
    name: str
    tasks: list[Entry]
    families: list[Entry]
    seeds: list[int]
    budget: Budget
    overrides: list[str] = field(default_factory=list)
    eval: EvalSpec = field(default_factory=EvalSpec)
    parallel: int = 1
    threads: int = 1
    engine: str = "local"
    ray_address: str | None = None
    description: str = ""
    text: str = ""  # the spec file's text, copied to DIR/spec.yaml


def _overrides(value: Any, where: str) -> list[str]:
    """``[k=v, ...]`` or ``{k: v}`` → ``["k=v", ...]`` (YAML booleans written as true/false)."""
    if value is None:
        return []
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, (list, tuple)):
                item = ",".join(str(v) for v in item)
            out.append(f"{key}={item}")
        return out
    if isinstance(value, list) and all(isinstance(v, str) and "=" in v for v in value):
        return list(value)
    raise UserError(f"{where}: overrides must be a list of key=value strings or a mapping, got {value!r}")


def _entry(item: Any, where: str, base_key: str, keys: Sequence[str]) -> Entry:
    if isinstance(item, str):
        return Entry(name=item, base=item)
    if not isinstance(item, dict):
        raise UserError(f"{where}: expected a name or a mapping with {', '.join(keys)}, got {item!r}")
    unknown = sorted(set(item) - set(keys))
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(keys)}")
    name = item.get("name")
    base = item.get(base_key, name)
    if not isinstance(name, str) or not name:
        raise UserError(f"{where}: give a name (a label for the table)")
    if not isinstance(base, str) or not base:
        raise UserError(f"{where} ({name}): {base_key} must be a name")
    return Entry(name=name, base=base, overrides=_overrides(item.get("overrides"), f"{where} ({name})"))


def _positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"spec: {key} must be an integer >= 1, got {value!r}")
    return value


def parse_spec(data: Any, name: str = "compare", text: str = "") -> CompareSpec:
    """A :class:`CompareSpec` from the parsed YAML mapping; UserError naming the first problem."""
    if not isinstance(data, dict):
        raise UserError(f"spec: expected a mapping with keys {', '.join(SPEC_KEYS)}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise UserError(f"spec: unknown key(s) {', '.join(map(str, unknown))}; valid: {', '.join(SPEC_KEYS)}")
    for key in ("tasks", "families", "budget"):
        if key not in data:
            raise UserError(f"spec: missing {key!r} ({SPEC_KEYS[key]})")
    tasks_raw, families_raw = data["tasks"], data["families"]
    if not isinstance(tasks_raw, list) or not tasks_raw:
        raise UserError("spec: tasks must be a non-empty list")
    if not isinstance(families_raw, list) or not families_raw:
        raise UserError("spec: families must be a non-empty list")
    tasks = [_entry(t, f"spec: tasks[{i}]", "recipe", TASK_KEYS) for i, t in enumerate(tasks_raw)]
    families = [_entry(f, f"spec: families[{i}]", "model", FAMILY_KEYS) for i, f in enumerate(families_raw)]
    for kind, entries in (("task", tasks), ("family", families)):
        names = [e.name for e in entries]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UserError(f"spec: {kind} name(s) {', '.join(dupes)} used twice; give each a unique name")
    seeds_raw = data.get("seeds", [0])
    if isinstance(seeds_raw, int) and not isinstance(seeds_raw, bool):
        if _positive_int(seeds_raw, "seeds") > MAX_SEEDS:  # checked before the list of seeds exists
            raise UserError(f"spec: seeds: at most {MAX_SEEDS} seeds in one comparison, got {seeds_raw}")
        seeds = list(range(seeds_raw))
    elif isinstance(seeds_raw, list) and seeds_raw and all(type(s) is int and s >= 0 for s in seeds_raw):
        seeds = list(seeds_raw)
        if len(seeds) > MAX_SEEDS or max(seeds) > MAX_SEED:
            raise UserError(f"spec: seeds: at most {MAX_SEEDS} seeds, each in 0..{MAX_SEED}")
        if len(set(seeds)) != len(seeds):
            raise UserError(f"spec: seeds {seeds} repeat a seed")
    else:
        raise UserError(f"spec: seeds must be a list of integers >= 0 or a count, got {seeds_raw!r}")
    budget_raw = data["budget"]
    if not isinstance(budget_raw, dict) or len(budget_raw) != 1:
        raise UserError(
            f"spec: budget must be exactly one of {{steps: N}}, {{minutes: M}}, {{flops: F}}; got {budget_raw!r}"
        )
    ((kind, value),) = budget_raw.items()
    if kind not in BUDGET_KINDS:
        raise UserError(f"spec: unknown budget {kind!r}; use one of {', '.join(BUDGET_KINDS)}")
    if isinstance(value, str):
        try:
            value = float(value)  # YAML reads 1e12 (no dot) as a string
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UserError(f"spec: budget {kind} must be a number > 0, got {value!r}")
    if kind == "steps" and float(value) != int(value):
        raise UserError(f"spec: budget steps must be an integer, got {value!r}")
    eval_raw = data.get("eval") or {}
    if not isinstance(eval_raw, dict) or set(eval_raw) - set(EVAL_KEYS):
        raise UserError(f"spec: eval must be a mapping with keys among {', '.join(EVAL_KEYS)}, got {eval_raw!r}")
    segments = eval_raw.get("segments")
    if segments is not None:
        if isinstance(segments, int) and not isinstance(segments, bool):
            segments = [segments]
        if not isinstance(segments, list) or not segments or not all(type(s) is int and s >= 1 for s in segments):
            raise UserError(f"spec: eval.segments must be a list of integers >= 1, got {segments!r}")
        if max(segments) > MAX_RECURRENCE:
            raise UserError(f"spec: eval.segments: at most {MAX_RECURRENCE} segments (a sanity bound)")
        segments = sorted(set(segments))
    early_exit = eval_raw.get("early_exit", True)
    if not isinstance(early_exit, bool):
        raise UserError(f"spec: eval.early_exit must be true or false, got {early_exit!r}")
    max_examples = eval_raw.get("max_examples", 0)
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 0:
        raise UserError(f"spec: eval.max_examples must be an integer >= 0, got {max_examples!r}")
    engine = data.get("engine", "local")
    if engine not in ENGINES:
        raise UserError(f"spec: engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    ray_address = data.get("ray_address")
    if ray_address is not None and not isinstance(ray_address, str):
        raise UserError(f"spec: ray_address must be a string, got {ray_address!r}")
    label = data.get("name", name)
    if not isinstance(label, str) or not label:
        raise UserError(f"spec: name must be a non-empty string, got {label!r}")
    return CompareSpec(
        name=label,
        description=str(data.get("description", "")),
        tasks=tasks,
        families=families,
        seeds=seeds,
        budget=Budget(kind, float(value)),
        overrides=_overrides(data.get("overrides"), "spec: overrides"),
        eval=EvalSpec(
            segments=segments,
            early_exit=early_exit,
            max_examples=max_examples,
            batch_size=_positive_int(eval_raw.get("batch_size", 256), "eval.batch_size"),
        ),
        parallel=_positive_int(data.get("parallel", 1), "parallel"),
        threads=_positive_int(data.get("threads", 1), "threads"),
        engine=engine,
        ray_address=ray_address,
        text=text,
    )


def load_spec(path: str | os.PathLike) -> CompareSpec:
    """Read and parse a spec file (YAML); UserError when it is missing or malformed."""
    import yaml

    from hrm.checkpoints.reference import load_config_yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the spec ({exc})") from None
    try:
        data = load_config_yaml(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise UserError(f"{path}: not valid YAML ({first})") from None
    return parse_spec(data, name=path.stem, text=text)


# ---------------------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One (family, task, seed) run: its resolved training config and the facts measured before it runs."""

    id: str
    family: str  # the family entry's label
    model: str  # the model family name
    task: str
    recipe: str
    seed: int
    overrides: list[str]  # everything applied to the recipe, in order
    config: Any  # hrm.training.config.TrainConfig
    flops_per_step: int = 0
    parameters: dict[str, int] = field(default_factory=dict)
    seq_len: int = 0
    max_segments: int = 1
    has_halting_head: bool = False

    def plan(self) -> dict[str, Any]:
        """What ``cell.json`` holds (and what a rerun compares)."""
        return {
            "id": self.id,
            "family": self.family,
            "model": self.model,
            "task": self.task,
            "recipe": self.recipe,
            "seed": self.seed,
            "overrides": self.overrides,
            "config": self.config.to_dict(),
            "flops_per_step": self.flops_per_step,
            "parameters": self.parameters,
            "seq_len": self.seq_len,
            "max_segments": self.max_segments,
            "has_halting_head": self.has_halting_head,
        }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _check_unique_slugs(what: str, names: list[str]) -> None:
    """Two names that map to one folder name would share a cell folder (one overwriting the other): refuse."""
    seen: dict[str, str] = {}
    for name in names:
        slug = _slug(name)
        if slug in seen and seen[slug] != name:
            raise UserError(
                f"spec: {what} {seen[slug]!r} and {name!r} both map to the folder name {slug!r}; "
                "rename one (letters, digits, '.', '_' and '-' are kept as they are)"
            )
        seen[slug] = name


def _budget_overrides(budget: Budget) -> list[str]:
    if budget.kind == "steps":
        return [f"schedule.max_steps={int(budget.value)}", "schedule.time_budget_minutes=0"]
    if budget.kind == "minutes":
        return [f"schedule.max_steps={MINUTES_MAX_STEPS}", f"schedule.time_budget_minutes={budget.value}"]
    return ["schedule.time_budget_minutes=0"]  # flops: max_steps is set once FLOPs/step is known


def plan_cells(spec: CompareSpec) -> list[Cell]:
    """Every cell of the grid, its config resolved and validated (no files touched); UserError on the first bad
    family, recipe or override, naming the cell."""
    from hrm.model.registry import FAMILIES
    from hrm.training.config import apply_overrides
    from hrm.training.recipes import RECIPES, get_recipe

    for family in spec.families:
        if family.base not in FAMILIES:
            raise UserError(
                f"spec: family {family.name!r}: unknown model family {family.base!r}; known: {', '.join(FAMILIES)}"
            )
    for task in spec.tasks:
        if task.base not in RECIPES:
            raise UserError(f"spec: task {task.name!r}: unknown recipe {task.base!r}; known: {', '.join(RECIPES)}")
    for what, names in (("families", [f.name for f in spec.families]), ("tasks", [t.name for t in spec.tasks])):
        _check_unique_slugs(what, names)
    cells = []
    recipes = {task.name: get_recipe(task.base) for task in spec.tasks}
    # Seed-major order: every family's first seed finishes before any second seed starts, so a long study that is
    # stopped early (or committed as it goes) already holds one complete single-seed comparison.
    for seed in spec.seeds:
        for task in spec.tasks:
            recipe = recipes[task.name]
            for family in spec.families:
                overrides = [
                    f"model={family.base}",
                    *task.overrides,
                    *spec.overrides,
                    *family.overrides,
                    *_budget_overrides(spec.budget),
                    f"runtime.seed={seed}",
                    f"runtime.num_threads={spec.threads}",
                    "logging.progress=false",
                    "logging.plot=false",
                ]
                where = f"spec: cell {family.name} x {task.name} x seed {seed}"
                try:
                    config = apply_overrides(recipe, overrides)
                except UserError as exc:
                    raise UserError(f"{where}: {exc}") from None
                if config.model != family.base:  # an override of `model` would train another family under this name
                    raise UserError(
                        f"{where}: an override sets model={config.model}, but the family {family.name!r} is "
                        f"model {family.base!r}; choose families in `families:` (e.g. {{name: x, model: "
                        f"{config.model}}}), not with an override"
                    )
                cell_id = f"{_slug(family.name)}__{_slug(task.name)}__s{seed}"
                cells.append(Cell(cell_id, family.name, family.base, task.name, task.base, seed, overrides, config))
    return cells


def prepare_cells(cells: list[Cell], budget: Budget, log: Callable[[str], None] = print) -> None:
    """Make every cell's dataset exist (generated once, here, not by parallel cells), then measure parameters and
    FLOPs per step from the built model, and turn a FLOPs budget into each cell's step count."""
    from hrm.data.format import load_split
    from hrm.model.registry import build_model
    from hrm.runtime.distributed import DistributedContext
    from hrm.training.config import apply_overrides
    from hrm.training.trainer import ensure_dataset

    seen: set[str] = set()
    for cell in cells:
        data = cell.config.data
        root = Path(data.path).resolve()
        if str(root) not in seen:
            seen.add(str(root))
            ensure_dataset(cell.config, DistributedContext())
        cell.config.data.path = str(root)  # cells run in their own working directories
        meta = load_split(root / data.train_split).metadata
        model = build_model(
            cell.model, cell.config.model_config(meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers)
        )
        cell.parameters = {k: int(v) for k, v in model.num_parameters().items()}
        batch = cell.config.schedule.global_batch_size
        cell.flops_per_step = int(TRAIN_FLOPS_FACTOR * model.flops_per_segment(batch, meta.seq_len))
        cell.seq_len = int(meta.seq_len)
        cell.max_segments = int(model.max_segments)
        cell.has_halting_head = bool(model.has_halting_head)
        if budget.kind == "flops":
            steps = int(budget.value // cell.flops_per_step)
            if steps < 1:
                raise UserError(
                    f"cell {cell.id}: the FLOPs budget {budget.value:.3g} is less than one training step "
                    f"({cell.flops_per_step:.3g} FLOPs); raise budget.flops"
                )
            cell.overrides.append(f"schedule.max_steps={steps}")
            cell.config = apply_overrides(cell.config, [f"schedule.max_steps={steps}"])


# ---------------------------------------------------------------------------------------------------------------
# Running one cell (inside its own process: ``python -m hrm.analysis.compare_cell CELL_DIR``)
# ---------------------------------------------------------------------------------------------------------------


def machine_info(threads: int) -> dict[str, Any]:
    import torch

    from hrm._version import __version__

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # AttributeError: Windows has no load average
        load = None
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hrm": __version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": load,
    }


def default_caps(max_segments: int) -> list[int]:
    """1, 2, 4, ... up to twice M_max, and M_max itself (just 1 for a single-pass family)."""
    if max_segments <= 1:
        return [1]
    caps = {max_segments}
    cap = 1
    while cap <= 2 * max_segments:
        caps.add(cap)
        cap *= 2
    return sorted(caps)


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _breakdown_dict(breakdown: Any, cap: int) -> dict[str, Any] | None:
    """Exact and token accuracy by difficulty (givens, path length) at ``cap``; None for other data kinds."""
    table = breakdown.result(cap) if breakdown is not None else None
    return table.as_dict() if table is not None else None


def run_cell_here(cell_dir: str | os.PathLike) -> dict[str, Any]:
    """Train (or resume) the cell in ``cell_dir`` and evaluate it; writes and returns its record."""
    import torch

    from hrm.checkpoints import latest_checkpoint, list_checkpoints
    from hrm.training.config import TrainConfig
    from hrm.training.trainer import train

    cell_dir = Path(cell_dir)
    file = cell_dir / CELL_FILE
    try:
        plan = json.loads(file.read_text(encoding="utf-8"))
        evaluation = EvalSpec(**plan["eval"])
        config = TrainConfig.from_dict(plan["config"]).validate()
    except UserError as exc:
        raise UserError(f"{file}: {exc}") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(
            f"{file}: not a readable cell plan ({type(exc).__name__}); remove that cell folder to rerun it"
        ) from None
    torch.set_num_threads(max(1, config.runtime.num_threads))
    run_dir = cell_dir / RUN_SUBDIR
    # The run folder is judged (and a dead one removed) only under the cell's own lock, held until the cell ends:
    # a second process on the same cell is refused here instead of deleting a live run.
    with DirectoryLock(cell_dir, CELL_LOCK, "comparison cell"):
        resume = latest_checkpoint(run_dir, resumable=True) is not None
        if run_dir.exists() and not list_checkpoints(run_dir):
            shutil.rmtree(run_dir)  # killed before its first checkpoint: start it again
        started = time.perf_counter()
        result = train(config, run_dir, resume=resume)
        train_seconds = time.perf_counter() - started
        return _evaluate_cell(cell_dir, plan, evaluation, config, run_dir, result, resume, train_seconds)


def _evaluate_cell(cell_dir, plan, evaluation, config, run_dir, result, resume, train_seconds) -> dict[str, Any]:
    """Evaluate the trained cell's newest checkpoint and write its record (under the cell's lock)."""
    from hrm.checkpoints import open_checkpoint
    from hrm.data.format import load_split
    from hrm.data.kind import dataset_kind
    from hrm.evaluation.breakdown import DifficultyBreakdown
    from hrm.evaluation.evaluate import scaling_sweep
    from hrm.training.trainer import head_of_split

    checkpoint = open_checkpoint(run_dir)  # the newest: the state at the end of the budget
    model = checkpoint.model
    root = Path(config.data.path)
    split = load_split(root / config.data.eval_split)
    if evaluation.max_examples > 0:
        split = head_of_split(split, evaluation.max_examples)
    max_segments = int(model.max_segments)
    caps = evaluation.segments or default_caps(max_segments)
    if max_segments <= 1:
        caps = [1]
    caps = sorted(set(caps) | {max_segments})
    eval_started = time.perf_counter()
    breakdown = DifficultyBreakdown.for_kind(dataset_kind(root))  # Sudoku: givens, maze: path length, else none
    sweep = scaling_sweep(
        model,
        split,
        caps,
        batch_size=evaluation.batch_size,
        progress=False,
        consumers=[breakdown] if breakdown is not None else (),
    )
    by_cap = {r.max_segments: r for r in sweep}
    main = by_cap[max_segments]
    early = None
    if evaluation.early_exit and model.has_halting_head:
        early = scaling_sweep(
            model, split, [max_segments], batch_size=evaluation.batch_size, early_exit=True, progress=False
        )[0]
    eval_seconds = time.perf_counter() - eval_started
    record = {
        "cell": plan["id"],
        "family": plan["family"],
        "model": plan["model"],
        "task": plan["task"],
        "recipe": plan["recipe"],
        "seed": plan["seed"],
        "budget": plan["budget"],
        "overrides": plan["overrides"],
        "parameters": plan["parameters"],
        "flops_per_step": plan["flops_per_step"],
        "steps": int(result.step),
        "train_flops": int(result.step) * int(plan["flops_per_step"]),
        "wall_s": round(float(result.elapsed_s), 3),
        "process_wall_s": round(train_seconds, 3),
        "resumed": resume,
        "eval_rows": int(main.metrics.count),
        "max_segments": max_segments,
        "exact_accuracy": main.metrics.exact_accuracy,
        "token_accuracy": main.metrics.token_accuracy,
        "mean_segments": early.metrics.mean_segments if early is not None else main.metrics.mean_segments,
        "early_exit": None
        if early is None
        else {
            "exact_accuracy": early.metrics.exact_accuracy,
            "token_accuracy": early.metrics.token_accuracy,
            "mean_segments": early.metrics.mean_segments,
        },
        "scaling": [
            {
                "segments": cap,
                "exact_accuracy": r.metrics.exact_accuracy,
                "token_accuracy": r.metrics.token_accuracy,
            }
            for cap, r in sorted(by_cap.items())
        ],
        "breakdown": _breakdown_dict(breakdown, max_segments),
        "eval_s": round(eval_seconds, 3),
        "machine": machine_info(config.runtime.num_threads),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "config": plan["config"],
    }
    _write_json_atomic(cell_dir / RECORD_FILE, record)
    return record


# ---------------------------------------------------------------------------------------------------------------
# Running the grid
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class CompareResult:
    out: Path
    records: list[dict[str, Any]]
    ran: list[str]  # cells run (or resumed) by this call
    skipped: list[str]  # cells already finished
    failed: dict[str, str]  # cell id -> the last line of its log


def _cell_plan(cell: Cell, spec: CompareSpec) -> dict[str, Any]:
    return {
        **cell.plan(),
        "budget": {"kind": spec.budget.kind, "value": spec.budget.value},
        "eval": dataclasses.asdict(spec.eval),
    }


def _same_plan(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("budget", "eval", "model")
    same = all(json.dumps(old.get(k), sort_keys=True) == json.dumps(new.get(k), sort_keys=True) for k in keys)
    return same and _normalised_config(old.get("config")) == _normalised_config(new.get("config"))


def _normalised_config(config: Any) -> str:
    """A cell's training config read through today's TrainConfig: a key added to the library since the cell ran
    takes its default, so a study started by an older version resumes as long as nothing it set has changed (a
    key that no longer exists makes the configs differ)."""
    from hrm.training.config import TrainConfig

    try:
        config = TrainConfig.from_dict(config).to_dict()
    except Exception:  # not a config this version can read: compare as written
        pass
    return json.dumps(config, sort_keys=True, default=str)


def make_out_dir(out: Path) -> None:
    """Create ``out`` (and its parents); UserError in one line when that is impossible (e.g. under /proc)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"--out {out}: cannot create the folder ({exc.strerror or exc}); choose a path you can write"
        ) from None


def check_out_dir(out: Path, cells: list[Cell], spec: CompareSpec) -> None:
    """A rerun into ``out`` must describe the same cells as before; UserError (before anything is written)."""
    ours = any((out / name).exists() for name in (SPEC_FILE, CELLS_DIR, RECORDS_FILE, STUDY_FILE))
    if out.is_dir() and any(out.iterdir()) and not ours:
        raise UserError(
            f"--out {out}: an existing folder that is not a comparison (no {SPEC_FILE}, {CELLS_DIR}/ or "
            f"{RECORDS_FILE}); its files would be overwritten: use a new or empty folder"
        )
    for cell in cells:
        file = out / CELLS_DIR / cell.id / CELL_FILE
        if not file.is_file():
            continue
        try:
            old = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{file}: unreadable ({exc}); remove that cell folder to rerun it") from None
        if not isinstance(old, dict):
            raise UserError(f"{file}: not a cell plan (a JSON object); remove that cell folder to rerun it")
        if not _same_plan(old, _cell_plan(cell, spec)):
            raise UserError(
                f"{out}: cell {cell.id} was run with a different config, budget or evaluation; "
                "use a new --out (or remove that cell's folder to rerun it)"
            )


def cell_command(cell_dir: Path) -> list[str]:
    return [sys.executable, "-m", "hrm.analysis.compare_cell", EXIT_WITH_PARENT, str(cell_dir)]


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


# What the summary reads of a record: these numbers, these strings and the parameter counts.
_RECORD_NUMBERS = (
    "exact_accuracy", "token_accuracy", "wall_s", "steps", "train_flops", "flops_per_step", "mean_segments",
)  # fmt: skip
_RECORD_STRINGS = ("cell", "family", "model", "task")


def complete_record(record: Any) -> dict[str, Any] | None:
    """``record`` if it holds everything the summary reads (with the right types), else None."""
    if not isinstance(record, dict):
        return None
    if not all(isinstance(record.get(key), str) for key in _RECORD_STRINGS):
        return None
    for key in _RECORD_NUMBERS:
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
    parameters = record.get("parameters")
    if not isinstance(parameters, dict) or not any(k in parameters for k in ("trunk", "total")):
        return None
    return record


def valid_record(file: Path) -> dict[str, Any] | None:
    """The record in ``file`` if it is a complete one (:func:`complete_record`), else None: a record is written
    atomically, so a torn or hand-edited one is not a finished cell."""
    try:
        return complete_record(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_records(
    out: Path, log: Callable[[str], None] | None = None, only: set[str] | None = None
) -> list[dict[str, Any]]:
    """Every finished cell's record under ``out/cells`` (sorted by cell id); an unreadable one is left out (and
    named through ``log``). ``only``: the ids of the spec's cells; a folder of a cell the spec no longer has (a
    family or seed dropped from it) is kept on disk but left out of the records."""
    records = []
    for file in sorted((out / CELLS_DIR).glob(f"*/{RECORD_FILE}")):
        if only is not None and file.parent.name not in only:
            continue
        record = valid_record(file)
        if record is None:
            if log is not None:
                log(f"  {file}: not a complete record (torn or corrupt); left out")
            continue
        records.append(record)
    return records


def write_records(out: Path, records: list[dict[str, Any]]) -> Path:
    """``records.jsonl``, rewritten atomically (so a reader never sees a torn line)."""
    import tempfile

    file = out / RECORDS_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{RECORDS_FILE}.", suffix=".tmp", dir=out)
    with open(fd, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, default=_json_default) + "\n")
    os.replace(tmp, file)
    return file


def _last_line(path: Path) -> str:
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
) -> CompareResult:
    """Run every unfinished cell of ``spec`` into ``out``, then write records and (with ``report``) the table and
    plots."""
    out = Path(out)
    engine = engine or spec.engine
    if engine not in ENGINES:
        raise UserError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if parallel is not None:
        spec.parallel = _positive_int(parallel, "--parallel")
    if engine == "ray":
        _require_ray()
    cells = plan_cells(spec)  # everything validated before anything is written
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    prepare_cells(cells, spec.budget, log=log)  # datasets, FLOPs/step, parameters (nothing under out yet)
    check_out_dir(out, cells, spec)
    make_out_dir(out)
    # One comparison process per folder: a second one would rerun (and delete) the first one's live cells.
    with DirectoryLock(out, COMPARE_LOCK, "comparison folder"):
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
        _write_json_atomic(cell_dir / CELL_FILE, _cell_plan(cell, spec))
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
            failed[cell.id] = _last_line(cell_dir / LOG_FILE)
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


# ---------------------------------------------------------------------------------------------------------------
# Report: summary table (mean, sd, 95% t-interval over seeds) and plots
# ---------------------------------------------------------------------------------------------------------------


def t_cdf(t: float, df: int) -> float:
    """Student's t CDF for an integer number of degrees of freedom (closed form, Abramowitz & Stegun 26.7.3-4)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    theta = math.atan(t / math.sqrt(df))
    if df == 1:
        a = 2 * theta / math.pi
    elif df % 2 == 1:
        total, term = math.cos(theta), math.cos(theta)
        for k in range(3, df, 2):
            term *= (k - 1) / k * math.cos(theta) ** 2
            total += term
        a = 2 / math.pi * (theta + math.sin(theta) * total)
    else:
        total, term = 1.0, 1.0
        for k in range(2, df, 2):
            term *= (k - 1) / k * math.cos(theta) ** 2
            total += term
        a = math.sin(theta) * total
    return 0.5 + 0.5 * a


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`)."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mean_sd_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean, sample standard deviation and the half-width of the ``level`` t-interval (None with one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, sd, t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)


SUMMARY_COLUMNS = (
    "family",
    "model",
    "task",
    "seeds",
    "parameters",
    "flops_per_step",
    "steps",
    "train_flops",
    "wall_min",
    "exact_mean",
    "exact_sd",
    "exact_ci95_low",
    "exact_ci95_high",
    "token_mean",
    "token_sd",
    "token_ci95_low",
    "token_ci95_high",
    "mean_segments",
)


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (family, task), in the order the records' cells first appear."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["family"], record["task"]), []).append(record)
    rows = []
    for (family, task), group in groups.items():
        exact = mean_sd_ci([r["exact_accuracy"] for r in group])
        token = mean_sd_ci([r["token_accuracy"] for r in group])

        def bounds(stat: tuple[float, float | None, float | None]) -> tuple[float | None, float | None]:
            mean, _, half = stat
            return (None, None) if half is None else (max(0.0, mean - half), min(1.0, mean + half))

        rows.append(
            {
                "family": family,
                "model": group[0]["model"],
                "task": task,
                "seeds": len(group),
                "parameters": group[0]["parameters"].get("trunk", group[0]["parameters"].get("total")),
                "flops_per_step": group[0]["flops_per_step"],
                "steps": sum(r["steps"] for r in group) / len(group),
                "train_flops": sum(r["train_flops"] for r in group) / len(group),
                "wall_min": sum(r["wall_s"] for r in group) / len(group) / 60,
                "exact_mean": exact[0],
                "exact_sd": exact[1],
                "exact_ci95_low": bounds(exact)[0],
                "exact_ci95_high": bounds(exact)[1],
                "token_mean": token[0],
                "token_sd": token[1],
                "token_ci95_low": bounds(token)[0],
                "token_ci95_high": bounds(token)[1],
                "mean_segments": sum(r["mean_segments"] for r in group) / len(group),
            }
        )
    return rows


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def format_markdown(rows: list[dict[str, Any]], title: str = "") -> str:
    lines = [f"# {title}", ""] if title else []
    lines += [
        "| family | task | seeds | params | GFLOPs/step | steps | train PFLOPs | wall min | exact % (mean ± sd) "
        "| exact 95% CI | token % (mean ± sd) | segments |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        exact_sd = "" if r["exact_sd"] is None else f" ± {100 * r['exact_sd']:.1f}"
        token_sd = "" if r["token_sd"] is None else f" ± {100 * r['token_sd']:.1f}"
        ci = "–" if r["exact_ci95_low"] is None else f"{_pct(r['exact_ci95_low'])}–{_pct(r['exact_ci95_high'])}"
        lines.append(
            f"| {r['family']} | {r['task']} | {r['seeds']} | {r['parameters']:,} | {r['flops_per_step'] / 1e9:.3g} "
            f"| {r['steps']:.0f} | {r['train_flops'] / 1e15:.3g} | {r['wall_min']:.1f} "
            f"| {_pct(r['exact_mean'])}{exact_sd} | {ci} | {_pct(r['token_mean'])}{token_sd} "
            f"| {r['mean_segments']:.2f} |"
        )
    lines += [
        "",
        "exact/token: held-out accuracy at the family's M_max segments; CI: 95% t-interval of the mean over seeds "
        "(clipped to [0, 100]); segments: mean segments used with early exit (M_max without a halting head); "
        f"train FLOPs = steps x {TRAIN_FLOPS_FACTOR} x forward FLOPs of one segment over the batch.",
    ]
    return "\n".join(lines) + "\n"


def write_summary(out: Path, rows: list[dict[str, Any]], title: str = "") -> list[Path]:
    import csv

    md = out / SUMMARY_MD
    csv_file = out / SUMMARY_CSV
    tmp_md, tmp_csv = out / f".{SUMMARY_MD}.tmp", out / f".{SUMMARY_CSV}.tmp"
    tmp_md.write_text(format_markdown(rows, title), encoding="utf-8")
    with open(tmp_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in SUMMARY_COLUMNS})
    os.replace(tmp_md, md)
    os.replace(tmp_csv, csv_file)
    return [md, csv_file]


def plot_records(out: Path, records: list[dict[str, Any]]) -> list[Path]:
    """Exact accuracy against training FLOPs (each seed a point, the mean a larger marker) and against the
    inference segment cap (mean over seeds), one colour per family, one panel per task."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: no global state (searches run trials in threads)

    plots = out / PLOTS_DIR
    plots.mkdir(exist_ok=True)
    tasks = list(dict.fromkeys(r["task"] for r in records))
    families = list(dict.fromkeys(r["family"] for r in records))
    colours = {f: colormaps["tab10" if len(families) <= 10 else "tab20"](i) for i, f in enumerate(families)}
    written = []

    fig = Figure(figsize=(5.5 * len(tasks), 4.2))
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for family in families:
            group = [r for r in records if r["task"] == task and r["family"] == family]
            if not group:
                continue
            xs = [max(r["train_flops"], 1) for r in group]
            ys = [100 * r["exact_accuracy"] for r in group]
            ax.scatter(xs, ys, color=colours[family], alpha=0.45, s=18)
            ax.scatter([sum(xs) / len(xs)], [sum(ys) / len(ys)], color=colours[family], s=70, label=family,
                       edgecolors="black")  # fmt: skip
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("held-out exact accuracy (%)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = plots / COMPUTE_PLOT
    fig.savefig(path, dpi=110)
    written.append(path)

    fig = Figure(figsize=(5.5 * len(tasks), 4.2))
    axes = fig.subplots(1, len(tasks), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for family in families:
            group = [r for r in records if r["task"] == task and r["family"] == family]
            by_cap: dict[int, list[float]] = {}
            for r in group:
                for point in r.get("scaling", []):
                    by_cap.setdefault(int(point["segments"]), []).append(100 * point["exact_accuracy"])
            if not by_cap:
                continue
            caps = sorted(by_cap)
            ax.plot(caps, [sum(by_cap[c]) / len(by_cap[c]) for c in caps], marker="o", color=colours[family],
                    label=family)  # fmt: skip
        all_caps = sorted({int(p["segments"]) for r in records if r["task"] == task for p in r.get("scaling", [])})
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_caps or [1], [str(c) for c in all_caps or [1]])
        ax.set_ylim(bottom=0)
        ax.set_xlabel("inference segments allowed")
        ax.set_ylabel("held-out exact accuracy (%)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = plots / SEGMENTS_PLOT
    fig.savefig(path, dpi=110)
    written.append(path)
    return written


def write_report(out: Path, records: list[dict[str, Any]] | None = None, title: str | None = None) -> list[Path]:
    """Summary table and plots from the records (``hrm compare --report DIR``)."""
    if records is None:
        records = load_records(out)
    if not records:
        raise UserError(f"{out}: no finished cells yet ({RECORDS_FILE} is empty); run `hrm compare SPEC --out {out}`")
    if title is None:
        title = _title(out)
    return [*write_summary(out, summarise(records), title), *plot_records(out, records)]


def _title(out: Path) -> str:
    spec = out / SPEC_FILE
    if spec.is_file():
        try:
            import yaml

            data = yaml.safe_load(spec.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                return data["name"]
        except Exception:  # noqa: BLE001 - the title is cosmetic
            pass
    return out.name


def _spec_cells(out: Path) -> set[str] | None:
    """The cell ids of the spec saved in ``out`` (None when there is none or it no longer plans)."""
    if not (out / SPEC_FILE).is_file():
        return None
    try:
        return {cell.id for cell in plan_cells(load_spec(out / SPEC_FILE))}
    except UserError:
        return None


def load_records(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a comparison directory: ``records.jsonl``, or the cells' ``record.json`` files when it is
    missing; UserError when ``out`` is not a comparison directory."""
    out = Path(out)
    file = out / RECORDS_FILE
    if not out.is_dir() or not (file.is_file() or (out / CELLS_DIR).is_dir()):
        raise UserError(f"{out}: not a comparison directory (no {RECORDS_FILE}); make one with `hrm compare SPEC`")
    from_cells = read_records(out, only=_spec_cells(out))
    if from_cells:
        return from_cells
    records = []
    if file.is_file():
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{file}: unreadable ({type(exc).__name__}); rerun `hrm compare` to rewrite it") from None
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = complete_record(json.loads(line))
            except json.JSONDecodeError:
                raise UserError(f"{file}:{number}: not valid JSON") from None
            if record is None:
                raise UserError(f"{file}:{number}: not a complete cell record; rerun `hrm compare` to rewrite it")
            records.append(record)
    return records
