"""The field registry is the one list of fields: the codebase holds no second copy of it.

Every module of ``matching``, ``mpi``, ``api`` and ``bench`` is parsed with ``ast``. A
literal that lists the demographic fields or the normalised columns again is a second
copy of :mod:`matching.fields`: a tuple, list or set of five or more of their names, or a
mapping from five or more to constants; a class declaring, or a text (an SQL column
list) naming, two thirds of them. Derive it from the registry instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from matching import fields

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "matching" / "fields.py"
MODULES = sorted(
    p
    for d in ("matching", "mpi", "api", "bench")
    for p in (ROOT / d).rglob("*.py")
    if p != REGISTRY
)
FIELD_NAMES = frozenset(fields.names())
COLUMN_NAMES = frozenset(fields.column_names())
#: More names than this together are a copy; fewer, a subset for a purpose (the fields
#: that identify a record, say).
AT_MOST = 4
#: A class or a text (an SQL statement) is a copy when it names two thirds of the fields or
#: columns: a typed row or a query of a few columns is not.
SHARE = 2 / 3
#: Literals that are not field lists, by module and the name they are assigned to.
ALLOWED = {
    ("api/v1/openapi.py", "EXAMPLE"): "the documented example patient",
    ("bench/bench_splink.py", "_COLUMNS"): "Splink's input frame, Splink's own schema",
    ("mpi/demo/synthetic.py", "SyntheticRecord"): "the generator's own record (moving out of mpi/)",
}


def _too_many(names: set[str], share: float = 0.0) -> str | None:
    for known, what in ((FIELD_NAMES, "fields"), (COLUMN_NAMES, "normalised columns")):
        found = names & known
        if len(found) > max(AT_MOST, share * len(known)):
            return f"{len(found)} {what}: {', '.join(sorted(found))}"
    return None


def _constant(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple | ast.List):
        return all(_constant(e) for e in node.elts)
    return isinstance(node, ast.Dict) and all(_constant(v) for v in node.values)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _allowed(tree: ast.AST, module: str) -> set[int]:
    """The nodes under the assignments and classes :data:`ALLOWED` names in ``module``."""
    skipped = set()
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        named = [t.id for t in targets if isinstance(t, ast.Name)]
        if isinstance(node, ast.ClassDef):
            named = [node.name]
        if any((module, name) in ALLOWED for name in named):
            skipped.update(id(n) for n in ast.walk(node))
    return skipped


def copies_of_the_field_list(source: str, module: str = "") -> list[str]:
    """Each literal in ``source`` that lists the registry's fields or columns again.

    Names quoted as reST literals (````given_name````) in a text are prose, not a list.
    """
    tree = ast.parse(source)
    skipped = _docstrings(tree) | _allowed(tree, module)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: set[str] = set()
        share = 0.0
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            names = {e.value for e in node.elts if isinstance(e, ast.Constant)} - {None}
        elif isinstance(node, ast.Dict) and all(_constant(v) for v in node.values if v):
            names = {k.value for k in node.keys if isinstance(k, ast.Constant)}
        elif isinstance(node, ast.ClassDef):
            share = SHARE
            names = {
                s.target.id
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            }
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            share = SHARE
            names = set(re.findall(r"[a-z_]+", re.sub(r"``[^`]*``", "", node.value)))
        names = {n for n in names if isinstance(n, str)}
        problem = _too_many(names, share)
        if problem:
            found.append(f"line {node.lineno}: {problem}")
    return found


def test_modules_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in MODULES}
    assert {"matching/types.py", "mpi/loading.py", "mpi/store/records.py"} <= names
    assert "api/v1/openapi.py" in names and "api/fhir/render.py" in names


@pytest.mark.parametrize(
    "source",
    [
        'COLUMNS = ("nhs_number", "given_name", "family_name", "sex", "birth_date")',
        'LABELS = {"nhs_number": "NHS", "given_name": "G", "family_name": "F", "sex": "S",'
        ' "postcode": "P"}',
        "class Row:\n" + "".join(f"    {name}: str\n" for name in fields.names()[:-2]),
        'SQL = "SELECT ' + ", ".join(fields.column_names()[2:]) + ' FROM source_record"',
    ],
    ids=["tuple", "mapping", "class", "sql"],
)
def test_the_check_finds_a_copy(source: str) -> None:
    assert copies_of_the_field_list(source)


def test_the_check_allows_a_purposeful_subset_and_code() -> None:
    source = (
        'IDENTIFYING = ("nhs_number", "family_name", "given_name", "birth_date")\n'
        "raw = {'nhs_number': f(1), 'given_name': f(2), 'family_name': f(3), 'sex': f(4),"
        " 'phone': f(5)}\n"
        'HIT = "SELECT r.nhs_number, r.given_names, r.family_name, r.birth_date, r.postcode"\n'
    )
    assert copies_of_the_field_list(source) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_second_copy_of_the_field_list(path: Path) -> None:
    module = path.relative_to(ROOT).as_posix()
    assert copies_of_the_field_list(path.read_text(encoding="utf-8"), module) == []
