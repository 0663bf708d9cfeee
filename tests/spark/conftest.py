"""One local Spark session for the whole test run (``local[2]``, few shuffle partitions),
and a store loaded with a synthetic region under stricter thresholds than the default
model's, so that a relink under the default model has links to form and items to close."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import pytest

from mpi.config import Settings
from mpi.demo.run import load_dataset
from mpi.demo.synthetic import generate, write_dataset
from mpi.links import Thresholds
from mpi.records import MatchContext
from mpi.relink import relink as relink_in_database
from mpi.spark.run import relink as relink_on_spark
from mpi.store import models as model_store
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


# package scope: the region is emptied again before any test outside tests/spark runs
@pytest.fixture(scope="package")
def region(database_url: str, model: Any, tmp_path_factory: Any) -> Iterator[Region]:
    """About 2,000 records of 800 persons, loaded under strict thresholds."""
    yield load_region(database_url, model, 800, tmp_path_factory.mktemp("region"))
    truncate_all(database_url)


_STATE = (
    "SELECT record_id, person_id, method, probability FROM link ORDER BY record_id",
    "SELECT id, status, candidate_person_id FROM review_item ORDER BY id",
    "SELECT count(*) FROM identity_event",
    "SELECT count(*) FROM link_history",
    "SELECT id, status, merged_into FROM person ORDER BY id",
)


def _state(conn: psycopg.Connection[Any]) -> list[list[Any]]:
    return [conn.execute(sql).fetchall() for sql in _STATE]


def _in_database(conn: psycopg.Connection[Any], ctx: Any) -> tuple[Any, dict[int, int]]:
    with conn.transaction(force_rollback=True):
        report = relink_in_database(conn, ctx)
        return report, model_store.link_map(conn)


@dataclass(frozen=True)
class Runs:
    """The Spark dry run and the in-database relink of the region, and the links before."""

    before: dict[int, int]
    spark: Any
    in_database: Any
    links: dict[int, int]
    unchanged: bool


@pytest.fixture(scope="package")
def runs(region: Region, spark: Any) -> Runs:
    """The Spark dry run and the in-database relink (rolled back) of the region."""
    with psycopg.connect(region.url) as conn:
        state = _state(conn)
        before = model_store.link_map(conn)
        report = relink_on_spark(conn, region.ctx, spark=spark, dry_run=True)
        unchanged = _state(conn) == state
        in_db, links = _in_database(conn, region.ctx)
    return Runs(before, report, in_db, links, unchanged)
