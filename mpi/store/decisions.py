"""SQL for reviewers' work: the queue, claims, decisions, link moves and their undoing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import args_row, dict_row
from psycopg.types.json import Jsonb

from mpi.store.db import scalar, scalars


@dataclass(frozen=True, slots=True)
class QueueRow:
    """An open review item as the queue shows it."""

    id: int
    version: int
    record_id: int
    record_person_id: str | None
    system_code: str
    local_id: str
    family_name: str | None
    given_name: str | None
    birth_date: Any
    candidate_person_pk: int
    candidate_person_id: str
    candidate_system: str | None
    candidate_local_id: str | None
    probability: float
    reason: str
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    first_review_by: str | None
    skips: int
    skipped_by: list[str]
    systems: int
    priority: float


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One review item with everything a decision needs."""

    id: int
    version: int
    status: str
    record_id: int
    record_person_pk: int | None
    candidate_person_pk: int
    candidate_record_id: int | None
    probability: float
    weight: float
    reason: str
    explanation: list[dict[str, Any]]
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    first_review_by: str | None
    first_review_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    skips: int
    first_review_note: str | None
    skipped_by: list[str]


@dataclass(frozen=True, slots=True)
class LinkState:
    """A record's current link."""

    record_id: int
    person_id: int
    method: str
    probability: float | None
    weight: float | None
    model_version: str | None
    linked_by: str


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One reviewer decision, with what it changed."""

    id: int
    kind: str
    review_item_id: int | None
    person_pk: int | None
    person_id: str | None
    other_person_pk: int | None
    other_person_id: str | None
    changes: dict[str, Any]
    note: str | None
    first_note: str | None
    decided_by: str
    second_by: str | None
    decided_at: datetime
    undone_at: datetime | None
    undone_by: str | None
    undo_of: int | None
    version: int


def filter_sql(
    system: str | None, reason: str | None, second: bool = False
) -> tuple[list[str], dict[str, Any]]:
    """The queue's filters as conditions on open items ``i`` and their parameters
    (``second``: only items awaiting a second review)."""
    where = ["i.status = 'open'"]
    params: dict[str, Any] = {}
    if second:
        where.append("i.first_review_by IS NOT NULL")
    if reason:
        where.append("i.reason = %(reason)s")
        params["reason"] = reason
    if system:
        where.append(
            "EXISTS (SELECT 1 FROM source_record fr JOIN source_system fs ON fs.id = fr.system_id"
            " WHERE fs.code = %(system)s AND fr.id IN (i.record_id, i.candidate_record_id))"
        )
        params["system"] = system
    return where, params


# The queue's orders (a fixed choice, never text from a request): {k} prefixes the
# ranked columns. Ties go to the oldest item, then the lowest id, so pages are stable.
QUEUE_SORTS = {
    "priority": "{k}priority DESC, i.created_at, i.id",
    "age": "i.created_at, i.id",
    "probability": "i.probability DESC, i.created_at, i.id",
}


def queue_sql(
    *,
    link: float,
    review: float,
    urgent: Sequence[str],
    age_full_days: int,
    system: str | None,
    reason: str | None,
    limit: int,
    offered_to: str | None = None,
    claim_seconds: int = 1800,
    merge_request: str = "merge_request",
    second: bool = False,
    sort: str = "priority",
    offset: int = 0,
) -> tuple[str, dict[str, Any]]:
    """The queue query: open items ranked by priority in the database, best first.

    The priority is :func:`mpi.review.priority` in SQL: 0.4 × closeness to the nearer
    threshold + 0.3 × age (full at ``age_full_days``) + 0.2 × systems spanned (full at
    five) + 0.1 × an urgent reason; a merge requested by hand (``merge_request``) is 1.
    Only the top ``limit`` items get their details joined. With ``offered_to``, the items
    that reviewer skipped or gave the first review of, and those another reviewer claimed
    less than ``claim_seconds`` ago, are left out. ``sort`` is one of :data:`QUEUE_SORTS`
    (ties: oldest first, then by id, so that pages never overlap); ``offset`` skips that
    many items of the order.
    """
    order = QUEUE_SORTS[sort]
    where, params = filter_sql(system, reason, second)
    params.update(
        {
            "link": link,
            "review": review,
            "half_span": max(link - review, 1e-9) / 2,
            "urgent": list(urgent),
            "age_full": age_full_days * 86400.0,
            "limit": limit,
            "offset": max(offset, 0),
            "merge_request": merge_request,
        }
    )
    if offered_to is not None:
        where.append(
            "NOT (%(me)s = ANY(i.skipped_by)) AND i.first_review_by IS DISTINCT FROM %(me)s"
            " AND (i.claimed_by IS NULL OR i.claimed_by = %(me)s"
            "   OR i.claimed_at <= now() - make_interval(secs => %(claim_secs)s))"
        )
        params.update({"me": offered_to, "claim_secs": claim_seconds})
    ranked = (
        "WITH ranked AS (SELECT i.id, sys.n AS systems,"
        " CASE WHEN i.reason = %(merge_request)s THEN 1.0 ELSE"
        " 0.4 * greatest(0.0, 1.0 - least(abs(i.probability - %(link)s),"
        "   abs(i.probability - %(review)s)) / %(half_span)s)"
        " + 0.3 * least(greatest(extract(epoch FROM now() - i.created_at)::float8, 0.0)"
        "   / %(age_full)s, 1.0)"
        " + 0.2 * least(greatest(sys.n - 1, 0) / 4.0, 1.0)"
        " + 0.1 * (i.reason = ANY(%(urgent)s))::int END AS priority"
        " FROM review_item i CROSS JOIN LATERAL (SELECT count(DISTINCT u.system_id) AS n FROM ("
        "   SELECT x.system_id FROM link xl JOIN source_record x ON x.id = xl.record_id"
        "   WHERE xl.person_id = i.candidate_person_id AND x.status = 'active'"
        "   UNION ALL SELECT r0.system_id FROM source_record r0 WHERE r0.id = i.record_id) u) sys"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY {order.format(k='')} LIMIT %(limit)s OFFSET %(offset)s)"
    )
    select = (
        " SELECT i.id, i.version, i.record_id, rp.person_id, s.code, r.local_id,"
        " coalesce(r.raw ->> 'family_name', r.raw #>> '{name,0,family}', r.family_name),"
        " coalesce(r.raw ->> 'given_name', r.raw #>> '{name,0,given,0}',"
        "   array_to_string(r.given_names, ' ')),"
        " r.birth_date, i.candidate_person_id, cp.person_id, cs.code, cr.local_id,"
        " i.probability, i.reason, i.created_at, i.claimed_by, i.claimed_at, i.first_review_by,"
        " i.skips, i.skipped_by, k.systems, k.priority"
        " FROM ranked k JOIN review_item i ON i.id = k.id"
        " JOIN source_record r ON r.id = i.record_id JOIN source_system s ON s.id = r.system_id"
        " LEFT JOIN link rl ON rl.record_id = r.id LEFT JOIN person rp ON rp.id = rl.person_id"
        " JOIN person cp ON cp.id = i.candidate_person_id"
        " LEFT JOIN source_record cr ON cr.id = i.candidate_record_id"
        " LEFT JOIN source_system cs ON cs.id = cr.system_id"
        f" ORDER BY {order.format(k='k.')}"
    )
    return ranked + select, params


def queue(
    conn: psycopg.Connection[Any],
    *,
    link: float,
    review: float,
    urgent: Sequence[str],
    age_full_days: int,
    system: str | None = None,
    reason: str | None = None,
    limit: int = 200,
    offered_to: str | None = None,
    claim_seconds: int = 1800,
    merge_request: str = "merge_request",
    second: bool = False,
    sort: str = "priority",
    offset: int = 0,
) -> list[QueueRow]:
    """The top ``limit`` open items by priority (see :func:`queue_sql`)."""
    sql, params = queue_sql(
        link=link,
        review=review,
        urgent=urgent,
        age_full_days=age_full_days,
        system=system,
        reason=reason,
        limit=limit,
        offered_to=offered_to,
        claim_seconds=claim_seconds,
        merge_request=merge_request,
        second=second,
        sort=sort,
        offset=offset,
    )
    with conn.cursor(row_factory=args_row(QueueRow)) as cur:
        return cur.execute(sql, params).fetchall()


def queue_summary(
    conn: psycopg.Connection[Any],
    claim_seconds: int,
    *,
    system: str | None = None,
    reason: str | None = None,
    second: bool = False,
) -> dict[str, Any]:
    """Counts for the top of the queue: open, claimed, awaiting a second review, oldest,
    of the items the filters select; by reason, of those the system filter selects."""
    where, params = filter_sql(system, reason, second)
    params["secs"] = claim_seconds
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            'SELECT count(*) AS "open",'
            " count(*) FILTER (WHERE i.claimed_by IS NOT NULL"
            "   AND i.claimed_at > now() - make_interval(secs => %(secs)s)) AS claimed,"
            " count(*) FILTER (WHERE i.first_review_by IS NOT NULL) AS second_review,"
            " min(i.created_at) AS oldest,"
            " percentile_cont(0.5) WITHIN GROUP"
            "   (ORDER BY extract(epoch FROM now() - i.created_at)) AS median_age_seconds"
            f" FROM review_item i WHERE {' AND '.join(where)}",
            params,
        ).fetchone()
        assert row is not None
        where, params = filter_sql(system, None)
        by_reason = cur.execute(
            f"SELECT i.reason, count(*) AS n FROM review_item i WHERE {' AND '.join(where)}"
            " GROUP BY 1 ORDER BY 2 DESC, 1",
            params,
        ).fetchall()
    median = row["median_age_seconds"]
    return {
        **row,
        "median_age_seconds": float(median) if median is not None else None,
        "by_reason": {r["reason"]: r["n"] for r in by_reason},
    }


_ITEM = (
    "SELECT i.id, i.version, i.status, i.record_id, l.person_id, i.candidate_person_id,"
    " i.candidate_record_id, i.probability, i.weight, i.reason, i.explanation, i.created_at,"
    " i.claimed_by, i.claimed_at, i.first_review_by, i.first_review_at, i.decided_by,"
    " i.decided_at, i.skips, i.first_review_note, i.skipped_by"
    " FROM review_item i LEFT JOIN link l ON l.record_id = i.record_id WHERE i.id = %s"
)


def get_item(
    conn: psycopg.Connection[Any], item_id: int, *, for_update: bool = False
) -> ItemRow | None:
    """One review item (row locked until commit with ``for_update``)."""
    sql = _ITEM + (" FOR UPDATE OF i" if for_update else "")
    with conn.cursor(row_factory=args_row(ItemRow)) as cur:
        return cur.execute(sql, (item_id,)).fetchone()


def claim(
    conn: psycopg.Connection[Any], item_id: int, version: int, reviewer: str, claim_seconds: int
) -> int | None:
    """Claim an open item at this version, unless someone else holds a live claim.

    Returns:
        The item's new version, or ``None`` if the item changed or is claimed by another.
    """
    return scalar(
        conn,
        "UPDATE review_item SET claimed_by = %(who)s, claimed_at = now(), version = version + 1"
        " WHERE id = %(id)s AND version = %(version)s AND status = 'open'"
        " AND (claimed_by IS NULL OR claimed_by = %(who)s"
        "   OR claimed_at <= now() - make_interval(secs => %(secs)s))"
        " RETURNING version",
        {"who": reviewer, "id": item_id, "version": version, "secs": claim_seconds},
    )


def release(
    conn: psycopg.Connection[Any], item_id: int, version: int, *, skipped_by: str | None
) -> bool:
    """Drop the claim on an item; a skip also counts the skip and remembers who skipped
    (``claim next`` does not offer it to them again). ``False`` if it changed."""
    cur = conn.execute(
        "UPDATE review_item SET claimed_by = NULL, claimed_at = NULL,"
        " skips = skips + %(n)s, version = version + 1,"
        " skipped_by = CASE WHEN %(who)s::text IS NULL OR %(who)s = ANY(skipped_by)"
        "   THEN skipped_by ELSE skipped_by || %(who)s::text END"
        " WHERE id = %(id)s AND version = %(version)s AND status = 'open'",
        {"n": 0 if skipped_by is None else 1, "who": skipped_by, "id": item_id, "version": version},
    )
    return cur.rowcount == 1


def release_claims_of(conn: psycopg.Connection[Any], reviewer: str) -> int:
    """Drop every claim a reviewer holds (signing out); how many were dropped."""
    cur = conn.execute(
        "UPDATE review_item SET claimed_by = NULL, claimed_at = NULL, version = version + 1"
        " WHERE status = 'open' AND claimed_by = %s",
        (reviewer,),
    )
    return cur.rowcount


def first_review(
    conn: psycopg.Connection[Any],
    item_id: int,
    version: int,
    reviewer: str,
    note: str | None = None,
) -> bool:
    """Record the first of two reviews (same person), with its note; ``False`` if it changed."""
    cur = conn.execute(
        "UPDATE review_item SET first_review_by = %s, first_review_at = now(),"
        " first_review_note = %s, claimed_by = NULL, claimed_at = NULL, version = version + 1"
        " WHERE id = %s AND version = %s AND status = 'open'",
        (reviewer, note, item_id, version),
    )
    return cur.rowcount == 1


def close(
    conn: psycopg.Connection[Any], item_id: int, version: int, status: str, reviewer: str
) -> bool:
    """Decide an open item at this version (``linked`` or ``rejected``); ``False`` if it changed."""
    cur = conn.execute(
        "UPDATE review_item SET status = %s, decided_at = now(), decided_by = %s,"
        " claimed_by = NULL, claimed_at = NULL, version = version + 1"
        " WHERE id = %s AND version = %s AND status = 'open'",
        (status, reviewer, item_id, version),
    )
    return cur.rowcount == 1


def reopen(conn: psycopg.Connection[Any], item_id: int) -> bool:
    """Open a decided item again (undo); ``False`` if an item for the same pair is open."""
    cur = conn.execute(
        "UPDATE review_item i SET status = 'open', decided_at = NULL, decided_by = NULL,"
        " first_review_by = NULL, first_review_at = NULL, first_review_note = NULL,"
        " version = version + 1"
        " WHERE i.id = %s AND i.status <> 'open' AND NOT EXISTS ("
        "   SELECT 1 FROM review_item o WHERE o.status = 'open'"
        "   AND o.record_id = i.record_id AND o.candidate_person_id = i.candidate_person_id)",
        (item_id,),
    )
    return cur.rowcount == 1


def supersede_between(
    conn: psycopg.Connection[Any], person_pks: Sequence[int], actor: str
) -> list[int]:
    """Close open items whose record and candidate are both among these persons."""
    return scalars(
        conn,
        "UPDATE review_item i SET status = 'superseded', decided_at = now(), decided_by = %s,"
        " version = version + 1 FROM link l"
        " WHERE l.record_id = i.record_id AND i.status = 'open'"
        " AND l.person_id = ANY(%s) AND i.candidate_person_id = ANY(%s) RETURNING i.id",
        (actor, list(person_pks), list(person_pks)),
    )


def retarget_items(conn: psycopg.Connection[Any], gone: int, into: int, actor: str) -> None:
    """Point open items at a merged person to its survivor (superseding duplicates)."""
    conn.execute(
        "UPDATE review_item i SET status = 'superseded', decided_at = now(), decided_by = %s,"
        " version = version + 1 WHERE i.status = 'open' AND i.candidate_person_id = %s"
        " AND EXISTS (SELECT 1 FROM review_item o WHERE o.status = 'open'"
        "   AND o.record_id = i.record_id AND o.candidate_person_id = %s)",
        (actor, gone, into),
    )
    conn.execute(
        "UPDATE review_item SET candidate_person_id = %s, version = version + 1"
        " WHERE status = 'open' AND candidate_person_id = %s",
        (into, gone),
    )


def open_item_for(
    conn: psycopg.Connection[Any], record_id: int, candidate_person_pk: int
) -> int | None:
    """The open item of (record, candidate person), if any."""
    return scalar(
        conn,
        "SELECT id FROM review_item WHERE status = 'open' AND record_id = %s"
        " AND candidate_person_id = %s",
        (record_id, candidate_person_pk),
    )


def links_of(conn: psycopg.Connection[Any], record_ids: Iterable[int]) -> dict[int, LinkState]:
    """The current links of these records."""
    with conn.cursor(row_factory=args_row(LinkState)) as cur:
        rows = cur.execute(
            "SELECT record_id, person_id, method, probability, weight, model_version, linked_by"
            " FROM link WHERE record_id = ANY(%s)",
            (list(record_ids),),
        ).fetchall()
    return {r.record_id: r for r in rows}


def active_records_of(conn: psycopg.Connection[Any], person_pk: int) -> list[int]:
    """IDs of the active records linked to a person."""
    return scalars(
        conn,
        "SELECT r.id FROM link l JOIN source_record r ON r.id = l.record_id"
        " WHERE l.person_id = %s AND r.status = 'active' ORDER BY r.id",
        (person_pk,),
    )


class LockedPerson(NamedTuple):
    """A person locked for a decision: enterprise ID and status."""

    person_id: str
    status: str


def lock_persons(conn: psycopg.Connection[Any], pks: Iterable[int]) -> dict[int, LockedPerson]:
    """Lock persons in a fixed order; their enterprise ID and status by internal key."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, person_id, status FROM person WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            (sorted(set(pks)),),
        ).fetchall()
    return {r["id"]: LockedPerson(r["person_id"], r["status"]) for r in rows}


def set_links(conn: psycopg.Connection[Any], links: Sequence[LinkState]) -> None:
    """Write links exactly as given (a move, or its undoing)."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE link SET person_id = %s, method = %s, probability = %s, weight = %s,"
            " model_version = %s, linked_by = %s, linked_at = now() WHERE record_id = %s",
            [
                (
                    lk.person_id,
                    lk.method,
                    lk.probability,
                    lk.weight,
                    lk.model_version,
                    lk.linked_by,
                    lk.record_id,
                )
                for lk in links
            ],
        )


def restore_person(conn: psycopg.Connection[Any], pk: int) -> None:
    """Make a merged person active again (undo of a merge)."""
    conn.execute(
        "UPDATE person SET status = 'active', merged_into = NULL, updated_at = now() WHERE id = %s",
        (pk,),
    )


def remove_no_match(conn: psycopg.Connection[Any], pairs: Sequence[tuple[int, int]]) -> None:
    """Withdraw no-match assertions (undo)."""
    with conn.cursor() as cur:
        cur.executemany(
            "DELETE FROM no_match WHERE record_a = %s AND record_b = %s",
            [tuple(sorted(p)) for p in pairs],
        )


def add_decision(
    conn: psycopg.Connection[Any],
    *,
    kind: str,
    review_item_id: int | None,
    person_pk: int | None,
    other_person_pk: int | None,
    changes: dict[str, Any],
    decided_by: str,
    second_by: str | None = None,
    note: str | None = None,
    undo_of: int | None = None,
    first_note: str | None = None,
) -> int:
    """Record a decision; its ID (``first_note``: the first of two reviewers' note)."""
    decision_id = scalar(
        conn,
        "INSERT INTO review_decision (kind, review_item_id, person_id, other_person_id, changes,"
        " note, first_note, decided_by, second_by, undo_of)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            kind,
            review_item_id,
            person_pk,
            other_person_pk,
            Jsonb(changes),
            note,
            first_note,
            decided_by,
            second_by,
            undo_of,
        ),
    )
    assert decision_id is not None
    return int(decision_id)


_DECISION = (
    "SELECT d.id, d.kind, d.review_item_id, d.person_id, p.person_id, d.other_person_id,"
    " o.person_id, d.changes, d.note, d.first_note, d.decided_by, d.second_by, d.decided_at,"
    " d.undone_at, d.undone_by, d.undo_of, d.version FROM review_decision d"
    " LEFT JOIN person p ON p.id = d.person_id LEFT JOIN person o ON o.id = d.other_person_id"
)


def get_decision(
    conn: psycopg.Connection[Any], decision_id: int, *, for_update: bool = False
) -> DecisionRow | None:
    """One decision (row locked with ``for_update``)."""
    sql = _DECISION + " WHERE d.id = %s" + (" FOR UPDATE OF d" if for_update else "")
    with conn.cursor(row_factory=args_row(DecisionRow)) as cur:
        return cur.execute(sql, (decision_id,)).fetchone()


def decisions_of_person(conn: psycopg.Connection[Any], pk: int) -> list[DecisionRow]:
    """Decisions about a person (either side, or any record they moved), newest first."""
    with conn.cursor(row_factory=args_row(DecisionRow)) as cur:
        return cur.execute(
            _DECISION + " WHERE d.person_id = %(pk)s OR d.other_person_id = %(pk)s"
            " ORDER BY d.id DESC LIMIT 200",
            {"pk": pk},
        ).fetchall()


def mark_undone(conn: psycopg.Connection[Any], decision_id: int, version: int, by: str) -> bool:
    """Mark a decision undone at this version; ``False`` if it changed or was undone."""
    cur = conn.execute(
        "UPDATE review_decision SET undone_at = now(), undone_by = %s, version = version + 1"
        " WHERE id = %s AND version = %s AND undone_at IS NULL",
        (by, decision_id, version),
    )
    return cur.rowcount == 1


def later_decisions_moving(
    conn: psycopg.Connection[Any], decision_id: int, record_ids: Sequence[int]
) -> list[int]:
    """Decisions after this one, still in force, that moved any of these records."""
    if not record_ids:
        return []
    return scalars(
        conn,
        "SELECT d.id FROM review_decision d WHERE d.id > %(id)s AND d.undone_at IS NULL"
        " AND EXISTS (SELECT 1 FROM jsonb_array_elements(d.changes -> 'moves') m"
        "   WHERE (m ->> 'record')::bigint = ANY(%(records)s))"
        " ORDER BY d.id",
        {"id": decision_id, "records": list(record_ids)},
    )
