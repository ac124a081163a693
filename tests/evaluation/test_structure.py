"""The evaluation package reads top to bottom: its modules' imports form no cycle (docs/architecture.md).

Every import of every module is read with ``ast`` (inside functions and under ``TYPE_CHECKING`` too), so a
module that calls back up into the one that called it shows up as a cycle.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "hrm" / "evaluation"


def module_imports() -> dict[str, set[str]]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("hrm.evaluation."):
                    deps.add(node.module.split(".")[2])
                elif node.module == "hrm.evaluation":
                    deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name.split(".")[2] for a in node.names if a.name.startswith("hrm.evaluation."))
        graph[name] = (deps & names) - {name}
    return graph


def test_evaluation_modules_form_no_cycle():
    graph = module_imports()
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle inside hrm.evaluation: {' -> '.join(exc.args[1])}") from None


def test_the_entry_point_sits_on_top():
    graph = module_imports()
    assert graph["runner"] >= {"options", "inputs", "evaluate", "report"}
    callers_of_runner = [name for name, deps in graph.items() if "runner" in deps]
    assert callers_of_runner == []
    # The engine and the readers know nothing of the entry point, the inputs or the report.
    for low in ("evaluate", "batches", "direct", "metrics", "arc_vote"):
        assert not graph[low] & {"runner", "inputs", "report", "options"}, (low, graph[low])
