"""The decision step of the Spark relink: one connected group of records at a time.

:func:`decide_group` is the only place the batch makes link decisions. It takes one
group (its records with their current links, the candidate pairs among them, no-match
assertions and open review items) and returns the link rows, history, identity events,
review items and merges the service would write, plus the open items to close.

With the pure planner of issue 12 (``mpi.linking.plan.plan``) the group is one batch
of :class:`~mpi.linking.plan.Probe` with its :class:`~mpi.linking.plan.CandidateSet`,
and the result carries the :class:`~mpi.linking.plan.LinkPlan`, which the write-back
gives to ``mpi.store.persons.apply``.

ADAPTER (while ``plan()`` is not on main): the decisions are made by the in-database
engine's own decision code, ``mpi.records._Linker``, given the group's records in
memory instead of reading them: its matching steps (``_match``: score every candidate
person with ``match_person``, decide with :func:`mpi.links.decide`, apply the link,
bridge identities, open review items) touch no connection; only its reading and writing
do, and those are done here and by :mod:`mpi.spark.apply` instead.

The records are decided in the order the in-database relink takes them
(``GroupRecord.order``), so a group ends as it would there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matching.frequencies import TermFrequencies
from matching.types import NormalisedRecord
from mpi.models import StoredRecord
from mpi.store.events import EventRow
from mpi.store.persons import HistoryRow, LinkRow
from mpi.store.review import ReviewRow

try:  # issue 12's pure planner
    from mpi.linking.plan import CandidateSet, MatchContext, Probe, plan
except ImportError:  # ADAPTER: before it is on main
    from mpi.records import MatchContext, _Linker  # type: ignore[attr-defined,no-redef]

    plan = None  # type: ignore[assignment]

__all__ = ["GroupInput", "GroupRecord", "GroupResult", "decide_group"]


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """One record of a group.

    Attributes:
        id: the record's ID.
        system_id: its system.
        person: the person it is linked to now (``None``: unlinked).
        method: ``auto`` or ``manual`` (``None``: unlinked).
        target: whether the relink re-scores it.
        order: its place in the in-database relink's order (targets sort by it).
        norm: its normalised fields.
    """

    id: int
    system_id: int
    person: int | None
    method: str | None
    target: bool
    order: tuple[int, int, int]
    norm: NormalisedRecord


@dataclass(frozen=True, slots=True)
class GroupInput:
    """A connected group: records, candidate pairs, no-match pairs and open items
    (``(item ID, record ID, candidate person ID)``) among them."""

    records: Sequence[GroupRecord]
    candidates: Sequence[tuple[int, int]] = ()
    no_match: Sequence[tuple[int, int]] = ()
    open_items: Sequence[tuple[int, int, int]] = ()


@dataclass(slots=True)
class GroupResult:
    """What deciding a group writes. Person IDs below zero are new persons of this group.

    Attributes:
        links: the link of every target record not linked by hand (refreshed, or moved).
        history, events, reviews: rows as the service writes them.
        merged: ``(gone, into)`` persons merged because their last record moved.
        new_persons: the group's new persons (negative IDs).
        close: open review items the model no longer finds uncertain.
        assignment: every record's person after the decisions.
        before: every record's person before them.
        targets: how many records were decided.
        plan: the group's ``LinkPlan`` (with the planner; then only ``reviews``,
            ``close``, ``assignment``, ``before`` and ``targets`` are filled in besides).
    """

    links: list[LinkRow] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    reviews: list[ReviewRow] = field(default_factory=list)
    merged: list[tuple[int, int]] = field(default_factory=list)
    new_persons: list[int] = field(default_factory=list)
    close: list[int] = field(default_factory=list)
    assignment: dict[int, int | None] = field(default_factory=dict)
    before: dict[int, int | None] = field(default_factory=dict)
    targets: int = 0
    plan: Any = None


def _stored(r: GroupRecord) -> StoredRecord:
    return StoredRecord(
        id=r.id,
        system_id=r.system_id,
        system_code="",
        local_id="",
        norm=r.norm,
        person=r.person,
        link_method=r.method,
    )


def _pairs_by_record(pairs: Iterable[tuple[int, int]]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for a, b in pairs:
        found.setdefault(a, set()).add(b)
        found.setdefault(b, set()).add(a)
    return found


def decide_group(
    ctx: MatchContext, adjuster: TermFrequencies, group: GroupInput, actor: str
) -> GroupResult:
    """Decide every target record of one group, as the in-database relink would.

    Args:
        ctx: the model and thresholds.
        adjuster: the name and postcode frequencies of the whole store.
        group: the group.
        actor: who relinks (for history and events).

    Returns:
        The rows to write, the items to close and the assignment.
    """
    records = sorted(group.records, key=lambda r: r.id)  # sets built in one order
    candidates = _pairs_by_record(sorted(group.candidates))
    no_match = _pairs_by_record(sorted(group.no_match))
    targets = sorted((r for r in records if r.target), key=lambda r: r.order)
    before = {r.id: r.person for r in records}
    if plan is not None:
        result = _planned(ctx, adjuster, records, targets, candidates, no_match, actor)
    else:
        result = _adapted(ctx, adjuster, records, targets, candidates, no_match, actor)
    result.before = before
    result.targets = len(targets)
    kept = {(v.record_id, v.candidate_person_id) for v in result.reviews}
    ids = {r.id for r in targets}
    result.close = sorted(
        item
        for item, record, person in group.open_items
        if record in ids and (record, person) not in kept
    )
    return result


def _planned(
    ctx: MatchContext,
    adjuster: TermFrequencies,
    records: Sequence[GroupRecord],
    targets: Sequence[GroupRecord],
    candidates: dict[int, set[int]],
    no_match: dict[int, set[int]],
    actor: str,
) -> GroupResult:
    """The group as one batch of the pure planner."""
    view = CandidateSet(
        candidates={r.id: candidates.get(r.id, set()) for r in targets},
        records={r.id: _stored(r) for r in records},
        no_match=no_match,
        frequencies=adjuster,
    )
    link_plan = plan([Probe(r.id, "", "updated") for r in targets], view, ctx, actor=actor)
    assignment = {r.id: r.person for r in records}
    for move in link_plan.moves:
        assignment[move.record_id] = move.person_id
    return GroupResult(
        reviews=list(link_plan.reviews),
        merged=[(m.gone, m.into) for m in link_plan.merges],
        new_persons=[n.person_id for n in link_plan.new_persons],
        assignment=assignment,
        plan=link_plan,
    )


def _adapted(
    ctx: MatchContext,
    adjuster: TermFrequencies,
    records: Sequence[GroupRecord],
    targets: Sequence[GroupRecord],
    candidates: dict[int, set[int]],
    no_match: dict[int, set[int]],
    actor: str,
) -> GroupResult:
    """ADAPTER: the in-database engine's decision code, fed from memory."""
    linker = _Linker(None, ctx, actor)  # type: ignore[arg-type]  # never reads or writes
    for r in records:
        linker._remember(_stored(r))
    linker.no_match = no_match
    linker.adjuster = adjuster
    for r in targets:
        linker._match(r.id, candidates.get(r.id, set()), no_match.get(r.id, set()))
    return GroupResult(
        links=list(linker.links.values()),
        history=linker.history,
        events=linker.events,
        reviews=linker.reviews,
        merged=linker.merged,
        new_persons=linker.new_persons,
        assignment={r.id: linker.person_of.get(r.id, r.person) for r in records},
    )
