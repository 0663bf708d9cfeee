"""Read-only views of the whole index, for analysis scripts (``bench/missed_pairs.py``)."""

from __future__ import annotations

from typing import Any

import psycopg

from mpi.models import StoredRecord
from mpi.store import records as record_store


def active_records(conn: psycopg.Connection[Any]) -> list[StoredRecord]:
    """Every active record with its current link, in ID order."""
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM source_record WHERE status = 'active' ORDER BY id"
        ).fetchall()
    ]
    return sorted(record_store.stored_records(conn, ids), key=lambda r: r.id)


def enterprise_ids(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """Internal person key -> enterprise ID, for every person."""
    return {pk: pid for pk, pid in conn.execute("SELECT id, person_id FROM person").fetchall()}
