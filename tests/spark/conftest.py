"""One local Spark session for the whole test run (``local[2]``, few shuffle partitions),
and a store loaded with a synthetic region under stricter thresholds than the default
model's, so that a relink under the default model has links to form and items to close."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from mpi.config import Settings
from mpi.demo.run import load_dataset
from mpi.demo.synthetic import generate, write_dataset
from mpi.links import Thresholds
from mpi.records import MatchContext
from tests.conftest import truncate_all


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local Spark session, stopped at the end of the run."""
    from mpi.spark.job import session

    s = session("local[2]", shuffle_partitions=4)
    yield s
    s.stop()


@dataclass(frozen=True)
class Region:
    """A loaded synthetic region: the database, how it was loaded and the relink's model."""

    url: str
    persons: int
    strict: MatchContext
    ctx: MatchContext


def load_region(url: str, model: Any, persons: int, folder: Any, seed: int = 7) -> Region:
    """Empty the database and load ``persons`` synthetic persons under strict thresholds."""
    ctx = MatchContext.build(Settings(), model)
    strict = replace(ctx, thresholds=Thresholds(link=1 - 1e-9, review=0.9))
    truncate_all(url)
    dataset = generate(persons, seed=seed)
    paths = write_dataset(dataset, folder)
    for _ in load_dataset(url, strict, dataset, paths, batch_size=1000):
        pass
    return Region(url, persons, strict, ctx)


@pytest.fixture(scope="session")
def region(database_url: str, model: Any, tmp_path_factory: Any) -> Iterator[Region]:
    """About 2,000 records of 800 persons, loaded under strict thresholds."""
    yield load_region(database_url, model, 800, tmp_path_factory.mktemp("region"))
    truncate_all(database_url)
