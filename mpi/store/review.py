"""SQL for review items (uncertain matches)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from mpi.models import ReviewItem


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """A review item to open."""

    record_id: int
    candidate_person_id: int
    candidate_record_id: int | None
    probability: float
    weight: float
    reason: str
    explanation: list[dict[str, Any]]


#: How opening an item for a pair already open refreshes it (:func:`open_items` and
#: :func:`mpi.store.persons.write_all`).
OPEN_ITEM_CONFLICT = (
    " ON CONFLICT (record_id, candidate_person_id) WHERE status = 'open'"
    " DO UPDATE SET candidate_record_id = excluded.candidate_record_id,"
    " probability = excluded.probability, weight = excluded.weight,"
    " reason = excluded.reason, explanation = excluded.explanation,"
    " version = review_item.version + 1"
)


def open_items(conn: psycopg.Connection[Any], rows: Sequence[ReviewRow]) -> None:
    """Open review items; an item already open for the same pair is refreshed."""
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO review_item (record_id, candidate_person_id, candidate_record_id,"
            " probability, weight, reason, explanation) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            + OPEN_ITEM_CONFLICT,
            [
                (
                    r.record_id,
                    r.candidate_person_id,
                    r.candidate_record_id,
                    r.probability,
                    r.weight,
                    r.reason,
                    Jsonb(r.explanation),
                )
                for r in rows
            ],
        )


def supersede_for_records(conn: psycopg.Connection[Any], record_ids: Sequence[int]) -> int:
    """Close the open items of records whose data changed (matching runs again)."""
    if not record_ids:
        return 0
    cur = conn.execute(
        "UPDATE review_item SET status = 'superseded', decided_at = now(),"
        " decided_by = 'system', version = version + 1"
        " WHERE status = 'open' AND record_id = ANY(%s)",
        (list(record_ids),),
    )
    return cur.rowcount


def supersede_resolved(
    conn: psycopg.Connection[Any],
    record_ids: Sequence[int],
    person_pks: Sequence[int],
    actor: str,
) -> int:
    """Close open items whose record is now linked to their candidate person, among items
    of these records or with these candidate persons (after link moves and merges)."""
    if not record_ids and not person_pks:
        return 0
    cur = conn.execute(
        "UPDATE review_item i SET status = 'superseded', decided_at = now(), decided_by = %s,"
        " version = version + 1 FROM link l"
        " WHERE i.status = 'open' AND l.record_id = i.record_id"
        " AND l.person_id = i.candidate_person_id"
        " AND (i.record_id = ANY(%s) OR i.candidate_person_id = ANY(%s))",
        (actor, list(record_ids), list(person_pks)),
    )
    return cur.rowcount


def items_for_record(conn: psycopg.Connection[Any], record_id: int) -> list[ReviewItem]:
    """Open review items of one record."""
    with conn.cursor(row_factory=class_row(ReviewItem)) as cur:
        return cur.execute(
            "SELECT id, record_id, candidate_person_id, candidate_record_id, probability,"
            " weight, reason, explanation, status, version, created_at"
            " FROM review_item WHERE record_id = %s AND status = 'open' ORDER BY probability DESC",
            (record_id,),
        ).fetchall()


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An open review item by its record and its candidate's best-scoring record."""

    system: str
    local_id: str
    candidate_system: str | None
    candidate_local_id: str | None
    probability: float
    reason: str


def open_items_export(conn: psycopg.Connection[Any]) -> Iterator[OpenItem]:
    """Every open item, most probable first."""
    with conn.cursor(row_factory=class_row(OpenItem)) as cur:
        yield from cur.execute(
            "SELECT s.code AS system, r.local_id, cs.code AS candidate_system,"
            " cr.local_id AS candidate_local_id, i.probability, i.reason"
            " FROM review_item i"
            " JOIN source_record r ON r.id = i.record_id"
            " JOIN source_system s ON s.id = r.system_id"
            " LEFT JOIN source_record cr ON cr.id = i.candidate_record_id"
            " LEFT JOIN source_system cs ON cs.id = cr.system_id"
            " WHERE i.status = 'open' ORDER BY i.probability DESC, i.id"
        )


def reasons(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Open items counted by reason."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT reason, count(*) AS n FROM review_item WHERE status = 'open'"
            " GROUP BY reason ORDER BY 2 DESC"
        ).fetchall()
    return {r["reason"]: r["n"] for r in rows}


class OpenPair(NamedTuple):
    """An open item by its record and its candidate person."""

    system: str
    local_id: str
    candidate_person_id: str


class OpenRecordPair(NamedTuple):
    """An open item by its record and candidate record (``None``: none was named)."""

    record_id: int
    candidate_record_id: int | None
    reason: str


def open_pairs(conn: psycopg.Connection[Any]) -> list[OpenPair]:
    """Every open item, by record and candidate person (enterprise ID)."""
    with conn.cursor(row_factory=class_row(OpenPair)) as cur:
        return cur.execute(
            "SELECT s.code AS system, r.local_id, p.person_id AS candidate_person_id"
            " FROM review_item i JOIN source_record r ON r.id = i.record_id"
            " JOIN source_system s ON s.id = r.system_id"
            " JOIN person p ON p.id = i.candidate_person_id WHERE i.status = 'open'"
        ).fetchall()


def open_record_pairs(conn: psycopg.Connection[Any]) -> list[OpenRecordPair]:
    """Every open item by record and candidate record, oldest first."""
    with conn.cursor(row_factory=class_row(OpenRecordPair)) as cur:
        return cur.execute(
            "SELECT record_id, candidate_record_id, reason FROM review_item"
            " WHERE status = 'open' ORDER BY id"
        ).fetchall()
