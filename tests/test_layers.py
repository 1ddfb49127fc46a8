"""The import graph, read from the source with ``ast``: layers point one way and nothing loops.

Layers, bottom to top: ``config`` < ``storage`` < ``bot`` < ``scheduler`` < ``handlers`` < ``app``.
A module may import its own package and anything below it, never above; no two modules import
each other, directly or round a longer loop (function-level imports included, so a lazy import
cannot hide a cycle). Storage holds models, sessions, queries and migrations: no storage query or
rule reads Flask's ``current_app`` (the db module's Flask integration and the CLI aside).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("config", "storage", "bot", "scheduler", "handlers", "app")
RANK = {name: rank for rank, name in enumerate(LAYERS)}
CURRENT_APP_ALLOWED = {"storage.db", "storage.cli"}


def _modules() -> dict[str, Path]:
    modules = {"app": ROOT / "app.py", "config": ROOT / "config.py"}
    for package in ("storage", "bot", "scheduler", "handlers"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.relative_to(ROOT).parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules ``name`` imports (a ``from package import module`` counts the module)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in MODULES else base for t in targets]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    return module.split(".")[0]


def test_layers_point_one_way():
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if _layer(a) != _layer(b) and RANK[_layer(a)] < RANK[_layer(b)]
    )
    assert upward == []


def test_storage_imports_nothing_above_it():
    above = sorted(
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        if _layer(a) == "storage"
        for b in targets
        if _layer(b) in ("bot", "handlers", "scheduler", "app")
    )
    assert above == []


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == "storage"))
def test_storage_reads_no_current_app(module):
    if module in CURRENT_APP_ALLOWED:
        pytest.skip("the db module's Flask integration and the CLI may")
    assert "current_app" not in MODULES[module].read_text(encoding="utf-8")


def test_the_checker_sees_a_cycle_and_an_upward_edge():
    # The graph is real: storage.orders imports storage.models, and the app imports every layer.
    assert "storage.models" in GRAPH["storage.orders"]
    assert {"storage", "bot", "handlers", "scheduler"} <= {_layer(m) for m in GRAPH["app"]}
