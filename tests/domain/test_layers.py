"""The domain layer stays pure: it imports no outer layer and no database driver."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
PACKAGE = "profilestore.domain"
FORBIDDEN = (
    "profilestore.application",
    "profilestore.infrastructure",
    "sqlite3",
    "sqlite_utils",
    "psycopg",
    "psycopg2",
)


def imported_modules(source: str, package: str = PACKAGE) -> set[str]:
    """Absolute names of every module an `import` or `from ... import` in `source` may load."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(source: str, package: str = PACKAGE) -> set[str]:
    return {
        name
        for name in imported_modules(source, package)
        for banned in FORBIDDEN
        if name == banned or name.startswith(banned + ".")
    }


def domain_files() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def test_the_domain_folder_is_found_with_its_modules() -> None:
    names = {path.name for path in domain_files()}
    assert {"__init__.py", "profile.py", "validation.py", "errors.py"} <= names


def package_of(path: Path) -> str:
    """The package a domain file's relative imports start from."""
    return ".".join([PACKAGE, *path.relative_to(DOMAIN).parent.parts])


@pytest.mark.parametrize("path", domain_files(), ids=lambda path: str(path.relative_to(DOMAIN)))
def test_no_domain_module_imports_an_outer_layer_or_a_database_driver(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8"), package_of(path)) == set()


@pytest.mark.parametrize(
    "source",
    [
        "import sqlite3",
        "import sqlite_utils.db",
        "import psycopg",
        "from psycopg import sql",
        "import profilestore.application.engine",
        "from profilestore.infrastructure import persistence",
        "from ..application import engine",
        "from ..infrastructure.sqlite import Store",
        "from .. import application",
        "def later():\n    import sqlite3",
    ],
)
def test_the_import_check_catches_every_kind_of_forbidden_import(source: str) -> None:
    assert forbidden_imports(source)


@pytest.mark.parametrize(
    "source",
    [
        "import json",
        "from .errors import DataError",
        "from . import values",
        "from eventsourcing.domain import Aggregate",
        "import sqlite3_helpers_for_tests",
        "from profilestore.domain.errors import DataError",
    ],
)
def test_the_import_check_lets_pure_imports_through(source: str) -> None:
    assert forbidden_imports(source) == set()
