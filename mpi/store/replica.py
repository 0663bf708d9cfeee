"""SQL of read replicas: a system's last write position, and how far a replica replayed."""

from __future__ import annotations

from typing import Any

import psycopg

from mpi.store.db import scalar


def record_write(conn: psycopg.Connection[Any], system_id: int) -> None:
    """Note (on the primary, after a write committed) the WAL position the system's writes
    have reached: the current insert position, at or past the end of its commit record."""
    conn.execute(
        "INSERT INTO system_write_lsn AS w (system_id, lsn)"
        " VALUES (%s, pg_current_wal_insert_lsn())"
        " ON CONFLICT (system_id) DO UPDATE SET lsn = greatest(w.lsn, excluded.lsn),"
        " written_at = now()",
        (system_id,),
    )


def last_write(conn: psycopg.Connection[Any], system_id: int) -> str | None:
    """The WAL position of the system's last write (on the primary), ``None`` if none."""
    lsn = scalar(conn, "SELECT lsn::text FROM system_write_lsn WHERE system_id = %s", (system_id,))
    return str(lsn) if lsn is not None else None


def has_replayed(conn: psycopg.Connection[Any], lsn: str | None) -> bool:
    """Whether the server of ``conn`` (a standby) has replayed the WAL up to ``lsn``; a
    server that is not in recovery (a primary) has everything."""
    return bool(
        scalar(
            conn,
            "SELECT NOT pg_is_in_recovery()"
            " OR pg_last_wal_replay_lsn() >= coalesce(%s::pg_lsn, '0/0'::pg_lsn)",
            (lsn,),
        )
    )
