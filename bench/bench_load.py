"""Benchmark: bulk load with matching, records per second end to end, and peak memory.

Generates synthetic records over six connected systems, loads them system by system into
a fresh database (the configured server, or the embedded one) and prints the figures.

    python bench/bench_load.py --records 100000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from matching.model import load_default_model
from mpi.config import load_settings
from mpi.demo import fresh_database, load_dataset
from mpi.records import MatchContext
from mpi.store import persons as person_store
from mpi.synthetic import generate, write_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="approximate record count")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs (median is reported)")
    args = parser.parse_args()
    settings = load_settings()
    ctx = MatchContext.build(settings, load_default_model())

    # about 2.4 records per person over the six systems; calibrate on a small sample
    sample = generate(1000, seed=args.seed)
    per_person = sum(len(v) for v in sample.records.values()) / 1000
    persons = int(args.records / per_person)
    dataset = generate(persons, seed=args.seed)
    folder = Path(tempfile.mkdtemp(prefix="mpi-bench-"))
    paths = write_dataset(dataset, folder)
    rates = []
    for run in range(args.repeat):
        url = fresh_database(settings, "mpi_bench")
        total = 0
        started = time.perf_counter()
        for spec, report in load_dataset(url, ctx, dataset, paths, batch_size=settings.batch_size):
            total += report.loaded
            print(
                f"  run {run + 1} {spec.code:<17} {report.loaded:>7} records"
                f" {report.per_second:>8,.0f}/s"
            )
        elapsed = time.perf_counter() - started
        rates.append(total / elapsed)
        with psycopg.connect(url) as conn:
            counts = person_store.counts(conn)
        print(
            f"run {run + 1}: {total} records in {elapsed:.1f}s = {total / elapsed:,.0f}"
            f" records/s; {counts}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"persons generated: {persons}; records: {total}")
    print(f"median records/s end to end: {statistics.median(rates):,.0f}")
    print(f"peak memory of the loading process: {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
