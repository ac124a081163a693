"""Every family tuned the same way (a spec's ``tune:`` block): one Optuna search per (family, task) with the same
trial budget, on the validation split, seed 0; then the spec's seeds run at each family's best.

::

    tune:
      trials: 8                   # the same for every family
      sampler: tpe                # tpe (default), random, grid
      metric: exact_accuracy      # or token_accuracy; validation when the task has it
      seed: 0                     # the samplers' seed
      params:                     # searched for every family
        optim.lr: {low: 1.0e-3, high: 1.0e-2, log: true}
        optim.warmup_steps: {choices: [20, 50, 100]}
      families:                   # extra knobs of one family (by its label in `families:`)
        trm: {trm.low_cycles: {choices: [2, 4, 6]}}

Each search is a comparison folder of its own, ``DIR/tune/FAMILY__TASK/`` (its cells, records and ``study.db``),
so a rerun continues it; its best trial's overrides are appended to the family's for that task, and every record
of the main grid says what it was tuned to and how many trials it had (``tuned``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.plan import slug
from hrm.lab.spec import CompareSpec
from hrm.lab.study_dir import TUNE_DIR

TUNE_KEYS = ("trials", "sampler", "metric", "seed", "params", "families")
TUNE_SEEDS = [0]  # searches run on seed 0; the spec's seeds then run at the best


def search_specs(spec: CompareSpec) -> dict[tuple[str, str], Any]:
    """One :class:`~hrm.lab.search.SearchSpec` per (family label, task label); UserError on a bad ``tune:`` block
    (every space is checked against the configs before anything runs)."""
    from hrm.lab.search import parse_search_spec

    tune = spec.tune
    if not isinstance(tune, dict):
        raise UserError(f"spec: tune must be a mapping with keys among {', '.join(TUNE_KEYS)}, got {tune!r}")
    unknown = sorted(set(map(str, tune)) - set(TUNE_KEYS))
    if unknown:
        raise UserError(f"spec: tune: unknown key(s) {', '.join(unknown)}; valid: {', '.join(TUNE_KEYS)}")
    common = tune.get("params") or {}
    extra = tune.get("families") or {}
    if not isinstance(common, dict) or not isinstance(extra, dict):
        raise UserError("spec: tune: params and families must be mappings")
    labels = {f.name for f in spec.families}
    stray = sorted(set(map(str, extra)) - labels)
    if stray:
        raise UserError(f"spec: tune.families: {', '.join(stray)} not in families ({', '.join(sorted(labels))})")
    if "trials" not in tune:
        raise UserError("spec: tune: missing 'trials' (the same trial budget for every family)")
    specs = {}
    for family in spec.families:
        own = extra.get(family.name) or {}
        if not isinstance(own, dict):
            raise UserError(f"spec: tune.families.{family.name}: expected a mapping of key -> range or choices")
        params = {**common, **own}
        if not params:
            raise UserError(f"spec: tune: nothing to search for family {family.name!r}; give tune.params")
        for task in spec.tasks:
            data = {
                "task": {"name": task.name, "recipe": task.base, "overrides": list(task.overrides)},
                "family": {"name": family.name, "model": family.base, "overrides": list(family.overrides)},
                "seeds": TUNE_SEEDS,
                "budget": {spec.budget.kind: spec.budget.value},
                "overrides": list(spec.overrides),
                "eval": dataclasses.asdict(spec.eval),
                "parallel": spec.parallel,
                "threads": spec.threads,
                "trials": tune["trials"],
                "sampler": tune.get("sampler", "tpe"),
                "metric": tune.get("metric", "exact_accuracy"),
                "seed": tune.get("seed", 0),
                "params": params,
            }
            name = f"{spec.name}-tune-{slug(family.name)}__{slug(task.name)}"
            try:
                specs[(family.name, task.name)] = parse_search_spec(data, name=name)
            except UserError as exc:
                raise UserError(f"spec: tune ({family.name} x {task.name}): {exc}") from None
    return specs


def tune_families(
    spec: CompareSpec, out: Path, searches: dict[tuple[str, str], Any], log: Callable[[str], None] = print
) -> dict[str, dict[str, dict[str, Any]]]:
    """Run (or continue) every search; ``{family: {task: {"overrides", "trials", "metric", "value"}}}``."""
    from hrm.lab.search import run_search

    tuned: dict[str, dict[str, dict[str, Any]]] = {}
    for (family, task), search in searches.items():
        folder = out / TUNE_DIR / f"{slug(family)}__{slug(task)}"
        log(f"tuning {family} on {task}: {search.trials} trial(s) into {folder}")
        result = run_search(search, folder, log=lambda _: None)
        if result.best is None:
            raise UserError(f"{folder}: no trial of {family} on {task} finished; see its cells' log.txt")
        tuned.setdefault(family, {})[task] = {
            "overrides": list(result.best["overrides"]),
            "trials": len(result.trials),
            "metric": search.metric,
            "value": result.best[search.metric],
        }
        chosen = " ".join(result.best["overrides"]) or "(the family as given)"
        log(f"  {family} on {task}: best {search.metric} {result.best[search.metric]:.4f}: {chosen}")
    return tuned
