"""SQL for the append-only identity event log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from mpi.models import IdentityEvent
from mpi.store.persons import insert_rows


@dataclass(frozen=True, slots=True)
class EventRow:
    """An identity event to append."""

    event_type: str
    person_id: int | None
    record_id: int | None = None
    other_person_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    actor: str = "system"


def append(conn: psycopg.Connection[Any], events: Sequence[EventRow]) -> None:
    """Append events in order."""
    insert_rows(
        conn,
        "identity_event",
        ("event_type", "person_id", "other_person_id", "record_id", "detail", "actor"),
        [
            (e.event_type, e.person_id, e.other_person_id, e.record_id, Jsonb(e.detail), e.actor)
            for e in events
        ],
    )


_SELECT = (
    "SELECT e.id, e.event_type, p.person_id, o.person_id AS other_person_id,"
    " s.code AS system_code, r.local_id, e.detail, e.actor, e.occurred_at FROM identity_event e"
    " LEFT JOIN person p ON p.id = e.person_id LEFT JOIN person o ON o.id = e.other_person_id"
    " LEFT JOIN source_record r ON r.id = e.record_id"
    " LEFT JOIN source_system s ON s.id = r.system_id"
)


def after(conn: psycopg.Connection[Any], cursor: int, limit: int) -> list[IdentityEvent]:
    """Events after ``cursor`` (an event ID), oldest first."""
    with conn.cursor(row_factory=class_row(IdentityEvent)) as cur:
        return cur.execute(
            _SELECT + " WHERE e.id > %s ORDER BY e.id LIMIT %s", (cursor, limit)
        ).fetchall()


def of_person(conn: psycopg.Connection[Any], pk: int) -> list[IdentityEvent]:
    """Events about one person, oldest first."""
    with conn.cursor(row_factory=class_row(IdentityEvent)) as cur:
        return cur.execute(
            _SELECT + " WHERE e.person_id = %(pk)s OR e.other_person_id = %(pk)s ORDER BY e.id",
            {"pk": pk},
        ).fetchall()
