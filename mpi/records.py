"""Register, update and bulk-load source records, with matching, in one transaction.

Every path is read, plan, apply: the record is stored with its blocking keys, the store
reads the candidates once (:func:`mpi.store.records.read_candidates`), the pure planner
decides (:func:`mpi.linking.plan.plan`) and the store writes the plan
(:func:`mpi.store.persons.apply`): links, history, review items and identity events.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg

from matching.blocking import blocking_keys
from matching.errors import InvalidDemographics
from matching.frequencies import TermFrequencies
from matching.model import MatchModel
from matching.normalise import normalise
from matching.types import Demographics
from mpi import near_misses
from mpi.errors import FieldProblem, InvalidInput
from mpi.linking.plan import (
    CandidateSet,
    LinkPlan,
    MatchContext,
    Probe,
    explanation,
    match_person,
    plan,
)
from mpi.models import RegisterResult, SourceSystem, StoredRecord
from mpi.store import events as event_store
from mpi.store import persons as person_store
from mpi.store import records as record_store
from mpi.store import review as review_store
from mpi.store.events import EventRow
from mpi.store.persons import Applied, HistoryRow
from mpi.store.records import RecordRow

__all__ = [
    "MatchContext",
    "NameCounts",
    "content_hash",
    "explanation",
    "ingest",
    "load_batch",
    "match_person",
    "prepare",
    "read_candidate_set",
    "register",
    "rematch",
    "term_frequencies",
    "withdraw",
]

log = logging.getLogger(__name__)


def _canonical_json(raw: Mapping[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(raw: Mapping[str, Any]) -> str:
    """A stable hash of a raw payload, so that re-sending the same data changes nothing."""
    return _text_hash(_canonical_json(raw))


def prepare(
    ctx: MatchContext, local_id: str, raw: Mapping[str, Any], demographics: Demographics
) -> RecordRow:
    """Validate and normalise one record; :class:`InvalidInput` names every bad field."""
    problems = []
    if not isinstance(local_id, str) or not local_id.strip() or len(local_id) > 128:
        problems.append(FieldProblem("local_id", "must be 1 to 128 characters"))
    try:
        norm = normalise(demographics, allow_test_nhs_numbers=ctx.allow_test_nhs_numbers)
    except InvalidDemographics as exc:
        problems.extend(FieldProblem(p.field, p.reason) for p in exc.problems)
    if problems:
        raise InvalidInput(problems)
    text = _canonical_json(raw)
    return RecordRow(
        local_id=local_id.strip(),
        raw=dict(raw),
        content_hash=_text_hash(text),
        norm=norm,
        keys=blocking_keys(norm),
        raw_json=text,
    )


def register(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    system_code: str,
    row: RecordRow,
    *,
    actor: str = "system",
) -> RegisterResult:
    """Insert or update one record of a connected system and (re)match it.

    Re-sending the same data changes nothing; an update re-evaluates an automatic link
    but never overrides a manual decision. Concurrent registrations of one person are
    serialised on their shared blocking keys, so they end with one person.

    Args:
        conn: the connection; the caller owns the transaction.
        ctx: model, thresholds and limits.
        system_code: the connected system's code.
        row: the record, from :func:`prepare`.
        actor: who is registering (for history and events).

    Returns:
        What happened to the record.

    Raises:
        NotFound: the system does not exist.
    """
    # generic plans: PostgreSQL's "auto" mode would re-plan the matching read for every
    # registration, which costs more than running it (bench/RESULTS-api.md)
    system, upserted, view = record_store.store_and_view(
        conn, system_code, row, ctx.blocking_cap, generic_plans=True
    )
    batch = [_probe(upserted, updated=upserted.outcome == "updated")]
    candidates = _candidate_set(conn, ctx, view, _inserted([upserted]), NameCounts())
    return _link(conn, ctx, system, batch, candidates, actor)[0]


def load_batch(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    system: SourceSystem,
    rows: Sequence[RecordRow],
    *,
    actor: str = "system",
    name_counts: NameCounts | None = None,
) -> list[RegisterResult]:
    """Load a batch of one system's records with matching, holding the matching lock.

    ``name_counts`` carries name frequencies from one batch of a load to the next.
    """
    record_store.lock_for_batch(conn)
    return ingest(conn, ctx, system, rows, actor=actor, name_counts=name_counts)


def ingest(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    system: SourceSystem,
    rows: Sequence[RecordRow],
    *,
    actor: str,
    name_counts: NameCounts | None = None,
) -> list[RegisterResult]:
    """Store and match records (the caller holds the matching locks)."""
    last: dict[str, RecordRow] = {}
    for row in rows:  # the same local ID twice in one batch: the last one wins
        last[row.local_id] = row
    unique = list(last.values())
    upserted = record_store.upsert_records(conn, system.id, unique)
    changed = [u for u in upserted if u.outcome != "unchanged"]
    keys = {u.record_id: last[u.local_id].keys for u in changed}
    # every record is read, also an unchanged one (it has no keys to search)
    probes = {u.record_id: keys.get(u.record_id, frozenset()) for u in upserted}
    view = record_store.read_candidates(
        conn,
        probes,
        ctx.blocking_cap,
        new=[u.record_id for u in changed if u.outcome == "inserted"],
        changed=[u.record_id for u in changed],
    )
    batch = [_probe(u, updated=u.outcome == "updated") for u in upserted]
    candidates = _candidate_set(conn, ctx, view, _inserted(upserted), name_counts or NameCounts())
    results = _link(conn, ctx, system, batch, candidates, actor, view=view)
    by_local = {r.local_id: r for r in results}
    return [by_local[row.local_id] for row in rows]


def _probe(upserted: record_store.Upserted, *, updated: bool) -> Probe:
    return Probe(upserted.record_id, upserted.local_id, upserted.outcome, changed=updated)


def _inserted(upserted: Sequence[record_store.Upserted]) -> list[int]:
    return [u.record_id for u in upserted if u.outcome == "inserted"]


def read_candidate_set(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    keys_by_record: dict[int, frozenset[str]],
) -> CandidateSet:
    """The planner's input for stored records (:func:`mpi.linking.plan.plan`): the one
    matching read (:func:`mpi.store.records.read_candidates`) with name and postcode
    frequencies. For a batch engine that plans stored records group by group."""
    view = record_store.read_candidates(conn, keys_by_record, ctx.blocking_cap)
    return _candidate_set(conn, ctx, view, (), NameCounts())


def _candidate_set(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    view: record_store.MatchView,
    inserted: Iterable[int],
    name_counts: NameCounts,
) -> CandidateSet:
    """The planner's input from the matching read, with the name and postcode frequencies
    of its records."""
    records = {r.id: r for r in view.records}
    new = [records[pk] for pk in inserted]
    frequencies = name_counts.frequencies(
        conn, ctx.model, records.values(), new=new, counts=view.counts
    )
    return CandidateSet(
        candidates=view.candidates,
        records=records,
        no_match=view.no_match,
        enterprise_ids=view.enterprise_ids,
        frequencies=frequencies,
    )


def _link(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    system: SourceSystem,
    batch: Sequence[Probe],
    candidates: CandidateSet,
    actor: str,
    *,
    view: record_store.MatchView | None = None,
) -> list[RegisterResult]:
    """Plan and apply; the results in batch order."""
    # a batch's key rows are written by the server while the batch is planned
    with record_store.indexing_pending(conn, view):
        link_plan = plan(batch, candidates, ctx, actor=actor)
    applied = person_store.apply(conn, link_plan)
    near_misses.write(conn, link_plan.near_misses)
    return results_of(system, link_plan, applied, candidates)


def results_of(
    system: SourceSystem, link_plan: LinkPlan, applied: Applied, candidates: CandidateSet
) -> list[RegisterResult]:
    """What happened to each record of an applied plan."""
    names = applied.names
    return [
        RegisterResult(
            system=system.code,
            local_id=o.local_id,
            record_id=o.record_id,
            person_id=names[o.person_id],
            decision=o.decision,
            score=o.score,
            scored_person_id=names[o.scored_person_id] if o.scored_person_id is not None else None,
            candidate_person_ids=tuple(names[c] for c in o.candidate_person_ids),
            issues=candidates.records[o.record_id].norm.issues,
        )
        for o in link_plan.outcomes
    ]


class NameCounts:
    """Name and postcode frequencies for term-frequency adjustment, from the store's counters.

    The store keeps the counts in the same transaction as every change to the records
    (``mpi.store.records.term_counts``), so each batch reads the current counts of its
    names and postcodes by key; the counts read so far are kept here too.
    """

    def __init__(self) -> None:
        self.total: int | None = None
        self.given: dict[str, int] = {}
        self.family: dict[str, int] = {}
        self.postcode: dict[str, int] = {}

    def frequencies(
        self,
        conn: psycopg.Connection[Any],
        model: MatchModel,
        records: Iterable[StoredRecord],
        new: Iterable[StoredRecord] = (),
        counts: record_store.TermCounts | None = None,
    ) -> TermFrequencies:
        """Frequencies covering these records' names and postcodes (``new`` is kept for
        callers); ``counts`` are their counters if already read (``MatchView.counts``)."""
        given: set[str] = set()
        family: set[str] = set()
        postcodes: set[str] = set()
        for record in records:
            given.update(record.norm.given_names)
            if record.norm.family_name:
                family.add(record.norm.family_name)
            if record.norm.postcode:
                postcodes.add(record.norm.postcode)
        if counts is None:
            counts = record_store.term_counts(conn, given, family, postcodes)
        self.total = counts.total
        self.given.update(dict.fromkeys(given, 0) | counts.given)
        self.family.update(dict.fromkeys(family, 0) | counts.family)
        self.postcode.update(dict.fromkeys(postcodes, 0) | counts.postcode)
        return TermFrequencies.build(
            model, counts.total, counts.given, counts.family, counts.postcode
        )


def term_frequencies(
    conn: psycopg.Connection[Any], model: MatchModel, records: Iterable[StoredRecord]
) -> TermFrequencies:
    """Name and postcode frequencies for these records' values, from the store."""
    return NameCounts().frequencies(conn, model, records)


def withdraw(
    conn: psycopg.Connection[Any], system_code: str, local_id: str, *, actor: str = "system"
) -> int | None:
    """Withdraw a record (the system deleted it), keeping its history.

    The record stays stored with status ``withdrawn``; its link moves to link history,
    open review items about it are superseded and a ``record_withdrawn`` identity event is
    written. A withdrawn record is never resolved; sending it again re-activates it.

    Args:
        conn: the connection; the caller owns the transaction.
        system_code: the connected system's code.
        local_id: the record's local ID.
        actor: who is withdrawing (for history and events).

    Returns:
        The internal ID of the person the record was linked to (``None`` if unlinked).

    Raises:
        NotFound: the system does not exist, or has no active record with this local ID.
    """
    from mpi.errors import NotFound

    system = record_store.lock_for_register(conn, system_code, local_id, (), generic_plans=True)
    gone = record_store.withdraw_record(conn, system.id, local_id)
    if gone is None:
        raise NotFound(f"no record {local_id!r} in system {system_code!r}")
    review_store.supersede_for_records(conn, [gone.record_id])
    if gone.person_id is not None:
        person_store.write_history(
            conn,
            [
                HistoryRow(
                    gone.record_id,
                    None,
                    gone.person_id,
                    gone.method or "auto",
                    gone.probability,
                    "withdrawn",
                    actor,
                )
            ],
        )
    event_store.append(
        conn, [EventRow("record_withdrawn", gone.person_id, gone.record_id, actor=actor)]
    )
    return gone.person_id


def rematch(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    system: SourceSystem,
    records: Sequence[tuple[int, str]],
    *,
    actor: str,
) -> tuple[list[RegisterResult], set[tuple[int, int]], LinkPlan]:
    """Re-score stored records of one system under ``ctx``'s model, as if just sent (relink).

    The records are matched again against the store like an update, without a
    ``record_updated`` event: automatic links may move, manual links are kept, review items
    are opened or refreshed, and every change is written with its identity events. The
    caller holds the matching lock (:func:`mpi.store.records.lock_for_batch`).

    Args:
        conn: the connection; the caller owns the transaction.
        ctx: the model and thresholds to match under.
        system: the records' system.
        records: ``(record_id, local_id)`` of stored, active records.
        actor: who is relinking (for history and events).

    Returns:
        What happened to each record, the ``(record_id, candidate_person_id)`` of every
        review item opened or refreshed (existing persons only), and the plan applied.
    """
    upserted = [record_store.Upserted(pk, local, "updated") for pk, local in records]
    keys = record_store.stored_keys(conn, [pk for pk, _ in records])
    batch = [_probe(u, updated=False) for u in upserted]
    candidates = read_candidate_set(conn, ctx, keys)
    link_plan = plan(batch, candidates, ctx, actor=actor)
    applied = person_store.apply(conn, link_plan)
    near_misses.write(conn, link_plan.near_misses)
    reviewed = {(r.record_id, r.candidate_person_id) for r in link_plan.reviews}
    kept = {(rec, person) for rec, person in reviewed if person > 0}
    return results_of(system, link_plan, applied, candidates), kept, link_plan
