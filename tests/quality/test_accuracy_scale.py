"""Accuracy at the scale of bench/RESULTS.md: slow, run with ``pytest -m slow``.

The default suite checks the floors on 1,500 people (``test_accuracy.py``). Traps that
are rare per person only show up in numbers at scale: at 42,000 people (about 100,000
records) the synthetic world holds hundreds of twins, same-name parents and children and
borrowed NHS numbers. No trap may be merged at any size, and the pairwise floors hold.
"""

from __future__ import annotations

import psycopg
import pytest

from matching.evaluation import evaluate
from mpi.config import Settings
from mpi.demo import load_dataset
from mpi.evaluation import crossref, merged_traps, read_truth
from mpi.records import MatchContext
from mpi.synthetic import generate, write_dataset
from tests.conftest import truncate_all

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("persons", [20_000, 42_000])
def test_floors_and_no_trap_merged_at_scale(persons, tmp_path, database_url, model):
    truncate_all(database_url)
    dataset = generate(persons, seed=11)
    paths = write_dataset(dataset, tmp_path)
    ctx = MatchContext.build(Settings(), model)
    for _ in load_dataset(database_url, ctx, dataset, paths):
        pass
    with psycopg.connect(database_url) as conn:
        predicted = crossref(conn)
    truth = read_truth(tmp_path / "truth.csv")
    result = evaluate(predicted, truth)
    traps = [(t.kind, t.person_ids) for t in dataset.traps]
    merged = merged_traps(predicted, truth, traps)
    truncate_all(database_url)

    assert [m for m in merged if m[0] != "same_name_same_dob"] == []
    assert result.precision >= 0.998
    assert result.recall >= 0.98
