"""Evaluation against the truth: of a clustering, of scored pairs, and one pair's weights.

- :func:`evaluate`: pairwise quality of a clustering (the cross-reference). Two records
  form a *predicted pair* when they share a predicted cluster (identity) and a *true pair*
  when they are the same person. Precision, recall and F1 are computed over pairs from
  cluster contingency counts (sums of n-choose-2), in time linear in the number of records.
- :func:`pairwise_curve` and :func:`review_workload`: how scored candidate pairs with
  known labels fare at each threshold (precision, recall, pairs to review);
  :func:`pair_probabilities`, :func:`same_person`, :func:`across_sources` and
  :func:`count_true_pairs` prepare them.
- :func:`weight_waterfall`: the running total of one pair's match weight, from the prior
  through each comparison, for a waterfall chart.

Everything here is pure (numpy only): the notebooks in ``notebooks/`` draw the charts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from matching.model import MatchModel
from matching.scoring import match_probability
from matching.training import match_weights
from matching.types import FieldScore

__all__ = [
    "Evaluation",
    "PairwiseCurve",
    "ReviewWorkload",
    "WaterfallStep",
    "across_sources",
    "count_true_pairs",
    "evaluate",
    "pair_probabilities",
    "pairwise_curve",
    "review_workload",
    "same_person",
    "weight_waterfall",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

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


# --------------------------------------------------------------------------- scored pairs


def pair_probabilities(
    model: MatchModel, matrix: npt.NDArray[np.integer], *, prior_shift: float = 0.0
) -> FloatArray:
    """Match probabilities of comparison vectors under a model (no term frequencies).

    Args:
        model: the model.
        matrix: comparison vectors, one row per pair
            (:func:`matching.training.comparison_matrix`).
        prior_shift: bits added to the model's prior weight, as the service adds
            :attr:`matching.frequencies.TermFrequencies.prior_shift` to scale a set prior
            to the size of the index.

    Example:
        >>> from matching.model import load_default_model
        >>> model = load_default_model()
        >>> p = pair_probabilities(model, np.zeros((1, 8), np.int8))
        >>> bool(abs(p[0] - model.prior) < 1e-12)
        True
    """
    logit = (match_weights(model, np.asarray(matrix)) + model.prior_weight + prior_shift) * (
        math.log(2.0)
    )
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -700.0, 700.0)))


def same_person(
    pairs: npt.NDArray[np.integer] | Sequence[tuple[int, int]], persons: Sequence[Hashable]
) -> npt.NDArray[np.bool_]:
    """For each pair of record indexes, whether both records are the same true person.

    Example:
        >>> same_person([(0, 1), (0, 2)], ["p1", "p1", "p2"]).tolist()
        [True, False]
    """
    index = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    truth = np.empty(len(persons), dtype=object)
    truth[:] = list(persons)
    return np.asarray(truth[index[:, 0]] == truth[index[:, 1]], dtype=bool)


def across_sources(
    pairs: npt.NDArray[np.integer] | Sequence[tuple[int, int]], sources: Sequence[Hashable]
) -> IntArray:
    """Only the pairs whose two records come from different sources (linking two files).

    Example:
        >>> across_sources([(0, 1), (0, 2)], ["A", "A", "B"]).tolist()
        [[0, 2]]
    """
    index = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    origin = np.empty(len(sources), dtype=object)
    origin[:] = list(sources)
    return index[origin[index[:, 0]] != origin[index[:, 1]]]


def count_true_pairs(persons: Sequence[Hashable], sources: Sequence[Hashable] | None = None) -> int:
    """The number of record pairs that are the same person: the denominator of recall.

    Args:
        persons: the true person of each record.
        sources: the source of each record; when given, only pairs across two different
            sources count (linking files rather than deduplicating them).

    Example:
        >>> count_true_pairs(["p", "p", "p", "q"])
        3
        >>> count_true_pairs(["p", "p", "p", "q"], sources=["A", "B", "B", "A"])
        2
    """
    if sources is None:
        return sum(n * (n - 1) // 2 for n in Counter(persons).values())
    if len(sources) != len(persons):
        raise ValueError("persons and sources must have the same length")
    per_person: Counter[Hashable] = Counter(persons)
    per_source: Counter[tuple[Hashable, Hashable]] = Counter(zip(persons, sources, strict=True))
    within = sum(n * (n - 1) // 2 for n in per_source.values())
    return sum(n * (n - 1) // 2 for n in per_person.values()) - within


@dataclass(frozen=True, slots=True)
class PairwiseCurve:
    """Precision and recall of labelled pairs when those at or above a threshold are linked.

    All arrays are aligned with ``thresholds`` (descending).

    Attributes:
        thresholds: the match probability thresholds.
        pairs: pairs at or above each threshold.
        true_positives: of them, true matches.
        false_positives: of them, different people.
        precision: ``true_positives / pairs``; 1.0 where no pair is at or above.
        recall: ``true_positives / matches``; 1.0 when there are no matches.
        f1: the harmonic mean of precision and recall; 0.0 where both are 0.
        matches: the true matches recall is measured against.
    """

    thresholds: FloatArray
    pairs: IntArray
    true_positives: IntArray
    false_positives: IntArray
    precision: FloatArray
    recall: FloatArray
    f1: FloatArray
    matches: int

    def at(self, threshold: float) -> dict[str, float]:
        """The point of the curve at the highest listed threshold not above ``threshold``.

        Raises:
            ValueError: when every listed threshold is above ``threshold``.
        """
        below = np.flatnonzero(self.thresholds <= threshold)
        if len(below) == 0:
            raise ValueError(f"no threshold at or below {threshold}")
        i = int(below[0])
        return {
            "threshold": float(self.thresholds[i]),
            "pairs": int(self.pairs[i]),
            "precision": float(self.precision[i]),
            "recall": float(self.recall[i]),
            "f1": float(self.f1[i]),
        }


def _checked(
    probabilities: npt.ArrayLike, labels: npt.ArrayLike | None
) -> tuple[FloatArray, npt.NDArray[np.bool_] | None]:
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if labels is None:
        return p, None
    y = np.asarray(labels, dtype=bool).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{len(p)} probabilities but {len(y)} labels")
    return p, y


def _at_or_above(p: FloatArray, thresholds: FloatArray) -> IntArray:
    """How many of ``p`` are at or above each threshold."""
    ascending = np.sort(p)
    return (len(p) - np.searchsorted(ascending, thresholds, side="left")).astype(np.int64)


def pairwise_curve(
    probabilities: npt.ArrayLike,
    labels: npt.ArrayLike,
    thresholds: npt.ArrayLike | None = None,
    *,
    total_matches: int | None = None,
) -> PairwiseCurve:
    """Precision and recall of scored, labelled pairs at each threshold.

    Args:
        probabilities: match probability of each pair.
        labels: whether each pair is truly the same person.
        thresholds: the thresholds to report; ``None`` means every distinct probability
            (the exact curve). Sorted descending in the result.
        total_matches: the true matches recall is measured against; ``None`` means the
            labelled matches among the pairs. Pass :func:`count_true_pairs` to count the
            matches that blocking never made a candidate as missed.

    Raises:
        ValueError: when the lengths differ, or ``total_matches`` is below the labelled
            matches.

    Example:
        >>> curve = pairwise_curve([0.99, 0.8, 0.6, 0.1], [True, False, True, False], [0.9, 0.5])
        >>> curve.precision.tolist(), curve.recall.tolist()
        ([1.0, 0.6666666666666666], [0.5, 1.0])
    """
    p, y = _checked(probabilities, labels)
    assert y is not None
    labelled = int(y.sum())
    matches = labelled if total_matches is None else int(total_matches)
    if matches < labelled:
        raise ValueError(f"total_matches {matches} is below the {labelled} labelled matches")
    if thresholds is None:
        t = np.unique(p)[::-1]
    else:
        t = np.sort(np.asarray(thresholds, dtype=np.float64).reshape(-1))[::-1]
    order = np.argsort(-p, kind="stable")
    cumulative = np.concatenate([[0], np.cumsum(y[order], dtype=np.int64)])
    counts = _at_or_above(p, t)
    tp = cumulative[counts]
    fp = counts - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(counts > 0, tp / np.maximum(counts, 1), 1.0)
        recall = tp / matches if matches else np.ones(len(t))
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1.0), 0.0)
    return PairwiseCurve(
        thresholds=t,
        pairs=counts,
        true_positives=tp.astype(np.int64),
        false_positives=fp.astype(np.int64),
        precision=precision.astype(np.float64),
        recall=np.asarray(recall, dtype=np.float64),
        f1=f1.astype(np.float64),
        matches=matches,
    )


@dataclass(frozen=True, slots=True)
class ReviewWorkload:
    """Pairs a reviewer would see at each review threshold, for one link threshold.

    Arrays are aligned with ``review_thresholds`` (descending). The ``matches_*`` arrays
    are ``None`` when no labels were given.

    Attributes:
        link_threshold: pairs at or above it are linked automatically.
        review_thresholds: the review thresholds.
        pairs: pairs at or above the review threshold and below the link threshold (0
            where the review threshold is at or above the link threshold).
        linked: pairs at or above the link threshold.
        matches_reviewed: true matches among the pairs to review.
        matches_missed: true matches below the review threshold (neither linked nor
            reviewed).
    """

    link_threshold: float
    review_thresholds: FloatArray
    pairs: IntArray
    linked: int
    matches_reviewed: IntArray | None = None
    matches_missed: IntArray | None = None


def review_workload(
    probabilities: npt.ArrayLike,
    review_thresholds: npt.ArrayLike,
    link_threshold: float,
    labels: npt.ArrayLike | None = None,
) -> ReviewWorkload:
    """The number of pairs between each review threshold and the link threshold.

    Args:
        probabilities: match probability of each candidate pair.
        review_thresholds: the review thresholds to consider.
        link_threshold: the link threshold.
        labels: optionally, whether each pair is truly the same person.

    Raises:
        ValueError: when probabilities and labels differ in length.

    Example:
        >>> work = review_workload([0.999, 0.9, 0.6, 0.2], [0.5, 0.1], 0.99, [1, 1, 0, 1])
        >>> work.pairs.tolist(), work.linked, work.matches_missed.tolist()
        ([2, 3], 1, [1, 0])
    """
    p, y = _checked(probabilities, labels)
    t = np.sort(np.asarray(review_thresholds, dtype=np.float64).reshape(-1))[::-1]
    linked = int((p >= link_threshold).sum())
    pairs = np.maximum(_at_or_above(p, t) - linked, 0)
    matches_reviewed = matches_missed = None
    if y is not None:
        below_link = p < link_threshold
        matches_reviewed = np.asarray(
            [int((below_link & (p >= x) & y).sum()) for x in t], dtype=np.int64
        )
        matches_missed = np.asarray(
            [int((below_link & (p < x) & y).sum()) for x in t], dtype=np.int64
        )
    return ReviewWorkload(
        link_threshold=float(link_threshold),
        review_thresholds=t,
        pairs=pairs.astype(np.int64),
        linked=linked,
        matches_reviewed=matches_reviewed,
        matches_missed=matches_missed,
    )


# --------------------------------------------------------------------------- one pair


@dataclass(frozen=True, slots=True)
class WaterfallStep:
    """One bar of a match-weight waterfall.

    Attributes:
        label: ``"prior"``, ``"<comparison>: <level>"`` or ``"match weight"`` (the total).
        weight: the step's own weight in bits (for the total: the final weight).
        start: the running total before the step (0 for the prior and the total).
        end: the running total after it.
        probability: the match probability at ``end``.
    """

    label: str
    weight: float
    start: float
    end: float
    probability: float


def weight_waterfall(
    prior_weight: float, fields: Sequence[FieldScore]
) -> tuple[WaterfallStep, ...]:
    """The steps from the prior, through each comparison, to a pair's final match weight.

    Args:
        prior_weight: the prior as a weight (``model.prior_weight``, plus any prior shift
            the service applied).
        fields: the pair's per-comparison scores (``score(...).fields``).

    Returns:
        The prior, one step per comparison in order, and the total; the total's
        probability is the pair's match probability.

    Example:
        >>> from matching.types import FieldScore
        >>> steps = weight_waterfall(-10.0, [FieldScore("nhs_number", "exact", 12.0)])
        >>> [(s.label, s.start, s.end) for s in steps]
        [('prior', 0.0, -10.0), ('nhs_number: exact', -10.0, 2.0), ('match weight', 0.0, 2.0)]
        >>> round(steps[-1].probability, 2)
        0.8
    """
    steps = [
        WaterfallStep(
            "prior", prior_weight, 0.0, prior_weight, match_probability(0.0, prior_weight)
        )
    ]
    running = prior_weight
    for f in fields:
        end = running + f.weight
        steps.append(
            WaterfallStep(
                f"{f.comparison}: {f.level}", f.weight, running, end, match_probability(0.0, end)
            )
        )
        running = end
    steps.append(
        WaterfallStep("match weight", running, 0.0, running, match_probability(0.0, running))
    )
    return tuple(steps)
