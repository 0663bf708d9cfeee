"""Reads and checks for batch engines (``mpi/spark``): the whole store in ID ranges.

A batch engine reads every active record once, in ranges of record IDs (each range one
statement, so a cluster's workers or the export can page through millions of records),
with what matching needs: the normalised fields, the stored blocking keys, the link and
whether the record is a relink target. The small tables (no-match assertions, open
review items, name and postcode counters) are read whole.

The write-back goes through the ordinary writers of :mod:`mpi.store.persons`,
:mod:`mpi.store.review` and :mod:`mpi.store.events`; :func:`links_of` lets it check that
the records of a group still have the links the batch read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from mpi.models import StoredRecord
from mpi.store.records import stored_records

__all__ = [
    "BatchRecord",
    "id_range",
    "links_of",
    "no_match_pairs",
    "open_review_items",
    "read_records",
    "term_counters",
]


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One active record as a batch engine reads it.

    Attributes:
        record: the record with its link (person, method).
        keys: its stored blocking keys.
        target: whether a relink re-scores it (not manually linked, or with an open
            review item: :func:`mpi.store.models.relink_targets`).
    """

    record: StoredRecord
    keys: tuple[str, ...]
    target: bool


def id_range(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """The lowest and highest active record IDs (``(0, -1)`` when there is none)."""
    low, high = conn.execute(
        "SELECT min(id), max(id) FROM source_record WHERE status = 'active'"
    ).fetchone() or (None, None)
    if low is None:
        return 0, -1
    return int(low), int(high)


def read_records(
    conn: psycopg.Connection[Any], low: int, high: int, *, batch: int = 20_000
) -> Iterator[list[BatchRecord]]:
    """The active records with ``low <= id <= high``, in ID order, in lists of ``batch``."""
    last = low - 1
    while True:
        rows = conn.execute(
            "SELECT r.id, r.blocking_keys, l.method IS DISTINCT FROM 'manual'"
            " OR EXISTS (SELECT 1 FROM review_item i"
            "  WHERE i.record_id = r.id AND i.status = 'open')"
            " FROM source_record r LEFT JOIN link l ON l.record_id = r.id"
            " WHERE r.status = 'active' AND r.id > %s AND r.id <= %s ORDER BY r.id LIMIT %s",
            (last, high, batch),
        ).fetchall()
        if not rows:
            return
        ids = [record_id for record_id, _, _ in rows]
        stored = {r.id: r for r in stored_records(conn, ids)}
        yield [BatchRecord(stored[i], tuple(keys), bool(target)) for i, keys, target in rows]
        last = ids[-1]


def no_match_pairs(conn: psycopg.Connection[Any]) -> list[tuple[int, int]]:
    """Every no-match assertion as ``(record_a, record_b)``."""
    return [(a, b) for a, b in conn.execute("SELECT record_a, record_b FROM no_match").fetchall()]


def open_review_items(conn: psycopg.Connection[Any]) -> list[tuple[int, int, int]]:
    """Open review items as ``(item ID, record ID, candidate person ID)``."""
    return [
        (i, r, p)
        for i, r, p in conn.execute(
            "SELECT id, record_id, candidate_person_id FROM review_item WHERE status = 'open'"
        ).fetchall()
    ]


def term_counters(conn: psycopg.Connection[Any]) -> dict[str, dict[str, int]]:
    """The whole name and postcode counters (migrations 0009 and 0013), by kind.

    ``{"total": {"": n}, "given": {...}, "family": {...}, "postcode": {...}}``: the same
    counts :func:`mpi.store.records.term_counts` reads by name, all at once.
    """
    found: dict[str, dict[str, int]] = {"total": {"": 0}, "given": {}, "family": {}, "postcode": {}}
    for kind, name, n in conn.execute(
        "SELECT kind, name, sum(n)::bigint FROM name_frequency GROUP BY kind, name"
    ).fetchall():
        if kind == "total":
            found["total"][""] = int(n)
        elif n and kind in found:
            found[kind][name] = int(n)
    return found


def links_of(
    conn: psycopg.Connection[Any], record_ids: Sequence[int]
) -> dict[int, tuple[int | None, str | None]]:
    """The current ``(person ID, method)`` of these records (``(None, None)``: no link or
    no longer active)."""
    rows = conn.execute(
        "SELECT r.id, l.person_id, l.method FROM source_record r"
        " LEFT JOIN link l ON l.record_id = r.id"
        " WHERE r.id = ANY(%s) AND r.status = 'active'",
        (list(record_ids),),
    ).fetchall()
    found: dict[int, tuple[int | None, str | None]] = dict.fromkeys(record_ids, (None, None))
    found.update({record_id: (person, method) for record_id, person, method in rows})
    return found
