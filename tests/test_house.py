"""The library's modules import one another one way, and none reaches into another's privates.

Imports are counted as Python and mypy see them: typing-only (`if TYPE_CHECKING:`) and in-function
imports included. The cycles allowed are the public `profile_store` attribute's: a Profile (and
an AsyncProfile) and its store know each other.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_CYCLES = [{"profilestore.application.handle", "profilestore.application.store"},
                  {"profilestore.aio.profile", "profilestore.aio.store"}]


def library_modules() -> dict[str, Path]:
    """Module name -> file, for every package pyproject.toml installs."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    modules = {}
    for package, folder in config["tool"]["setuptools"]["package-dir"].items():
        for path in sorted((ROOT / folder).glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The library modules that module `name` imports, anywhere in its source."""
    known = set(known)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                if f"{module}.{alias.name}" in known:
                    found.add(f"{module}.{alias.name}")
                elif module in known:
                    found.add(module)
    found.discard(name)
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = library_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def private_reaches(path: Path) -> list[str]:
    """`x._name` where x is not self/cls and nothing in the module defines `_name`: a reach into
    another module's private attribute (dunders and `super()._hook` overrides aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in ("self", "cls"):
            own.add(node.attr)
        elif isinstance(node, ast.Name):
            own.add(node.id)
    return [f"{path.name}:{node.lineno} {ast.unparse(node)}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_")
            and not node.attr.startswith("__") and node.attr not in own]


def test_the_graph_holds_every_layer() -> None:
    graph = import_graph()
    assert {"profilestore.domain.profile", "profilestore.application.engine",
            "profilestore.infrastructure.sqlite"} <= set(graph)
    assert "profilestore.application.writes" in graph["profilestore.application.saving"]


def test_no_import_cycle_but_the_profile_and_its_store() -> None:
    assert [cycle for cycle in cycles(import_graph()) if cycle not in ALLOWED_CYCLES] == []


def test_the_cycle_check_finds_typing_only_and_in_function_imports(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from typing import TYPE_CHECKING\n"
                                   "if TYPE_CHECKING:\n    from .b import B\n")
    (tmp_path / "b.py").write_text("def later():\n    from . import c\n")
    (tmp_path / "c.py").write_text("import pkg.a\n")
    known = {"pkg.a", "pkg.b", "pkg.c"}
    graph = {name: imports_of(name, tmp_path / f"{name[4:]}.py", known) for name in known}
    assert cycles(graph) == [known]
    assert cycles({"x": {"y"}, "y": set()}) == []


@pytest.mark.parametrize("name", sorted(library_modules()))
def test_no_module_reaches_into_another_modules_private_attributes(name: str) -> None:
    assert private_reaches(library_modules()[name]) == []


def test_the_reach_check_sees_a_reach(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f(engine):\n    return engine._saver, self_like._x\n"
                    "class C:\n    def g(self):\n        return self._y, other._y\n")
    assert private_reaches(path) == ["m.py:2 engine._saver", "m.py:2 self_like._x"]
