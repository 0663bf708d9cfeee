"""Accuracy at the scale of bench/RESULTS.md: slow, run with ``pytest -m slow``.

The default suite checks the floors on 1,500 people (``test_accuracy.py``). Traps that
are rare per person only show up in numbers at scale: at 42,000 people (about 100,000
records) the synthetic world holds hundreds of twins, same-name parents and children and
borrowed NHS numbers. No trap may be merged at any size, and the pairwise floors hold.
"""

from __future__ import annotations

import pytest

from matching.evaluation import evaluate
from mpi.evaluation import merged_traps
from tests.conftest import truncate_all
from tests.quality.test_accuracy import load_and_crossref

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("persons", [20_000, 42_000])
def test_floors_and_no_trap_merged_at_scale(persons, tmp_path, database_url, model):
    dataset, predicted, truth = load_and_crossref(database_url, model, tmp_path, persons, 11)
    result = evaluate(predicted, truth)
    traps = [(t.kind, t.person_ids) for t in dataset.traps]
    merged = merged_traps(predicted, truth, traps)
    truncate_all(database_url)

    assert [m for m in merged if m[0] != "same_name_same_dob"] == []
    assert result.precision >= 0.998
    assert result.recall >= 0.98
