"""Identities: resolve a local ID, the golden view, a person's full picture; merge, split, undo.

Survivorship (which record supplies each golden field), in order:

1. records carrying a valid NHS number first (a verified one before an unverified one);
2. then the source system's trust rank (1 = most trusted, e.g. the GP record);
3. then the most recently updated record.

For each field the first record in that order that has a value supplies it, so a missing
field never hides a value another record holds. A birth order comes with its multiple-birth
flag, and a death date with its deceased flag, from one record.

Reviewers change identities by hand (:func:`merge`, :func:`split`, and "same person" on a
review item, in :mod:`mpi.review`). Each change runs in one transaction holding the
matching lock exclusively (no registration moves links underneath it), writes manual
links, link history and identity events like matching does, and is recorded as a
decision with everything it changed, so that :func:`undo` can put it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from matching import fields
from matching.types import Demographics
from mpi.errors import Conflict, InvalidInput, NotFound
from mpi.fhir_patient import demographics_from_patient
from mpi.linking.plan import LinkMove, LinkPlan, Merge, NewPerson
from mpi.links import new_enterprise_id  # noqa: F401 - imported from here by callers
from mpi.models import IdentityEvent, Person, RecordDetail, Resolution
from mpi.store import decisions as decision_store
from mpi.store import events as event_store
from mpi.store import persons as person_store
from mpi.store import records as record_store
from mpi.store import review as review_store
from mpi.store.decisions import DecisionRow
from mpi.store.events import EventRow

#: The golden view's fields, in order (:mod:`matching.fields`).
GOLDEN_FIELDS = fields.golden_fields()
#: Golden fields that come from the same record as another (the first field), so that
#: they never contradict each other: a birth order with its multiple-birth flag, a death
#: date with its deceased flag.
COMPANION_FIELDS = fields.companions()


@dataclass(frozen=True, slots=True)
class GoldenField:
    """One golden value and the record it came from."""

    value: str
    system: str
    local_id: str


@dataclass(frozen=True, slots=True)
class PersonView:
    """Everything about one identity: golden view, records, history, open review items."""

    person: Person
    golden: dict[str, GoldenField]
    records: list[RecordDetail]
    events: list[IdentityEvent]
    history: list[dict[str, Any]]
    open_review: list[dict[str, Any]]


def resolve(conn: psycopg.Connection[Any], system_code: str, local_id: str) -> Resolution:
    """(system, local ID) → person ID and every linked (system, local ID).

    Raises:
        NotFound: no active record has this local ID in this system.
    """
    found = person_store.resolve(conn, system_code, local_id)
    if found is None:
        raise NotFound(f"no record {local_id!r} in system {system_code!r}")
    return found


def sent_demographics(record: RecordDetail) -> Demographics:
    """The demographics as the system sent them (CSV row or FHIR Patient)."""
    return demographics_of_raw(record.raw)


def demographics_of_raw(raw: dict[str, Any]) -> Demographics:
    """The demographics of a stored raw payload (CSV row, /v1 body or FHIR Patient)."""
    if raw.get("resourceType") == "Patient":
        return demographics_from_patient(raw)
    from mpi.loading import demographics_from_row

    return demographics_from_row(raw)


def display_value(record: RecordDetail, name: str) -> str | None:
    """One golden field of a record as shown to people (``None`` when it has none)."""
    norm = record.norm
    if name == "nhs_number":
        return norm.nhs_number
    if name == "birth_date":
        return norm.birth_date.isoformat() if norm.birth_date else None
    if name == "sex":
        return norm.sex
    if name == "postcode":
        return norm.postcode
    if name in ("multiple_birth", "deceased"):
        flag = getattr(norm, name)
        return None if flag is None else ("true" if flag else "false")
    if name == "birth_order":
        return str(norm.birth_order) if norm.birth_order is not None else None
    if name == "deceased_at":
        return norm.deceased_at
    value = getattr(sent_demographics(record), name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def survivorship_order(records: list[RecordDetail]) -> list[RecordDetail]:
    """Records in survivorship order (see the module docstring)."""
    return sorted(
        records,
        key=lambda r: (
            r.norm.nhs_number is None,
            not r.norm.nhs_verified,
            r.trust_rank,
            -r.updated_at.timestamp(),
        ),
    )


def golden_view(records: list[RecordDetail]) -> dict[str, GoldenField]:
    """The golden demographics of a person's active records.

    Each field comes from the first record in survivorship order that has it, except a
    companion (:data:`COMPANION_FIELDS`), which comes from the record that supplied its
    lead field, or not at all.
    """
    ordered = survivorship_order([r for r in records if r.status == "active"])
    golden: dict[str, GoldenField] = {}
    source: dict[str, RecordDetail] = {}
    for name in GOLDEN_FIELDS:
        lead = COMPANION_FIELDS.get(name)
        candidates = ordered if lead is None else [source[lead]] if lead in source else []
        for record in candidates:
            value = display_value(record, name)
            if value:
                golden[name] = GoldenField(value, record.system_code, record.local_id)
                source[name] = record
                break
    return golden


def person_view(conn: psycopg.Connection[Any], person_id: str) -> PersonView:
    """The full picture of one identity.

    Raises:
        NotFound: no person has this ID.
    """
    person = person_store.get_person(conn, person_id)
    if person is None:
        raise NotFound(f"no person {person_id!r}")
    records = record_store.record_details_of_person(conn, person.id)
    open_review = [
        {
            "id": item.id,
            "record_id": item.record_id,
            "probability": item.probability,
            "reason": item.reason,
        }
        for record in records
        for item in review_store.items_for_record(conn, record.id)
    ]
    return PersonView(
        person=person,
        golden=golden_view(records),
        records=records,
        events=event_store.of_person(conn, person.id),
        history=person_store.history_of_person(conn, person.id),
        open_review=open_review,
    )


@dataclass(frozen=True, slots=True)
class Done:
    """What a change did: ``outcome`` is a short code, ``decision_id`` the decision recorded."""

    outcome: str
    person_id: str | None = None
    decision_id: int | None = None
    other_person_id: str | None = None


def _person(conn: psycopg.Connection[Any], person_id: str) -> Person:
    person = person_store.get_person(conn, person_id)
    if person is None:
        raise NotFound(f"no person {person_id!r}")
    return person


def _valid_nhs(records: list[RecordDetail]) -> set[str]:
    return {r.norm.nhs_number for r in records if r.status == "active" and r.norm.nhs_number}


def nhs_numbers_differ(a: list[RecordDetail], b: list[RecordDetail]) -> bool:
    """Whether two persons' records carry valid NHS numbers that differ."""
    ours, theirs = _valid_nhs(a), _valid_nhs(b)
    return any(x != y for x in ours for y in theirs)


def _move(
    conn: psycopg.Connection[Any],
    record_ids: list[int],
    to: int,
    reviewer: str,
    reason: str,
) -> list[dict[str, Any]]:
    """Move records to a person with manual links; the moves as undo data."""
    current = decision_store.links_of(conn, record_ids)
    moves, steps = [], []
    for record_id in record_ids:
        old = current.get(record_id)
        if old is None or old.person_id == to:
            continue
        moves.append(
            {
                "record": record_id,
                "from": old.person_id,
                "to": to,
                "method": old.method,
                "probability": old.probability,
                "weight": old.weight,
                "model_version": old.model_version,
                "linked_by": old.linked_by,
            }
        )
        steps.append(
            LinkMove(
                record_id,
                to,
                old.person_id,
                "manual",
                old.probability,
                old.weight,
                old.model_version,
                reviewer,
                reason,
            )
        )
    person_store.apply(conn, LinkPlan(tuple(steps), actor=reviewer))
    return moves


def merge_persons(
    conn: psycopg.Connection[Any], survivor: int, other: int, reviewer: str, reason: str
) -> dict[str, Any]:
    """Move every record of ``other`` to ``survivor`` and leave ``other`` as a pointer.

    Raises:
        Conflict: a record of one was declared a different person from a record of the other.
    """
    decision_store.lock_persons(conn, [survivor, other])
    theirs = decision_store.active_records_of(conn, other)
    ours = set(decision_store.active_records_of(conn, survivor))
    partners = record_store.no_match_partners(conn, theirs)
    if any(partners.get(r, set()) & ours for r in theirs):
        raise Conflict(
            "some of these records were declared different people (not the same person);"
            " undo that decision first if it was wrong"
        )
    # closed before the moves (which would supersede them too, unrecorded), so that an
    # undo opens them again
    closed = decision_store.supersede_between(conn, [survivor, other], reviewer)
    moves = _move(conn, theirs, survivor, reviewer, reason)
    decision_store.retarget_items(conn, other, survivor, reviewer)
    applied = person_store.apply(conn, LinkPlan((Merge(other, survivor, reason),), actor=reviewer))
    merged = {"person": other, "into": survivor, "repointed": applied.repointed[other]}
    return {"moves": moves, "merged": [merged], "items_closed": closed}


def merge(
    conn: psycopg.Connection[Any],
    survivor_id: str,
    other_id: str,
    reviewer: str,
    *,
    note: str | None = None,
) -> Done:
    """Merge two persons: ``survivor_id`` keeps its ID, ``other_id`` becomes a pointer to it.

    Persons whose valid NHS numbers differ are not merged here: the merge needs a second
    reviewer, so it is put in the queue as a review item with this first review recorded.

    Returns:
        ``merged`` (with the decision) or ``second_review`` (the item waits in the queue).

    Raises:
        InvalidInput: the same person twice.
        NotFound: either person does not exist.
        Conflict: either person was merged already.
    """
    if survivor_id == other_id:
        raise InvalidInput.single("other_person_id", "a person cannot be merged with itself")
    record_store.lock_for_batch(conn)
    survivor, other = _person(conn, survivor_id), _person(conn, other_id)
    for person in (survivor, other):
        if person.status != "active":
            raise Conflict(f"{person.person_id} was merged into {person.merged_into} already")
    ours = record_store.record_details_of_person(conn, survivor.id)
    theirs = record_store.record_details_of_person(conn, other.id)
    if not theirs:
        raise Conflict(f"{other.person_id} has no records to merge")
    if nhs_numbers_differ(ours, theirs):
        return _merge_request(conn, survivor, other, theirs[0].id, reviewer, note)
    changes = merge_persons(conn, survivor.id, other.id, reviewer, "merged")
    decision_id = decision_store.add_decision(
        conn,
        kind="merge",
        review_item_id=None,
        person_pk=survivor.id,
        other_person_pk=other.id,
        changes=changes,
        decided_by=reviewer,
        note=note,
    )
    return Done("merged", survivor.person_id, decision_id, other.person_id)


def _merge_request(
    conn: psycopg.Connection[Any],
    survivor: Person,
    other: Person,
    record_id: int,
    reviewer: str,
    note: str | None,
) -> Done:
    """Queue a merge that needs four eyes, with this reviewer's first review (and note)
    recorded; the item's reason is ``merge_request`` (it has no match score)."""
    existing = decision_store.open_item_for(conn, record_id, survivor.id)
    if existing is None:
        review_store.open_items(
            conn,
            [
                review_store.ReviewRow(
                    record_id=record_id,
                    candidate_person_id=survivor.id,
                    candidate_record_id=None,
                    probability=0.5,
                    weight=0.0,
                    reason="merge_request",
                    explanation=[],
                )
            ],
        )
        existing = decision_store.open_item_for(conn, record_id, survivor.id)
        assert existing is not None
    item = decision_store.get_item(conn, existing, for_update=True)
    assert item is not None
    if item.first_review_by is None:
        decision_store.first_review(conn, item.id, item.version, reviewer, note)
    event_store.append(
        conn,
        [
            EventRow(
                "review_opened",
                survivor.id,
                record_id,
                other_person_id=other.id,
                detail={"reason": "merge_request", "merge_request": True},
                actor=reviewer,
            )
        ],
    )
    return Done("second_review", survivor.person_id, None, other.person_id)


def split(
    conn: psycopg.Connection[Any],
    person_id: str,
    record_ids: list[int],
    reviewer: str,
    *,
    note: str | None = None,
) -> Done:
    """Split records off a person into a new person, asserting they are different people.

    Returns:
        ``split`` with the new person's ID and the decision.

    Raises:
        InvalidInput: no records chosen, or all of them (nothing would remain).
        NotFound: no such person.
        Conflict: the person was merged, or a chosen record is no longer linked to it.
    """
    if not record_ids:
        raise InvalidInput.single("record", "choose at least one record to split off")
    record_store.lock_for_batch(conn)
    person = _person(conn, person_id)
    if person.status != "active":
        raise Conflict(f"{person.person_id} was merged into {person.merged_into}")
    decision_store.lock_persons(conn, [person.id])
    current = decision_store.active_records_of(conn, person.id)
    chosen = sorted(set(record_ids))
    stray = [r for r in chosen if r not in current]
    if stray:
        raise Conflict(
            f"record {stray[0]} is no longer linked to {person.person_id}; reload the page"
        )
    remaining = [r for r in current if r not in chosen]
    if not remaining:
        raise InvalidInput.single("record", "leave at least one record with the person")
    (new_pk,) = person_store.reserve_person_ids(conn, 1)
    applied = person_store.apply(conn, LinkPlan((NewPerson(new_pk, chosen[0]),), actor=reviewer))
    new_id = applied.names[new_pk]
    moves = _move(conn, chosen, new_pk, reviewer, "split")
    pairs = record_store.add_no_matches(
        conn, [(a, b) for a in chosen for b in remaining], reviewer, note or "split"
    )
    closed = decision_store.supersede_between(conn, [person.id, new_pk], reviewer)
    decision_id = decision_store.add_decision(
        conn,
        kind="split",
        review_item_id=None,
        person_pk=person.id,
        other_person_pk=new_pk,
        changes={"moves": moves, "created": [new_pk], "no_match": pairs, "items_closed": closed},
        decided_by=reviewer,
        note=note,
    )
    event_store.append(
        conn,
        [
            EventRow(
                "person_split",
                person.id,
                None,
                other_person_id=new_pk,
                detail={"records": len(chosen), "decision": decision_id},
                actor=reviewer,
            )
        ],
    )
    return Done("split", new_id, decision_id, person.person_id)


def undo(conn: psycopg.Connection[Any], decision_id: int, version: int, reviewer: str) -> Done:
    """Undo a decision: links back as they were, merged persons restored, no-match withdrawn.

    A split's new person, left without records, becomes a pointer to the person it was
    split from. The review items the decision closed open again (unless an item for the
    same pair is open by now).

    Raises:
        NotFound: no such decision.
        InvalidInput: the decision is itself an undo.
        Conflict: already undone, changed since ``version``, a later decision still in force
            moved the same records (undo that first), or matching moved one of them since.
    """
    record_store.lock_for_batch(conn)
    decision = decision_store.get_decision(conn, decision_id, for_update=True)
    if decision is None:
        raise NotFound(f"no decision {decision_id}")
    if decision.kind == "undo":
        raise InvalidInput.single("decision", "an undo cannot be undone: decide again instead")
    if decision.undone_at is not None:
        raise Conflict(f"decision {decision_id} was undone already by {decision.undone_by}")
    if decision.version != version:
        raise Conflict(f"decision {decision_id} changed; reload the page")
    changes = decision.changes
    moves = changes.get("moves", [])
    later = decision_store.later_decisions_moving(conn, decision_id, [m["record"] for m in moves])
    if later:
        raise Conflict(
            f"decision {later[-1]} came later and changed the same persons or records;"
            " undo it first"
        )
    current = decision_store.links_of(conn, [m["record"] for m in moves])
    for m in moves:
        link = current.get(m["record"])
        if link is None or link.person_id != m["to"]:
            raise Conflict(
                f"record {m['record']} has moved since (matching or a withdrawal); it cannot be"
                " put back automatically"
            )
    for merged in changes.get("merged", []):
        decision_store.restore_person(conn, merged["person"])
        if merged.get("repointed"):  # persons that pointed at it point at it again
            person_store.repoint(conn, merged["into"], merged["person"], merged["repointed"])
    decision_store.lock_persons(conn, {m["from"] for m in moves} | {m["to"] for m in moves})
    restore = tuple(
        LinkMove(
            m["record"],
            m["from"],
            m["to"],
            m["method"],
            m["probability"],
            m["weight"],
            m["model_version"],
            m["linked_by"],
            "undo",
        )
        for m in moves
    )
    person_store.apply(conn, LinkPlan(restore, actor=reviewer))
    event_store.append(
        conn,
        [
            EventRow(
                "person_restored",
                merged["person"],
                None,
                other_person_id=merged["into"],
                detail={"decision": decision_id},
                actor=reviewer,
            )
            for merged in changes.get("merged", [])
        ],
    )
    if decision.person_pk is not None:
        into = decision.person_pk
        split_off = tuple(Merge(c, into, "split undone") for c in changes.get("created", []))
        person_store.apply(conn, LinkPlan(split_off, actor=reviewer))
    events = []
    decision_store.remove_no_match(conn, [tuple(p) for p in changes.get("no_match", [])])
    reopened = [i for i in changes.get("items_closed", []) if decision_store.reopen(conn, i)]
    if not decision_store.mark_undone(conn, decision_id, version, reviewer):
        raise Conflict(f"decision {decision_id} changed; reload the page")
    undo_id = decision_store.add_decision(
        conn,
        kind="undo",
        review_item_id=decision.review_item_id,
        person_pk=decision.person_pk,
        other_person_pk=decision.other_person_pk,
        changes={"undone": decision_id, "reopened": reopened},
        decided_by=reviewer,
        undo_of=decision_id,
    )
    events.append(
        EventRow(
            "decision_undone",
            decision.person_pk,
            None,
            other_person_id=decision.other_person_pk,
            detail={"decision": decision_id, "kind": decision.kind, "undo": undo_id},
            actor=reviewer,
        )
    )
    event_store.append(conn, events)
    return Done("undone", decision.person_id, undo_id, decision.other_person_id)


def decisions_of(conn: psycopg.Connection[Any], person_id: str) -> list[DecisionRow]:
    """Reviewers' decisions about a person, newest first.

    Raises:
        NotFound: no such person.
    """
    return decision_store.decisions_of_person(conn, _person(conn, person_id).id)
