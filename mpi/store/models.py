"""SQL for match model versions, and the data that training and relinking read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from mpi.errors import ConfigError, Conflict
from mpi.models import StoredRecord
from mpi.store.records import active_stored_after


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One stored model version."""

    version: str
    document: dict[str, Any]
    summary: dict[str, Any]
    is_active: bool
    created_by: str
    created_at: datetime
    activated_at: datetime | None


@dataclass(frozen=True, slots=True)
class DecidedPair:
    """A pair of records a person decided about: same person or not, and when."""

    record_a: int
    record_b: int
    is_match: bool
    source: str
    decided_at: datetime


_SELECT = (
    "SELECT version, document, summary, is_active, created_by, created_at, activated_at"
    " FROM match_model"
)


def save_model(
    conn: psycopg.Connection[Any],
    version: str,
    document: dict[str, Any],
    summary: dict[str, Any],
    created_by: str,
) -> ModelRow:
    """Store a new model version (not active).

    Raises:
        Conflict: a model with this version already exists.
    """
    try:
        with conn.transaction(), conn.cursor(row_factory=class_row(ModelRow)) as cur:
            row = cur.execute(
                "INSERT INTO match_model (version, document, summary, created_by)"
                " VALUES (%s, %s, %s, %s) RETURNING version, document, summary, is_active,"
                " created_by, created_at, activated_at",
                (version, Jsonb(document), Jsonb(summary), created_by),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"model version {version!r} already exists") from exc
    assert row is not None
    return row


def get_model(conn: psycopg.Connection[Any], version: str) -> ModelRow | None:
    """The stored model with this version."""
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(_SELECT + " WHERE version = %s", (version,)).fetchone()


def active_model(conn: psycopg.Connection[Any]) -> ModelRow | None:
    """The active stored model, if any."""
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(_SELECT + " WHERE is_active").fetchone()


def active_version(conn: psycopg.Connection[Any]) -> str | None:
    """The version of the active stored model (one index look-up), ``None`` when none is."""
    row = conn.execute("SELECT version FROM match_model WHERE is_active").fetchone()
    return str(row[0]) if row else None


def list_models(conn: psycopg.Connection[Any]) -> list[ModelRow]:
    """Every stored model, newest first."""
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(_SELECT + " ORDER BY created_at DESC, id DESC").fetchall()


def count_models(conn: psycopg.Connection[Any]) -> int:
    """How many model versions are stored."""
    row = conn.execute("SELECT count(*) FROM match_model").fetchone()
    return int(row[0]) if row else 0


def activate(conn: psycopg.Connection[Any], version: str | None) -> bool:
    """Make this version the only active one; ``None`` deactivates all (the default).

    Returns:
        False when no stored model has this version (nothing changed).
    """
    with conn.transaction():
        if version is not None and get_model(conn, version) is None:
            return False
        conn.execute("UPDATE match_model SET is_active = false WHERE is_active")
        if version is not None:
            conn.execute(
                "UPDATE match_model SET is_active = true, activated_at = now() WHERE version = %s",
                (version,),
            )
    return True


def active_records(conn: psycopg.Connection[Any], batch: int = 20_000) -> Iterator[StoredRecord]:
    """Every active record with its link, in ID order, fetched in batches."""
    last = 0
    while True:
        records = active_stored_after(conn, last, batch)
        if not records:
            return
        yield from records
        last = records[-1].id


def decided_pairs(conn: psycopg.Connection[Any]) -> list[DecidedPair]:
    """Labels: decided review items, no-match assertions and manually linked records.

    A review item ``linked`` pairs its record with its candidate record (same person),
    ``rejected`` says they differ; a no-match assertion says two records differ; a manual
    link pairs the record with the other active records of its person.
    """
    rows = conn.execute(
        "SELECT record_id, candidate_record_id, status = 'linked', 'review', decided_at"
        " FROM review_item WHERE status IN ('linked', 'rejected')"
        " AND candidate_record_id IS NOT NULL AND decided_at IS NOT NULL"
        " UNION ALL SELECT record_a, record_b, false, 'no_match', asserted_at FROM no_match"
        " UNION ALL SELECT l.record_id, o.record_id, true, 'manual_link', l.linked_at"
        " FROM link l JOIN link o ON o.person_id = l.person_id AND o.record_id <> l.record_id"
        " JOIN source_record r ON r.id = o.record_id AND r.status = 'active'"
        " WHERE l.method = 'manual' AND (o.method = 'auto' OR o.record_id > l.record_id)"
    ).fetchall()
    return [DecidedPair(*row) for row in rows]


def relink_targets(conn: psycopg.Connection[Any]) -> list[tuple[int, str, int]]:
    """Records to re-score: active, and not manually linked or with an open review item.

    Returns:
        ``(record_id, local_id, system_id)`` in record ID order.
    """
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT r.id, r.local_id, r.system_id FROM source_record r"
            " LEFT JOIN link l ON l.record_id = r.id WHERE r.status = 'active'"
            " AND (l.method IS DISTINCT FROM 'manual' OR EXISTS (SELECT 1 FROM review_item i"
            " WHERE i.record_id = r.id AND i.status = 'open')) ORDER BY r.id"
        ).fetchall()
    ]


def link_map(conn: psycopg.Connection[Any]) -> dict[int, int]:
    """Every link as record ID -> person ID."""
    return {r: p for r, p in conn.execute("SELECT record_id, person_id FROM link").fetchall()}


def open_review_pairs(conn: psycopg.Connection[Any]) -> list[tuple[int, int, int, float]]:
    """Open review items as (item ID, record ID, candidate person ID, probability)."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT id, record_id, candidate_person_id, probability FROM review_item"
            " WHERE status = 'open' ORDER BY id"
        ).fetchall()
    ]


def close_review_items(conn: psycopg.Connection[Any], item_ids: Sequence[int], actor: str) -> int:
    """Supersede open review items (a new model no longer finds them uncertain)."""
    if not item_ids:
        return 0
    cur = conn.execute(
        "UPDATE review_item SET status = 'superseded', decided_at = now(), decided_by = %s,"
        " version = version + 1 WHERE status = 'open' AND id = ANY(%s)",
        (actor, list(item_ids)),
    )
    return cur.rowcount


def count_model_links(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Links per model version that scored them (``None``: first record or manual)."""
    rows = conn.execute(
        "SELECT coalesce(model_version, '(none)'), count(*) FROM link GROUP BY 1 ORDER BY 2 DESC"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def active_document_at(url: str) -> dict[str, Any] | None:
    """The active model's document, read on a short connection to ``url``.

    Returns:
        ``None`` when no model is active or the model table is not there yet.

    Raises:
        ConfigError: the database cannot be reached.
    """
    try:
        conn = psycopg.connect(url, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot reach the database to read the active model: {exc}") from exc
    with conn:
        exists = conn.execute("SELECT to_regclass('match_model') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = active_model(conn)
    return row.document if row else None
