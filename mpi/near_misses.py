"""Near misses: candidates that scored under the review threshold, kept (their scores
only) so that the dashboard can show what a lower review threshold would send to people.

The linker's pure planning (:mod:`mpi.linking.plan`) calls :func:`collect` for each record
it matches, and :mod:`mpi.records` :func:`write` once with what the plan collected; nothing
here changes a link or a review item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from mpi.links import Decision, PersonMatch

#: The lowest score kept: the lowest review threshold the dashboard's table shows.
FLOOR = 0.05


def collect(
    into: list[tuple[int, int, float]],
    record_id: int,
    matches: Iterable[PersonMatch],
    decision: Decision,
    review_threshold: float,
) -> None:
    """Add to ``into`` the candidates of ``record_id`` that scored from :data:`FLOOR` up to
    under ``review_threshold`` and were neither linked nor queued."""
    taken = {m.person for m, _ in decision.review}
    if decision.person is not None:
        taken.add(decision.person)
    for match in matches:
        p = match.score.probability
        if FLOOR <= p < review_threshold and match.person not in taken:
            into.append((record_id, match.record_id, p))


def write(conn: psycopg.Connection[Any], rows: Sequence[tuple[int, int, float]]) -> None:
    """Keep the collected near misses (the latest score of each pair); none: no statement."""
    if rows:
        from mpi.store import dashboard as dashboard_store  # collect() stays free of I/O

        dashboard_store.keep_near_misses(conn, rows)
