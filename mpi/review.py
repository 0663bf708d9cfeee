"""Data-quality review: the work queue, claims, the decision page and decisions.

A decision checks the version of the item the reviewer saw (optimistic concurrency: a
stale version raises :class:`Conflict` and changes nothing) and changes identities the
way :mod:`mpi.identities` does (merge, split and undo live there), so it can be undone.

Queue priority (0 to 1, higher first) weighs:

- 40 %: how close the probability is to either threshold, where a decision changes most
  (1 at a threshold, 0 half-way between them or beyond);
- 30 %: age, reaching its full weight at :data:`AGE_FULL_DAYS` days;
- 20 %: how many systems the record and the candidate person span (1 at five or more);
- 10 %: an urgent reason (a shared NHS number with conflicting details, twin risk, two
  different NHS numbers, birth dates years apart).

A merge a reviewer asked for by hand (``merge_request``: two persons with different
valid NHS numbers, merged from a person page) has priority 1: a colleague is waiting for
the second review, and it has no match score to rank it by.

An item whose record and candidate come to share a person (a bulk load bridging them, a
merge, another decision) is closed as superseded by the database itself (migration 0080's
triggers), so no decision can be taken inside one person.

Four eyes: "same person" between two persons whose valid NHS numbers differ needs two
different reviewers; the first review is recorded on the item, the second links.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg

from matching import fields
from matching.nhs_number import format_nhs_number
from matching.similarity import jaro_winkler
from mpi.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from mpi.identities import GOLDEN_FIELDS, Done, display_value, merge_persons, nhs_numbers_differ
from mpi.links import REVIEW_REASONS, Thresholds
from mpi.models import IdentityEvent, Person, RecordDetail
from mpi.store import decisions as decision_store
from mpi.store import events as event_store
from mpi.store import persons as person_store
from mpi.store import quality as quality_store
from mpi.store import records as record_store
from mpi.store.decisions import QUEUE_SORTS, ItemRow, QueueRow
from mpi.store.events import EventRow
from mpi.store.quality import PersonHit

CLAIM_SECONDS = 30 * 60
AGE_FULL_DAYS = 14
URGENT_REASONS = frozenset(
    {"nhs_number_shared_conflict", "twin_risk", "nhs_number_conflict", "birth_date_conflict"}
)
OUTCOMES = ("same", "different", "skip")
#: The headline of a refused decision on an item that has nothing left to decide.
NOTHING_TO_DECIDE = "Nothing left to decide"
#: A merge requested by hand from a person page (no match score), waiting for four eyes.
MERGE_REQUEST = "merge_request"
#: Every reason an open item can have (the queue's filter).
QUEUE_REASONS = (*REVIEW_REASONS, MERGE_REQUEST)

REASON_LABELS = {
    "possible_match": "possible match",
    "nhs_number_shared_conflict": "shared NHS number, conflicting details",
    "invalid_nhs_number": "invalid NHS number",
    "intra_system_duplicate": "duplicate within one system",
    "twin_risk": "twin risk",
    "nhs_number_conflict": "different NHS numbers",
    "birth_date_conflict": "birth dates years apart",
    MERGE_REQUEST: "merge requested by a reviewer",
}
#: Why an item is in review, in plain words (the score band is added for a possible match).
REASON_TEXTS = {
    "possible_match": "The records agree enough to be likely the same person, but not enough"
    " to link them without a person looking.",
    "nhs_number_shared_conflict": "The records share an NHS number, but the other details"
    " conflict: it may be a relative's number on the wrong record.",
    "invalid_nhs_number": "This record's NHS number fails its check digit, so it counts for"
    " nothing; the other details suggest this person.",
    "intra_system_duplicate": "One system holds two records that look like the same person"
    " (a duplicate registration?).",
    "twin_risk": "Same family name and date of birth but different given names: they may be"
    " twins. Matching never links these automatically.",
    "nhs_number_conflict": "The records carry different valid NHS numbers, so matching never"
    " links them automatically, however well the rest agrees.",
    "birth_date_conflict": "The dates of birth are years apart: they may be a parent and"
    " child with the same name.",
    MERGE_REQUEST: "A reviewer asked to merge these two persons from a person page. They"
    " carry different valid NHS numbers, so a second reviewer must agree.",
}

#: Each golden field's label (:mod:`matching.fields`).
FIELD_LABELS = fields.labels()


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """An open item in the queue, with its priority and how long it has waited."""

    item: QueueRow
    priority: float
    age_seconds: float
    is_claimed: bool
    needs_second_review: bool


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One field side by side: ``state`` is ``same``, ``similar`` (not equal, but the
    matching counted it as agreeing: ``similar_as`` says how), ``differs`` or ``missing``."""

    name: str
    label: str
    left: str | None
    right: str | None
    state: str
    similar_as: str | None = None


#: The comparison (matching.comparisons) behind each field of the table.
FIELD_COMPARISONS = fields.compared_by()
#: Agreeing levels of a comparison, in a reviewer's words ("≈ initial").
SIMILAR_LEVELS = {
    ("given_name", "exact"): "a given name in common",
    ("given_name", "nickname"): "variant",
    ("given_name", "jaro_winkler_high"): "spelling",
    ("given_name", "jaro_winkler_medium"): "spelling",
    ("given_name", "phonetic"): "sounds alike",
    ("given_name", "initial"): "initial",
    ("family_name", "exact"): "same when written plainly",
    ("family_name", "shares_part"): "shares a part",
    ("family_name", "jaro_winkler_high"): "spelling",
    ("family_name", "jaro_winkler_medium"): "spelling",
    ("family_name", "phonetic"): "sounds alike",
    ("birth_date", "day_month_swapped"): "day and month swapped",
    ("birth_date", "one_digit_or_day"): "one digit or day apart",
    ("birth_date", "same_year_month"): "same year and month",
    ("postcode", "same_sector"): "same sector",
    ("postcode", "same_district"): "same district",
    ("address", "token_set_high"): "similar",
    ("address", "token_set_medium"): "partly similar",
}


@dataclass(frozen=True, slots=True)
class NhsHolder:
    """A record carrying a valid NHS number, on one side of an item."""

    side: str  # "record" (the item's record's person) or "candidate"
    system_code: str
    local_id: str
    nhs_number: str  # shown 3-3-4


@dataclass(frozen=True, slots=True)
class DecisionView:
    """Everything the decision page shows about one review item."""

    item: ItemRow
    record: RecordDetail
    record_person: Person | None
    #: The record is already linked to the candidate person: nothing to decide.
    within_one_person: bool
    candidate: Person
    candidate_record: RecordDetail | None
    candidate_records: list[RecordDetail]
    fields: list[FieldRow]
    prior_weight: float
    events: list[IdentityEvent]
    needs_four_eyes: bool
    #: Every record of either person with a valid NHS number, when those numbers clash.
    nhs_clash: list[NhsHolder]


def priority(
    probability: float, thresholds: Thresholds, age_seconds: float, systems: int, reason: str
) -> float:
    """An item's queue priority between 0 and 1 (see the module docstring).

    Example:
        >>> round(priority(0.999, Thresholds(0.999, 0.5), 0, 2, "possible_match"), 3)
        0.45
        >>> priority(0.5, Thresholds(0.999, 0.5), 0, 2, MERGE_REQUEST)
        1.0
    """
    if reason == MERGE_REQUEST:
        return 1.0
    span = max(thresholds.link - thresholds.review, 1e-9)
    distance = min(abs(probability - thresholds.link), abs(probability - thresholds.review))
    closeness = max(0.0, 1.0 - distance / (span / 2))
    age = min(max(age_seconds, 0.0) / (AGE_FULL_DAYS * 86400), 1.0)
    spread = min(max(systems - 1, 0) / 4, 1.0)
    urgent = 1.0 if reason in URGENT_REASONS else 0.0
    return 0.4 * closeness + 0.3 * age + 0.2 * spread + 0.1 * urgent


def work_queue(
    conn: psycopg.Connection[Any],
    thresholds: Thresholds,
    *,
    system: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
    limit: int = 200,
    offered_to: str | None = None,
    second: bool = False,
    sort: str = "priority",
    offset: int = 0,
) -> list[QueueEntry]:
    """The top ``limit`` open items, highest priority first (ties: oldest first).

    ``sort`` may instead be ``age`` (oldest first) or ``probability`` (highest first);
    ``offset`` skips that many items of the order (paging).

    The database ranks every open item with the formula of :func:`priority`. With
    ``offered_to``, only the items "claim next" may give that reviewer: none they skipped,
    gave the first review of, or that another reviewer holds.

    Raises:
        InvalidInput: ``reason`` is not a known review reason.
    """
    if reason and reason not in QUEUE_REASONS:
        raise InvalidInput.single("reason", f"must be one of {', '.join(QUEUE_REASONS)}")
    if sort not in QUEUE_SORTS:
        raise InvalidInput.single("sort", f"must be one of {', '.join(QUEUE_SORTS)}")
    now = now or datetime.now(UTC)
    rows = decision_store.queue(
        conn,
        link=thresholds.link,
        review=thresholds.review,
        urgent=sorted(URGENT_REASONS),
        age_full_days=AGE_FULL_DAYS,
        system=system,
        reason=reason,
        limit=limit,
        offered_to=offered_to,
        claim_seconds=CLAIM_SECONDS,
        merge_request=MERGE_REQUEST,
        second=second,
        sort=sort,
        offset=offset,
    )
    entries = []
    for row in rows:
        claimed = bool(
            row.claimed_by
            and row.claimed_at
            and (now - row.claimed_at).total_seconds() < CLAIM_SECONDS
        )
        entries.append(
            QueueEntry(
                item=row,
                priority=row.priority,
                age_seconds=(now - row.created_at).total_seconds(),
                is_claimed=claimed,
                needs_second_review=row.first_review_by is not None,
            )
        )
    return entries


def summary(
    conn: psycopg.Connection[Any],
    *,
    system: str | None = None,
    reason: str | None = None,
    second: bool = False,
) -> dict[str, Any]:
    """Counts for the top of the queue (open, claimed, second review, ages), with the
    queue's filters; the counts by reason follow the system filter only (they choose the
    reason)."""
    return decision_store.queue_summary(
        conn, CLAIM_SECONDS, system=system, reason=reason, second=second
    )


def _item(conn: psycopg.Connection[Any], item_id: int, *, for_update: bool = False) -> ItemRow:
    item = decision_store.get_item(conn, item_id, for_update=for_update)
    if item is None:
        raise NotFound(f"no review item {item_id}")
    return item


def _active_person(conn: psycopg.Connection[Any], pk: int) -> Person:
    """The person, or the one it was merged into (followed to the end)."""
    person = person_store.get_person_by_pk(conn, pk)
    seen = set()
    while person is not None and person.merged_into and person.person_id not in seen:
        seen.add(person.person_id)
        person = person_store.get_person(conn, person.merged_into)
    if person is None:
        raise NotFound(f"no person {pk}")
    return person


def _check_version(item: ItemRow, version: int, reviewer: str | None = None) -> None:
    if item.status == "superseded":
        raise Conflict(
            f"review item {item.id} was closed without a decision: its record and the"
            " candidate now belong to one person, or one of them changed (matching ran"
            " again). Your decision was not applied; nothing is left to decide here.",
            title=NOTHING_TO_DECIDE,
        )
    if item.status != "open" and reviewer is not None and item.decided_by == reviewer:
        outcome = {"linked": "same person", "rejected": "not the same"}.get(item.status)
        raise Conflict(
            f"you decided review item {item.id} already ({outcome or item.status}); this"
            " second decision was not applied. To change it, undo it from the person's"
            " history.",
            title="Already decided",
        )
    if item.status != "open":
        who = f" by {item.decided_by}" if item.decided_by else ""
        raise Conflict(
            f"review item {item.id} was already decided{who} ({item.status}); your decision was"
            " not applied. Reload it to see the outcome."
        )
    if item.version != version:
        raise Conflict(
            f"review item {item.id} changed while you were looking at it (claimed or reviewed"
            " by someone else); your decision was not applied. Reload it and decide again."
        )


def _compare(name: str, left: RecordDetail, right: RecordDetail | None) -> FieldRow:
    lv = display_value(left, name)
    rv = display_value(right, name) if right else None
    if name == "nhs_number":
        lv = format_nhs_number(lv) if lv else _invalid_nhs(left)
        rv = format_nhs_number(rv) if rv else (_invalid_nhs(right) if right else None)
    if not lv or not rv:
        state = "missing"
    else:
        state = "same" if _key(name, left, lv) == _key(name, right, rv) else "differs"  # type: ignore[arg-type]
    return FieldRow(name, FIELD_LABELS[name], lv, rv, state)


def _invalid_nhs(record: RecordDetail) -> str | None:
    if "nhs_number_invalid" not in record.norm.issues:
        return None
    raw = record.raw.get("nhs_number")
    return f"{raw} (invalid)" if isinstance(raw, str) and raw else "(invalid)"


def _key(name: str, record: RecordDetail, shown: str) -> str:
    norm = record.norm
    if name == "given_name":
        return " ".join(norm.given_names) or shown.upper()
    if name == "family_name":
        return norm.family_name or shown.upper()
    if name == "address_line":
        return norm.address or shown.upper()
    if name == "phone":
        return norm.phone or shown
    if name == "nhs_number":
        return norm.nhs_number or shown
    return shown


def compare_records(
    left: RecordDetail,
    right: RecordDetail | None,
    explanation: list[dict[str, Any]] | None = None,
) -> list[FieldRow]:
    """Two records field by field, differences marked; with the match ``explanation`` of
    the pair, a value the matching counted as agreeing (an initial, a nickname, a middle
    name, a day-month swap) is ``similar``, never ``differs`` beside a positive weight."""
    levels = {
        str(e.get("comparison")): (str(e.get("level")), float(e.get("weight") or 0))
        for e in explanation or []
    }
    rows = []
    for name in GOLDEN_FIELDS:
        row = _compare(name, left, right)
        comparison = FIELD_COMPARISONS.get(name, name)
        level, weight = levels.get(comparison, ("", 0.0))
        words = SIMILAR_LEVELS.get((comparison, level))
        if row.state == "differs" and words and weight > 0:
            row = FieldRow(row.name, row.label, row.left, row.right, "similar", words)
        rows.append(row)
    return rows


def decision_view(conn: psycopg.Connection[Any], item_id: int) -> DecisionView:
    """The decision page of one review item.

    Raises:
        NotFound: no such item, or its record is gone.
    """
    item = _item(conn, item_id)
    record = record_store.record_detail(conn, item.record_id)
    if record is None:
        raise NotFound(f"review item {item_id} has no record")
    record_person = (
        person_store.get_person_by_pk(conn, item.record_person_pk)
        if item.record_person_pk
        else None
    )
    candidate = _active_person(conn, item.candidate_person_pk)
    records = record_store.record_details_of_person(conn, candidate.id)
    chosen = next((r for r in records if r.id == item.candidate_record_id), None)
    if chosen is None and item.candidate_record_id:
        chosen = record_store.record_detail(conn, item.candidate_record_id)
    if chosen is None and records:
        chosen = records[0]
    own = record_store.record_details_of_person(conn, record_person.id) if record_person else []
    probability = min(max(item.probability, 1e-12), 1 - 1e-12)
    prior = math.log2(probability / (1 - probability)) - item.weight
    return DecisionView(
        item=item,
        record=record,
        record_person=record_person,
        within_one_person=record_person is not None and record_person.id == candidate.id,
        candidate=candidate,
        candidate_record=chosen,
        candidate_records=[r for r in records if chosen is None or r.id != chosen.id],
        fields=compare_records(
            record,
            chosen,
            item.explanation
            if chosen is not None and chosen.id == item.candidate_record_id
            else None,
        ),
        prior_weight=prior,
        events=event_store.of_person(conn, candidate.id)[-15:],
        needs_four_eyes=nhs_numbers_differ(own or [record], records),
        nhs_clash=nhs_clash(own or [record], records),
    )


def nhs_clash(ours: list[RecordDetail], theirs: list[RecordDetail]) -> list[NhsHolder]:
    """The records of both persons that carry a valid NHS number, if the numbers differ
    (whichever records the field table compares); empty when they do not clash."""
    if not nhs_numbers_differ(ours, theirs):
        return []
    return [
        NhsHolder(side, r.system_code, r.local_id, format_nhs_number(r.norm.nhs_number))
        for side, records in (("record", ours), ("candidate", theirs))
        for r in records
        if r.status == "active" and r.norm.nhs_number
    ]


#: Reasons on which "same person" is the risky answer (never the page's primary button).
RISKY_REASONS = frozenset(
    {"twin_risk", "nhs_number_conflict", "nhs_number_shared_conflict", MERGE_REQUEST}
)


@dataclass(frozen=True, slots=True)
class MergeConsequence:
    """What "same person" on an item across valid NHS numbers would do, spelled out."""

    moving: list[RecordDetail]  # the records that move to the candidate person
    into: str  # the candidate's enterprise ID (it survives)
    golden_nhs_number: str | None  # the merged person's golden NHS number (3-3-4)
    other_nhs_numbers: list[str]  # the valid NHS numbers it would hold besides
    first_review: bool  # only the first of two reviews: nothing moves yet


def merge_consequence(conn: psycopg.Connection[Any], view: DecisionView) -> MergeConsequence:
    """The consequence of "same person" on this item (for the confirmation page)."""
    from mpi.identities import golden_view

    theirs = record_store.record_details_of_person(conn, view.candidate.id)
    own = (
        record_store.record_details_of_person(conn, view.record_person.id)
        if view.record_person
        else [view.record]
    )
    golden = golden_view(theirs + own).get("nhs_number")
    golden_nhs = golden.value if golden else None
    numbers = sorted({r.norm.nhs_number for r in theirs + own if r.norm.nhs_number})
    return MergeConsequence(
        moving=[r for r in own if r.status == "active"],
        into=view.candidate.person_id,
        golden_nhs_number=format_nhs_number(golden_nhs) if golden_nhs else None,
        other_nhs_numbers=[format_nhs_number(n) for n in numbers if n != golden_nhs],
        first_review=view.item.first_review_by is None,
    )


def why_in_review(item: ItemRow, thresholds: Thresholds) -> str:
    """Why an item is in review, in plain words (its reason, and the score band)."""
    text = REASON_TEXTS.get(item.reason, REASON_LABELS.get(item.reason, item.reason))
    if item.reason == MERGE_REQUEST:
        return text
    p = item.probability
    if p >= thresholds.link:
        band = (
            f" Its match probability, {p:.3f}, reaches the link threshold"
            f" ({thresholds.link:g}), but a safety rule keeps it from linking automatically."
        )
    elif p >= thresholds.review:
        band = (
            f" Its match probability, {p:.3f}, is between the review threshold"
            f" ({thresholds.review:g}) and the link threshold ({thresholds.link:g})."
        )
    else:
        band = (
            f" Its match probability, {p:.3f}, is below the review threshold"
            f" ({thresholds.review:g}), but this conflict always goes to a reviewer."
        )
    return text + band


def claim(conn: psycopg.Connection[Any], item_id: int, version: int, reviewer: str) -> int:
    """Claim an item so that no other reviewer works on it for :data:`CLAIM_SECONDS`.

    Returns:
        The item's new version.

    Raises:
        NotFound: no such item.
        Conflict: decided, changed since ``version``, or claimed by another reviewer.
    """
    item = _item(conn, item_id, for_update=True)
    _check_version(item, version, reviewer)
    if item.first_review_by == reviewer:
        raise Forbidden(
            f"you gave the first review of item {item_id}; it waits for another reviewer to"
            " give the second, so you cannot claim it"
        )
    new = decision_store.claim(conn, item_id, version, reviewer, CLAIM_SECONDS)
    if new is None:
        raise Conflict(
            f"review item {item_id} is being worked on by {item.claimed_by}; pick another item"
        )
    return new


def decide(
    conn: psycopg.Connection[Any],
    item_id: int,
    version: int,
    outcome: str,
    reviewer: str,
    *,
    note: str | None = None,
) -> Done:
    """Decide a review item: ``same`` person (link), ``different`` (no-match), ``skip``.

    ``same`` merges the record's person into the candidate person (who keeps the ID), with
    manual links; between persons whose valid NHS numbers differ the first ``same`` is
    only recorded, and a second reviewer's ``same`` links. ``different`` asserts that the
    record and each record of the candidate person are different people (matching never
    links them again). ``skip`` releases the item for someone else.

    Returns:
        ``linked``, ``first_review``, ``rejected`` or ``skipped``.

    Raises:
        InvalidInput: an unknown outcome.
        NotFound: no such item.
        Conflict: the item was decided or changed since ``version``.
        Forbidden: the same reviewer gave the first of two required reviews.
    """
    if outcome not in OUTCOMES:
        raise InvalidInput.single("outcome", f"must be one of {', '.join(OUTCOMES)}")
    if note is not None and len(note) > 1000:
        raise InvalidInput.single("note", "must be at most 1000 characters")
    record_store.lock_for_batch(conn)
    item = _item(conn, item_id, for_update=True)
    _check_version(item, version, reviewer)
    if (
        item.claimed_by
        and item.claimed_by != reviewer
        and item.claimed_at
        and (datetime.now(UTC) - item.claimed_at).total_seconds() < CLAIM_SECONDS
    ):
        raise Conflict(
            f"review item {item_id} is claimed by {item.claimed_by}; your decision was not"
            " applied. Pick another item."
        )
    if outcome == "skip":
        decision_store.release(conn, item_id, version, skipped_by=reviewer)
        return Done("skipped")
    candidate = _active_person(conn, item.candidate_person_pk)
    if item.record_person_pk == candidate.id:
        raise Conflict(
            f"the record of review item {item_id} already belongs to the candidate person"
            f" {candidate.person_id}: there is nothing to decide (the item is closed as"
            " superseded). Your decision was not applied.",
            title=NOTHING_TO_DECIDE,
        )
    if outcome == "different":
        return _reject(conn, item, candidate, reviewer, note)
    return _same(conn, item, candidate, reviewer, note)


def _enterprise(conn: psycopg.Connection[Any], item: ItemRow) -> str | None:
    """The enterprise ID of the item's record's person (before the decision)."""
    if item.record_person_pk is None:
        return None
    found = person_store.enterprise_ids(conn, [item.record_person_pk])
    return found.get(item.record_person_pk)


def _reject(
    conn: psycopg.Connection[Any], item: ItemRow, candidate: Person, reviewer: str, note: str | None
) -> Done:
    pairs = record_store.add_no_matches(
        conn,
        [(item.record_id, other) for other in decision_store.active_records_of(conn, candidate.id)],
        reviewer,
        note or "review",
    )
    if not decision_store.close(conn, item.id, item.version, "rejected", reviewer):
        raise Conflict(f"review item {item.id} changed; your decision was not applied")
    decision_id = decision_store.add_decision(
        conn,
        kind="no_match",
        review_item_id=item.id,
        person_pk=candidate.id,
        other_person_pk=item.record_person_pk,
        changes={"no_match": pairs, "items_closed": [item.id]},
        decided_by=reviewer,
        note=note,
    )
    event_store.append(
        conn,
        [
            EventRow(
                "no_match_asserted",
                candidate.id,
                item.record_id,
                other_person_id=item.record_person_pk,
                detail={"review_item": item.id, "decision": decision_id, "pairs": len(pairs)},
                actor=reviewer,
            ),
            EventRow(
                "review_decided",
                candidate.id,
                item.record_id,
                other_person_id=item.record_person_pk,
                detail={"review_item": item.id, "outcome": "rejected", "decision": decision_id},
                actor=reviewer,
            ),
        ],
    )
    return Done("rejected", candidate.person_id, decision_id, _enterprise(conn, item))


def _same(
    conn: psycopg.Connection[Any], item: ItemRow, candidate: Person, reviewer: str, note: str | None
) -> Done:
    if item.record_person_pk is None:
        raise Conflict(f"the record of review item {item.id} is no longer linked (withdrawn)")
    own = record_store.record_details_of_person(conn, item.record_person_pk)
    theirs = record_store.record_details_of_person(conn, candidate.id)
    second_by = None
    if nhs_numbers_differ(own, theirs):
        if item.first_review_by is None:
            decision_store.first_review(conn, item.id, item.version, reviewer, note)
            event_store.append(
                conn,
                [
                    EventRow(
                        "review_decided",
                        candidate.id,
                        item.record_id,
                        other_person_id=item.record_person_pk,
                        detail={"review_item": item.id, "outcome": "first_review"},
                        actor=reviewer,
                    )
                ],
            )
            return Done("first_review", candidate.person_id, None, _enterprise(conn, item))
        if item.first_review_by == reviewer:
            raise Forbidden(
                "the valid NHS numbers differ, so a second reviewer must confirm; you gave"
                " the first review"
            )
        second_by, reviewer_first = reviewer, item.first_review_by
    else:
        reviewer_first = reviewer
    if not decision_store.close(conn, item.id, item.version, "linked", reviewer):
        raise Conflict(f"review item {item.id} changed; your decision was not applied")
    changes: dict[str, Any] = {"moves": [], "merged": [], "items_closed": [item.id]}
    if item.record_person_pk != candidate.id:
        changes = merge_persons(
            conn, candidate.id, item.record_person_pk, reviewer, "review_linked"
        )
        changes["items_closed"] = [item.id, *changes["items_closed"]]
    decision_id = decision_store.add_decision(
        conn,
        kind="link",
        review_item_id=item.id,
        person_pk=candidate.id,
        other_person_pk=item.record_person_pk,
        changes=changes,
        decided_by=reviewer_first,
        second_by=second_by,
        note=note,
        first_note=item.first_review_note if second_by else None,
    )
    event_store.append(
        conn,
        [
            EventRow(
                "review_decided",
                candidate.id,
                item.record_id,
                other_person_id=item.record_person_pk,
                detail={"review_item": item.id, "outcome": "linked", "decision": decision_id},
                actor=reviewer,
            )
        ],
    )
    return Done("linked", candidate.person_id, decision_id, _enterprise(conn, item))


def parse_ids(values: list[str], field: str) -> list[int]:
    """Form values as positive integer IDs; :class:`InvalidInput` naming ``field`` if not."""
    ids = []
    for value in values:
        if not value.isdigit() or len(value) > 18 or int(value) < 1:
            raise InvalidInput.single(field, f"{value[:20]!r} is not an ID")
        ids.append(int(value))
    return ids


def claim_next(
    conn: psycopg.Connection[Any],
    thresholds: Thresholds,
    reviewer: str,
    *,
    system: str | None = None,
    reason: str | None = None,
) -> int | None:
    """Claim the highest-priority item nobody else holds; its ID, or ``None`` if none is left.

    Never an item this reviewer skipped, or gave the first of two reviews.
    """
    for entry in work_queue(
        conn, thresholds, system=system, reason=reason, limit=50, offered_to=reviewer
    ):
        row = entry.item
        if decision_store.claim(conn, row.id, row.version, reviewer, CLAIM_SECONDS) is not None:
            return row.id
    return None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a reviewer searched for (every given criterion must match)."""

    nhs_number: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    birth_date: str | None = None
    local_id: str | None = None
    person_id: str | None = None

    @property
    def is_empty(self) -> bool:
        """Whether nothing was asked."""
        return not any(
            (
                self.nhs_number,
                self.family_name,
                self.given_name,
                self.birth_date,
                self.local_id,
                self.person_id,
            )
        )


#: Persons on one page of search results.
SEARCH_PAGE = 25
#: The most records one search reads (its persons are paged).
SEARCH_RECORDS = 1000
#: How alike two names must be to count as a typo of each other (Jaro-Winkler).
NAME_TYPO_SIMILARITY = 0.88
_UK_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")


@dataclass(frozen=True, slots=True)
class PersonResult:
    """One person found by search, with the records that matched."""

    person_id: str
    records: list[PersonHit]


@dataclass(frozen=True, slots=True)
class PersonSearch:
    """One page of persons found, and how the query was read."""

    persons: list[PersonResult]
    total: int
    page: int
    pages: int
    #: A merged person's ID that was asked for, and the survivor it leads to.
    merged_from: str | None = None
    merged_into: str | None = None


def parse_search_date(text: str) -> date | None:
    """A date as a reviewer types it: ``YYYY-MM-DD`` or the UK ``DD/MM/YYYY`` (also with
    dashes or dots); ``None`` if it is neither, or not a real date.

    Example:
        >>> parse_search_date("17/10/1952"), parse_search_date("1952-10-17")
        (datetime.date(1952, 10, 17), datetime.date(1952, 10, 17))
    """
    text = text.strip()
    try:
        found = _UK_DATE.fullmatch(text)
        if found:
            return date(int(found[3]), int(found[2]), int(found[1]))
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _names_alike(query: str, value: str | None) -> bool:
    if not value:
        return False
    if query == value:
        return True
    similarity = jaro_winkler(query, value)
    return similarity is not None and similarity >= NAME_TYPO_SIMILARITY


def search(conn: psycopg.Connection[Any], query: SearchQuery) -> list[PersonHit]:
    """Active records matching the query, with their persons (see :func:`find_persons`)."""
    return _search(conn, query)[0]


def _search(
    conn: psycopg.Connection[Any], query: SearchQuery
) -> tuple[list[PersonHit], str | None, str | None]:
    from matching.nhs_number import check
    from matching.normalise import normalise_family_name, normalise_given_names

    problems = []
    nhs = None
    if query.nhs_number:
        checked = check(query.nhs_number)
        if not checked.digits or len(checked.digits) != 10 or not checked.digits.isdigit():
            problems.append(FieldProblem("nhs_number", "must be 10 digits"))
        elif not checked.is_valid:
            problems.append(
                FieldProblem(
                    "nhs_number",
                    f"{format_nhs_number(checked.digits)} is not a valid NHS"
                    f" number ({checked.reason}): check it was typed right",
                )
            )
        else:
            nhs = checked.digits
    family = "".join(normalise_family_name(query.family_name)) if query.family_name else None
    given_parts = normalise_given_names(query.given_name) if query.given_name else ()
    given = given_parts[0] if given_parts else None
    birth = None
    if query.birth_date:
        birth = parse_search_date(query.birth_date)
        if birth is None:
            problems.append(
                FieldProblem("birth_date", "must be a real date, as DD/MM/YYYY or YYYY-MM-DD")
            )
    if query.local_id and len(query.local_id) > 128:
        problems.append(FieldProblem("local_id", "must be at most 128 characters"))
    if query.person_id and len(query.person_id) > 32:
        problems.append(FieldProblem("person_id", "must be at most 32 characters"))
    if given and not (family or birth or nhs or query.local_id):
        problems.append(FieldProblem("given_name", "add a family name or date of birth"))
    if problems:
        raise InvalidInput(problems)
    person_id, merged_from = None, None
    if query.person_id:
        person_id = query.person_id.strip().upper()
        asked = person_store.get_person(conn, person_id)
        if asked is not None and asked.merged_into:
            merged_from, person_id = person_id, _active_person(conn, asked.id).person_id
    # names in either order; with a date of birth, typos too (the names are compared here)
    swapped_family = "".join(normalise_family_name(query.given_name)) if query.given_name else None
    swapped_given = (normalise_given_names(query.family_name) or (None,))[0] if family else None
    fuzzy = birth is not None and bool(family or given)
    hits = quality_store.search_records(
        conn,
        nhs_number=nhs,
        local_id=query.local_id,
        family_name=None if fuzzy else family,
        given_name=None if fuzzy else given,
        birth_date=birth,
        person_id=person_id,
        either_order=(swapped_family, swapped_given) if not fuzzy and family else None,
        limit=SEARCH_RECORDS,
    )
    if fuzzy:

        def agrees(hit: PersonHit, fam: str | None, giv: str | None) -> bool:
            first = hit.given_names[0] if hit.given_names else None
            return (not fam or _names_alike(fam, hit.family_name)) and (
                not giv or _names_alike(giv, first)
            )

        hits = [
            h for h in hits if agrees(h, family, given) or agrees(h, swapped_family, swapped_given)
        ]
    return hits, merged_from, person_id if merged_from else None


def find_persons(
    conn: psycopg.Connection[Any], query: SearchQuery, *, page: int = 1
) -> PersonSearch:
    """Persons whose active records match the query, one result per person, paged.

    NHS numbers may have spaces (an invalid one is said to be invalid); names are
    compared as matching normalises them, in either order (a given name matches the first
    given name), and with a date of birth also with typos; the date of birth may be
    ``DD/MM/YYYY`` or ``YYYY-MM-DD``; a merged person's ID finds the person it was merged
    into.

    Raises:
        InvalidInput: every unusable criterion named, or a given name alone.
    """
    hits, merged_from, merged_into = _search(conn, query)
    grouped: dict[str, list[PersonHit]] = {}
    for hit in hits:
        grouped.setdefault(hit.person_id, []).append(hit)
    persons = [PersonResult(pid, records) for pid, records in grouped.items()]
    pages = max(1, math.ceil(len(persons) / SEARCH_PAGE))
    page = min(max(page, 1), pages)
    shown = persons[(page - 1) * SEARCH_PAGE : page * SEARCH_PAGE]
    return PersonSearch(shown, len(persons), page, pages, merged_from, merged_into)
