"""The packages of ``src/hrm`` form one-way layers (docs/architecture.md, "Layers").

Every import of every module is read with ``ast`` (imports inside functions and under ``TYPE_CHECKING`` too, so a
cycle cannot hide in a deferred import) and mapped to the package it lands in. Layers, lowest first:

0. ``hrm.errors``, ``hrm._version``: import nothing from ``hrm``; anything may import them (except ``hrm.model``);
1. ``hrm.model``, ``hrm.data``, ``hrm.checkpoints``, ``hrm.runtime`` (``hrm.model`` imports only torch, the standard
   library and itself);
2. ``hrm.evaluation``;
3. ``hrm.training``, ``hrm.inference``, ``hrm.analysis`` (analyses of trained models: no training, no lab);
4. ``hrm.lab`` (the comparison lab, which drives training and evaluation), ``hrm.view`` (pages of what the others
   write; it imports their file names);
5. ``hrm.cli``;
6. the façade: the top-level ``hrm/__init__.py`` and ``hrm/__main__.py``, which nothing inside ``hrm`` imports.

An import may go down, or sideways within a layer as long as the package graph stays acyclic.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE_ROOT = SRC / "hrm"

LAYERS: dict[str, int] = {
    "hrm.errors": 0,
    "hrm._version": 0,
    "hrm.model": 1,
    "hrm.data": 1,
    "hrm.checkpoints": 1,
    "hrm.runtime": 1,
    "hrm.evaluation": 2,
    "hrm.training": 3,
    "hrm.inference": 3,
    "hrm.analysis": 3,
    "hrm.lab": 4,
    "hrm.view": 4,
    "hrm.cli": 5,
    "hrm": 6,  # the façade (hrm/__init__.py, hrm/__main__.py)
}
MODEL_MAY_IMPORT = {"torch"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The layering unit a module belongs to: ``hrm.<subpackage>``, a top-level module, or the façade ``hrm``."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "hrm"
    return ".".join(parts[:2])


def imports_of(path: Path, source: str | None = None) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file (or in ``source`` read as that file), wherever it sits."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "hrm":  # `from hrm import x`: a submodule, or a name of the façade
                for alias in node.names:
                    sub = f"hrm.{alias.name}"
                    is_module = (PACKAGE_ROOT / alias.name).is_dir() or (PACKAGE_ROOT / f"{alias.name}.py").is_file()
                    found.append((sub if is_module else "hrm", node.lineno))
            else:
                found.append((target, node.lineno))
    return found


def all_modules() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.py"))


def package_graph() -> dict[str, dict[str, list[str]]]:
    """unit → {imported unit: ["module:line", ...]} for imports between different units."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in all_modules():
        source = unit_of(module_name(path))
        graph.setdefault(source, {})
        for target, line in imports_of(path):
            if target != "hrm" and not target.startswith("hrm."):
                continue
            dest = unit_of(target)
            if dest != source:
                graph[source].setdefault(dest, []).append(f"{module_name(path)}:{line}")
    return graph


def test_every_unit_has_a_layer():
    units = {unit_of(module_name(p)) for p in all_modules()}
    assert units - set(LAYERS) == set(), "add the new package to LAYERS (and to docs/architecture.md)"


def test_no_upward_import():
    problems = []
    for source, targets in package_graph().items():
        for dest, where in targets.items():
            if dest == "hrm" or LAYERS[dest] > LAYERS[source]:
                problems.append(f"{source} (layer {LAYERS[source]}) imports {dest} at {', '.join(where)}")
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_analysis_holds_analyses_of_trained_models_only():
    # The lab drives training; analyses only read checkpoints and data (so they never train or start cells).
    imported = package_graph().get("hrm.analysis", {})
    assert not {"hrm.training", "hrm.lab", "hrm.view"} & set(imported), imported


def test_no_package_cycle():
    graph = {source: set(targets) for source, targets in package_graph().items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "package-level import cycles:\n" + "\n".join(cycles)


def test_model_imports_only_torch_and_itself():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    problems = []
    for path in sorted((PACKAGE_ROOT / "model").rglob("*.py")):
        for target, line in imports_of(path):
            top = target.split(".")[0]
            if target.startswith("hrm.model") or top in MODEL_MAY_IMPORT or top in stdlib:
                continue
            problems.append(f"{module_name(path)}:{line} imports {target}")
    assert not problems, "hrm.model must stay pure torch:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import hrm.training.trainer\n", ["hrm.training.trainer"]),
        ("def f():\n    from hrm.evaluation import runner\n", ["hrm.evaluation"]),
        ("from hrm import errors, solve\n", ["hrm.errors", "hrm"]),
        ("from . import train\nfrom ..data import format\n", ["hrm.cli", "hrm.data"]),
    ],
)
def test_the_walker_sees_every_kind_of_import(source, expected):
    # The checks above are only as good as this walker: it must see deferred, relative and `from hrm` imports.
    assert [t for t, _ in imports_of(PACKAGE_ROOT / "cli" / "__init__.py", source)] == expected
