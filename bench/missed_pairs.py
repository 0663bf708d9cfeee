"""Missed true pairs of a loaded index, by cause: why two records of one person are apart.

For every true person split over several identities, each record of one identity is
matched again against the final index as if it arrived now (the same candidate search,
scoring, person-level findings and decision as ``mpi.records``, with name frequencies
and the prior of the final index). For each pair of identities the record that comes
closest to linking decides the cause, and the cause counts the missed pairs
(records of the person in one identity x records in the other):

- ``would link now``: the decision links it today (an arrival-order effect: the record
  that bridges the two came later, or both arrived in one batch);
- a safety finding (``nhs_number_conflict``, ``twin_risk``, ``weak_evidence``, ...) on
  the best-scoring pair itself;
- ``person-level: <finding>``: the best pair is clean but another record of the
  identity raises the finding (conflicts count from any record);
- ``unique only: <flag>``: no birth date or an initial, and another identity is also
  plausible;
- ``no shared blocking key``: no finding, but no record of the other identity shares a
  key, so they were never compared;
- ``below link threshold``: no finding, probability under the link threshold;
- ``bridge blocked: <finding>``: it links cleanly to both identities, but a record of
  one raises the finding against the other (counted as for one record against a person),
  or agrees with it only where a unique candidate is needed, so they are not merged;
- ``links elsewhere``: the decision prefers another identity.

Usage (after ``bench/accuracy.py``, which prints the database and truth file)::

    python bench/missed_pairs.py --database mpi_accuracy --truth /tmp/.../truth.csv

The counts are a diagnosis against the final index, not a replay of the load: name
frequencies, the prior and the identities are those at the end.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from matching.blocking import blocking_keys
from matching.frequencies import TermFrequencies
from matching.scoring import score
from matching.similarity import damerau_levenshtein, jaro_winkler, phonetic
from matching.types import MatchScore, NormalisedRecord
from mpi.config import Settings, load_settings
from mpi.evaluation import read_truth
from mpi.links import (
    SAFETY_FLAGS,
    UNIQUE_ONLY_FLAGS,
    PersonMatch,
    decide,
    is_rival,
    person_flags,
)
from mpi.models import StoredRecord
from mpi.models_registry import active_model
from mpi.records import MatchContext, match_person, term_frequencies
from mpi.store import db
from mpi.store.snapshot import active_records

#: Safety findings in the order a cause is named.
FINDINGS = (
    "nhs_number_conflict",
    "nhs_number_shared_conflict",
    "twin_risk",
    "birth_date_conflict",
    "weak_evidence",
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One record of a split person matched again against the identity it misses."""

    record: StoredRecord
    other: StoredRecord | None
    match: PersonMatch | None
    linked_to: int | None
    rival: bool
    shares_key: bool
    bridge_blocked_by: str | None = None

    def rank(self, link: float) -> tuple[bool, bool, bool, float]:
        if self.match is None:
            return (False, False, False, -1.0)
        clean = not self.match.flags & SAFETY_FLAGS
        p = self.match.score.probability
        return (self.linked_to == self.match.person, clean and p >= link, clean, p)


class Index:
    """The final index in memory: records, identities, blocking keys, frequencies."""

    def __init__(self, records: list[StoredRecord], ctx: MatchContext, adjuster) -> None:
        self.ctx = ctx
        self.adjuster = adjuster
        self.records = {r.id: r for r in records}
        self.members: dict[int, set[int]] = defaultdict(set)
        self.keys: dict[int, frozenset[str]] = {}
        self.holders: dict[str, list[int]] = defaultdict(list)
        for r in records:
            if r.person is not None:
                self.members[r.person].add(r.id)
            keys = blocking_keys(r.norm)
            self.keys[r.id] = keys
            for key in keys:
                self.holders[key].append(r.id)

    def candidates(self, record_id: int) -> set[int]:
        found: set[int] = set()
        for key in self.keys[record_id]:
            holders = self.holders[key]
            if len(holders) <= self.ctx.blocking_cap:
                found.update(holders)
        found.discard(record_id)
        return found

    def score(self, a: StoredRecord, b: StoredRecord) -> MatchScore:
        return score(self.ctx.model, a.norm, b.norm, adjuster=self.adjuster)

    def person_match(self, probe: StoredRecord, person: int) -> PersonMatch | None:
        members = self.members[person] - {probe.id}
        if not members:
            return None
        return match_person(
            self.ctx, self.adjuster, probe, person, [self.records[m] for m in members]
        )

    def attempt(self, probe: StoredRecord, target: int) -> Attempt:
        persons = {self.records[c].person for c in self.candidates(probe.id)}
        persons.discard(None)
        persons.add(probe.person)  # its own identity, without it
        matches: dict[int, PersonMatch] = {}
        for person in persons:
            found = self.person_match(probe, person)  # type: ignore[arg-type]
            if found is not None:
                matches[person] = found  # type: ignore[index]
        shares = target in persons
        target_match = matches.get(target)
        if target_match is None:  # no shared key: scored anyway, to name the cause
            target_match = self.person_match(probe, target)
        ranked = list(matches.values())
        decision = decide(ranked, self.ctx.thresholds, probe_issues=probe.norm.issues)
        dated = probe.norm.birth_date is not None
        rival = target_match is not None and any(
            m.person != target and is_rival(m, self.ctx.thresholds, has_birth_date=dated)
            for m in ranked
        )
        other = self.records[target_match.record_id] if target_match else None
        linked_to = decision.person
        blocked = None
        own = probe.person
        rest = self.members[own] - {probe.id} if own is not None else set()
        if (
            linked_to in (own, target)
            and rest
            and target_match is not None
            and target_match.score.probability >= self.ctx.thresholds.link
            and not target_match.flags & SAFETY_FLAGS
        ):
            # The record links cleanly to this identity and qualifies for its own: the two
            # are merged (bridged) unless a pair across them raises a finding.
            own_match = matches.get(own)  # type: ignore[arg-type]
            if own_match is None or own_match.flags & SAFETY_FLAGS:
                blocked = "own identity flagged"
            elif own_match.score.probability < self.ctx.thresholds.link:
                blocked = "own identity below link threshold"
            else:
                blocked = self.bridge_finding(rest | {probe.id}, self.members[target])
            linked_to = target if blocked is None else own
        return Attempt(probe, other, target_match, linked_to, rival, shares, blocked)

    def bridge_finding(self, ours: set[int], theirs: set[int]) -> str | None:
        """The first finding (bar weak evidence) of a record of ``theirs`` against ``ours``.

        Counted as ``mpi.records`` does before merging two identities: as for one record
        against a person (:func:`mpi.links.person_flags`).
        """
        for b in sorted(theirs):
            scores = [self.score(self.records[b], self.records[a]) for a in sorted(ours)]
            members = [self.records[a].norm for a in sorted(ours)]
            flags = person_flags(scores, self.ctx.thresholds.review, members=members)
            found = flags & (SAFETY_FLAGS - {"weak_evidence"})
            if found:
                return sorted(found)[0]
            plausible = [s for s in scores if s.probability >= self.ctx.thresholds.review]
            if plausible and all(set(s.flags) & UNIQUE_ONLY_FLAGS for s in plausible):
                return "needs a unique candidate"
        return None


def cause(attempt: Attempt, link: float) -> str:
    """The cause of a missed pair, from the attempt that came closest to linking."""
    match = attempt.match
    if match is None:
        return "no shared blocking key"
    if attempt.shares_key and attempt.linked_to == match.person:
        return "would link now"
    pair_flags = set(match.score.flags)
    for finding in FINDINGS:
        if finding in pair_flags:
            return finding
    for finding in FINDINGS:
        if finding in match.flags:
            return f"person-level: {finding}"
    if not attempt.shares_key:
        return "no shared blocking key"
    if match.score.probability < link:
        return "below link threshold"
    unique = sorted(match.flags & UNIQUE_ONLY_FLAGS)
    if unique and attempt.rival:
        return f"unique only: {unique[0]}"
    if attempt.bridge_blocked_by:
        return f"bridge blocked: {attempt.bridge_blocked_by}"
    return "links elsewhere"


def describe(norm: NormalisedRecord) -> str:
    return " | ".join(
        str(x or "-")
        for x in (
            " ".join(norm.given_names),
            norm.family_name,
            norm.birth_date,
            norm.sex,
            norm.postcode,
            norm.address,
            norm.nhs_number,
        )
    )


def given_relation(a: NormalisedRecord, b: NormalisedRecord) -> str:
    """How two first given names differ: a keying slip, a close spelling, or another name."""
    if not a.given_names or not b.given_names:
        return "missing"
    x, y = a.given_names[0], b.given_names[0]
    if x == y:
        return "equal (a middle name differs)"
    distance = damerau_levenshtein(x, y) or 0
    similarity = jaro_winkler(x, y) or 0.0
    if distance <= 2 and similarity >= 0.8:
        return f"close: {distance} edit(s), Jaro-Winkler >= 0.8"
    if distance <= 2:
        return f"short: {distance} edit(s), Jaro-Winkler < 0.8"
    if phonetic(x) == phonetic(y):
        return "same Metaphone, 3+ edits"
    return "different names (3+ edits)"


def analyse(index: Index, truth: dict[tuple[str, str], str]) -> list[tuple[str, int, Attempt]]:
    """Every split (person, identity pair) with its cause, missed pairs and best attempt."""
    link = index.ctx.thresholds.link
    by_person: dict[str, dict[int, list[StoredRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in index.records.values():
        person = truth.get((r.system_code, r.local_id))
        if person is not None and r.person is not None:
            by_person[person][r.person].append(r)
    found = []
    for parts in by_person.values():
        if len(parts) < 2:
            continue
        identities = sorted(parts)
        for i, a in enumerate(identities):
            for b in identities[i + 1 :]:
                attempts = [index.attempt(r, b) for r in parts[a]]
                attempts += [index.attempt(r, a) for r in parts[b]]
                best = max(attempts, key=lambda t: t.rank(link))
                found.append((cause(best, link), len(parts[a]) * len(parts[b]), best))
    return found


def report(found: Iterable[tuple[str, int, Attempt]], link: float, examples: int) -> str:
    found = list(found)
    pairs: Counter[str] = Counter()
    above: Counter[str] = Counter()
    detail: dict[str, Counter[str]] = defaultdict(Counter)
    shown: dict[str, list[Attempt]] = defaultdict(list)
    names: dict[str, Counter[str]] = defaultdict(Counter)
    for name, n, attempt in found:
        pairs[name] += n
        match = attempt.match
        if match is not None and match.score.probability >= link:
            above[name] += n
        if match is not None:
            levels = {f.comparison: f.level for f in match.score.fields}
            detail[name][
                f"given {levels['given_name']}, family {levels['family_name']},"
                f" birth {levels['birth_date']}, postcode {levels['postcode']}"
            ] += n
        if match is not None and "twin_risk" in name and attempt.other is not None:
            names[name][given_relation(attempt.record.norm, attempt.other.norm)] += n
        if len(shown[name]) < examples:
            shown[name].append(attempt)
    total = sum(pairs.values())
    lines = [
        f"missed pairs: {total}",
        "",
        "| pairs | of which p >= link | cause |",
        "| --- | --- | --- |",
    ]
    for name, n in pairs.most_common():
        lines.append(f"| {n} | {above[name]} | {name} |")
    for name, _ in pairs.most_common():
        lines.append(f"\n{name}:")
        for text, n in detail[name].most_common(6):
            lines.append(f"  {n:5d}  {text}")
        for text, n in names[name].most_common():
            lines.append(f"  {n:5d}  first given names {text}")
        for attempt in shown[name]:
            p = attempt.match.score.probability if attempt.match else 0.0
            flags = sorted(attempt.match.flags) if attempt.match else []
            lines.append(f"    p={p:.6f} flags={flags}")
            lines.append(f"      {describe(attempt.record.norm)}")
            if attempt.other is not None:
                lines.append(f"      {describe(attempt.other.norm)}")
    return "\n".join(lines)


def final_index(
    conn: psycopg.Connection[Any], settings: Settings
) -> tuple[MatchContext, list[StoredRecord], TermFrequencies]:
    """The final index's match context, active records and name frequencies (and prior)."""
    model = active_model(conn)
    records = active_records(conn)
    return MatchContext.build(settings, model), records, term_frequencies(conn, model, records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True, help="database name on DATABASE_URL")
    parser.add_argument("--truth", required=True, help="truth CSV: system,local_id,person_id")
    parser.add_argument("--examples", type=int, default=3, help="examples shown per cause")
    args = parser.parse_args()
    settings = load_settings()
    url = psycopg.conninfo.make_conninfo(db.server_url(settings), dbname=args.database)
    with psycopg.connect(url) as conn:
        ctx, records, adjuster = final_index(conn, settings)
    index = Index(records, ctx, adjuster)
    found = analyse(index, read_truth(Path(args.truth)))
    print(report(found, ctx.thresholds.link, args.examples))


if __name__ == "__main__":
    main()
