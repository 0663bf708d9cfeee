"""``mpi export records`` and ``mpi relink --engine spark`` as a user runs them: the real
command in its own process (its own local Spark), read back with pyarrow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import psycopg
import pyarrow.parquet as pq

from tests.spark.conftest import _state


def _mpi(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "mpi.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_export_then_a_dry_run_from_the_export_writes_the_diff(region: Any, runs: Any, tmp_path):
    folder, diff = tmp_path / "export", tmp_path / "diff.jsonl"
    done = _mpi(region.url, "export", "records", "-o", str(folder))
    assert done.returncode == 0, done.stderr
    table = pq.read_table(folder / "records")
    with psycopg.connect(region.url) as conn:
        active = conn.execute(
            "SELECT count(*) FROM source_record WHERE status = 'active'"
        ).fetchone()[0]
        before = _state(conn)
    targets = sum(table.column("target").to_pylist())
    assert table.num_rows == active and targets == runs.spark.diff.records
    assert {"id", "keys", "norm", "person", "method", "target"} <= set(table.column_names)

    args = ["relink", "--engine", "spark", "--dry-run", "--quiet"]
    done = _mpi(region.url, *args, "--export", str(folder), "--from-export", "--diff", str(diff))
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing changed" in done.stdout
    rows = [json.loads(line) for line in diff.read_text(encoding="utf-8").splitlines()]
    kinds = {r["kind"] for r in rows}
    assert {"move", "merge", "review_close"} <= kinds
    assert sum(r["kind"] == "move" for r in rows) == len(runs.spark.diff.moved)
    with psycopg.connect(region.url) as conn:
        assert _state(conn) == before


def test_a_missing_export_is_a_clean_error(region: Any, tmp_path):
    done = _mpi(
        region.url, "relink", "--engine", "spark", "--export", str(tmp_path), "--from-export"
    )
    assert done.returncode == 1
    assert "no export there" in done.stderr and "Traceback" not in done.stderr
