"""The decision step of the Spark relink: one connected group of records at a time.

:func:`decide_group` is the only place the batch makes link decisions. It takes one
group (its records with their current links, the candidate pairs among them, no-match
assertions and open review items) and returns the link rows, history, identity events,
review items and merges the service would write, plus the open items to close.

The group is one batch of the service's pure planner (issue 12,
:func:`mpi.linking.plan.plan`): a :class:`~mpi.linking.plan.Probe` per target with the
group's :class:`~mpi.linking.plan.CandidateSet`, the records already in memory instead
of read by :func:`mpi.store.records.read_candidates`. The result carries the
:class:`~mpi.linking.plan.LinkPlan`, which the write-back gives to the store's one
``apply`` (:func:`mpi.store.persons.apply`), as the in-database relink does.

The records are decided in the order the in-database relink takes them
(``GroupRecord.order``), so a group ends as it would there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from matching.frequencies import TermFrequencies
from matching.types import NormalisedRecord
from mpi.linking.plan import CandidateSet, LinkPlan, MatchContext, Probe, ReviewOpen, plan
from mpi.models import StoredRecord

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
    """What deciding a group writes, and what it changes.

    Attributes:
        plan: the group's plan (person IDs below zero are its new persons).
        close: open review items the model no longer finds uncertain.
        assignment: every record's person after the plan.
        before: every record's person before it.
        targets: how many records were decided.
    """

    plan: LinkPlan
    close: list[int] = field(default_factory=list)
    assignment: dict[int, int | None] = field(default_factory=dict)
    before: dict[int, int | None] = field(default_factory=dict)
    targets: int = 0

    @property
    def reviews(self) -> list[ReviewOpen]:
        """The review items the plan opens (or refreshes)."""
        return self.plan.reviews


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
    view = CandidateSet(
        candidates={r.id: candidates.get(r.id, set()) for r in targets},
        records={r.id: _stored(r) for r in records},
        no_match=no_match,
        frequencies=adjuster,
    )
    link_plan = plan([Probe(r.id, "", "updated") for r in targets], view, ctx, actor=actor)
    assignment = dict(before)
    for move in link_plan.moves:
        assignment[move.record_id] = move.person_id
    result = GroupResult(link_plan, assignment=assignment)
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
