"""Pair-level evaluation helpers: curves, review workload, labels and the waterfall."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from matching.comparisons import COMPARISONS
from matching.evaluation import (
    across_sources,
    count_true_pairs,
    pair_probabilities,
    pairwise_curve,
    review_workload,
    same_person,
    weight_waterfall,
)
from matching.model import load_default_model
from matching.scoring import score
from matching.types import NormalisedRecord


def test_curve_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    p = np.round(rng.random(200), 2)  # ties on purpose
    y = rng.random(200) < p
    curve = pairwise_curve(p, y)
    assert list(curve.thresholds) == sorted(set(p.tolist()), reverse=True)
    for i, t in enumerate(curve.thresholds):
        chosen = p >= t
        tp = int((chosen & y).sum())
        assert curve.pairs[i] == chosen.sum()
        assert curve.true_positives[i] == tp
        assert curve.false_positives[i] == chosen.sum() - tp
        assert curve.precision[i] == pytest.approx(tp / chosen.sum())
        assert curve.recall[i] == pytest.approx(tp / y.sum())
    assert np.all(np.diff(curve.recall) >= 0)  # descending thresholds: recall only grows
    assert curve.recall[-1] == 1.0


def test_curve_thresholds_above_everything_and_total_matches() -> None:
    curve = pairwise_curve([0.2, 0.7], [True, True], [0.9, 0.5, 0.1], total_matches=4)
    assert curve.thresholds.tolist() == [0.9, 0.5, 0.1]
    assert curve.pairs.tolist() == [0, 1, 2]
    assert curve.precision.tolist() == [1.0, 1.0, 1.0]  # nothing linked: nothing wrong
    assert curve.recall.tolist() == [0.0, 0.25, 0.5]  # two matches blocking never found
    assert curve.f1[0] == 0.0
    assert curve.at(0.6)["threshold"] == 0.5
    with pytest.raises(ValueError):
        curve.at(0.05)


def test_curve_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels"):
        pairwise_curve([0.5, 0.6], [True])
    with pytest.raises(ValueError, match="total_matches"):
        pairwise_curve([0.5, 0.6], [True, True], total_matches=1)


def test_curve_without_matches_or_pairs() -> None:
    curve = pairwise_curve([0.3], [False], [0.5, 0.1])
    assert curve.recall.tolist() == [1.0, 1.0] and curve.precision.tolist() == [1.0, 0.0]
    empty = pairwise_curve([], [], [0.5])
    assert empty.pairs.tolist() == [0] and empty.matches == 0


def test_review_workload() -> None:
    p = [0.9999, 0.995, 0.9, 0.6, 0.3, 0.05]
    y = [True, True, True, False, True, False]
    work = review_workload(p, [0.1, 0.5, 0.999, 0.99], 0.999, y)
    assert work.review_thresholds.tolist() == [0.999, 0.99, 0.5, 0.1]
    assert work.linked == 1
    assert work.pairs.tolist() == [0, 1, 3, 4]
    assert work.matches_reviewed is not None and work.matches_missed is not None
    assert work.matches_reviewed.tolist() == [0, 1, 2, 3]
    assert work.matches_missed.tolist() == [3, 2, 1, 0]
    unlabelled = review_workload(p, [0.5], 0.999)
    assert unlabelled.matches_reviewed is None and unlabelled.pairs.tolist() == [3]


def test_same_person_across_sources_and_true_pairs() -> None:
    persons = ["p", "p", "q", "p", "q"]
    sources = ["A", "B", "A", "A", "B"]
    pairs = np.array(list(combinations(range(5), 2)))
    labels = same_person(pairs, persons)
    assert labels.sum() == count_true_pairs(persons) == 4
    crossing = across_sources(pairs, sources)
    assert all(sources[a] != sources[b] for a, b in crossing)
    assert len(crossing) == 6
    assert same_person(crossing, persons).sum() == count_true_pairs(persons, sources) == 3
    with pytest.raises(ValueError):
        count_true_pairs(persons, sources[:2])


def test_pair_probabilities_agree_with_scoring() -> None:
    model = load_default_model()
    a = NormalisedRecord(given_names=("ANNA",), family_name="SMITH", sex="female")
    b = NormalisedRecord(given_names=("ANNE",), family_name="SMITH", sex="female")
    result = score(model, a, b)
    levels = [[c.index(f.level) for c, f in zip(COMPARISONS, result.fields, strict=True)]]
    p = pair_probabilities(model, np.array(levels, np.int8))
    assert p[0] == pytest.approx(result.probability, rel=1e-9)
    shifted = pair_probabilities(model, np.array(levels, np.int8), prior_shift=3.0)
    ratio = (shifted[0] / (1 - shifted[0])) / (p[0] / (1 - p[0]))
    assert ratio == pytest.approx(8.0, rel=1e-6)


def test_waterfall_ends_at_the_score() -> None:
    model = load_default_model()
    a = NormalisedRecord(given_names=("ANNA",), family_name="SMITH", postcode="LS1 4AP")
    b = NormalisedRecord(given_names=("ANNA",), family_name="SMYTH", postcode="LS1 4AP")
    result = score(model, a, b)
    steps = weight_waterfall(model.prior_weight, result.fields)
    assert len(steps) == len(result.fields) + 2
    assert steps[0].label == "prior" and steps[-1].label == "match weight"
    for before, after in zip(steps[:-2], steps[1:-1], strict=True):
        assert after.start == before.end
        assert after.end == pytest.approx(after.start + after.weight)
    assert steps[-1].end == pytest.approx(model.prior_weight + result.weight)
    assert steps[-1].probability == pytest.approx(result.probability)
    assert math.isclose(steps[0].probability, model.prior, rel_tol=1e-9)
