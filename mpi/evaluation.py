"""Measuring the stored cross-reference against ground truth."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg

from matching.evaluation import Evaluation, evaluate
from mpi.errors import InvalidInput
from mpi.store import persons as person_store
from mpi.store import review as review_store

RecordKey = tuple[str, str]


def read_truth(path: Path) -> dict[RecordKey, str]:
    """A truth file (CSV ``system,local_id,person_id``) as a mapping."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        needed = {"system", "local_id", "person_id"}
        if reader.fieldnames is None or not needed <= set(reader.fieldnames):
            raise InvalidInput.single("truth", "the header must be system,local_id,person_id")
        return {(r["system"], r["local_id"]): r["person_id"] for r in reader}


def crossref(conn: psycopg.Connection[Any]) -> dict[RecordKey, str]:
    """The stored cross-reference: (system, local ID) → person ID."""
    return {(s, local): person for s, local, person in person_store.crossref(conn)}


def evaluate_store(conn: psycopg.Connection[Any], truth_path: Path) -> tuple[Evaluation, int]:
    """Pairwise precision, recall and F1 of the stored cross-reference against a truth file.

    Returns:
        The evaluation, and how many of the missed true pairs already wait in the review
        queue (an open item joins the two identities they are split over).
    """
    predicted = crossref(conn)
    truth = read_truth(truth_path)
    reviews = [(s, local, person) for s, local, person in review_store.open_pairs(conn)]
    return evaluate(predicted, truth), missed_pairs_in_review(predicted, truth, reviews)


def missed_pairs_in_review(
    predicted: Mapping[RecordKey, str],
    truth: Mapping[RecordKey, str],
    reviews: Iterable[tuple[str, str, str]],
) -> int:
    """Missed true pairs whose two identities an open review item already joins."""
    joined: set[frozenset[str]] = set()
    for system, local_id, candidate in reviews:
        own = predicted.get((system, local_id))
        if own is not None and own != candidate:
            joined.add(frozenset((own, candidate)))
    sizes: dict[str, dict[str, int]] = {}
    for key, person in truth.items():
        identity = predicted.get(key)
        if identity is not None:
            sizes.setdefault(person, {}).setdefault(identity, 0)
            sizes[person][identity] += 1
    found = 0
    for parts in sizes.values():
        identities = sorted(parts)
        for i, a in enumerate(identities):
            for b in identities[i + 1 :]:
                if frozenset((a, b)) in joined:
                    found += parts[a] * parts[b]
    return found


def merged_traps(
    predicted: Mapping[RecordKey, str],
    truth: Mapping[RecordKey, str],
    traps: Iterable[tuple[str, Sequence[str]]],
) -> list[tuple[str, tuple[str, ...]]]:
    """The traps (twins, parent and child, …) whose different people share an identity.

    Args:
        predicted: the cross-reference.
        truth: the true person of each record.
        traps: (kind, true person IDs) pairs.

    Returns:
        The traps that were merged, as (kind, true person IDs).
    """
    identities: dict[str, set[str]] = {}
    for key, person in truth.items():
        if key in predicted:
            identities.setdefault(person, set()).add(predicted[key])
    merged = []
    for kind, people in traps:
        seen: dict[str, str] = {}
        for person in people:
            for identity in identities.get(person, ()):
                if identity in seen and seen[identity] != person:
                    merged.append((kind, tuple(people)))
                    break
                seen[identity] = person
            else:
                continue
            break
    return merged


def format_evaluation(
    result: Evaluation, *, show: int = 5, missed_in_review: int | None = None
) -> str:
    """A short human-readable report of an evaluation."""
    lines = [
        f"records evaluated: {result.records}"
        + (
            f" ({result.missing} in only one of truth and cross-reference)"
            if result.missing
            else ""
        ),
        f"pairwise precision {result.precision:.5f}  recall {result.recall:.5f}"
        f"  F1 {result.f1:.5f}",
        f"true pairs {result.true_positives + result.false_negatives}:"
        f" found {result.true_positives}, missed {result.false_negatives},"
        f" false {result.false_positives}"
        + (
            f" ({missed_in_review} of the missed already wait in the review queue)"
            if missed_in_review is not None
            else ""
        ),
        f"false-merge clusters (an identity holding more than one true person):"
        f" {len(result.false_merge_clusters)}",
    ]
    for cluster in list(result.false_merge_clusters)[:show]:
        lines.append(f"  {cluster}")
    lines.append(
        f"split persons (one true person over several identities): {len(result.split_persons)}"
    )
    for person in list(result.split_persons)[:show]:
        lines.append(f"  {person}")
    return "\n".join(lines)
