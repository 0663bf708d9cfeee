"""Spark relink, stage by stage, against the in-database relink of the same store.

Loads a synthetic region (``--persons``, about 2.4 records a person, over six systems)
into its own database under stricter thresholds than the default model's, so that the
relink under the default model has links to form, then times:

- the Spark relink (local mode, ``--master``), stage by stage: export (the store read),
  read, candidates, scoring, groups, decisions, write-back (the write-back of a dry run
  is the driver folding the groups into the diff; ``--apply`` writes, then rolls back);
- the in-database relink (``mpi.relink.relink``) of the same store, rolled back.

Each is run ``--repeat`` times; medians are printed as one JSON line, with the per-record
cost of each stage, which ``docs/scale.md`` turns into a sizing table.

    python bench/bench_spark.py --persons 40000 --repeat 3
    python bench/bench_spark.py --persons 400000 --repeat 1 --reuse   # an already loaded one
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matching.model import load_default_model  # noqa: E402
from mpi.config import Settings  # noqa: E402
from mpi.records import MatchContext  # noqa: E402
from mpi.relink import relink as relink_in_database  # noqa: E402
from mpi.spark.job import session  # noqa: E402
from mpi.spark.run import relink as relink_on_spark  # noqa: E402
from mpi.store import db, migrate  # noqa: E402
from mpi.store import models as model_store  # noqa: E402
from tests.spark.conftest import load_region  # noqa: E402
from tests.spark.helpers import agreement, unexplained  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default="mpi_bench_spark")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--reuse", action="store_true", help="the database is loaded already")
    parser.add_argument("--apply", action="store_true", help="time the write-back too")
    parser.add_argument("--no-database", action="store_true", help="skip the in-database run")
    args = parser.parse_args()

    model = load_default_model()
    url = psycopg.conninfo.make_conninfo(args.server, dbname=args.database)
    out: dict[str, object] = {"persons": args.persons, "master": args.master}
    if not args.reuse:
        with psycopg.connect(args.server, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
        db.create_database(args.server, args.database)
        migrate.upgrade(url)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            load_region(url, model, args.persons, folder, seed=1)
        out["load_s"] = round(time.perf_counter() - start, 1)
    ctx = MatchContext.build(Settings(), model)
    spark = session(args.master, shuffle_partitions=args.shuffle_partitions)
    stages: dict[str, list[float]] = {}
    totals, db_totals = [], []
    with psycopg.connect(url) as conn:
        before = model_store.link_map(conn)
        for _ in range(args.repeat):
            with conn.transaction(force_rollback=True):
                start = time.perf_counter()
                report = relink_on_spark(conn, ctx, spark=spark, dry_run=not args.apply)
                totals.append(time.perf_counter() - start)
            for stage, seconds in report.timings.items():
                stages.setdefault(stage, []).append(seconds)
            if not args.no_database:
                with conn.transaction(force_rollback=True):
                    start = time.perf_counter()
                    in_db = relink_in_database(conn, ctx)
                    db_totals.append(time.perf_counter() - start)
                    links = model_store.link_map(conn)
        records = report.diff.records
        if not args.no_database:  # the same decisions? (tests/spark/test_relink_spark_scale)
            share, differ = agreement(links, report.diff.assignment)
            out["agreement"] = round(share, 6)
            out["records_differing"] = len(differ)
            out["unexplained"] = unexplained(
                conn, ctx, before, links, report.diff.assignment, differ
            )
    out["records"] = report.counts.get("records")
    out["targets"] = records
    out["pairs"] = report.counts.get("pairs")
    out["groups"] = report.counts.get("groups")
    out["diff"] = report.diff.summary()
    out["spark_s"] = round(statistics.median(totals), 2)
    out["stages_s"] = {k: round(statistics.median(v), 2) for k, v in stages.items()}
    out["stages_us_per_record"] = {
        k: round(1e6 * statistics.median(v) / max(records, 1), 1) for k, v in stages.items()
    }
    if db_totals:
        out["database_s"] = round(statistics.median(db_totals), 2)
        out["database_moved"] = in_db.records_moved
    print(json.dumps(out))
    spark.stop()


if __name__ == "__main__":
    main()
