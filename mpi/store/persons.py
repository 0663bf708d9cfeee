"""SQL for persons (identities), links and link history."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import class_row, dict_row

from mpi.models import Person, Resolution
from mpi.store.review import OPEN_ITEM_CONFLICT

if TYPE_CHECKING:
    from mpi.linking.plan import LinkPlan
    from mpi.store.events import EventRow
    from mpi.store.review import ReviewRow


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A link to write: record → person, how and with what score."""

    record_id: int
    person_id: int
    method: str
    probability: float | None
    weight: float | None
    model_version: str | None
    linked_by: str


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One change of a record's link."""

    record_id: int
    person_id: int | None
    previous_person_id: int | None
    method: str
    probability: float | None
    reason: str
    changed_by: str


SMALL = 20
"""Up to this many rows are written with INSERT (pipelined), more with COPY."""

_PERSON = (
    "SELECT p.id, p.person_id, p.status, m.person_id AS merged_into, p.created_at, p.updated_at"
    " FROM person p LEFT JOIN person m ON m.id = p.merged_into"
)


def reserve_person_ids(conn: psycopg.Connection[Any], count: int) -> list[int]:
    """Reserve ``count`` internal person IDs from the sequence."""
    if count == 0:
        return []
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence('person', 'id')) FROM generate_series(1, %s)",
        (count,),
    ).fetchall()
    return [pk for (pk,) in rows]


def insert_rows(
    conn: psycopg.Connection[Any],
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert rows: a few with executemany (which, unlike COPY, can go in a pipeline), many
    with COPY."""
    if not rows:
        return
    names = ", ".join(columns)
    if len(rows) <= SMALL:
        marks = ", ".join(["%s"] * len(columns))
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        return
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def insert_persons(conn: psycopg.Connection[Any], persons: Sequence[tuple[int, str]]) -> None:
    """Insert persons given as (internal ID, enterprise ID)."""
    insert_rows(conn, "person", ("id", "person_id"), persons)


def get_person(conn: psycopg.Connection[Any], person_id: str) -> Person | None:
    """The person with this enterprise ID."""
    with conn.cursor(row_factory=class_row(Person)) as cur:
        return cur.execute(_PERSON + " WHERE p.person_id = %s", (person_id,)).fetchone()


def get_person_by_pk(conn: psycopg.Connection[Any], pk: int) -> Person | None:
    """The person with this internal ID."""
    with conn.cursor(row_factory=class_row(Person)) as cur:
        return cur.execute(_PERSON + " WHERE p.id = %s", (pk,)).fetchone()


def enterprise_ids(conn: psycopg.Connection[Any], pks: Sequence[int]) -> dict[int, str]:
    """Enterprise IDs of these internal person IDs."""
    if not pks:
        return {}
    rows = conn.execute(
        "SELECT id, person_id FROM person WHERE id = ANY(%s)", (list(pks),)
    ).fetchall()
    return dict(rows)


def mark_merged(conn: psycopg.Connection[Any], pk: int, into: int) -> list[int]:
    """Mark a person as merged into another (the merged one keeps its ID as a pointer).

    Persons merged into ``pk`` before now point at ``into`` too, so that every pointer
    leads straight to a survivor (no chains). Returns those persons, for an undo to point
    them back (:func:`repoint`).
    """
    conn.execute(
        "UPDATE person SET status = 'merged', merged_into = %s, updated_at = now() WHERE id = %s",
        (into, pk),
    )
    return repoint(conn, pk, into)


def survivors(conn: psycopg.Connection[Any], pks: Iterable[int]) -> dict[int, int]:
    """For each of these persons that was merged, the person it points at."""
    ids = sorted(set(pks))
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, merged_into FROM person WHERE id = ANY(%s) AND merged_into IS NOT NULL",
        (ids,),
    ).fetchall()
    return dict(rows)


def repoint(
    conn: psycopg.Connection[Any], old: int, new: int, only: Sequence[int] = ()
) -> list[int]:
    """Point persons merged into ``old`` at ``new`` (all of them, or ``only`` these)."""
    rows = conn.execute(
        "UPDATE person SET merged_into = %s, updated_at = now()"
        " WHERE merged_into = %s AND (cardinality(%s::bigint[]) = 0 OR id = ANY(%s))"
        " RETURNING id",
        (new, old, list(only), list(only)),
    ).fetchall()
    return sorted(pk for (pk,) in rows)


#: How writing a record's link replaces the one it has (:func:`write_links`, :func:`write_all`).
_LINK_CONFLICT = (
    " ON CONFLICT (record_id) DO UPDATE SET person_id = excluded.person_id,"
    " method = excluded.method, probability = excluded.probability,"
    " weight = excluded.weight, model_version = excluded.model_version,"
    " linked_by = excluded.linked_by, linked_at = now()"
)


def write_links(conn: psycopg.Connection[Any], links: Sequence[LinkRow]) -> None:
    """Insert or replace links (one per record), in one statement."""
    if not links:
        return
    conn.execute(
        "INSERT INTO link (record_id, person_id, method, probability, weight,"
        " model_version, linked_by)"
        " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::float8[],"
        " %s::float8[], %s::text[], %s::text[])" + _LINK_CONFLICT,
        (
            [lk.record_id for lk in links],
            [lk.person_id for lk in links],
            [lk.method for lk in links],
            [lk.probability for lk in links],
            [lk.weight for lk in links],
            [lk.model_version for lk in links],
            [lk.linked_by for lk in links],
        ),
    )


def write_history(conn: psycopg.Connection[Any], rows: Sequence[HistoryRow]) -> None:
    """Append link history rows."""
    insert_rows(
        conn,
        "link_history",
        (
            "record_id",
            "person_id",
            "previous_person_id",
            "method",
            "probability",
            "reason",
            "changed_by",
        ),
        [
            (
                h.record_id,
                h.person_id,
                h.previous_person_id,
                h.method,
                h.probability,
                h.reason,
                h.changed_by,
            )
            for h in rows
        ],
    )


def resolve(conn: psycopg.Connection[Any], system_code: str, local_id: str) -> Resolution | None:
    """(system, local ID) → the identity and every active linked (system, local ID)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT p.id, p.person_id, p.status, m.person_id AS merged_into"
            " FROM source_record r JOIN source_system s ON s.id = r.system_id"
            " JOIN link l ON l.record_id = r.id JOIN person p ON p.id = l.person_id"
            " LEFT JOIN person m ON m.id = p.merged_into"
            " WHERE s.code = %s AND r.local_id = %s AND r.status = 'active'",
            (system_code, local_id),
        ).fetchone()
    if row is None:
        return None
    records = conn.execute(
        "SELECT s.code, r.local_id FROM link l JOIN source_record r ON r.id = l.record_id"
        " JOIN source_system s ON s.id = r.system_id"
        " WHERE l.person_id = %s AND r.status = 'active' ORDER BY s.code, r.local_id",
        (row["id"],),
    ).fetchall()
    return Resolution(
        person_id=row["person_id"],
        status=row["status"],
        merged_into=row["merged_into"],
        records=tuple((code, local_id) for code, local_id in records),
    )


def history_of_person(conn: psycopg.Connection[Any], pk: int) -> list[dict[str, Any]]:
    """Link history touching a person, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT h.changed_at, s.code AS system, r.local_id, h.reason, h.method,"
            " h.probability, p.person_id, q.person_id AS previous_person_id, h.changed_by"
            " FROM link_history h JOIN source_record r ON r.id = h.record_id"
            " JOIN source_system s ON s.id = r.system_id"
            " LEFT JOIN person p ON p.id = h.person_id"
            " LEFT JOIN person q ON q.id = h.previous_person_id"
            " WHERE h.person_id = %(pk)s OR h.previous_person_id = %(pk)s ORDER BY h.id",
            {"pk": pk},
        ).fetchall()


def crossref(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """A cursor over (system, local ID, person ID) for every active record."""
    return conn.execute(
        "SELECT s.code, r.local_id, p.person_id FROM source_record r"
        " JOIN source_system s ON s.id = r.system_id"
        " JOIN link l ON l.record_id = r.id JOIN person p ON p.id = l.person_id"
        " WHERE r.status = 'active' ORDER BY s.code, r.local_id"
    )


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Headline counts: records, active persons, links by method, open review items."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT (SELECT count(*) FROM source_record WHERE status = 'active') AS records,"
            " (SELECT count(*) FROM person p WHERE status = 'active'"
            "   AND EXISTS (SELECT 1 FROM link l WHERE l.person_id = p.id)) AS persons,"
            " (SELECT count(*) FROM link WHERE method = 'auto') AS auto_links,"
            " (SELECT count(*) FROM link WHERE method = 'manual') AS manual_links,"
            " (SELECT count(*) FROM review_item WHERE status = 'open') AS open_review"
        ).fetchone()
    assert row is not None
    return dict(row)


_WRITE_ALL = (
    "WITH x AS (SELECT %(rows)s::jsonb AS j),"
    " np AS (INSERT INTO person (person_id)"
    "  SELECT p.eid FROM x, jsonb_to_recordset(x.j -> 'persons') AS p (tid bigint, eid text,"
    "  o int) ORDER BY p.o RETURNING id, person_id),"
    " m AS (SELECT p.tid, np.id FROM x, jsonb_to_recordset(x.j -> 'persons')"
    "  AS p (tid bigint, eid text) JOIN np ON np.person_id = p.eid),"
    " lk AS (INSERT INTO link (record_id, person_id, method, probability, weight,"
    "  model_version, linked_by)"
    "  SELECT l.r, coalesce(m.id, l.p), l.method, l.prob, l.weight, l.version, l.who"
    "  FROM x, jsonb_to_recordset(x.j -> 'links') AS l (r bigint, p bigint, method text,"
    "  prob float8, weight float8, version text, who text) LEFT JOIN m ON m.tid = l.p"
    + _LINK_CONFLICT
    + "),"
    " hi AS (INSERT INTO link_history (record_id, person_id, previous_person_id, method,"
    "  probability, reason, changed_by)"
    "  SELECT h.r, coalesce(m1.id, h.p), coalesce(m2.id, h.prev), h.method, h.prob,"
    "  h.reason, h.who FROM x, jsonb_to_recordset(x.j -> 'history') AS h (r bigint,"
    "  p bigint, prev bigint, method text, prob float8, reason text, who text, o int)"
    "  LEFT JOIN m m1 ON m1.tid = h.p LEFT JOIN m m2 ON m2.tid = h.prev ORDER BY h.o),"
    " mg AS (UPDATE person SET status = 'merged', merged_into = coalesce(m.id, g.dest),"
    "  updated_at = now() FROM x, jsonb_to_recordset(x.j -> 'merged')"
    "  AS g (gone bigint, dest bigint) LEFT JOIN m ON m.tid = g.dest"
    "  WHERE person.id = g.gone),"
    " rp AS (UPDATE person SET merged_into = coalesce(m.id, g.dest), updated_at = now()"
    "  FROM x, jsonb_to_recordset(x.j -> 'merged') AS g (gone bigint, dest bigint)"
    "  LEFT JOIN m ON m.tid = g.dest WHERE person.merged_into = g.gone),"
    " rv AS (INSERT INTO review_item (record_id, candidate_person_id, candidate_record_id,"
    "  probability, weight, reason, explanation)"
    "  SELECT v.r, coalesce(m.id, v.p), v.cr, v.prob, v.weight, v.reason, v.explanation"
    "  FROM x, jsonb_to_recordset(x.j -> 'reviews') AS v (r bigint, p bigint, cr bigint,"
    "  prob float8, weight float8, reason text, explanation jsonb, o int)"
    "  LEFT JOIN m ON m.tid = v.p ORDER BY v.o" + OPEN_ITEM_CONFLICT + ")"
    " INSERT INTO identity_event (event_type, person_id, other_person_id, record_id,"
    "  detail, actor)"
    " SELECT e.kind, coalesce(m1.id, e.p), coalesce(m2.id, e.other), e.r, e.detail, e.who"
    " FROM x, jsonb_to_recordset(x.j -> 'events') AS e (kind text, p bigint, other bigint,"
    " r bigint, detail jsonb, who text, o int)"
    " LEFT JOIN m m1 ON m1.tid = e.p LEFT JOIN m m2 ON m2.tid = e.other ORDER BY e.o"
)


def write_all(
    conn: psycopg.Connection[Any],
    persons: Sequence[tuple[int, str]],
    links: Sequence[LinkRow],
    history: Sequence[HistoryRow],
    merged: Sequence[tuple[int, int]],
    reviews: Sequence[ReviewRow],
    events: Sequence[EventRow],
) -> bool:
    """Write a registration's few rows in one statement; ``False`` (nothing written) if it
    cannot, and the caller writes them one kind at a time.

    ``persons`` are (temporary ID, enterprise ID) of new persons, each inserted with an ID
    from the sequence; every negative person ID in the other rows is a temporary one and
    is written as its new person's ID. The rows go as one JSON document. Each kind is
    written as by its own function (:func:`insert_persons`, :func:`write_links`,
    :func:`write_history`, :func:`mark_merged`, :func:`mpi.store.review.open_items`,
    :func:`mpi.store.events.append`), history, review items and events in the order
    given. It cannot write a merge of a new person (not visible to the statement), two
    review items of one pair (one statement cannot update a row twice) or a score that is
    not finite (not JSON).
    """
    if any(gone < 0 for gone, _ in merged):
        return False
    pairs = [(r.record_id, r.candidate_person_id) for r in reviews]
    if len(set(pairs)) != len(pairs):
        return False
    document = {
        "persons": [{"tid": t, "eid": e, "o": i} for i, (t, e) in enumerate(persons)],
        "links": [
            {
                "r": lk.record_id,
                "p": lk.person_id,
                "method": lk.method,
                "prob": lk.probability,
                "weight": lk.weight,
                "version": lk.model_version,
                "who": lk.linked_by,
            }
            for lk in links
        ],
        "history": [
            {
                "r": h.record_id,
                "p": h.person_id,
                "prev": h.previous_person_id,
                "method": h.method,
                "prob": h.probability,
                "reason": h.reason,
                "who": h.changed_by,
                "o": i,
            }
            for i, h in enumerate(history)
        ],
        "merged": [{"gone": g, "dest": d} for g, d in merged],
        "reviews": [
            {
                "r": r.record_id,
                "p": r.candidate_person_id,
                "cr": r.candidate_record_id,
                "prob": r.probability,
                "weight": r.weight,
                "reason": r.reason,
                "explanation": r.explanation,
                "o": i,
            }
            for i, r in enumerate(reviews)
        ],
        "events": [
            {
                "kind": e.event_type,
                "p": e.person_id,
                "other": e.other_person_id,
                "r": e.record_id,
                "detail": e.detail,
                "who": e.actor,
                "o": i,
            }
            for i, e in enumerate(events)
        ],
    }
    try:
        text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return False
    conn.execute(_WRITE_ALL, {"rows": text})
    return True


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`apply` wrote.

    Attributes:
        ids: the internal ID given to each temporary person, when known (the one-statement
            write gives none back; use :attr:`names`).
        names: the enterprise ID of every person the plan's outcomes name, by the plan's
            (possibly temporary) ID.
        repointed: for each merge, the persons that pointed at the merged one and now
            point at the survivor (for an undo).
    """

    ids: dict[int, int]
    names: dict[int, str]
    repointed: dict[int, list[int]]


def _plan_rows(
    plan: LinkPlan,
) -> tuple[list[LinkRow], list[HistoryRow], list[tuple[int, int]], list[ReviewRow], list[EventRow]]:
    """The rows each step of ``plan`` implies, in order: links (the last of each record),
    history, merges, review items and identity events."""
    from mpi.linking.plan import LinkMove, Merge, NewPerson, RecordUpdated, ReviewOpen
    from mpi.store.events import EventRow
    from mpi.store.review import ReviewRow

    actor = plan.actor
    links: dict[int, LinkRow] = {}
    history: list[HistoryRow] = []
    merged: list[tuple[int, int]] = []
    reviews: list[ReviewRow] = []
    events: list[EventRow] = []
    for step in plan.steps:
        if isinstance(step, LinkMove):
            links[step.record_id] = LinkRow(
                step.record_id,
                step.person_id,
                step.method,
                step.probability,
                step.weight,
                step.model_version,
                step.linked_by,
            )
            if not step.changes_person:
                continue
            history.append(
                HistoryRow(
                    step.record_id,
                    step.person_id,
                    step.previous_person_id,
                    step.method,
                    step.probability,
                    step.reason,
                    actor,
                )
            )
            if step.previous_person_id is None:
                events.append(
                    EventRow("record_linked", step.person_id, step.record_id, actor=actor)
                )
            else:
                events.append(
                    EventRow(
                        "record_moved",
                        step.person_id,
                        step.record_id,
                        other_person_id=step.previous_person_id,
                        actor=actor,
                    )
                )
        elif isinstance(step, Merge):
            merged.append((step.gone, step.into))
            events.append(
                EventRow(
                    "persons_merged",
                    step.into,
                    None,
                    other_person_id=step.gone,
                    detail={"why": step.why},
                    actor=actor,
                )
            )
        elif isinstance(step, NewPerson):
            events.append(EventRow("person_created", step.person_id, step.record_id, actor=actor))
        elif isinstance(step, RecordUpdated):
            events.append(EventRow("record_updated", step.person_id, step.record_id, actor=actor))
        elif isinstance(step, ReviewOpen):
            reviews.append(
                ReviewRow(
                    record_id=step.record_id,
                    candidate_person_id=step.candidate_person_id,
                    candidate_record_id=step.candidate_record_id,
                    probability=step.probability,
                    weight=step.weight,
                    reason=step.reason,
                    explanation=step.explanation,
                )
            )
            events.append(
                EventRow(
                    "review_opened",
                    step.candidate_person_id,
                    step.record_id,
                    other_person_id=step.person_id,
                    detail={"reason": step.reason, "probability": step.probability},
                    actor=actor,
                )
            )
    return list(links.values()), history, merged, reviews, events


def apply(conn: psycopg.Connection[Any], plan: LinkPlan) -> Applied:
    """Write a plan (:func:`mpi.linking.plan.plan`): every row its steps imply, set-based.

    In order: the open review items of :attr:`~mpi.linking.plan.LinkPlan.superseded`
    records are superseded; the new persons are inserted; each link move writes its link
    and, when the record changes person, a link history row and a ``record_linked`` or
    ``record_moved`` event; each merge marks the emptied person merged (with the persons
    that pointed at it) and writes ``persons_merged``; review items open (or refresh)
    with ``review_opened``; update and creation events follow their steps' order. Last,
    the items the moves resolved are closed (:class:`~mpi.linking.plan.ReviewClosure`).

    A registration's few rows go in one statement (:func:`write_all`) sent in one round
    trip with the supersession; when that cannot write them, or for a batch's many rows,
    one statement per kind of row (COPY for many).
    """
    from mpi.links import new_enterprise_id
    from mpi.store import decisions as decision_store
    from mpi.store import events as event_store
    from mpi.store import review as review_store

    if not plan.steps and not plan.superseded and not plan.outcomes:
        return Applied({}, {}, {})
    temps = [p.person_id for p in plan.new_persons if p.person_id < 0]
    reserved_before = [p.person_id for p in plan.new_persons if p.person_id > 0]
    links, history, merged, reviews, events = _plan_rows(plan)
    rows = (temps, links, history, events)
    small = max(len(r) for r in rows) <= SMALL
    wanted = plan.persons
    names: dict[int, str] = {}
    ids: dict[int, int] = {}
    written = False
    # a merge's repointed persons are returned, and reserved IDs inserted as they are: one
    # kind of row at a time
    if small and not merged and not reserved_before:
        names = {temp: new_enterprise_id() for temp in temps}
        # an update's supersession goes in the same round trip as the write
        with conn.pipeline() if plan.superseded else nullcontext():
            review_store.supersede_for_records(conn, plan.superseded)
            written = write_all(conn, list(names.items()), links, history, merged, reviews, events)
    else:
        review_store.supersede_for_records(conn, plan.superseded)
    if not written:
        reserved = reserve_person_ids(conn, len(temps))
        ids = dict(zip(temps, reserved, strict=True))
        names = {temp: new_enterprise_id() for temp in temps}

        def m(p: int | None) -> int | None:
            return ids.get(p, p) if p is not None else p

        with conn.pipeline() if small else nullcontext():
            names.update({pk: new_enterprise_id() for pk in reserved_before})
            insert_persons(
                conn, [(ids[t], names[t]) for t in temps] + [(p, names[p]) for p in reserved_before]
            )
            write_links(
                conn, [replace(lk, person_id=ids.get(lk.person_id, lk.person_id)) for lk in links]
            )
            write_history(
                conn,
                [
                    replace(h, person_id=m(h.person_id), previous_person_id=m(h.previous_person_id))
                    for h in history
                ],
            )
            repointed = {
                gone: mark_merged(conn, ids.get(gone, gone), ids.get(into, into))
                for gone, into in merged
            }
            review_store.open_items(
                conn,
                [
                    replace(
                        r, candidate_person_id=ids.get(r.candidate_person_id, r.candidate_person_id)
                    )
                    for r in reviews
                ],
            )
            event_store.append(
                conn,
                [
                    replace(e, person_id=m(e.person_id), other_person_id=m(e.other_person_id))
                    for e in events
                ],
            )
    else:
        repointed = {}
    closure = plan.resolved
    if closure.records or closure.merges:
        survivors = []
        for gone, into in closure.merges:
            gone, into = ids.get(gone, gone), ids.get(into, into)
            decision_store.retarget_items(conn, gone, into, plan.actor)
            survivors.append(into)
        review_store.supersede_resolved(conn, list(closure.records), survivors, plan.actor)
    known = plan.enterprise_ids
    stored = {p for p in wanted if p not in names}
    names.update({p: known[p] for p in stored if p in known})
    missing = sorted(p for p in stored if p not in known)
    names.update(enterprise_ids(conn, missing))
    return Applied(ids, names, repointed)
