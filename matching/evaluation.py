"""Pairwise evaluation of a clustering (the cross-reference) against the truth.

Two records form a *predicted pair* when they share a predicted cluster (identity) and a
*true pair* when they are the same person. Precision, recall and F1 are computed over
pairs from cluster contingency counts (sums of n-choose-2), in time linear in the number
of records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Evaluation", "evaluate"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Pairwise quality of a clustering.

    Attributes:
        records: records present in both the prediction and the truth (the only ones
            counted).
        missing: records present in only one of the two.
        true_positives: pairs in the same predicted cluster that are the same person.
        false_positives: pairs in the same predicted cluster that are different people.
        false_negatives: pairs of the same person in different predicted clusters.
        precision: TP / (TP + FP); 1.0 when nothing was linked.
        recall: TP / (TP + FN); 1.0 when there are no true pairs.
        f1: the harmonic mean of precision and recall; 0.0 when both are 0.
        false_merge_clusters: predicted clusters holding more than one true person
            (overlays), in first-seen order.
        split_persons: true persons spread over more than one predicted cluster
            (duplicates), in first-seen order.
    """

    records: int
    missing: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    false_merge_clusters: tuple[Hashable, ...]
    split_persons: tuple[Hashable, ...]


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def evaluate(predicted: Mapping[K, Hashable], truth: Mapping[K, Hashable]) -> Evaluation:
    """Evaluate a clustering against the truth, pairwise.

    Args:
        predicted: record key (e.g. ``(system, local_id)``) → predicted cluster id.
        truth: record key → true person id.

    Returns:
        The evaluation; records in only one mapping are counted in ``missing`` and
        otherwise ignored.

    Example:
        >>> result = evaluate({"a": 1, "b": 1, "c": 2}, {"a": "x", "b": "y", "c": "y"})
        >>> result.precision, result.recall
        (0.0, 0.0)
    """
    cells: Counter[tuple[Hashable, Hashable]] = Counter()
    predicted_sizes: Counter[Hashable] = Counter()
    true_sizes: Counter[Hashable] = Counter()
    records = 0
    for key, cluster in predicted.items():
        if key not in truth:
            continue
        person = truth[key]
        cells[cluster, person] += 1
        predicted_sizes[cluster] += 1
        true_sizes[person] += 1
        records += 1
    missing = (len(predicted) - records) + (len(truth) - records)

    true_positives = sum(_pairs(n) for n in cells.values())
    predicted_pairs = sum(_pairs(n) for n in predicted_sizes.values())
    true_pairs = sum(_pairs(n) for n in true_sizes.values())
    false_positives = predicted_pairs - true_positives
    false_negatives = true_pairs - true_positives
    precision = true_positives / predicted_pairs if predicted_pairs else 1.0
    recall = true_positives / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    persons_per_cluster: Counter[Hashable] = Counter()
    clusters_per_person: Counter[Hashable] = Counter()
    for cluster, person in cells:
        persons_per_cluster[cluster] += 1
        clusters_per_person[person] += 1
    return Evaluation(
        records=records,
        missing=missing,
        true_positives=true_positives,
        false_positives=false_positives,
        false_negatives=false_negatives,
        precision=precision,
        recall=recall,
        f1=f1,
        false_merge_clusters=tuple(c for c, n in persons_per_cluster.items() if n > 1),
        split_persons=tuple(p for p, n in clusters_per_person.items() if n > 1),
    )
