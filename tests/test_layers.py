"""The imports point one way: no cycles between modules or packages, and migrations
import nothing of the application.

Read from the source (every import statement, function-level ones included), so a cycle
hidden inside a function body counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"
VERSIONS = SERVICE / "migrations" / "versions"
# auth/scope.py is, by design, the one module that knows every owned model (the scoping
# rule of issue 15): it sits above the models and below every service that reads them.
# Its package-level edges are the only ones left out of the package check.
ABOVE_MODELS = {"service.auth.scope"}


def _module(path: Path) -> str:
    parts = path.relative_to(SERVICE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def _graph() -> dict[str, set[str]]:
    files = [p for p in SERVICE.rglob("*.py") if "migrations" not in p.parts]
    modules = {_module(p) for p in files}
    return {_module(p): {m for m in _imports(p) if m in modules and m != _module(p)} for p in files}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_module_imports_itself_back() -> None:
    assert _cycles(_graph()) == []


def test_no_package_imports_itself_back() -> None:
    packages: dict[str, set[str]] = {}
    for source, targets in _graph().items():
        if source in ABOVE_MODELS:
            continue
        edges = packages.setdefault(_package(source), set())
        edges |= {_package(t) for t in targets if t not in ABOVE_MODELS} - {_package(source)}
    assert _cycles(packages) == []


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.name)
def test_migrations_import_no_application_code(path: Path) -> None:
    """A later change to a model or a helper must not change what an old migration does."""
    app = {m for m in _imports(path) if m.startswith("service.")}
    assert all(m.startswith("service.migrations.frozen") for m in app), app
