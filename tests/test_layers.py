"""The dependency direction api → mpi → matching: matching imports none of the outer layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MATCHING = Path(__file__).resolve().parent.parent / "matching"
FORBIDDEN = {"mpi", "api", "psycopg", "psycopg_pool", "flask"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


MODULES = sorted(MATCHING.glob("*.py"))


def test_matching_modules_are_found() -> None:
    assert {p.name for p in MODULES} >= {"__init__.py", "normalise.py", "scoring.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_matching_imports_no_outer_layer(path: Path) -> None:
    assert _imported_roots(path) & FORBIDDEN == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_matching_reads_no_environment(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "os.environ" not in text and "getenv" not in text


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_only_similarity_imports_string_libraries(path: Path) -> None:
    if path.name != "similarity.py":
        assert _imported_roots(path) & {"rapidfuzz", "jellyfish"} == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_future_annotations(path: Path) -> None:
    assert "from __future__ import annotations" in path.read_text(encoding="utf-8")
