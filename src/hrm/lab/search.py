"""Hyperparameter searches on top of the comparison lab, driven by Optuna (``pip install 'hrm-reasoning[search]'``).

A search spec (YAML, ``hrm compare --search SEARCH.yaml --out DIR``, or :func:`run_search` from Python) names one
task, one family, seeds and a budget as a comparison spec does, plus a search space over override keys::

    name: lr-and-segments
    task: cpu-sudoku-6x6-minimal           # a recipe, or {recipe, overrides}
    family: hrm                            # a model family, or {model, overrides}
    seeds: [0]
    budget: {minutes: 8}
    trials: 12
    sampler: tpe                           # tpe (default), random, or grid (every combination of choices)
    metric: exact_accuracy                 # or token_accuracy; the mean over seeds on validation, maximised
    params:
      optim.lr: {low: 1.0e-4, high: 1.0e-2, log: true}      # a float range
      arch.hidden_size: {low: 32, high: 128, step: 32}      # an int range (ints in low/high/step)
      arch.halt_max_steps: {choices: [2, 4, 8]}             # a categorical value
      candidate: {choices: {base: [], wide: [arch.hidden_size=128]}}   # named override sets

Each trial is one family entry (``trial-NNN``) of a comparison run into the same ``DIR``, so its cells, records,
table and plots are the lab's; the Optuna study lives in ``DIR/study.db`` (SQLite), so rerunning the command
continues the search up to ``trials`` finished trials.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrm.errors import UserError
from hrm.lab.grid import run_compare
from hrm.lab.plan import plan_cells, prepare_cells
from hrm.lab.records import read_records, write_records
from hrm.lab.report import write_report
from hrm.lab.spec import SPEC_KEYS, CompareSpec, Entry, parse_overrides, parse_spec, positive_int
from hrm.lab.study_dir import COMPARE_LOCK, SPEC_FILE, STUDY_FILE, make_out_dir
from hrm.model.limits import MAX_SEED
from hrm.runtime.files import DirectoryLock

SEARCH_KEYS = (
    "name",
    "description",
    "task",
    "family",
    "seeds",
    "budget",
    "overrides",
    "eval",
    "parallel",
    "threads",
    "trials",
    "sampler",
    "metric",
    "params",
    "seed",
)
SAMPLERS = ("tpe", "random", "grid")
METRICS = ("exact_accuracy", "token_accuracy")
TRIALS_FILE = "trials.json"


@dataclass
class Param:
    """One search dimension: a float/int range, a list of choices, or named override sets (``sets``)."""

    key: str
    kind: str  # "float" | "int" | "choice" | "sets"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)
    sets: dict[str, list[str]] = field(default_factory=dict)

    def overrides(self, value: Any) -> list[str]:
        if self.kind == "sets":
            return list(self.sets[value])
        if isinstance(value, bool):
            value = "true" if value else "false"
        return [f"{self.key}={value}"]


@dataclass
class SearchSpec:
    name: str
    base: CompareSpec  # one task, one family; its families[0] overrides are the fixed ones
    params: list[Param]
    trials: int
    sampler: str = "tpe"
    metric: str = "exact_accuracy"
    seed: int = 0


def _number(value: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{where}: expected a number, got {value!r}")
    return value


def _param(key: str, raw: Any) -> Param:
    where = f"search spec: params.{key}"
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected {{low, high[, log, step]}} or {{choices: [...]}}, got {raw!r}")
    if "choices" in raw:
        if set(raw) != {"choices"}:
            raise UserError(f"{where}: choices takes no other keys")
        choices = raw["choices"]
        if isinstance(choices, dict) and choices:
            sets = {str(name): parse_overrides(value, f"{where}.{name}") for name, value in choices.items()}
            return Param(key, "sets", choices=list(sets), sets=sets)
        if not isinstance(choices, list) or not choices:
            raise UserError(f"{where}: choices must be a non-empty list (or a mapping of named override sets)")
        return Param(key, "choice", choices=choices)
    unknown = sorted(set(raw) - {"low", "high", "log", "step"})
    if unknown or "low" not in raw or "high" not in raw:
        raise UserError(f"{where}: a range needs low and high (and optionally log, step); got {sorted(raw)}")
    low, high = _number(raw["low"], f"{where}.low"), _number(raw["high"], f"{where}.high")
    step = None if raw.get("step") is None else _number(raw["step"], f"{where}.step")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"{where}.log: expected true or false")
    if step is not None and not step > 0:
        raise UserError(f"{where}.step: must be > 0, got {step}")
    if step is not None and log:
        raise UserError(f"{where}: step and log cannot be combined (a log range has no even steps); drop one")
    if not low < high or (log and low <= 0):
        raise UserError(f"{where}: need low < high (and low > 0 with log), got {low} and {high}")
    is_int = all(isinstance(v, int) for v in (raw["low"], raw["high"])) and (step is None or isinstance(step, int))
    return Param(key, "int" if is_int else "float", low=low, high=high, log=log, step=step)


def parse_search_spec(data: Any, name: str = "search", text: str = "") -> SearchSpec:
    """A :class:`SearchSpec` from the parsed YAML; every trial's overrides are checked against the task's config
    (each range's ends, each choice) before anything runs."""
    if not isinstance(data, dict):
        raise UserError(f"search spec: expected a mapping with keys {', '.join(SEARCH_KEYS)}")
    unknown = sorted(set(data) - set(SEARCH_KEYS))
    if unknown:
        raise UserError(f"search spec: unknown key(s) {', '.join(map(str, unknown))}; valid: {', '.join(SEARCH_KEYS)}")
    for key in ("task", "family", "budget", "params", "trials"):
        if key not in data:
            raise UserError(f"search spec: missing {key!r}")
    base = {k: v for k, v in data.items() if k in SPEC_KEYS and k not in ("task", "family")}
    base["tasks"] = [data["task"]]
    base["families"] = [data["family"]]
    base_spec = parse_spec(base, name=name, text=text)
    if not isinstance(data["params"], dict) or not data["params"]:
        raise UserError("search spec: params must be a non-empty mapping of override key -> range or choices")
    params = [_param(str(key), raw) for key, raw in data["params"].items()]
    trials = positive_int(data["trials"], "trials")
    sampler = data.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise UserError(f"search spec: sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if sampler == "grid" and any(p.kind not in ("choice", "sets") for p in params):
        raise UserError("search spec: sampler grid needs every param to be {choices: [...]}")
    metric = data.get("metric", "exact_accuracy")
    if metric not in METRICS:
        raise UserError(f"search spec: metric must be one of {', '.join(METRICS)}, got {metric!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UserError(f"search spec: seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    spec = SearchSpec(base_spec.name, base_spec, params, trials, sampler, metric, seed)
    _check_space(spec)
    return spec


def _check_space(spec: SearchSpec) -> None:
    """Every extreme of every dimension must make a valid config (an unknown key fails here, not in trial 7)."""
    for param in spec.params:
        values = param.choices if param.kind in ("choice", "sets") else [param.low, param.high]
        if param.kind == "int":
            values = [int(v) for v in values]
        for value in values:
            probe = dataclasses.replace(spec.base, families=[_family(spec, "probe", param.overrides(value))])
            plan_cells(probe)


def _family(spec: SearchSpec, label: str, extra: list[str]) -> Entry:
    family = spec.base.families[0]
    return Entry(name=label, base=family.base, overrides=[*family.overrides, *extra])


def load_search_spec(path: str | Path) -> SearchSpec:
    import yaml

    from hrm.checkpoints.reference import load_config_yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = load_config_yaml(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the search spec ({exc})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_search_spec(data, name=path.stem, text=text)


def _require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UserError("searches need Optuna: pip install 'hrm-reasoning[search]' (or pip install optuna)") from None
    return optuna


def _suggest(trial: Any, param: Param) -> Any:
    if param.kind == "float":
        return trial.suggest_float(param.key, param.low, param.high, log=param.log, step=param.step)
    if param.kind == "int":
        return trial.suggest_int(param.key, int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
    return trial.suggest_categorical(param.key, param.choices)


@dataclass
class SearchResult:
    out: Path
    trials: list[dict[str, Any]]  # finished trials: number, params, value, cells
    best: dict[str, Any] | None


def run_search(spec: SearchSpec, out: str | Path, *, parallel: int | None = None, log=print) -> SearchResult:
    """Run (or continue) the search into ``out``: up to ``spec.trials`` finished trials, ``parallel`` at a time
    (each trial's seeds run one after another inside it)."""
    optuna = _require_optuna()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    parallel = positive_int(parallel if parallel is not None else spec.base.parallel, "--parallel")
    new_out = not out.exists()
    make_out_dir(out)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if spec.sampler == "grid":
        sampler = optuna.samplers.GridSampler({p.key: p.choices for p in spec.params}, seed=spec.seed)
    elif spec.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=spec.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=spec.seed)
    existed = (out / STUDY_FILE).exists()
    try:
        study = optuna.create_study(
            study_name=spec.name,
            storage=f"sqlite:///{(out / STUDY_FILE).resolve()}",
            sampler=sampler,
            direction="maximize",
            load_if_exists=True,
        )
    except Exception as exc:  # sqlalchemy / optuna errors on a file that is not a study database
        if not existed:
            (out / STUDY_FILE).unlink(missing_ok=True)
            if new_out:
                shutil.rmtree(out, ignore_errors=True)
        raise UserError(
            f"{out / STUDY_FILE}: not a readable Optuna study ({type(exc).__name__}); move it aside or use a new --out"
        ) from None
    # What the trials' values mean: a continued search must not rank trials of two budgets (or tasks) together.
    identity = {
        "budget": [spec.base.budget.kind, spec.base.budget.value],
        "task": [spec.base.tasks[0].name, spec.base.tasks[0].base, list(spec.base.tasks[0].overrides)],
        "seeds": list(spec.base.seeds),
        "metric": spec.metric,
    }
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif json.dumps(stored, sort_keys=True) != json.dumps(identity, sort_keys=True):
        changed = ", ".join(k for k in identity if json.dumps(stored.get(k)) != json.dumps(identity[k]))
        raise UserError(
            f"{out}: this search was run with another {changed}; its trials would be ranked with these. "
            "Use a new --out (or restore the spec)"
        )
    if spec.base.text:
        (out / SPEC_FILE).write_text(spec.base.text, encoding="utf-8")
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    lock = threading.Lock()  # the lab's records and plots are written by one trial at a time

    def objective(trial: Any) -> float:
        values = {p.key: _suggest(trial, p) for p in spec.params}
        extra = [o for p in spec.params for o in p.overrides(values[p.key])]
        label = f"trial-{trial.number:03d}"
        grid = dataclasses.replace(spec.base, families=[_family(spec, label, extra)], text="", parallel=1)
        result = run_compare(grid, out, log=lambda _: None, report=False, hold_lock=False)
        if result.failed:
            raise RuntimeError(f"{label}: cell(s) failed: {result.failed}")
        mine = [r for r in result.records if r["family"] == label]
        value = sum(selection_score(r, spec.metric) for r in mine) / len(mine)
        trial.set_user_attr("overrides", extra)
        trial.set_user_attr("steps", sum(r["steps"] for r in mine) / len(mine))
        # Ties in the metric (every trial at 0% exact on a short budget) are broken by the other metric.
        tie = sum(selection_score(r, TIE_BREAK[spec.metric]) for r in mine) / len(mine)
        trial.set_user_attr("tie_break", tie)
        with lock:
            log(f"  {label}: {spec.metric} {value:.4f}  {' '.join(extra) or '(base)'}")
        return value

    # datasets are built here, once, not by trials running side by side
    probe = dataclasses.replace(spec.base, families=[_family(spec, "probe", [])])
    prepare_cells(plan_cells(probe)[:1], spec.base.budget, log=log)
    remaining = spec.trials - done
    if spec.sampler == "grid":  # once every combination is done, another trial would repeat one
        combinations = math.prod(len(p.choices) for p in spec.params)
        remaining = min(remaining, combinations - done)
    log(f"{spec.name}: {done} trial(s) finished, {max(remaining, 0)} to run, {parallel} at a time")
    if remaining > 0:
        # The search holds the folder's lock; its trials run side by side in it without taking it again.
        with DirectoryLock(out, COMPARE_LOCK, "comparison folder"):
            study.optimize(objective, n_trials=remaining, n_jobs=parallel, catch=(RuntimeError,))
    write_records(out, read_records(out))
    if read_records(out):
        write_report(out, title=f"search {spec.name}")
    trials = [
        {
            "number": t.number,
            "params": t.params,
            "overrides": t.user_attrs.get("overrides", []),
            "steps": t.user_attrs.get("steps"),
            spec.metric: t.value,
            "tie_break": {TIE_BREAK[spec.metric]: _tie_value(t, out, spec)},
        }
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    tie_key = TIE_BREAK[spec.metric]
    best = max(trials, key=lambda t: (t[spec.metric], t["tie_break"][tie_key], -t["number"])) if trials else None
    summary = {"name": spec.name, "metric": spec.metric, "sampler": spec.sampler, "trials": trials, "best": best}
    tmp = out / f".{TRIALS_FILE}.tmp"
    tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / TRIALS_FILE)
    return SearchResult(out, trials, best)


# The metric that breaks a tie in the searched one (exact accuracy is often 0 for every trial of a short budget).
TIE_BREAK = {"exact_accuracy": "token_accuracy", "token_accuracy": "exact_accuracy"}


def _tie_value(trial: Any, out: Path, spec: SearchSpec) -> float:
    """The trial's tie-break metric: recorded with it, or (a trial finished before it was recorded) read from the
    folder's records of its cells."""
    if isinstance(trial.user_attrs.get("tie_break"), int | float):
        return float(trial.user_attrs["tie_break"])
    label = f"trial-{trial.number:03d}"
    mine = [r for r in read_records(out) if r.get("family") == label]
    if not mine:
        return 0.0
    return sum(selection_score(r, TIE_BREAK[spec.metric]) for r in mine) / len(mine)


def selection_score(record: dict[str, Any], metric: str) -> float:
    """What a search maximises for one cell: ``metric`` on the validation split when the task has one (the
    generated recipes), else on the evaluated split (the paper's recipes have no validation split)."""
    validation = record.get("validation")
    if isinstance(validation, dict) and isinstance(validation.get(metric), int | float):
        return float(validation[metric])
    return float(record[metric])


def format_trials(result: SearchResult, metric: str | None = None) -> str:
    """A Markdown table of the finished trials, best first."""
    if not result.trials:
        return "no finished trials"
    metric = metric or next(k for k in result.trials[0] if k in METRICS)
    lines = [f"| trial | overrides | steps | {metric} |", "|---:|---|---:|---:|"]
    for t in sorted(result.trials, key=lambda t: -t[metric]):
        overrides = " ".join(t["overrides"]) or "(base)"
        lines.append(f"| {t['number']} | `{overrides}` | {t['steps']:.0f} | {100 * t[metric]:.1f}% |")
    return "\n".join(lines)
