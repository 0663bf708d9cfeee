"""SQL for match model versions, and the data that training and relinking read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from mpi.errors import ConfigError, Conflict
from mpi.models import StoredRecord
from mpi.store.db import scalar
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
    version = scalar(conn, "SELECT version FROM match_model WHERE is_active")
    return str(version) if version is not None else None


def list_models(conn: psycopg.Connection[Any]) -> list[ModelRow]:
    """Every stored model, newest first."""
    with conn.cursor(row_factory=class_row(ModelRow)) as cur:
        return cur.execute(_SELECT + " ORDER BY created_at DESC, id DESC").fetchall()


def count_models(conn: psycopg.Connection[Any]) -> int:
    """How many model versions are stored."""
    return int(scalar(conn, "SELECT count(*) FROM match_model") or 0)


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
    with conn.cursor(row_factory=class_row(DecidedPair)) as cur:
        return cur.execute(
            "SELECT record_id AS record_a, candidate_record_id AS record_b,"
            " status = 'linked' AS is_match, 'review' AS source, decided_at"
            " FROM review_item WHERE status IN ('linked', 'rejected')"
            " AND candidate_record_id IS NOT NULL AND decided_at IS NOT NULL"
            " UNION ALL SELECT record_a, record_b, false, 'no_match', asserted_at FROM no_match"
            " UNION ALL SELECT l.record_id, o.record_id, true, 'manual_link', l.linked_at"
            " FROM link l JOIN link o ON o.person_id = l.person_id AND o.record_id <> l.record_id"
            " JOIN source_record r ON r.id = o.record_id AND r.status = 'active'"
            " WHERE l.method = 'manual' AND (o.method = 'auto' OR o.record_id > l.record_id)"
        ).fetchall()


class RelinkTarget(NamedTuple):
    """A record to re-score."""

    record_id: int
    local_id: str
    system_id: int


class OpenReviewPair(NamedTuple):
    """An open review item: its record and candidate person."""

    item_id: int
    record_id: int
    candidate_person_id: int
    probability: float


def relink_targets(conn: psycopg.Connection[Any]) -> list[RelinkTarget]:
    """Records to re-score: active, and not manually linked or with an open review item,
    in record ID order."""
    with conn.cursor(row_factory=class_row(RelinkTarget)) as cur:
        return cur.execute(
            "SELECT r.id AS record_id, r.local_id, r.system_id FROM source_record r"
            " LEFT JOIN link l ON l.record_id = r.id WHERE r.status = 'active'"
            " AND (l.method IS DISTINCT FROM 'manual' OR EXISTS (SELECT 1 FROM review_item i"
            " WHERE i.record_id = r.id AND i.status = 'open')) ORDER BY r.id"
        ).fetchall()


def link_map(conn: psycopg.Connection[Any]) -> dict[int, int]:
    """Every link as record ID -> person ID."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT record_id, person_id FROM link").fetchall()
    return {r["record_id"]: r["person_id"] for r in rows}


def open_review_pairs(conn: psycopg.Connection[Any]) -> list[OpenReviewPair]:
    """Open review items, oldest first."""
    with conn.cursor(row_factory=class_row(OpenReviewPair)) as cur:
        return cur.execute(
            "SELECT id AS item_id, record_id, candidate_person_id, probability FROM review_item"
            " WHERE status = 'open' ORDER BY id"
        ).fetchall()


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
        if not scalar(conn, "SELECT to_regclass('match_model') IS NOT NULL"):
            return None
        row = active_model(conn)
    return row.document if row else None
