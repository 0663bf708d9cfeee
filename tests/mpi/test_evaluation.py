"""Evaluation helpers: trap merges and missed pairs already waiting for review."""

from __future__ import annotations

from mpi.evaluation import merged_traps, missed_pairs_in_review

TRUTH = {("A", "1"): "p1", ("B", "1"): "p1", ("C", "1"): "p1", ("A", "2"): "p2"}


def test_missed_pairs_joined_by_an_open_review_item_are_counted():
    predicted = {("A", "1"): "X", ("B", "1"): "X", ("C", "1"): "Y", ("A", "2"): "Z"}
    assert missed_pairs_in_review(predicted, TRUTH, []) == 0
    # C1 waits for review against X: the two missed pairs (A1-C1, B1-C1) are in the queue
    assert missed_pairs_in_review(predicted, TRUTH, [("C", "1", "X")]) == 2
    # an item between two different true people joins nothing that was missed
    assert missed_pairs_in_review(predicted, TRUTH, [("A", "2", "X")]) == 0


def test_merged_traps_finds_different_people_in_one_identity():
    predicted = {("A", "1"): "X", ("B", "1"): "X", ("C", "1"): "X", ("A", "2"): "X"}
    assert merged_traps(predicted, TRUTH, [("twins", ("p1", "p2"))]) == [("twins", ("p1", "p2"))]
    apart = {**predicted, ("A", "2"): "Z"}
    assert merged_traps(apart, TRUTH, [("twins", ("p1", "p2"))]) == []
