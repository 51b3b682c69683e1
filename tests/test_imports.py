"""Imports go one way: no module of nablanet imports (at the top or inside a function)
a module that imports it back, directly or through others; and no private name is
imported from another nablanet module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "nablanet"
#: the one cycle left from 0.1, removed when the CLI becomes the package nablanet/cli/
#: (after that these modules no longer exist and the allowance is inert)
KNOWN = {"nablanet.cli", "nablanet.cli_rnn"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """``(module imported, names imported from it)`` for every import in the file."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("nablanet")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([node.module] if node.module else []))
            if not base.startswith("nablanet"):
                continue
            for alias in node.names:  # "from nablanet import io" imports a module
                sub = f"{base}.{alias.name}"
                found.append((sub, []) if sub in modules else (base, [alias.name]))
    return found


def _graph():
    modules = _modules()
    graph, private = {}, []
    for name, path in modules.items():
        edges = set()
        for target, names in _imports(name, path, modules):
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target != name:
                edges.add(target)
            private += [f"{name} imports {target}.{n}" for n in names
                        if n.startswith("_") and target != name]
        graph[name] = edges
    return graph, private


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph, _ = _graph()
    cycles = [c for c in _cycles(graph) if not set(c) <= KNOWN]
    assert not cycles, f"import cycles: {cycles}"


def test_the_walker_sees_imports_inside_functions():
    graph, _ = _graph()
    assert "nablanet.models.sequential" in graph["nablanet.models.feedforward"]
    assert "nablanet.plotting" in graph["nablanet.cli"]  # imported inside a function
    fake = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(fake) == [["a", "b", "c"]]


def test_no_private_names_across_modules():
    _, private = _graph()
    allowed = {p for p in private if p.split()[0] in KNOWN}  # the same 0.1 CLI split
    assert sorted(set(private) - allowed) == []
