"""bench/bench_scale.py end to end on a small store (the 1M run is in bench/RESULTS.md).

Several bulk loads at once (``--jobs``) into one database must leave a sound store (`mpi
db check`), and PIXm lookups and registrations under `mpi serve` must all succeed on it.
Slow: it loads a few thousand records twice over and starts the service twice.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from mpi.store import db
from tests.ops import drills

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_scale.py"), *args],
        env=drills.env_for(url, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.mark.slow
def test_concurrent_bulk_loads_leave_a_sound_store_that_serves_lookups_and_registrations(
    server_url,
):
    prefix = f"mpi_scaletest_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_100k", f"{prefix}_1m"]
    try:
        load = _bench(
            "load", "--records", "6000", "--small", "2000", "--step", "1500", "--jobs", "2",
            "--database", prefix, url=server_url,
        )  # fmt: skip
        assert load.returncode == 0, load.stdout + load.stderr
        sizes = {}
        for name in names:
            url = make_conninfo(server_url, dbname=name)
            drills.db_check(url)
            with psycopg.connect(url) as conn:
                sizes[name] = conn.execute("SELECT count(*) FROM source_record").fetchone()[0]
                systems = conn.execute("SELECT count(*) FROM source_system").fetchone()[0]
            assert systems == 6  # the same six systems however many steps
        assert 2000 <= sizes[names[0]] < 3500 and sizes[names[1]] >= 6000, sizes
        measure = _bench(
            "measure", "--database", prefix, "--repeat", "1", "--seconds", "3",
            "--clients", "2", url=server_url,
        )  # fmt: skip
        assert measure.returncode == 0, measure.stdout + measure.stderr
        runs = [line for line in measure.stdout.splitlines() if " run 1 " in line]
        assert len(runs) == 4 and all(line.endswith("failed 0") for line in runs), runs
        for name in names:
            drills.db_check(make_conninfo(server_url, dbname=name))
    finally:
        for name in names:
            db.drop_database(server_url, name)
