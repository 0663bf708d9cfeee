"""The schema: migrations recorded, append-only tables, one link per record."""

from __future__ import annotations

import psycopg
import pytest

from mpi.records import register
from mpi.store import migrate, systems
from tests.helpers import row


def test_migrations_are_recorded_and_idempotent(database_url):
    with psycopg.connect(database_url) as conn:
        version = migrate.applied_version(conn)
    assert version == max(m.version for m in migrate.available())
    assert migrate.upgrade(database_url) == []


def test_identity_events_are_append_only(conn, ctx):
    systems.ensure_system(conn, "GP", "GP", "gp", 1)
    register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", given_name="Ann", family_name="Lee", birth_date="1990-01-01"),
    )
    with conn.transaction():
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute("UPDATE identity_event SET actor = 'someone else'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute("DELETE FROM identity_event")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute("DELETE FROM link_history")


def test_a_record_has_exactly_one_link(conn, ctx):
    systems.ensure_system(conn, "GP", "GP", "gp", 1)
    register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", given_name="Ann", family_name="Lee", birth_date="1990-01-01"),
    )
    record, person = conn.execute("SELECT record_id, person_id FROM link").fetchone()
    with pytest.raises(psycopg.errors.UniqueViolation):
        with conn.transaction():
            conn.execute(
                "INSERT INTO link (record_id, person_id, method, linked_by)"
                " VALUES (%s, %s, 'manual', 'x')",
                (record, person),
            )


def test_raw_payload_is_kept_verbatim(conn, ctx):
    systems.ensure_system(conn, "GP", "GP", "gp", 1)
    register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", given_name="  zoë ", family_name="O'Brien", birth_date="1990-01-01"),
    )
    raw, given, family = conn.execute(
        "SELECT raw, given_names, family_name FROM source_record"
    ).fetchone()
    assert raw["given_name"] == "  zoë "
    assert raw["family_name"] == "O'Brien"
    assert given == ["ZOE"] and family == "OBRIEN"


def _prepared(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]


def test_discarding_reads_keeps_prepared_statements_and_writes_are_rolled_back(database_url):
    from mpi.store.db import discard

    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE t (n int) ON COMMIT PRESERVE ROWS")
        conn.commit()
        conn.execute("SELECT count(*) FROM t", prepare=True).fetchone()
        assert _prepared(conn) == 1
        discard(conn)  # a transaction that only read: committed, statements kept
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert _prepared(conn) == 1
        conn.execute("SELECT pg_advisory_xact_lock(42)")  # a lock writes nothing
        discard(conn)
        assert _prepared(conn) == 1
        conn.execute("INSERT INTO t VALUES (1)")
        discard(conn)  # a transaction that wrote: rolled back
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
        conn.rollback()
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        discard(conn)  # a failed transaction: rolled back
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
