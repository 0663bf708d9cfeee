"""Accuracy floors on labelled synthetic data, through the whole pipeline.

The synthetic world (mpi.synthetic) holds twins, same-name parents and children, a
relative's NHS number on the wrong record and strangers sharing a name and birthday. The
floors here are below the benchmark figures in bench/RESULTS.md (measured at 20,000
people); what must never move is the false-merge side: no trap merged.
"""

from __future__ import annotations

import psycopg
import pytest

from matching.evaluation import evaluate
from mpi.demo import load_dataset
from mpi.evaluation import crossref, merged_traps, read_truth
from mpi.synthetic import generate, write_dataset


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, database_url, model):
    from mpi.config import Settings
    from mpi.records import MatchContext
    from tests.conftest import truncate_all

    truncate_all(database_url)
    folder = tmp_path_factory.mktemp("synthetic")
    dataset = generate(1500, seed=5)
    paths = write_dataset(dataset, folder)
    ctx = MatchContext.build(Settings(), model)
    for _ in load_dataset(database_url, ctx, dataset, paths, batch_size=400):
        pass
    with psycopg.connect(database_url) as conn:
        predicted = crossref(conn)
    yield dataset, predicted, read_truth(folder / "truth.csv")
    truncate_all(database_url)


def test_pairwise_precision_and_recall_floors(loaded):
    _, predicted, truth = loaded
    result = evaluate(predicted, truth)
    assert result.precision >= 0.998
    assert result.recall >= 0.97
    assert result.missing == 0


def test_no_twin_parent_child_or_borrowed_number_is_merged(loaded):
    dataset, predicted, truth = loaded
    traps = [(t.kind, t.person_ids) for t in dataset.traps]
    kinds = {kind for kind, _ in traps}
    assert {"twins", "parent_child_same_name", "borrowed_nhs_number"} <= kinds
    merged = merged_traps(predicted, truth, traps)
    assert [m for m in merged if m[0] != "same_name_same_dob"] == []
