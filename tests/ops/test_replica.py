"""Lookups from a real streaming replica (MPI_READ_DATABASE_URL), writes on the primary.

The test makes its own primary (initdb, wal_level=replica) and standby (pg_basebackup -R,
pg_ctl start) on free ports. It shows the lag rule: while the standby's replay is paused,
a system that has just registered reads its own write from the primary, and a system
whose last write the standby has replayed is served by the standby; the audit of every
lookup is on the primary. The event feed is read from the standby as far as it has got
and completed from the primary; a person's audit trail is read from the primary only.
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


@pytest.fixture(scope="module")
def replicated():
    """(primary URL, standby URL) of a fresh database on a primary and its standby, shared
    by this module's tests (each uses system codes of its own)."""
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


def _app(primary_url, standby_url):
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": primary_url,
            "READ_DATABASE_URL": standby_url,
            "POOL_MIN_SIZE": 1,
            "TOKEN_CACHE_SECONDS": 0,
        }
    )


def test_events_feed_and_audit_trail_are_never_behind_the_primary(replicated):
    primary_url, standby_url = replicated
    tokens = {}
    with psycopg.connect(primary_url) as conn:
        for code, kind, scopes in (
            ("EPR", "hospital", ["register", "lookup"]),
            ("AUDITOR", "portal", ["admin"]),
        ):
            system_store.add_system(conn, code, code.title(), kind, 5)
            tokens[code] = access.issue_token(conn, code, scopes, actor="t")
    app = _app(primary_url, standby_url)
    client = app.test_client()

    def get(code, path, **query):
        headers = {"Authorization": f"Bearer {tokens[code]}", "X-User-Id": "555555555555"}
        before = dict(api_db.READ_ROUTES)
        r = client.get(path, headers=headers, query_string=query)
        assert r.status_code == 200, r.json
        routes = {k: n - before.get(k, 0) for k, n in api_db.READ_ROUTES.items()}
        return r.json, {k for k, n in routes.items() if n}

    headers = {"Authorization": f"Bearer {tokens['EPR']}", "X-User-Id": "555555555555"}
    first = client.put("/v1/systems/EPR/records/E1", json=patient(11), headers=headers)
    assert first.status_code in (200, 201), first.json
    person = first.json["person_id"]
    _wait_replayed(primary_url, standby_url)
    with psycopg.connect(standby_url, autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            second = client.put("/v1/systems/EPR/records/E2", json=patient(12), headers=headers)
            assert second.status_code in (200, 201), second.json
            # The auditor has written nothing: its reads go to the standby, which has E1's
            # events but not E2's; the page is completed from the primary.
            feed, source = get("AUDITOR", "/v1/events", after=0)
            assert source == {"replica"}
            locals_ = [e["record"]["local_id"] for e in feed["events"] if "record" in e]
            assert "E1" in locals_ and "E2" in locals_, feed
            ids = [e["id"] for e in feed["events"]]
            assert ids == sorted(set(ids))  # in order, none twice
            # A full page comes from the standby alone.
            page, _ = get("AUDITOR", "/v1/events", after=0, limit=1)
            assert [e["id"] for e in page["events"]] == ids[:1]
            # A lookup served by the standby is audited on the primary, and the person's
            # audit trail (read from the primary) shows it at once.
            _, source = get("AUDITOR", "/v1/systems/EPR/records/E1")
            assert source == {"replica"}
            trail, _ = get("AUDITOR", f"/v1/persons/{person}/audit")
            assert not standby.execute(
                "SELECT 1 FROM audit_event WHERE action = 'record.resolve'"
                ' AND records @> \'[["EPR", "E1"]]\''
            ).fetchone()
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    assert any(
        e["action"] == "record.resolve" and {"system": "EPR", "local_id": "E1"} in e["records"]
        for e in trail["events"]
    ), trail
    app.extensions["mpi_read_pool"].close()
    app.extensions["mpi_pool"].close()
