"""SQL for HL7 v2: facility mapping, message idempotency, a change of local identifier."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import class_row

from mpi.errors import Conflict, NotFound
from mpi.models import SourceSystem

_COLUMNS = "id, code, name, kind, trust_rank"


def system_for_facility(conn: psycopg.Connection[Any], facility: str) -> SourceSystem | None:
    """The system whose HL7 facility is ``facility`` (or, having none, whose code is)."""
    with conn.cursor(row_factory=class_row(SourceSystem)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM source_system"
            " WHERE hl7_facility = %s OR (hl7_facility IS NULL AND code = %s)"
            " ORDER BY hl7_facility IS NULL LIMIT 1",
            (facility, facility),
        ).fetchone()


def set_facility(conn: psycopg.Connection[Any], code: str, facility: str | None) -> None:
    """Name the system's HL7 sending facility; :class:`Conflict` if another has it."""
    try:
        with conn.transaction():
            found = conn.execute(
                "UPDATE source_system SET hl7_facility = %s WHERE code = %s RETURNING id",
                (facility, code),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"HL7 facility {facility!r} is already another system's") from exc
    if found is None:
        raise NotFound(f"unknown system {code!r}: add it first (mpi systems add)")


def systems_and_facilities(
    conn: psycopg.Connection[Any],
) -> list[tuple[SourceSystem, str | None]]:
    """Every system with its HL7 facility (``None``: its code stands for it), one read."""
    rows = conn.execute(
        f"SELECT {_COLUMNS}, hl7_facility FROM source_system ORDER BY id"
    ).fetchall()
    return [(SourceSystem(*row[:5]), row[5]) for row in rows]


def facilities(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Every system's HL7 facility (its own, or its code): code -> facility."""
    rows = conn.execute("SELECT code, coalesce(hl7_facility, code) FROM source_system").fetchall()
    return {code: facility for code, facility in rows}


def claim_message(
    conn: psycopg.Connection[Any], system_id: int, control_id: str, message_type: str
) -> str | None:
    """Note a message as being processed in this transaction.

    Returns ``None`` for a new message, or the acknowledgement code it had when the same
    system sent the same MSH-10 before (a concurrent first copy is waited for).
    """
    row = conn.execute(
        "INSERT INTO hl7_message (system_id, control_id, message_type, ack_code)"
        " VALUES (%s, %s, %s, 'AA') ON CONFLICT DO NOTHING RETURNING ack_code",
        (system_id, control_id, message_type),
    ).fetchone()
    if row is not None:
        return None
    seen = conn.execute(
        "SELECT ack_code FROM hl7_message WHERE system_id = %s AND control_id = %s",
        (system_id, control_id),
    ).fetchone()
    return str(seen[0]) if seen else "AA"


def rename_record(
    conn: psycopg.Connection[Any], system_id: int, old: str, new: str
) -> tuple[int, int | None] | None:
    """Change an active record's local ID (HL7 A47).

    Returns the record's ID and its linked person's, or ``None`` if there is no active
    record ``old``. Raises :class:`Conflict` if the system already has a record ``new``.
    """
    try:
        with conn.transaction():
            row = conn.execute(
                "UPDATE source_record SET local_id = %s, updated_at = now(),"
                " version = version + 1"
                " WHERE system_id = %s AND local_id = %s AND status = 'active' RETURNING id",
                (new, system_id, old),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"the system already has a record {new!r}") from exc
    if row is None:
        return None
    person = conn.execute("SELECT person_id FROM link WHERE record_id = %s", (row[0],)).fetchone()
    return int(row[0]), (int(person[0]) if person else None)
