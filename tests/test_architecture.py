"""The house rules that keep the layout clean, read from the source with ``ast``: no import
cycle among nablanet's modules (every import counts, also those inside functions: a lazy
import hides a cycle from Python, not from the reader), and no private name imported
from another module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "nablanet"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(name: str) -> list[tuple[str, list[str], int]]:
    """Every import of module ``name``: ``(imported module, names taken, line)``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] \
                if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((module, [a.name for a in node.names], node.lineno))
    return found


def owner(target: str) -> str | None:
    """The nablanet module that ``target`` (a module or a name in one) belongs to."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def dependency_graph() -> dict[str, dict[str, int]]:
    """``{module: {module it imports: line}}``; a package importing its own children
    (re-exports) and a child importing its package do not count."""
    graph: dict[str, dict[str, int]] = {name: {} for name in MODULES}
    for name in MODULES:
        for module, names, line in imports(name):
            for target in [module, *(f"{module}.{n}" for n in names)]:
                dep = owner(target)
                if dep and dep != name and not dep.startswith(name + ".") \
                        and not name.startswith(dep + "."):
                    graph[name].setdefault(dep, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_imports_inside_functions():
    graph = dependency_graph()
    # nablanet.cli.train imports the data loaders only inside its commands
    assert "nablanet.datasets.mnist" in graph["nablanet.cli.train"]
    assert cycles({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}) == [
        ["a", "b", "c"]]


def test_no_import_cycles():
    graph = dependency_graph()
    report = [" <-> ".join(c) + ": " + "; ".join(
        f"{MODULES[a].relative_to(ROOT.parent)}:{graph[a][b]} imports {b}"
        for a in c for b in graph[a] if b in c) for c in cycles(graph)]
    assert not report, "\n".join(report)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_names_imported_across_modules(name):
    private = [f"line {line}: {module}.{n}" for module, names, line in imports(name)
               if owner(module) and owner(module) != name
               for n in names if n.startswith("_") and not n.startswith("__")]
    assert not private, f"{name} imports private names: {private}"
