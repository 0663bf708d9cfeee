"""The linker's decisions as a plan: pure, no I/O.

:func:`plan` takes a batch of stored records (:class:`Probe`), what the store knows about
them and their candidates (:class:`CandidateSet`: the one matching read,
:func:`mpi.store.records.read_candidates`, with name frequencies, as
:func:`mpi.records.read_candidate_set` gives it) and the match context, and returns a
:class:`LinkPlan`: the persons to create, the link moves, the merges, the review items to
supersede and to open, and every identity event, in order. It never touches a
connection; :func:`mpi.store.persons.apply` writes a plan.

The interface (stable; a batch engine such as ``mpi relink --engine spark`` calls
:func:`plan` once per connected group of candidates and applies each plan)::

    record_store.lock_for_batch(conn)                          # the matching lock
    candidates = records.read_candidate_set(conn, ctx, keys)   # one read
    link_plan = plan(batch, candidates, ctx, actor="relink")   # pure, anywhere
    applied = person_store.apply(conn, link_plan)              # one write

``batch`` is ``[Probe(record_id, local_id, "updated")]`` for stored records re-matched
(a relink), ``keys`` their stored blocking keys (:func:`mpi.store.records.stored_keys`).
A :class:`CandidateSet` may also be built directly (records as
:class:`mpi.models.StoredRecord` with their current links); it must hold every record of
every candidate's person, or the planner may split a person it cannot see whole.

Persons the plan creates have temporary, negative IDs, unique within one plan (-1, -2,
...); :func:`mpi.store.persons.apply` gives them real IDs and returns the mapping. Two
plans applied one after the other must not share records: a plan is made from the store
as it was read, so the second plan must be made after the first is applied, or from a
disjoint group of records (no candidate shared).

Link moves follow one rule, applied in one place (:func:`mpi.store.persons.apply`): a
move to the person the record already has rewrites the link only (a re-evaluation); any
other move also writes a link history row and a ``record_linked`` (from no person) or
``record_moved`` event. A :class:`Merge` step follows the move that leaves a person
without records. Review items are superseded in two visible steps: before matching, the
open items of every record whose data changed (:attr:`LinkPlan.superseded`), and after
the moves, the items the moves resolved or whose candidate merged
(:attr:`LinkPlan.resolved`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matching.findings import Finding
from matching.frequencies import TermFrequencies
from matching.model import MatchModel
from matching.scoring import score
from matching.types import MatchScore
from mpi import near_misses
from mpi.config import Settings
from mpi.links import (
    SAFETY_FLAGS,
    UNIQUE_ONLY_FLAGS,
    Decision,
    PersonMatch,
    Thresholds,
    decide,
    person_flags,
)
from mpi.models import StoredRecord

__all__ = [
    "CandidateSet",
    "LinkMove",
    "LinkPlan",
    "MatchContext",
    "Merge",
    "NewPerson",
    "Outcome",
    "Probe",
    "RecordUpdated",
    "ReviewClosure",
    "ReviewOpen",
    "Step",
    "explanation",
    "match_person",
    "plan",
]


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What matching needs besides the data: model, thresholds and limits."""

    model: MatchModel
    thresholds: Thresholds
    allow_test_nhs_numbers: bool = True
    blocking_cap: int = 200

    @classmethod
    def build(cls, settings: Settings, model: MatchModel) -> MatchContext:
        """Combine settings with a model; settings' thresholds override the model's."""
        link = settings.link_threshold or model.thresholds["link"]
        review = settings.review_threshold or model.thresholds["review"]
        return cls(
            model=model,
            thresholds=Thresholds(link=link, review=min(review, link)),
            allow_test_nhs_numbers=settings.allow_test_nhs_numbers,
            blocking_cap=settings.blocking_cap,
        )


# --- input -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One record of the batch to match, as stored.

    Attributes:
        record_id: the stored record.
        local_id: its local ID (for the results).
        outcome: what storing it did: ``inserted``, ``updated`` or ``unchanged``. An
            unchanged record that is linked keeps its link (it is not matched again).
        changed: whether a system sent new data for it (an update): a ``record_updated``
            event, and its open review items are superseded before it is matched again (a
            relink re-matches records as updated without either).
    """

    record_id: int
    local_id: str
    outcome: str
    changed: bool = False


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """What the store knows about a batch and its candidates, read once.

    Attributes:
        candidates: for each batch record, the records sharing an uncapped blocking key.
        records: the batch records, the candidates and every other active record of their
            persons, each with its current link.
        no_match: for each of those records, the records asserted to be another person.
        enterprise_ids: the enterprise ID of persons the records are linked to (those the
            read gave; :func:`mpi.store.persons.apply` reads any others).
        frequencies: name and postcode frequencies for term-frequency adjustment.
    """

    candidates: Mapping[int, set[int]]
    records: Mapping[int, StoredRecord]
    no_match: Mapping[int, set[int]] = field(default_factory=dict)
    enterprise_ids: Mapping[int, str] = field(default_factory=dict)
    frequencies: TermFrequencies | None = None


# --- output ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordUpdated:
    """A system sent new data for a record (a ``record_updated`` event)."""

    record_id: int
    person_id: int | None


@dataclass(frozen=True, slots=True)
class NewPerson:
    """A person to create for ``record_id``: ``person_id`` is temporary (< 0, given an ID
    from the sequence when written) or already reserved
    (:func:`mpi.store.persons.reserve_person_ids`)."""

    person_id: int
    record_id: int


@dataclass(frozen=True, slots=True)
class LinkMove:
    """A record's link set to ``person_id``, from ``previous_person_id``.

    When the two are equal the link is only rewritten (score, model, who); otherwise the
    move is also written to link history (``reason``) with its identity event.
    """

    record_id: int
    person_id: int
    previous_person_id: int | None
    method: str
    probability: float | None
    weight: float | None
    model_version: str | None
    linked_by: str
    reason: str

    @property
    def changes_person(self) -> bool:
        """Whether the record changes person (history and an event), not only its link."""
        return self.person_id != self.previous_person_id


@dataclass(frozen=True, slots=True)
class Merge:
    """``gone`` is left without records and becomes a pointer to ``into``."""

    gone: int
    into: int
    why: str


@dataclass(frozen=True, slots=True)
class ReviewOpen:
    """A review item to open (or refresh, if open for the pair), with its event.

    ``person_id`` is the person the record is linked to after the plan.
    """

    record_id: int
    candidate_person_id: int
    candidate_record_id: int | None
    probability: float
    weight: float
    reason: str
    explanation: list[dict[str, Any]]
    person_id: int


Step = RecordUpdated | NewPerson | LinkMove | Merge | ReviewOpen


@dataclass(frozen=True, slots=True)
class ReviewClosure:
    """Open review items kept meaningful after the moves (written after them).

    Items whose candidate person merged point at the survivor (duplicates superseded);
    items of ``records`` or with a candidate among the survivors, whose record now lies in
    the candidate person, are superseded. Migration 0080's triggers close most such items
    as links change; this also covers items opened on a person merged in the same write.
    """

    records: tuple[int, ...] = ()
    merges: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the plan does with one batch record (``person_id`` may be temporary)."""

    record_id: int
    local_id: str
    decision: str
    person_id: int
    score: MatchScore | None = None
    scored_person_id: int | None = None
    candidate_person_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """Everything a batch changes, in the order it is written.

    Attributes:
        steps: persons created, link moves, merges, review items and update events, in
            order; :func:`mpi.store.persons.apply` writes each with the rows it implies.
        superseded: records whose open review items are superseded before the plan's
            items open (their data changed, so matching ran again).
        resolved: review items closed after the moves (:class:`ReviewClosure`).
        outcomes: one per batch record, in batch order (none for a reviewer's plan).
        enterprise_ids: enterprise IDs already known for persons of the plan.
        actor: who makes the changes: link history, events and closures name it (a
            move's ``linked_by`` may differ: an undo restores a link as it was).
    """

    steps: tuple[Step, ...]
    superseded: tuple[int, ...] = ()
    resolved: ReviewClosure = field(default_factory=ReviewClosure)
    outcomes: tuple[Outcome, ...] = ()
    enterprise_ids: Mapping[int, str] = field(default_factory=dict)
    actor: str = "system"
    near_misses: tuple[tuple[int, int, float], ...] = ()  # for the dashboard (reviewui)

    def of(self, kind: type[Any]) -> list[Any]:
        """The steps of one kind, in order."""
        return [s for s in self.steps if isinstance(s, kind)]

    @property
    def moves(self) -> list[LinkMove]:
        """The link moves, in order."""
        return self.of(LinkMove)

    @property
    def merges(self) -> list[Merge]:
        """The merges, in order."""
        return self.of(Merge)

    @property
    def new_persons(self) -> list[NewPerson]:
        """The persons to create, in order."""
        return self.of(NewPerson)

    @property
    def reviews(self) -> list[ReviewOpen]:
        """The review items to open, in order."""
        return self.of(ReviewOpen)

    @property
    def persons(self) -> set[int]:
        """Every person the outcomes name (temporary IDs included)."""
        return {
            p
            for o in self.outcomes
            for p in (o.person_id, *o.candidate_person_ids, o.scored_person_id)
            if p is not None
        }


# --- scoring -----------------------------------------------------------------------------


def explanation(result: MatchScore) -> list[dict[str, Any]]:
    """A score's per-field explanation as JSON-ready rows."""
    return [
        {"comparison": f.comparison, "level": f.level, "weight": round(f.weight, 3)}
        for f in result.fields
    ]


def match_person(
    ctx: MatchContext,
    adjuster: TermFrequencies | None,
    probe: StoredRecord,
    person: int,
    members: Sequence[StoredRecord],
) -> PersonMatch:
    """``probe`` scored against every record of ``person`` (``members``, not empty): the
    best-scoring record, and the findings that count person-wide
    (:func:`mpi.links.person_flags`)."""
    scored = [(score(ctx.model, probe.norm, r.norm, adjuster=adjuster), r.id) for r in members]
    best = max(scored, key=lambda s: (s[0].probability, not s[0].flags))
    same_system = any(r.system_id == probe.system_id for r in members)
    flags = person_flags(
        [s for s, _ in scored], ctx.thresholds.review, members=[r.norm for r in members]
    )
    return PersonMatch(person, best[0], best[1], flags, same_system)


def _only_ambiguous(scores: Sequence[MatchScore], review_threshold: float) -> bool:
    """Whether every plausible score needs a unique candidate (no birth date, an initial)."""
    plausible = [s for s in scores if s.probability >= review_threshold]
    return bool(plausible) and all(set(s.flags) & UNIQUE_ONLY_FLAGS for s in plausible)


# --- the planner -------------------------------------------------------------------------


def plan(
    batch: Sequence[Probe],
    candidates: CandidateSet,
    ctx: MatchContext,
    *,
    actor: str = "system",
) -> LinkPlan:
    """Decide every batch record against the candidates and each other, in batch order.

    Each record is scored against every record of each candidate person; the decision is
    :func:`mpi.links.decide`'s. A record linked automatically to a person may bridge into
    it other persons it also links to cleanly. Manual links are kept. Records of the batch
    see the links planned for the records before them.

    Args:
        batch: the records to match, each stored and present in ``candidates.records``.
        candidates: the store's view of them (:func:`mpi.store.records.read_candidates`).
        ctx: model, thresholds and limits.
        actor: who makes the changes (history, events).

    Returns:
        The plan, for :func:`mpi.store.persons.apply`.
    """
    return _Planner(candidates, ctx, actor).run(batch)


class _Planner:
    """The state of one planning: who holds which records as the batch is decided."""

    def __init__(self, candidates: CandidateSet, ctx: MatchContext, actor: str) -> None:
        self.ctx = ctx
        self.actor = actor
        self.view = candidates
        self.records = dict(candidates.records)
        self.no_match = candidates.no_match
        self.adjuster = candidates.frequencies
        self.person_of: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}
        self.manual: set[int] = set()
        for record in self.records.values():
            if record.person is not None:
                self.person_of[record.id] = record.person
                self.members.setdefault(record.person, set()).add(record.id)
                if record.link_method == "manual":
                    self.manual.add(record.id)
        self._next_temp = -1
        self.steps: list[Step] = []
        self.near_misses: list[tuple[int, int, float]] = []

    def run(self, batch: Sequence[Probe]) -> LinkPlan:
        outcomes = []
        for probe in batch:
            current = self.person_of.get(probe.record_id)
            if probe.outcome == "unchanged" and current is not None:
                outcomes.append(Outcome(probe.record_id, probe.local_id, "unchanged", current))
                continue
            if probe.changed:
                self.steps.append(RecordUpdated(probe.record_id, current))
            outcomes.append(
                self._match(
                    probe,
                    self.view.candidates.get(probe.record_id, set()),
                    self.no_match.get(probe.record_id, set()),
                )
            )
        moved = tuple(
            s.record_id
            for s in self.steps
            if isinstance(s, LinkMove) and s.previous_person_id is not None and s.changes_person
        )
        merges = tuple((s.gone, s.into) for s in self.steps if isinstance(s, Merge))
        return LinkPlan(
            superseded=tuple(p.record_id for p in batch if p.changed),
            steps=tuple(self.steps),
            resolved=ReviewClosure(moved, merges),
            outcomes=tuple(outcomes),
            enterprise_ids=dict(self.view.enterprise_ids),
            actor=self.actor,
            near_misses=tuple(self.near_misses),
        )

    def _score_persons(
        self, probe: StoredRecord, candidate_ids: Iterable[int], exclude: set[int]
    ) -> list[PersonMatch]:
        persons = {self.person_of[c] for c in candidate_ids if c in self.person_of}
        current = self.person_of.get(probe.id)
        if current is not None and len(self.members[current]) > 1:
            persons.add(current)
        matches = []
        for person in persons:
            members = self.members[person] - {probe.id}
            if not members or members & exclude:
                continue
            records = [self.records[m] for m in members]
            matches.append(match_person(self.ctx, self.adjuster, probe, person, records))
        return matches

    def _match(self, probe_: Probe, candidate_ids: set[int], exclude: set[int]) -> Outcome:
        record_id = probe_.record_id
        probe = self.records[record_id]
        current = self.person_of.get(record_id)
        if record_id in self.manual and current is not None:
            return Outcome(record_id, probe_.local_id, "kept_manual", current)
        matches = self._score_persons(probe, candidate_ids, exclude)
        decision = decide(matches, self.ctx.thresholds, probe_issues=probe.norm.issues)
        near_misses.collect(
            self.near_misses, record_id, matches, decision, self.ctx.thresholds.review
        )
        person, outcome = self._decide(probe, current, decision)
        bridged: set[int] = set()
        if decision.action == "link":
            bridged = self._bridge(person, decision, matches)
        for match, reason in decision.review:
            if match.person in bridged:
                continue
            self.steps.append(
                ReviewOpen(
                    record_id=record_id,
                    candidate_person_id=match.person,
                    candidate_record_id=match.record_id,
                    probability=match.score.probability,
                    weight=match.score.weight,
                    reason=reason,
                    explanation=explanation(match.score),
                    person_id=person,
                )
            )
        return Outcome(
            record_id,
            probe_.local_id,
            outcome,
            person,
            decision.match.score if decision.match else None,
            decision.match.person if decision.match else None,
            tuple(m.person for m, _ in decision.review if m.person not in bridged),
        )

    def _bridge(self, target: int, decision: Decision, matches: list[PersonMatch]) -> set[int]:
        """Merge into ``target`` the other identities the record also links to cleanly.

        A record that qualifies for an automatic link to two identities shows they are one
        person (split earlier, when the evidence between them was too thin). They are
        merged only when no pair of their records raises a safety finding (other than
        ``weak_evidence``, which is why they were apart), no no-match assertion separates
        them and no record of either was linked by hand.
        """
        merged: set[int] = set()
        for other in matches:
            person = other.person
            if (
                other is decision.match
                or person == target
                or other.score.probability < self.ctx.thresholds.link
                or other.flags & SAFETY_FLAGS
            ):
                continue
            ours, theirs = self.members[target], self.members.get(person, set())
            if not theirs or (ours | theirs) & self.manual:
                continue
            if any(self.no_match.get(r, set()) & ours for r in theirs):
                continue
            if not self._compatible(ours, theirs):
                continue
            for record_id in sorted(theirs):
                self._link(record_id, target, other.score, person, reason="bridged")
            merged.add(person)
        return merged

    def _compatible(self, ours: set[int], theirs: set[int]) -> bool:
        """Every record of ``theirs`` could link to ``ours`` (bar weak evidence).

        Findings count as for one record against a person (:func:`mpi.links.person_flags`):
        a conflict from any pair, a twin risk only when no record of ``ours`` agrees. So
        the merge is what the records would give in any order of arrival. A record that
        agrees with ``ours`` only without a birth date or through an initial is never
        merged this way: it links only on its own, when it is unambiguous.
        """
        ordered = sorted(ours)
        members = [self.records[a].norm for a in ordered]
        for b in theirs:
            scores = [
                score(
                    self.ctx.model,
                    self.records[b].norm,
                    self.records[a].norm,
                    adjuster=self.adjuster,
                )
                for a in ordered
            ]
            flags = person_flags(scores, self.ctx.thresholds.review, members=members)
            if flags & (SAFETY_FLAGS - {Finding.WEAK_EVIDENCE}) or _only_ambiguous(
                scores, self.ctx.thresholds.review
            ):
                return False
        return True

    def _decide(
        self, probe: StoredRecord, current: int | None, decision: Decision
    ) -> tuple[int, str]:
        target = decision.person
        score_ = decision.match.score if decision.action == "link" and decision.match else None
        if target is None:
            if current is not None and self.members[current] == {probe.id}:
                target = current  # alone in its identity: it keeps it
            else:
                target = self._new_person(probe.id)
        outcome = "review" if decision.review else "new_person"
        if decision.action == "link":
            outcome = "linked"
        if target == current:
            outcome = "kept" if outcome == "new_person" else outcome
            self._link(probe.id, target, score_, current, reason="re-evaluated")
            return target, outcome if outcome != "linked" else "kept"
        self._link(probe.id, target, score_, current, reason="matched")
        return target, outcome

    def _new_person(self, record_id: int) -> int:
        temp = self._next_temp
        self._next_temp -= 1
        self.members[temp] = set()
        self.steps.append(NewPerson(temp, record_id))
        return temp

    def _link(
        self,
        record_id: int,
        person: int,
        result: MatchScore | None,
        previous: int | None,
        *,
        reason: str,
    ) -> None:
        self.steps.append(
            LinkMove(
                record_id=record_id,
                person_id=person,
                previous_person_id=previous,
                method="auto",
                probability=result.probability if result else None,
                weight=result.weight if result else None,
                model_version=self.ctx.model.version,
                linked_by=self.actor,
                reason=reason,
            )
        )
        if previous is not None:
            self.members[previous].discard(record_id)
        self.members.setdefault(person, set()).add(record_id)
        self.person_of[record_id] = person
        if previous is not None and previous != person and not self.members[previous]:
            self.steps.append(Merge(previous, person, "its last record moved"))
