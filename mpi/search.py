"""Finding the identities that match some demographics, without registering anything.

Used by demographic search and FHIR ``$match``: the query is normalised and blocked like
a record, then scored against every record of each candidate person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from matching.blocking import blocking_keys
from matching.types import Demographics, MatchScore
from mpi.errors import FieldProblem, InvalidInput
from mpi.links import decide
from mpi.models import StoredRecord
from mpi.records import MatchContext, match_person, term_frequencies
from mpi.store import persons as person_store
from mpi.store import records as record_store

#: The most candidates a search returns: its whole result, which the access rules judge
#: (a single certain match) before a page size leaves any out.
SEARCH_CANDIDATES = 50


@dataclass(frozen=True, slots=True)
class Candidate:
    """An identity that matches a query, with its best-scoring record.

    ``grade`` follows FHIR's match-grade: ``certain`` (the person the linker would link the
    query to: at or above the link threshold, no safety finding, not ambiguous), ``probable``
    (at or above the review threshold), ``possible``.
    """

    person_id: str
    person_pk: int
    score: MatchScore
    record_id: int
    grade: str


def find_matches(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    demographics: Demographics,
    *,
    limit: int = 10,
    minimum: float = 0.05,
) -> list[Candidate]:
    """Identities matching ``demographics``, most likely first.

    Args:
        conn: the connection.
        ctx: model and thresholds.
        demographics: the query (a partial Patient is fine).
        limit: the most candidates to return.
        minimum: candidates below this probability are left out.

    Returns:
        Up to ``limit`` candidates, best first.

    Raises:
        InvalidInput: the query cannot be normalised, or has nothing to block on.
    """
    from matching.errors import InvalidDemographics
    from matching.normalise import normalise

    try:
        norm = normalise(demographics, allow_test_nhs_numbers=ctx.allow_test_nhs_numbers)
    except InvalidDemographics as exc:
        raise InvalidInput([FieldProblem(p.field, p.reason) for p in exc.problems]) from exc
    keys = blocking_keys(norm)
    if not keys:
        raise InvalidInput.single(
            "demographics",
            "give at least an NHS number, or a date of birth with a name, or a postcode",
        )
    ids = record_store.records_sharing_keys(conn, keys, ctx.blocking_cap)
    first = record_store.stored_records(conn, ids)
    persons = {r.person for r in first if r.person is not None}
    by_person: dict[int, list[Any]] = {}
    for record in record_store.records_of_persons(conn, persons):
        assert record.person is not None
        by_person.setdefault(record.person, []).append(record)
    probe = StoredRecord(0, 0, "", "", norm)
    adjuster = term_frequencies(
        conn, ctx.model, [probe] + [r for v in by_person.values() for r in v]
    )
    # the linker's own scoring and decision: "certain" is the one person the linker would
    # link this record to, never a second one that also scores high (Alice beside Alison)
    matches = [match_person(ctx, adjuster, probe, p, rs) for p, rs in by_person.items()]
    chosen = decide(matches, ctx.thresholds).person
    found = sorted(
        (m for m in matches if m.score.probability >= minimum),
        key=lambda m: (-m.score.probability, m.person),  # ties in a stable order (paging)
    )[:limit]
    names = person_store.enterprise_ids(conn, [m.person for m in found])
    result = []
    for m in found:
        if m.person == chosen:
            grade = "certain"
        elif m.score.probability >= ctx.thresholds.review:
            grade = "probable"
        else:
            grade = "possible"
        result.append(Candidate(names[m.person], m.person, m.score, m.record_id, grade))
    return result
