"""The Spark relink against the in-database relink on the project's 20,000-person set.

The set (``generate(20000)``, as ``bench/accuracy.py --persons 20000``) is loaded under
stricter thresholds than the default model's, and relinked under the default model by
both engines; at least 99.9 % of records must end with the same fellow records, and
every difference must be a bridge order (:func:`tests.spark.helpers.unexplained`).
Run with ``pytest -m slow tests/spark``; it prints the figures.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest

from mpi.relink import relink as relink_in_database
from mpi.spark.run import relink as relink_on_spark
from mpi.store import db, migrate
from mpi.store import models as model_store
from tests.spark.conftest import load_region
from tests.spark.helpers import agreement, partition, unexplained


@pytest.mark.slow
def test_spark_and_database_agree_on_twenty_thousand_persons(
    server_url: str, model: Any, spark: Any, tmp_path
):
    name = f"mpi_spark_scale_{uuid.uuid4().hex[:8]}"
    url = db.create_database(server_url, name)
    try:
        migrate.upgrade(url)
        start = time.perf_counter()
        region = load_region(url, model, 20_000, tmp_path, seed=1)
        loaded = time.perf_counter() - start
        with psycopg.connect(url) as conn:
            before = model_store.link_map(conn)
            start = time.perf_counter()
            report = relink_on_spark(conn, region.ctx, spark=spark, dry_run=True)
            on_spark = time.perf_counter() - start
            with conn.transaction(force_rollback=True):
                start = time.perf_counter()
                in_db = relink_in_database(conn, region.ctx)
                in_database = time.perf_counter() - start
                links = model_store.link_map(conn)
            share, differ = agreement(links, report.diff.assignment)
            left = unexplained(conn, region.ctx, before, links, report.diff.assignment, differ)
        pa, pb = partition(links), partition(report.diff.assignment)
        print(
            f"\n20,000 persons, {len(before)} records: loaded in {loaded:.0f} s;"
            f" Spark dry run {on_spark:.0f} s {report.timings}, in-database {in_database:.0f} s"
            f"\nagreement {share:.5f}: {len(differ)} records differ, unexplained {left}"
            f"\nSpark: {report.diff.summary()}; in-database: moved {in_db.records_moved},"
            f" opened {in_db.reviews_opened}, closed {in_db.reviews_closed}"
        )
        for r in differ[:20]:
            print(f"  record {r}: database {sorted(pa[r])}, spark {sorted(pb[r])}")
        assert report.diff.records == in_db.records
        assert share >= 0.999
        assert left == []
    finally:
        db.drop_database(server_url, name)
