"""Lookups from a real streaming replica (MPI_READ_DATABASE_URL), writes on the primary.

The test makes its own primary (initdb, wal_level=replica) and standby (pg_basebackup -R,
pg_ctl start) on free ports. It shows the lag rule: while the standby's replay is paused,
a system that has just registered reads its own write from the primary, and a system
whose last write the standby has replayed is served by the standby; the audit of every
lookup is on the primary.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from api import create_app
from api import db as api_db
from mpi import access
from mpi.store import systems as system_store
from tests.ops import drills
from tests.ops.drills import patient


@pytest.fixture
def replicated():
    """(primary URL, standby URL) of a fresh database on a primary and its standby."""
    folder = Path(tempfile.mkdtemp(prefix="mpi-replica-"))
    folder.chmod(0o755)  # the clusters run as the postgres user when the tests run as root
    primary = drills.Cluster(folder / "primary", "wal_level=replica", "hot_standby_feedback=on")
    primary.start()
    standby = None
    try:
        with drills.fresh_database(primary.url) as url:
            standby = drills.Cluster.standby_of(primary, folder / "standby")
            standby.start()
            yield url, make_conninfo(url, port=standby.port)
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_replayed(primary_url: str, standby_url: str) -> None:
    with psycopg.connect(primary_url, autocommit=True) as p:
        lsn = p.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    deadline = time.monotonic() + 30
    with psycopg.connect(standby_url, autocommit=True) as s:
        while not s.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_lookups_come_from_the_replica_unless_it_lags_behind_the_callers_own_write(replicated):
    primary_url, standby_url = replicated
    tokens = {}
    with psycopg.connect(primary_url) as conn:
        for code in ("GP", "HOSP"):
            system_store.add_system(conn, code, code.title(), "gp", 1)
            tokens[code] = access.issue_token(conn, code, ["register", "lookup"], actor="t")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": primary_url,
            "READ_DATABASE_URL": standby_url,
            "POOL_MIN_SIZE": 1,
            "TOKEN_CACHE_SECONDS": 0,
        }
    )
    client = app.test_client()

    def headers(code):
        return {"Authorization": f"Bearer {tokens[code]}", "X-User-Id": "555555555555"}

    def put(code, local_id, n):
        r = client.put(
            f"/v1/systems/{code}/records/{local_id}", json=patient(n), headers=headers(code)
        )
        assert r.status_code in (200, 201), r.json

    def resolve(code, local_id):
        before = dict(api_db.READ_ROUTES)
        r = client.get(f"/v1/systems/{code}/records/{local_id}", headers=headers(code))
        after = dict(api_db.READ_ROUTES)
        source = next(k for k in after if after[k] != before.get(k, 0))
        return r.status_code, source

    put("HOSP", "H1", 1)
    _wait_replayed(primary_url, standby_url)
    assert resolve("HOSP", "H1") == (200, "replica")

    with psycopg.connect(standby_url, autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            put("GP", "G1", 2)  # the standby will not see this until replay resumes
            assert not standby.execute(
                "SELECT 1 FROM source_record WHERE local_id = 'G1'"
            ).fetchone()
            assert resolve("GP", "G1") == (200, "primary")  # reads its own write
            assert resolve("HOSP", "H1") == (200, "replica")  # nothing newer of its own
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    _wait_replayed(primary_url, standby_url)
    assert resolve("GP", "G1") == (200, "replica")
    r = client.get(
        "/fhir/Patient/$ihe-pix", query_string={"sourceIdentifier": "x|y"}, headers=headers("GP")
    )
    assert r.status_code in (200, 400, 404)
    with psycopg.connect(primary_url) as conn:  # every lookup audited, on the primary
        audited = conn.execute(
            "SELECT count(*) FROM audit_event WHERE action = 'record.resolve'"
        ).fetchone()[0]
    assert audited == 4
    app.extensions["mpi_read_pool"].close()
    app.extensions["mpi_pool"].close()
