"""The package's import graph: no circles between its modules, and no module taking
another's private (underscore) names. Read from the source with ast, every import
counted, deferred ones inside functions too: a deferred import hides a circle from
Python, not from a reader."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "olist_pipeline"

# Packages that must never import another (importer -> imported): the DAGs and their
# runners serve both targets, so they cannot lean on the local target's services.
FORBIDDEN: tuple[tuple[str, str], ...] = (("olist_pipeline.airflow", "olist_pipeline.stack"),)


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, modules: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import in ``name``."""
    tree = ast.parse(modules[name].read_text("utf-8"))
    here = name if _is_package(name, modules) else name.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                # `from pkg import mod` imports the module; `from mod import x` takes x.
                out.append((sub, None) if sub in modules else (base, alias.name))
    return [(m, n) for m, n in out if m in modules]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: {t for t, _ in _imports(m, modules) if t != m} for m in modules}


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_sees_the_package() -> None:
    graph = _graph()
    assert len(graph) > 50
    assert "olist_pipeline.stack.service" in graph["olist_pipeline.stack.monitoring"]


def test_no_import_circle_between_modules() -> None:
    circles = [sorted(c) for c in _circles(_graph())]
    assert not circles, (
        f"import circles: {circles}; move what both sides need into a module below them"
    )


def test_no_private_name_imported_across_modules() -> None:
    modules = _modules()
    taken = [
        (m, source, n)
        for m in modules
        for source, n in _imports(m, modules)
        if n and n.startswith("_") and not n.startswith("__") and source != m
    ]
    assert not taken, (
        f"private names imported across modules (importer, source, name): {taken}; "
        "make the name public in a module both can import, or keep it where it is used"
    )


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_no_forbidden_layer_import() -> None:
    graph = _graph()
    broken = sorted(
        (m, t)
        for upper, lower in FORBIDDEN
        for m, targets in graph.items()
        if _within(m, upper)
        for t in targets
        if _within(t, lower)
    )
    assert not broken, (
        f"imports across a forbidden layer boundary (importer, imported): {broken}; "
        "give what both need a neutral home (config, or a module below both)"
    )


def test_the_check_catches_a_circle_and_a_private_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [frozenset({"a", "b", "c"})]
    assert _circles({"a": {"b"}, "b": set()}) == []
