"""Write-back of the Spark relink: decided groups applied through the store, in batches.

Each batch of groups is one transaction holding the matching lock
(:func:`mpi.store.records.lock_for_batch`): the groups' plans, joined into one (their
new persons kept apart), are written by the store's one ``apply``
(:func:`mpi.store.persons.apply`: new persons, links, link history, merges, review
items, identity events, and the review items the moves resolved), then the items the
model no longer finds uncertain are closed, as the in-database relink does.

A group is written only if every record of it still has the link the batch read (the
export is a snapshot, the service may have changed links since); a group that changed
is left alone and counted as a conflict, for the next relink.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import psycopg

from mpi.linking.plan import LinkPlan, ReviewClosure
from mpi.spark.decide import GroupResult
from mpi.store import batch as batch_store
from mpi.store import models as model_store
from mpi.store import persons as person_store
from mpi.store import records as record_store

__all__ = ["apply_groups"]


def _unchanged(result: GroupResult, now: dict[int, Any]) -> bool:
    """The group's records are still linked as they were when the relink read them."""
    return all(now.get(r, (None, None))[0] == p for r, p in result.before.items())


_PERSON_FIELDS = frozenset({"person_id", "previous_person_id", "candidate_person_id"})


def _renumbered(step: Any, offset: int) -> Any:
    """A plan's step with its temporary persons (< 0) moved down by ``offset``."""
    changes = {
        f.name: getattr(step, f.name) - offset
        for f in dataclasses.fields(step)
        if f.name in _PERSON_FIELDS | {"gone", "into"}
        and isinstance(getattr(step, f.name), int)
        and getattr(step, f.name) < 0
    }
    return replace(step, **changes) if changes else step


def _one_plan(plans: Sequence[Any], actor: str) -> Any:
    """The plans of disjoint groups as one plan (temporary persons kept apart), so that a
    batch is written set-based by one ``apply``."""
    steps: list[Any] = []
    moved: list[int] = []
    merges: list[tuple[int, int]] = []
    offset = 0
    for p in plans:
        steps += [_renumbered(s, offset) for s in p.steps]
        moved += p.resolved.records
        merges += [
            (a - offset if a < 0 else a, b - offset if b < 0 else b) for a, b in p.resolved.merges
        ]
        offset += len(p.new_persons)
    return LinkPlan(
        superseded=(),
        steps=tuple(steps),
        resolved=ReviewClosure(tuple(moved), tuple(merges)),
        outcomes=(),
        actor=actor,
    )


def apply_groups(
    conn: psycopg.Connection[Any], groups: Sequence[tuple[int, GroupResult]], actor: str
) -> int:
    """Apply decided groups in one transaction; returns the records of groups skipped
    because their links changed since the read."""
    with conn.transaction():
        record_store.lock_for_batch(conn)
        ids = [r for _, result in groups for r in result.before]
        now = batch_store.links_of(conn, ids)
        todo = [(g, res) for g, res in groups if _unchanged(res, now)]
        skipped = len(ids) - sum(len(res.before) for _, res in todo)
        if todo:
            person_store.apply(conn, _one_plan([res.plan for _, res in todo], actor))
            model_store.close_review_items(conn, [i for _, res in todo for i in res.close], actor)
    return skipped
