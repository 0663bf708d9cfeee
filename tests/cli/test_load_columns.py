"""`mpi load` as a process: a CSV's columns in any order, with unknown columns reported.

The load CSV's columns come from the field registry (:mod:`matching.fields`): the
required ones in any order, the optional ones if present, and any other column ignored
and named in the summary and the log, never fatal. A missing or repeated column is.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from mpi.loading import CSV_COLUMNS
from tests.helpers import synthetic_nhs_number

ROWS = [
    {
        "local_id": "G1",
        "nhs_number": synthetic_nhs_number(21),
        "given_name": "Robert",
        "family_name": "Smith",
        "sex": "male",
        "birth_date": "1970-05-01",
        "address_line": "1 High Street",
        "postcode": "LS1 4AP",
        "phone": "",
    },
    {
        "local_id": "G2",
        "nhs_number": "",
        "given_name": "Priya",
        "family_name": "Patel",
        "sex": "female",
        "birth_date": "1992-12-12",
        "address_line": "3 Mill Lane",
        "postcode": "BD7 1DP",
        "phone": "01274 000000",
    },
]


def _write(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


def _mpi(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mpi.cli import main; main()", *args],
        env={**os.environ, "DATABASE_URL": url, "MPI_ENVIRONMENT": "test"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _raw(url: str) -> dict[str, dict[str, object]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT local_id, raw FROM source_record ORDER BY local_id").fetchall()
    return {local_id: raw for local_id, raw in rows}


def test_reordered_and_unknown_columns_load_and_are_reported(committed_db, tmp_path):
    canonical = _write(tmp_path / "gp.csv", list(CSV_COLUMNS), ROWS)
    first = _mpi(committed_db, "load", "GP_COLS", str(canonical), "--kind", "gp", "--quiet")
    assert first.returncode == 0, first.stderr
    assert "2 records loaded" in first.stdout
    assert "unknown columns" not in first.stdout + first.stderr
    stored = _raw(committed_db)

    # the same records, columns reversed, with two unknown columns among them
    columns = ["Ward", *reversed(CSV_COLUMNS), "shoe_size"]
    extra = [{**r, "Ward": "7B", "shoe_size": "9"} for r in ROWS]
    shuffled = _write(tmp_path / "gp2.csv", columns, extra)
    again = _mpi(committed_db, "load", "GP_COLS", str(shuffled), "--quiet")
    assert again.returncode == 0, again.stderr
    assert "2 records loaded" in again.stdout
    assert "unknown columns ignored: Ward, shoe_size" in again.stdout
    assert "unknown CSV columns ignored: Ward, shoe_size" in again.stderr  # the log
    # same values, so the same records: unchanged, and nothing of the unknown columns kept
    assert "unchanged: 2" in again.stdout
    assert _raw(committed_db) == stored
    assert all("Ward" not in raw and "shoe_size" not in raw for raw in stored.values())


def test_an_optional_column_anywhere_is_read(committed_db, tmp_path):
    columns = ["deceased", "phone", *CSV_COLUMNS[:-1], "birth_order", "multiple_birth"]
    rows = [{**ROWS[1], "deceased": "false", "multiple_birth": "Y", "birth_order": "2"}]
    path = _write(tmp_path / "hosp.csv", columns, rows)
    done = _mpi(committed_db, "load", "HOSP_COLS", str(path), "--kind", "hospital", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "1 records loaded" in done.stdout and "unknown" not in done.stdout
    with psycopg.connect(committed_db) as conn:
        found = conn.execute(
            "SELECT phone, multiple_birth, birth_order, deceased FROM source_record"
        ).fetchone()
    assert found == ("01274000000", True, 2, False)


@pytest.mark.parametrize(
    ("columns", "named"),
    [
        ([c for c in CSV_COLUMNS if c != "birth_date"], "it lacks birth_date"),
        ([*CSV_COLUMNS, "postcode"], "it repeats postcode"),
    ],
    ids=["missing", "repeated"],
)
def test_a_missing_or_repeated_column_is_refused_by_name(committed_db, tmp_path, columns, named):
    path = _write(tmp_path / "bad.csv", columns, ROWS)
    done = _mpi(committed_db, "load", "GP_BAD", str(path), "--kind", "gp", "--quiet")
    assert done.returncode == 1
    assert named in done.stderr + done.stdout
    assert _raw(committed_db) == {}
