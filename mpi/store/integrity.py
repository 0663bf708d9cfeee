"""SQL for the store's invariants (``mpi db check``): one set-based query per invariant.

Each query returns the rows that breach its invariant (at most :data:`SAMPLE` of them, as
plain IDs, never patient data) and, as its first column, how many breach it in all. A
sound store returns no row from any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

#: How many breaching rows a check names.
SAMPLE = 5


@dataclass(frozen=True, slots=True)
class Invariant:
    """One rule the store must keep, and the query that lists its breaches."""

    name: str
    description: str
    sql: str


def _breaches(select: str) -> str:
    # ``select`` lists one breach per row in a column ``what`` (a short text of IDs).
    return f"WITH b AS ({select}) SELECT count(*) OVER (), what FROM b ORDER BY what LIMIT {SAMPLE}"


INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        "active_record_unlinked",
        "every active record is linked to a person",
        _breaches(
            "SELECT 'record ' || r.id AS what FROM source_record r"
            " WHERE r.status = 'active' AND NOT EXISTS"
            " (SELECT 1 FROM link l WHERE l.record_id = r.id)"
        ),
    ),
    Invariant(
        "withdrawn_record_linked",
        "a withdrawn record has no link",
        _breaches(
            "SELECT 'record ' || r.id AS what FROM source_record r JOIN link l"
            " ON l.record_id = r.id WHERE r.status <> 'active'"
        ),
    ),
    Invariant(
        "link_to_merged_person",
        "no link points to a merged person",
        _breaches(
            "SELECT 'record ' || l.record_id || ' -> person ' || p.person_id AS what"
            " FROM link l JOIN person p ON p.id = l.person_id WHERE p.status <> 'active'"
        ),
    ),
    Invariant(
        "merge_pointer",
        "a merged person points to an active survivor, with no chain or cycle",
        _breaches(
            "SELECT 'person ' || m.person_id || ' -> ' || s.person_id"
            " || ' (' || s.status || ')' AS what"
            " FROM person m JOIN person s ON s.id = m.merged_into"
            " WHERE m.status = 'merged' AND (s.status <> 'active' OR s.id = m.id)"
        ),
    ),
    Invariant(
        "review_item_stale",
        "an open review item names an active record, an active candidate person (and an"
        " active candidate record), and its record is not already in the candidate person",
        _breaches(
            "SELECT 'review item ' || i.id AS what FROM review_item i"
            " JOIN source_record r ON r.id = i.record_id"
            " JOIN person p ON p.id = i.candidate_person_id"
            " LEFT JOIN source_record c ON c.id = i.candidate_record_id"
            " LEFT JOIN link l ON l.record_id = i.record_id"
            " WHERE i.status = 'open' AND (r.status <> 'active' OR p.status <> 'active'"
            "  OR (i.candidate_record_id IS NOT NULL AND c.status <> 'active')"
            "  OR l.person_id = i.candidate_person_id)"
        ),
    ),
    Invariant(
        "no_match_crossed",
        "no two records declared different people are linked to one person",
        _breaches(
            "SELECT 'records ' || n.record_a || ' and ' || n.record_b AS what FROM no_match n"
            " JOIN link a ON a.record_id = n.record_a JOIN link b ON b.record_id = n.record_b"
            " WHERE a.person_id = b.person_id"
        ),
    ),
    Invariant(
        "history_replay",
        "each record's link history, replayed in order, ends at its current link, and each"
        " change starts where the one before it ended",
        _breaches(
            "WITH h AS (SELECT record_id, id, person_id, previous_person_id,"
            "  lag(person_id) OVER w AS before, row_number() OVER w AS n,"
            "  count(*) OVER (PARTITION BY record_id) AS changes"
            "  FROM link_history WINDOW w AS (PARTITION BY record_id ORDER BY id))"
            " SELECT 'record ' || h.record_id || ' (history ' || h.id || ')' AS what"
            " FROM h WHERE h.n > 1 AND h.previous_person_id IS DISTINCT FROM h.before"
            " UNION ALL"
            " SELECT 'record ' || coalesce(h.record_id, l.record_id) AS what"
            " FROM (SELECT * FROM h WHERE n = changes) h"
            " FULL JOIN link l ON l.record_id = h.record_id"
            " WHERE h.person_id IS DISTINCT FROM l.person_id"
        ),
    ),
    Invariant(
        "events_follow_history",
        "every current link is told by an identity event naming its record and person, and"
        " every withdrawal by a record_withdrawn event",
        _breaches(
            "SELECT 'record ' || l.record_id AS what FROM link l WHERE NOT EXISTS"
            " (SELECT 1 FROM identity_event e WHERE e.record_id = l.record_id"
            "  AND e.person_id = l.person_id"
            "  AND e.event_type IN ('record_linked', 'record_moved'))"
            " UNION ALL"
            " SELECT 'record ' || r.id AS what FROM source_record r"
            " WHERE r.status = 'withdrawn' AND NOT EXISTS"
            " (SELECT 1 FROM identity_event e WHERE e.record_id = r.id"
            "  AND e.event_type = 'record_withdrawn')"
        ),
    ),
    Invariant(
        "frequency_counters",
        "the name and postcode counters equal a recount of the active records",
        _breaches(
            "WITH kept AS (SELECT kind, name, sum(n) AS n FROM name_frequency"
            "  GROUP BY kind, name HAVING sum(n) <> 0),"
            " counted AS (SELECT t.kind, t.name, count(*) AS n FROM source_record r,"
            "  name_frequency_terms(r) t GROUP BY t.kind, t.name)"
            " SELECT coalesce(k.kind, c.kind) || ' counter' AS what"
            " FROM kept k FULL JOIN counted c ON c.kind = k.kind AND c.name = k.name"
            " WHERE k.n IS DISTINCT FROM c.n"
        ),
    ),
)


def breaches(conn: psycopg.Connection[Any], invariant: Invariant) -> tuple[int, list[str]]:
    """How many rows breach an invariant, and up to :data:`SAMPLE` of them."""
    rows = conn.execute(invariant.sql).fetchall()
    return (rows[0][0] if rows else 0), [r[1] for r in rows]
