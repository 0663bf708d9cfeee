"""SQL for the append-only, hash-chained audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import dict_row

from mpi.store.db import scalar

#: The number of chains (rows of ``audit_chain``, migration 0005).
CHAINS = 64

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


_TYPES = {
    "recorded_at": "timestamptz",
    "emergency": "boolean",
    "person_ids": "text[]",
    "records": "jsonb",
    "http_status": "integer",
    "detail": "jsonb",
}


def _append_sql() -> str:
    # Take a chain's tail, insert the event after it (its hash is SHA-256 over the tail's
    # hash, a newline and the event's canonical JSON) and move the tail, in one statement.
    names = ", ".join(COLUMNS)
    params = ", ".join(f"%({c})s::{_TYPES.get(c, 'text')}" for c in COLUMNS)
    return (
        "WITH tail AS (SELECT chain, last_hash FROM audit_chain_take()),"
        f" event AS (INSERT INTO audit_event ({names}, chain, prev_hash, hash)"
        f" SELECT {params}, tail.chain, tail.last_hash,"
        " encode(sha256(convert_to(tail.last_hash, 'UTF8') || '\\x0a'::bytea"
        " || %(canonical)s::bytea), 'hex') FROM tail RETURNING id, chain, hash)"
        " UPDATE audit_chain c SET last_id = event.id, last_hash = event.hash,"
        " events = c.events + 1 FROM event WHERE c.chain = event.chain"
    )


_APPEND = _append_sql()


def append(conn: psycopg.Connection[Any], values: dict[str, Any], canonical: bytes) -> None:
    """Append one event to a chain in the caller's transaction.

    The chain's tail stays locked until the transaction ends.
    """
    params = {c: values[c] for c in COLUMNS}
    # JSON text, cast to jsonb in the statement: the same value as a Jsonb wrapper gives.
    params["records"] = json.dumps(values["records"])
    params["detail"] = json.dumps(values["detail"])
    params["canonical"] = canonical
    conn.execute(_APPEND, params, prepare=True)


class ChainTail(NamedTuple):
    """Where a chain ends: its last event ID (``None``: empty), hash, number of events."""

    last_id: int | None
    last_hash: str
    events: int


class EventHash(NamedTuple):
    """An event as a checkpoint's chain head: its chain and hash."""

    chain: int
    hash: str


def tails(conn: psycopg.Connection[Any]) -> dict[int, ChainTail]:
    """Each chain's tail, by chain."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT chain, last_id, last_hash, events FROM audit_chain").fetchall()
    return {
        int(r["chain"]): ChainTail(r["last_id"], str(r["last_hash"]), int(r["events"]))
        for r in rows
    }


def heads(conn: psycopg.Connection[Any], event_ids: list[int]) -> dict[int, EventHash]:
    """The chain and hash of each of these events that exists, by event ID."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, chain, hash FROM audit_event WHERE id = ANY(%s)", (event_ids,)
        ).fetchall()
    return {int(r["id"]): EventHash(int(r["chain"]), str(r["hash"])) for r in rows}


_SELECT = f"SELECT id, {', '.join(COLUMNS)}, chain, prev_hash, hash FROM audit_event"


def all_events(conn: psycopg.Connection[Any]) -> Iterator[dict[str, Any]]:
    """Every audit event, chain by chain, each chain in order (streamed)."""
    with conn.cursor(name="audit_walk", row_factory=dict_row) as cur:
        cur.itersize = 2000
        cur.execute(_SELECT + " ORDER BY chain, id")
        yield from cur


def of_person(
    conn: psycopg.Connection[Any], person_id: str, limit: int, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Audit events naming a person (enterprise ID), newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _SELECT + " WHERE person_ids @> ARRAY[%s]::text[]"
            " AND (%s::timestamptz IS NULL OR recorded_at >= %s) ORDER BY id DESC LIMIT %s",
            (person_id, since, since, limit),
        ).fetchall()


def count(conn: psycopg.Connection[Any]) -> int:
    """How many audit events there are."""
    return int(scalar(conn, "SELECT count(*) FROM audit_event") or 0)
