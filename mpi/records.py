"""Register, update and bulk-load source records, with matching, in one transaction.

``register`` and ``load`` share one engine (:class:`_Linker`): normalise, store the record
and its blocking keys, find candidates that share any key, score the record against every
record of each candidate person, decide (``mpi.links``) and write links, history, review
items and identity events.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from matching.blocking import blocking_keys
from matching.errors import InvalidDemographics
from matching.frequencies import TermFrequencies
from matching.model import MatchModel
from matching.normalise import normalise
from matching.scoring import score
from matching.types import Demographics, MatchScore
from mpi import near_misses
from mpi.config import Settings
from mpi.errors import FieldProblem, InvalidInput
from mpi.links import (
    SAFETY_FLAGS,
    UNIQUE_ONLY_FLAGS,
    Decision,
    PersonMatch,
    Thresholds,
    decide,
    new_enterprise_id,
    person_flags,
)
from mpi.models import RegisterResult, SourceSystem, StoredRecord
from mpi.store import decisions as decision_store
from mpi.store import events as event_store
from mpi.store import persons as person_store
from mpi.store import records as record_store
from mpi.store import review as review_store
from mpi.store.events import EventRow
from mpi.store.persons import HistoryRow, LinkRow
from mpi.store.records import RecordRow
from mpi.store.review import ReviewRow

log = logging.getLogger(__name__)


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
    system, upserted, view = record_store.store_and_view(conn, system_code, row, ctx.blocking_cap)
    changed = upserted.outcome != "unchanged"
    keys = {upserted.record_id: row.keys} if changed else {}
    updated = {upserted.record_id} if upserted.outcome == "updated" else set()
    return _Linker(conn, ctx, actor).run(system, [upserted], updated, keys, view=view)[0]


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
    inserted = [u.record_id for u in changed if u.outcome == "inserted"]
    updated = [u.record_id for u in changed if u.outcome == "updated"]
    pending: list[int] = []  # records without key rows yet: indexed while the batch matches
    if len(upserted) <= person_store.SMALL:  # read back in one statement: index the keys now
        record_store.replace_blocking_keys(
            conn, [u.record_id for u in changed], new_records=inserted
        )
    else:  # a batch finds its own keys in memory and indexes them while it matches
        record_store.delete_blocking_keys(conn, updated)
        pending = [u.record_id for u in changed]
    keys = {u.record_id: last[u.local_id].keys for u in changed}
    review_store.supersede_for_records(conn, updated)
    linker = _Linker(conn, ctx, actor, name_counts)
    results = linker.run(system, upserted, set(updated), keys, pending=pending)
    by_local = {r.local_id: r for r in results}
    return [by_local[row.local_id] for row in rows]


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


class _Linker:
    """Matches a batch of stored records against the store and each other, then writes."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        ctx: MatchContext,
        actor: str,
        name_counts: NameCounts | None = None,
    ) -> None:
        self.conn = conn
        self.name_counts = name_counts or NameCounts()
        self.ctx = ctx
        self.actor = actor
        self.records: dict[int, StoredRecord] = {}
        self.person_of: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}
        self.manual: set[int] = set()
        self._next_temp = -1
        self.new_persons: list[int] = []
        self.links: dict[int, LinkRow] = {}
        self.history: list[HistoryRow] = []
        self.events: list[EventRow] = []
        self.reviews: list[ReviewRow] = []
        self.merged: list[tuple[int, int]] = []
        self.adjuster: TermFrequencies | None = None
        self.no_match: dict[int, set[int]] = {}
        self.enterprise_ids: dict[int, str] = {}
        self.near_misses: list[tuple[int, int, float]] = []  # for the dashboard (reviewui)

    def _remember(self, record: StoredRecord) -> None:
        self.records[record.id] = record
        if record.person is not None:
            self.person_of[record.id] = record.person
            self.members.setdefault(record.person, set()).add(record.id)
            if record.link_method == "manual":
                self.manual.add(record.id)

    def run(
        self,
        system: SourceSystem,
        upserted: Sequence[record_store.Upserted],
        updated: set[int],
        keys: dict[int, frozenset[str]],
        *,
        view: record_store.MatchView | None = None,
        pending: Sequence[int] = (),
    ) -> list[RegisterResult]:
        """Match and write; ``view`` is the matching read if the caller already made it."""
        counts: record_store.TermCounts | None = None
        if view is not None or len(upserted) <= person_store.SMALL:  # one statement
            if view is None:
                # every record is read, also an unchanged one (it has no keys to search)
                probes = {u.record_id: keys.get(u.record_id, frozenset()) for u in upserted}
                view = record_store.match_view(self.conn, probes, self.ctx.blocking_cap)
            candidates, self.no_match = view.candidates, view.no_match
            counts, self.enterprise_ids = view.counts, view.enterprise_ids
            for record in view.records:
                self._remember(record)
        else:  # a batch: for thousands of records, separate statements are quicker
            all_ids = [u.record_id for u in upserted]
            candidates = record_store.candidate_pairs(
                self.conn, keys, self.ctx.blocking_cap, pending=pending
            )
            wanted = set(all_ids).union(*candidates.values())
            first = record_store.records_for_matching(self.conn, wanted)
            persons = {r.person for r in first if r.person is not None}
            known = [r.id for r in first]
            more = record_store.person_records_for_matching(self.conn, persons, known)
            for record in first + more:
                self._remember(record)
            self.no_match = record_store.no_match_partners(self.conn, list(self.records))
        inserted = [self.records[u.record_id] for u in upserted if u.outcome == "inserted"]
        self.adjuster = self.name_counts.frequencies(
            self.conn, self.ctx.model, self.records.values(), new=inserted, counts=counts
        )
        outcomes: dict[int, tuple[str, int, MatchScore | None, tuple[int, ...], int | None]] = {}
        # a batch's key rows are written by the server while its records are scored here
        with self.conn.pipeline() if pending else contextlib.nullcontext():
            record_store.insert_blocking_keys(self.conn, pending)
            for u in upserted:
                if u.outcome == "unchanged" and u.record_id in self.person_of:
                    outcomes[u.record_id] = (
                        "unchanged",
                        self.person_of[u.record_id],
                        None,
                        (),
                        None,
                    )
                    continue
                if u.record_id in updated:
                    self.events.append(
                        EventRow(
                            "record_updated",
                            self.person_of.get(u.record_id),
                            u.record_id,
                            actor=self.actor,
                        )
                    )
                outcomes[u.record_id] = self._match(
                    u.record_id,
                    candidates.get(u.record_id, set()),
                    self.no_match.get(u.record_id, set()),
                )
        mapping, names = self._flush(
            {
                p
                for (_, p, _, c, s) in outcomes.values()
                for p in (p, *c, *([s] if s is not None else []))
            }
        )
        self._close_resolved(mapping)
        near_misses.write(self.conn, self.near_misses)
        results = []
        for u in upserted:
            decision, person, best, cands, scored = outcomes[u.record_id]
            record = self.records[u.record_id]
            results.append(
                RegisterResult(
                    system=system.code,
                    local_id=u.local_id,
                    record_id=u.record_id,
                    person_id=names[mapping.get(person, person)],
                    decision=decision,
                    score=best,
                    scored_person_id=names[mapping.get(scored, scored)]
                    if scored is not None
                    else None,
                    candidate_person_ids=tuple(names[mapping.get(c, c)] for c in cands),
                    issues=record.norm.issues,
                )
            )
        return results

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

    def _match(
        self, record_id: int, candidate_ids: set[int], exclude: set[int]
    ) -> tuple[str, int, MatchScore | None, tuple[int, ...], int | None]:
        probe = self.records[record_id]
        current = self.person_of.get(record_id)
        if record_id in self.manual and current is not None:
            return ("kept_manual", current, None, (), None)
        matches = self._score_persons(probe, candidate_ids, exclude)
        decision = decide(matches, self.ctx.thresholds, probe_issues=probe.norm.issues)
        near_misses.collect(
            self.near_misses, record_id, matches, decision, self.ctx.thresholds.review
        )
        person, outcome = self._apply(probe, current, decision)
        bridged: set[int] = set()
        if decision.action == "link":
            bridged = self._bridge(person, decision, matches)
        for match, reason in decision.review:
            if match.person in bridged:
                continue
            self.reviews.append(
                ReviewRow(
                    record_id=record_id,
                    candidate_person_id=match.person,
                    candidate_record_id=match.record_id,
                    probability=match.score.probability,
                    weight=match.score.weight,
                    reason=reason,
                    explanation=explanation(match.score),
                )
            )
            self.events.append(
                EventRow(
                    "review_opened",
                    match.person,
                    record_id,
                    other_person_id=person,
                    detail={"reason": reason, "probability": match.score.probability},
                    actor=self.actor,
                )
            )
        best = decision.match.score if decision.match else None
        scored = decision.match.person if decision.match else None
        review = tuple(m.person for m, _ in decision.review if m.person not in bridged)
        return (outcome, person, best, review, scored)

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
            if flags & (SAFETY_FLAGS - {"weak_evidence"}) or _only_ambiguous(
                scores, self.ctx.thresholds.review
            ):
                return False
        return True

    def _apply(
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
            self._link(probe.id, target, score_, None, reason="re-evaluated", history=False)
            return target, outcome if outcome != "linked" else "kept"
        self._link(probe.id, target, score_, current, reason="matched")
        return target, outcome

    def _new_person(self, record_id: int) -> int:
        temp = self._next_temp
        self._next_temp -= 1
        self.new_persons.append(temp)
        self.members[temp] = set()
        self.events.append(EventRow("person_created", temp, record_id, actor=self.actor))
        return temp

    def _link(
        self,
        record_id: int,
        person: int,
        result: MatchScore | None,
        previous: int | None,
        *,
        reason: str,
        history: bool = True,
    ) -> None:
        self.links[record_id] = LinkRow(
            record_id=record_id,
            person_id=person,
            method="auto",
            probability=result.probability if result else None,
            weight=result.weight if result else None,
            model_version=self.ctx.model.version,
            linked_by=self.actor,
        )
        if previous is not None:
            self.members[previous].discard(record_id)
        self.members.setdefault(person, set()).add(record_id)
        self.person_of[record_id] = person
        if not history:
            return
        self.history.append(
            HistoryRow(
                record_id,
                person,
                previous,
                "auto",
                result.probability if result else None,
                reason,
                self.actor,
            )
        )
        if previous is None:
            self.events.append(EventRow("record_linked", person, record_id, actor=self.actor))
            return
        self.events.append(
            EventRow("record_moved", person, record_id, other_person_id=previous, actor=self.actor)
        )
        if not self.members[previous]:
            self.merged.append((previous, person))
            self.events.append(
                EventRow(
                    "persons_merged",
                    person,
                    None,
                    other_person_id=previous,
                    detail={"why": "its last record moved"},
                    actor=self.actor,
                )
            )

    def _flush(self, persons: Iterable[int]) -> tuple[dict[int, int], dict[int, str]]:
        """Write everything, replacing temporary person IDs with reserved ones.

        Returns the reserved ID of each temporary one, and the enterprise IDs of
        ``persons`` (internal or temporary IDs). A registration's few rows are written in
        one statement (:func:`mpi.store.persons.write_all`, which gives the new persons
        their IDs: none are returned) or, when it cannot, one pipeline; a batch's many rows
        with COPY.
        """
        rows = (self.new_persons, self.links, self.history, self.events)
        small = max(len(r) for r in rows) <= person_store.SMALL
        if small:
            names = {temp: new_enterprise_id() for temp in self.new_persons}
            if person_store.write_all(
                self.conn,
                list(names.items()),
                list(self.links.values()),
                self.history,
                self.merged,
                self.reviews,
                self.events,
            ):
                names.update(self._enterprise_ids(set(persons) - names.keys()))
                return {}, names
        reserved = person_store.reserve_person_ids(self.conn, len(self.new_persons))
        mapping = dict(zip(self.new_persons, reserved, strict=True))
        m: Callable[[int | None], int | None] = lambda p: mapping.get(p, p) if p else p  # noqa: E731
        names = {pk: new_enterprise_id() for pk in reserved}
        wanted = {mapping.get(p, p) for p in persons} - names.keys()
        with self.conn.pipeline() if small else contextlib.nullcontext():
            person_store.insert_persons(self.conn, list(names.items()))
            person_store.write_links(
                self.conn,
                [
                    replace(lk, person_id=mapping[lk.person_id]) if lk.person_id < 0 else lk
                    for lk in self.links.values()
                ],
            )
            person_store.write_history(
                self.conn,
                [
                    replace(h, person_id=m(h.person_id), previous_person_id=m(h.previous_person_id))
                    if _temporary(h.person_id, h.previous_person_id)
                    else h
                    for h in self.history
                ],
            )
            for gone, into in self.merged:
                person_store.mark_merged(
                    self.conn, mapping.get(gone, gone), mapping.get(into, into)
                )
            review_store.open_items(
                self.conn,
                [
                    replace(
                        r,
                        candidate_person_id=mapping.get(
                            r.candidate_person_id, r.candidate_person_id
                        ),
                    )
                    for r in self.reviews
                ],
            )
            event_store.append(
                self.conn,
                [
                    replace(e, person_id=m(e.person_id), other_person_id=m(e.other_person_id))
                    if _temporary(e.person_id, e.other_person_id)
                    else e
                    for e in self.events
                ],
            )
            names.update(self._enterprise_ids(wanted))
        return mapping, names

    def _close_resolved(self, mapping: dict[int, int]) -> None:
        """Keep the open review items meaningful after this work's link moves and merges.

        An item whose candidate person was merged now points at the survivor; an item whose
        record now lies in its candidate person (moved there by a bridge or a merge) is
        superseded, as a reviewer's merge would leave it. Without this a bulk load that
        bridged two identities left items that ``mpi db check`` reports as stale.
        """
        moved = [h.record_id for h in self.history if h.previous_person_id is not None]
        if not moved and not self.merged:
            return
        survivors = []
        for gone, into in self.merged:
            gone, into = mapping.get(gone, gone), mapping.get(into, into)
            decision_store.retarget_items(self.conn, gone, into, self.actor)
            survivors.append(into)
        review_store.supersede_resolved(self.conn, moved, survivors, self.actor)

    def _enterprise_ids(self, persons: set[int]) -> dict[int, str]:
        """The enterprise IDs of these stored persons: those the matching read gave, the
        others read now."""
        known = self.enterprise_ids
        names = {p: known[p] for p in persons & known.keys()}
        names.update(person_store.enterprise_ids(self.conn, sorted(persons - known.keys())))
        return names


def _temporary(*persons: int | None) -> bool:
    """Whether any of these person IDs is a temporary one (a person not yet inserted)."""
    return any(p is not None and p < 0 for p in persons)


def _only_ambiguous(scores: Sequence[MatchScore], review_threshold: float) -> bool:
    """Whether every plausible score needs a unique candidate (no birth date, an initial)."""
    plausible = [s for s in scores if s.probability >= review_threshold]
    return bool(plausible) and all(set(s.flags) & UNIQUE_ONLY_FLAGS for s in plausible)


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


def explanation(result: MatchScore) -> list[dict[str, Any]]:
    """A score's per-field explanation as JSON-ready rows."""
    return [
        {"comparison": f.comparison, "level": f.level, "weight": round(f.weight, 3)}
        for f in result.fields
    ]


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

    system = record_store.lock_for_register(conn, system_code, local_id, ())
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
) -> tuple[list[RegisterResult], set[tuple[int, int]]]:
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
        What happened to each record, and the ``(record_id, candidate_person_id)`` of every
        review item opened or refreshed (existing persons only).
    """
    upserted = [record_store.Upserted(pk, local, "updated") for pk, local in records]
    keys = record_store.stored_keys(conn, [pk for pk, _ in records])
    linker = _Linker(conn, ctx, actor)
    results = linker.run(system, upserted, set(), keys)
    reviewed = {(r.record_id, r.candidate_person_id) for r in linker.reviews}
    return results, {(rec, person) for rec, person in reviewed if person > 0}
