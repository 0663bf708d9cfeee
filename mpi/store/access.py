"""SQL for the care-relationship rule: which persons a system holds records for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    """An active record linked to a person, with its system's identifier system."""

    system_id: int
    system_code: str
    system_name: str
    identifier_system: str | None
    local_id: str


def persons_held(
    conn: psycopg.Connection[Any], system_id: int, person_pks: Iterable[int]
) -> set[int]:
    """The persons among ``person_pks`` to which the system has an active linked record."""
    pks = list(person_pks)
    if not pks:
        return set()
    rows = conn.execute(
        "SELECT DISTINCT l.person_id FROM link l JOIN source_record r ON r.id = l.record_id"
        " WHERE l.person_id = ANY(%s) AND r.system_id = %s AND r.status = 'active'",
        (pks, system_id),
    ).fetchall()
    return {r[0] for r in rows}


def linked_records(conn: psycopg.Connection[Any], person_pk: int) -> list[LinkedRecord]:
    """Every active record linked to a person, by system code and local ID."""
    with conn.cursor(row_factory=class_row(LinkedRecord)) as cur:
        return cur.execute(
            "SELECT s.id AS system_id, s.code AS system_code, s.name AS system_name,"
            " s.identifier_system, r.local_id"
            " FROM link l JOIN source_record r ON r.id = l.record_id"
            " JOIN source_system s ON s.id = r.system_id"
            " WHERE l.person_id = %s AND r.status = 'active' ORDER BY s.code, r.local_id",
            (person_pk,),
        ).fetchall()


def person_of_record(
    conn: psycopg.Connection[Any], system_code: str, local_id: str
) -> tuple[int, str] | None:
    """(internal, enterprise) ID of the person an active record is linked to, or ``None``."""
    row = conn.execute(
        "SELECT p.id, p.person_id FROM source_record r"
        " JOIN source_system s ON s.id = r.system_id JOIN link l ON l.record_id = r.id"
        " JOIN person p ON p.id = l.person_id"
        " WHERE s.code = %s AND r.local_id = %s AND r.status = 'active'",
        (system_code, local_id),
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def persons_with_nhs_number(
    conn: psycopg.Connection[Any], nhs_number: str
) -> list[tuple[int, str]]:
    """(internal, enterprise) IDs of persons with an active record carrying this NHS number."""
    rows = conn.execute(
        "SELECT DISTINCT p.id, p.person_id FROM source_record r"
        " JOIN link l ON l.record_id = r.id JOIN person p ON p.id = l.person_id"
        " WHERE r.nhs_number = %s AND r.status = 'active' ORDER BY p.id",
        (nhs_number,),
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def events_for_system(
    conn: psycopg.Connection[Any], system_id: int, after: int, limit: int, *, everything: bool
) -> list[dict[str, Any]]:
    """Identity events after ``after`` about persons the system holds records of (or all).

    A record's local ID is given only when the record belongs to the system itself.
    """
    rows = conn.execute(
        "SELECT e.id, e.event_type, p.person_id, o.person_id, e.occurred_at,"
        " CASE WHEN r.system_id = %(system)s OR %(all)s THEN s.code END,"
        " CASE WHEN r.system_id = %(system)s OR %(all)s THEN r.local_id END"
        " FROM identity_event e"
        " LEFT JOIN person p ON p.id = e.person_id LEFT JOIN person o ON o.id = e.other_person_id"
        " LEFT JOIN source_record r ON r.id = e.record_id"
        " LEFT JOIN source_system s ON s.id = r.system_id"
        " WHERE e.id > %(after)s AND (%(all)s OR EXISTS ("
        "   SELECT 1 FROM link l JOIN source_record h ON h.id = l.record_id"
        "   WHERE h.system_id = %(system)s AND h.status = 'active'"
        "     AND l.person_id IN (e.person_id, e.other_person_id))"
        "   OR r.system_id = %(system)s)"
        " ORDER BY e.id LIMIT %(limit)s",
        {"system": system_id, "after": after, "limit": limit, "all": everything},
    ).fetchall()
    keys = ("id", "type", "person_id", "other_person_id", "occurred_at", "system", "local_id")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def person_exists(conn: psycopg.Connection[Any], person_id: str) -> bool:
    """Whether a person with this enterprise ID exists."""
    row = conn.execute("SELECT 1 FROM person WHERE person_id = %s", (person_id,)).fetchone()
    return row is not None
