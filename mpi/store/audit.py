"""SQL for the append-only, hash-chained audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_CHAIN_LOCK = 7_040_003  # held from reading the chain's tail until commit

COLUMNS = (
    "recorded_at",
    "system_code",
    "user_id",
    "user_role",
    "user_org",
    "purpose",
    "emergency",
    "action",
    "subtype",
    "person_ids",
    "records",
    "outcome",
    "http_status",
    "detail",
    "client_address",
    "request_id",
)


def lock_tail(conn: psycopg.Connection[Any]) -> str:
    """Lock the chain until the transaction ends and return the last hash ('' if none)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CHAIN_LOCK,))
    row = conn.execute("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1").fetchone()
    return str(row[0]) if row else ""


def insert(
    conn: psycopg.Connection[Any], values: dict[str, Any], prev_hash: str, hash_: str
) -> int:
    """Append one audit event; return its ID."""
    params = [Jsonb(values[c]) if c in ("records", "detail") else values[c] for c in COLUMNS]
    row = conn.execute(
        f"INSERT INTO audit_event ({', '.join(COLUMNS)}, prev_hash, hash)"
        f" VALUES ({', '.join(['%s'] * len(COLUMNS))}, %s, %s) RETURNING id",
        (*params, prev_hash, hash_),
    ).fetchone()
    assert row is not None
    return int(row[0])


_SELECT = f"SELECT id, {', '.join(COLUMNS)}, prev_hash, hash FROM audit_event"


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = ("id", *COLUMNS, "prev_hash", "hash")
    return dict(zip(keys, row, strict=True))


def all_events(conn: psycopg.Connection[Any]) -> Iterator[dict[str, Any]]:
    """Every audit event in chain order (streamed)."""
    with conn.cursor(name="audit_walk") as cur:
        cur.itersize = 2000
        cur.execute(_SELECT + " ORDER BY id")
        for row in cur:
            yield _as_dict(row)


def of_person(
    conn: psycopg.Connection[Any], person_id: str, limit: int, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Audit events naming a person (enterprise ID), newest first."""
    rows = conn.execute(
        _SELECT + " WHERE person_ids @> ARRAY[%s]::text[]"
        " AND (%s::timestamptz IS NULL OR recorded_at >= %s) ORDER BY id DESC LIMIT %s",
        (person_id, since, since, limit),
    ).fetchall()
    return [_as_dict(r) for r in rows]


def count(conn: psycopg.Connection[Any]) -> int:
    """How many audit events there are."""
    row = conn.execute("SELECT count(*) FROM audit_event").fetchone()
    return int(row[0]) if row else 0
