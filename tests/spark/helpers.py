"""Comparing the Spark relink's assignment with the in-database one, and explaining why
they differ."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

import psycopg

from matching.scoring import score
from mpi.links import SAFETY_FLAGS
from mpi.store import records as record_store


def partition(assignment: dict[int, Any]) -> dict[int, frozenset[int]]:
    """Each record's fellow records (its person's records), whatever the person IDs."""
    members: dict[Any, set[int]] = defaultdict(set)
    for record, person in assignment.items():
        members[person].add(record)
    return {r: frozenset(members[p]) for r, p in assignment.items()}


def agreement(a: dict[int, Any], b: dict[int, Any]) -> tuple[float, list[int]]:
    """The share of records with the same fellow records in both, and those without."""
    pa, pb = partition(a), partition(b)
    differ = sorted(r for r in pa if pa[r] != pb.get(r))
    return (1 - len(differ) / len(pa) if pa else 1.0), differ


def unexplained(
    conn: psycopg.Connection[Any],
    ctx: Any,
    before: dict[int, int],
    a: dict[int, Any],
    b: dict[int, Any],
    differ: list[int],
) -> list[list[int]]:
    """The clusters of differing records that no bridge order explains.

    A bridge order: one record links cleanly (at or above the link threshold) to records
    of two other persons whose records conflict with each other (a safety finding, or
    below the link threshold). The record's person takes in whichever of the two the
    engine lists first (``mpi.records._Linker._bridge`` walks the candidate persons in
    the order of a set, which in the database path follows the order the key index
    returns the candidates in), and the other can no longer follow.
    """
    pa, pb = partition(a), partition(b)
    clusters: list[set[int]] = []
    for r in differ:
        found = set(pa[r] | pb.get(r, frozenset()))
        for c in [c for c in clusters if c & found]:
            found |= c
            clusters.remove(c)
        clusters.append(found)
    left = []
    for cluster in clusters:
        records = {s.id: s for s in record_store.stored_records(conn, cluster)}
        tie = False
        link = ctx.thresholds.link
        for z in cluster:
            clean = []
            for x in cluster - {z}:
                s = score(ctx.model, records[z].norm, records[x].norm)
                if s.probability >= link and not set(s.flags) & SAFETY_FLAGS:
                    clean.append(x)
            for x, y in combinations(clean, 2):
                between = score(ctx.model, records[x].norm, records[y].norm)
                conflict = between.probability < link or set(between.flags) & SAFETY_FLAGS
                if before.get(x) != before.get(y) and conflict:
                    tie = True
        if not tie:
            left.append(sorted(cluster))
    return left
