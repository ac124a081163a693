"""A comparison spec (YAML; docs/compare.md): tasks, families, seeds, one budget, the evaluation and how cells run.

Everything about a spec is checked here (keys, types, bounds) before anything is planned or written; a problem is
one :class:`~hrm.errors.UserError` line naming it. Whether its families, recipes and overrides resolve is
:func:`hrm.lab.plan.plan_cells`'s question.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.model.limits import MAX_RECURRENCE, MAX_SEED, MAX_SEEDS

BUDGET_KINDS = ("steps", "minutes", "flops")
ENGINES = ("local", "ray")
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
    "tune": "{trials, params, families, sampler, metric, seed}: an Optuna search per family first (hrm.lab.tune)",
}
TASK_KEYS = ("name", "recipe", "overrides")
FAMILY_KEYS = ("name", "model", "overrides")
EVAL_KEYS = ("segments", "early_exit", "max_examples", "batch_size")


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
    tune: dict[str, Any] | None = None  # the raw `tune:` block, checked by hrm.lab.tune.search_specs
    tuned: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # family -> task -> the search's best


def parse_overrides(value: Any, where: str) -> list[str]:
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
    return Entry(name=name, base=base, overrides=parse_overrides(item.get("overrides"), f"{where} ({name})"))


def positive_int(value: Any, key: str) -> int:
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
        if positive_int(seeds_raw, "seeds") > MAX_SEEDS:  # checked before the list of seeds exists
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
        overrides=parse_overrides(data.get("overrides"), "spec: overrides"),
        eval=EvalSpec(
            segments=segments,
            early_exit=early_exit,
            max_examples=max_examples,
            batch_size=positive_int(eval_raw.get("batch_size", 256), "eval.batch_size"),
        ),
        parallel=positive_int(data.get("parallel", 1), "parallel"),
        threads=positive_int(data.get("threads", 1), "threads"),
        engine=engine,
        ray_address=ray_address,
        text=text,
        tune=data.get("tune"),
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
