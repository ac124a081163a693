"""The cells of a spec: each (family, task, seed) resolved to a validated training config, its dataset made to
exist, its parameters and FLOPs per step measured, and the check that a rerun into a folder plans the same cells.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.spec import Budget, CompareSpec
from hrm.lab.study_dir import CELL_FILE, CELLS_DIR, RECORDS_FILE, SPEC_FILE, STUDY_FILE, TUNE_DIR

# Training FLOPs of one optimiser step = TRAIN_FLOPS_FACTOR x the forward FLOPs of one segment over the batch:
# forward + backward ~ 3x forward (the usual convention). Families with a truncated (1-step) gradient spend less
# on the backward; the factor is the same for every family so that budgets stay comparable (docs/compare.md).
TRAIN_FLOPS_FACTOR = 3
# Validation points per cell under a step or FLOPs budget (a curve, not one point; issue 22).
CURVE_POINTS = 4
# An upper bound on steps under a wall-minutes budget (the time budget is what stops the run).
MINUTES_MAX_STEPS = 10**9


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
    flops_per_step: int = 0  # the convention: TRAIN_FLOPS_FACTOR x one segment's forward
    flops_per_step_measured: int = 0  # one real step counted (hrm.training.flops); what a FLOPs budget spends
    parameters: dict[str, int] = field(default_factory=dict)
    seq_len: int = 0
    max_segments: int = 1
    has_halting_head: bool = False
    tuned: dict[str, Any] | None = None  # what a `tune:` search chose for this family and task, and its trials

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
            "flops_per_step_measured": self.flops_per_step_measured,
            "parameters": self.parameters,
            "seq_len": self.seq_len,
            "max_segments": self.max_segments,
            "has_halting_head": self.has_halting_head,
            "tuned": self.tuned,
        }


def slug(text: str) -> str:
    """A label as a folder name: letters, digits, '.', '_' and '-' kept, every other run of characters a '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _check_unique_slugs(what: str, names: list[str]) -> None:
    """Two names that map to one folder name would share a cell folder (one overwriting the other): refuse."""
    seen: dict[str, str] = {}
    for name in names:
        folder = slug(name)
        if folder in seen and seen[folder] != name:
            raise UserError(
                f"spec: {what} {seen[folder]!r} and {name!r} both map to the folder name {folder!r}; "
                "rename one (letters, digits, '.', '_' and '-' are kept as they are)"
            )
        seen[folder] = name


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
                tuned = spec.tuned.get(family.name, {}).get(task.name)
                overrides = [
                    f"model={family.base}",
                    *task.overrides,
                    *spec.overrides,
                    *family.overrides,
                    *(tuned["overrides"] if tuned else []),  # the family's best on this task (hrm.lab.tune)
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
                cell_id = f"{slug(family.name)}__{slug(task.name)}__s{seed}"
                cell = Cell(cell_id, family.name, family.base, task.name, task.base, seed, overrides, config)
                cell.tuned = tuned
                cells.append(cell)
    return cells


def prepare_cells(cells: list[Cell], budget: Budget, log: Callable[[str], None] = print) -> None:
    """Make every cell's dataset exist (generated once, here, not by parallel cells), then measure parameters and
    FLOPs per step from the built model, and turn a FLOPs budget into each cell's step count."""
    from hrm.data.config import ensure_dataset
    from hrm.data.format import load_split
    from hrm.model.registry import build_model
    from hrm.training.config import apply_overrides
    from hrm.training.flops import measure_step_flops

    seen: set[str] = set()
    for cell in cells:
        data = cell.config.data
        root = Path(data.path).resolve()
        if str(root) not in seen:
            seen.add(str(root))
            ensure_dataset(cell.config.data)
        cell.config.data.path = str(root)  # cells run in their own working directories
        meta = load_split(root / data.train_split).metadata
        model = build_model(
            cell.model, cell.config.model_config(meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers)
        )
        cell.parameters = {k: int(v) for k, v in model.num_parameters().items()}
        batch = cell.config.schedule.global_batch_size
        cell.flops_per_step = int(TRAIN_FLOPS_FACTOR * model.flops_per_segment(batch, meta.seq_len))
        cell.flops_per_step_measured = measure_step_flops(model, batch, int(meta.seq_len), cell.config.loss_type)
        cell.seq_len = int(meta.seq_len)
        cell.max_segments = int(model.max_segments)
        cell.has_halting_head = bool(model.has_halting_head)
        if budget.kind == "flops":
            steps = int(budget.value // cell.flops_per_step_measured)
            if steps < 1:
                raise UserError(
                    f"cell {cell.id}: the FLOPs budget {budget.value:.3g} is less than one training step "
                    f"({cell.flops_per_step_measured:.3g} FLOPs, measured); raise budget.flops"
                )
            cell.overrides.append(f"schedule.max_steps={steps}")
            cell.config = apply_overrides(cell.config, [f"schedule.max_steps={steps}"])
        _curve_overrides(cell, budget)


def cell_plan(cell: Cell, spec: CompareSpec) -> dict[str, Any]:
    return {
        **cell.plan(),
        "budget": {"kind": spec.budget.kind, "value": spec.budget.value},
        "eval": dataclasses.asdict(spec.eval),
    }


def same_plan(old: dict[str, Any], new: dict[str, Any]) -> bool:
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


def check_out_dir(out: Path, cells: list[Cell], spec: CompareSpec) -> None:
    """A rerun into ``out`` must describe the same cells as before; UserError (before anything is written)."""
    ours = any((out / name).exists() for name in (SPEC_FILE, CELLS_DIR, RECORDS_FILE, STUDY_FILE, TUNE_DIR))
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
        if not same_plan(old, cell_plan(cell, spec)):
            raise UserError(
                f"{out}: cell {cell.id} was run with a different config, budget or evaluation; "
                "use a new --out (or remove that cell's folder to rerun it)"
            )


def _curve_overrides(cell: Cell, budget: Budget) -> None:
    """With a validation split and a known step count, evaluate it :data:`CURVE_POINTS` times over the budget
    (unless the spec sets ``schedule.eval_every_steps`` itself); under a minutes budget the recipe's interval
    stays."""
    from hrm.training.config import apply_overrides

    data, schedule = cell.config.data, cell.config.schedule
    has_validation = bool(data.eval_split) and data.eval_split != data.test_split
    if not has_validation or budget.kind == "minutes" or schedule.eval_every_steps > 0:
        return
    every = max(1, -(-schedule.max_steps // CURVE_POINTS))
    cell.overrides.append(f"schedule.eval_every_steps={every}")
    cell.config = apply_overrides(cell.config, [f"schedule.eval_every_steps={every}"])
