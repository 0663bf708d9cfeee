from __future__ import annotations

import pytest

from matching.evaluation import evaluate


def test_perfect_clustering() -> None:
    truth = {"a": "p1", "b": "p1", "c": "p2", "d": "p2", "e": "p3"}
    result = evaluate({"a": 1, "b": 1, "c": 2, "d": 2, "e": 3}, truth)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 0, 0)
    assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert result.false_merge_clusters == () and result.split_persons == ()
    assert (result.records, result.missing) == (5, 0)


def test_false_merge_and_split() -> None:
    # p1 = a, b, c ; p2 = d, e. Predicted: {a, b} {c, d, e}.
    truth = {"a": "p1", "b": "p1", "c": "p1", "d": "p2", "e": "p2"}
    predicted = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Y"}
    result = evaluate(predicted, truth)
    # predicted pairs: ab, cd, ce, de = 4; true pairs: ab, ac, bc, de = 4; TP: ab, de = 2
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 2, 2)
    assert result.precision == 0.5 and result.recall == 0.5 and result.f1 == 0.5
    assert result.false_merge_clusters == ("Y",)
    assert result.split_persons == ("p1",)


def test_everything_merged() -> None:
    truth = {"a": 1, "b": 2, "c": 3}
    result = evaluate({"a": "one", "b": "one", "c": "one"}, truth)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (0, 3, 0)
    assert result.precision == 0.0 and result.recall == 1.0 and result.f1 == 0.0
    assert result.false_merge_clusters == ("one",)


def test_nothing_linked() -> None:
    truth = {"a": 1, "b": 1, "c": 2}
    result = evaluate({"a": "x", "b": "y", "c": "z"}, truth)
    assert result.precision == 1.0
    assert result.recall == 0.0
    assert result.split_persons == (1,)


def test_only_keys_in_both_count() -> None:
    truth = {("ehr", "1"): "p1", ("gp", "9"): "p1", ("ehr", "2"): "p2"}
    predicted = {("ehr", "1"): "E1", ("gp", "9"): "E1", ("social", "7"): "E2"}
    result = evaluate(predicted, truth)
    assert result.records == 2
    assert result.missing == 2
    assert result.true_positives == 1


def test_empty() -> None:
    result = evaluate({}, {})
    assert (result.records, result.precision, result.recall) == (0, 1.0, 1.0)


def test_large_clusters_are_counted_without_enumerating_pairs() -> None:
    n = 200_000
    truth = {i: i // 100_000 for i in range(n)}
    predicted = {i: 0 for i in range(n)}
    result = evaluate(predicted, truth)
    same = 2 * (100_000 * 99_999 // 2)
    assert result.true_positives == same
    assert result.false_positives == n * (n - 1) // 2 - same
    assert result.precision == pytest.approx(same / (n * (n - 1) / 2))
