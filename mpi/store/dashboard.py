"""SQL for the data-quality dashboard's decision figures, near misses and drill-down lists.

Decisions are counted as what they are: a *same person* that joined two identities of
several records each, or confirmed a merge request, is a merge; the first of two reviews
(four eyes) is not a decision and is counted on its own, by its reviewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

#: A decision's category: link decisions split into same-person links and merges.
_CATEGORY = (
    "CASE WHEN d.kind = 'link' AND (i.reason = 'merge_request'"
    "   OR jsonb_array_length(coalesce(d.changes -> 'moves', '[]'::jsonb)) > 1) THEN 'merge'"
    " WHEN d.kind = 'link' THEN 'same' ELSE d.kind END"
)
#: Who took a decision: the second reviewer of two, else the only one.
_WHO = "coalesce(d.second_by, d.decided_by)"

#: Decisions and first reviews, one row each: moment, category, reviewer, item, persons.
_ACTS = (
    f"SELECT d.decided_at AS at, {_CATEGORY} AS category, {_WHO} AS who,"
    " d.review_item_id AS item_id, p.person_id AS person_id, o.person_id AS other_person_id,"
    " d.note AS note, d.undone_at IS NOT NULL AS undone, d.id AS decision_id"
    " FROM review_decision d LEFT JOIN review_item i ON i.id = d.review_item_id"
    " LEFT JOIN person p ON p.id = d.person_id LEFT JOIN person o ON o.id = d.other_person_id"
    " UNION ALL"
    " SELECT i.first_review_at, 'first_review', i.first_review_by, i.id, p.person_id,"
    "  NULL, i.first_review_note, false, NULL"
    " FROM review_item i LEFT JOIN person p ON p.id = i.candidate_person_id"
    " WHERE i.first_review_at IS NOT NULL"
)


def acts_per_day(conn: psycopg.Connection[Any], days: int) -> list[tuple[date, str, int]]:
    """Decisions (by category) and first reviews per day over the last ``days`` days (UTC)."""
    rows = conn.execute(
        f"SELECT (at AT TIME ZONE 'UTC')::date, category, count(*) FROM ({_ACTS}) a"
        " WHERE at > now() - make_interval(days => %s) GROUP BY 1, 2 ORDER BY 1, 2",
        (days,),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def acts_per_reviewer(conn: psycopg.Connection[Any], days: int) -> list[tuple[str, str, int]]:
    """Per reviewer and category over the last ``days`` days: how many; the category
    ``undone`` counts their decisions since undone."""
    rows = conn.execute(
        f"SELECT who, category, count(*) FROM ({_ACTS}) a"
        " WHERE at > now() - make_interval(days => %s) GROUP BY 1, 2"
        " UNION ALL"
        f" SELECT who, 'undone', count(*) FROM ({_ACTS}) a"
        " WHERE at > now() - make_interval(days => %s) AND undone GROUP BY 1"
        " ORDER BY 1, 2",
        (days, days),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


@dataclass(frozen=True, slots=True)
class Act:
    """One decision or first review, for the dashboard's drill-down list."""

    at: datetime
    category: str
    who: str
    item_id: int | None
    person_id: str | None
    other_person_id: str | None
    note: str | None
    undone: bool
    decision_id: int | None


def acts(
    conn: psycopg.Connection[Any],
    *,
    days: int,
    day: date | None = None,
    category: str | None = None,
    who: str | None = None,
    undone: bool = False,
    limit: int = 200,
) -> list[Act]:
    """The decisions and first reviews behind a dashboard figure, newest first."""
    sql = f"SELECT * FROM ({_ACTS}) a WHERE at > now() - make_interval(days => %(days)s)"
    params: dict[str, Any] = {"days": days, "limit": limit}
    if day is not None:
        sql += " AND (at AT TIME ZONE 'UTC')::date = %(day)s"
        params["day"] = day
    if category is not None:
        sql += " AND category = %(category)s"
        params["category"] = category
    if who is not None:
        sql += " AND who = %(who)s"
        params["who"] = who
    if undone:
        sql += " AND undone"
    sql += " ORDER BY at DESC LIMIT %(limit)s"
    with conn.cursor(row_factory=class_row(Act)) as cur:
        return cur.execute(sql, params).fetchall()


def keep_near_misses(conn: psycopg.Connection[Any], rows: Sequence[tuple[int, int, float]]) -> None:
    """Store near misses ``(record_id, candidate_record_id, probability)``, the latest
    score of a pair replacing the one before, in one statement."""
    conn.execute(
        "INSERT INTO near_miss (record_id, candidate_record_id, probability)"
        " SELECT DISTINCT ON (r, c) r, c, p"
        " FROM unnest(%s::bigint[], %s::bigint[], %s::float8[]) AS t(r, c, p)"
        " ON CONFLICT (record_id, candidate_record_id)"
        " DO UPDATE SET probability = excluded.probability, scored_at = now()",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )


def near_misses_at(conn: psycopg.Connection[Any], thresholds: Sequence[float]) -> dict[float, int]:
    """For each threshold: near misses scoring at or above it whose two records are still
    in different persons and have no review item between them (what it would queue)."""
    rows = conn.execute(
        "SELECT t, count(n.record_id) FROM unnest(%s::float8[]) AS t"
        " LEFT JOIN (SELECT m.record_id, m.probability FROM near_miss m"
        "   JOIN link a ON a.record_id = m.record_id"
        "   JOIN link b ON b.record_id = m.candidate_record_id"
        "   JOIN source_record ra ON ra.id = m.record_id AND ra.status = 'active'"
        "   JOIN source_record rb ON rb.id = m.candidate_record_id AND rb.status = 'active'"
        "   WHERE a.person_id <> b.person_id AND NOT EXISTS (SELECT 1 FROM review_item i"
        "     WHERE i.record_id = m.record_id AND i.candidate_person_id = b.person_id)"
        " ) n ON n.probability >= t GROUP BY t",
        (list(thresholds),),
    ).fetchall()
    return {float(r[0]): int(r[1]) for r in rows}
