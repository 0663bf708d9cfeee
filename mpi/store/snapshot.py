"""Read-only views of the whole index, for analysis scripts (``bench/missed_pairs.py``)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from mpi.models import StoredRecord
from mpi.store import records as record_store
from mpi.store.db import scalars


def active_records(conn: psycopg.Connection[Any]) -> list[StoredRecord]:
    """Every active record with its current link, in ID order."""
    ids = scalars(conn, "SELECT id FROM source_record WHERE status = 'active' ORDER BY id")
    return sorted(record_store.stored_records(conn, ids), key=lambda r: r.id)


def enterprise_ids(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """Internal person key -> enterprise ID, for every person."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT id, person_id FROM person").fetchall()
    return {r["id"]: r["person_id"] for r in rows}
