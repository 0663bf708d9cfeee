"""Benchmark: bulk load with matching, records per second end to end, and peak memory.

Generates synthetic records over six connected systems, loads them system by system into
a fresh database (the configured server, or the embedded one) and prints the figures.

    python bench/bench_load.py --records 100000
    python bench/bench_load.py --records 20000 --profile   # where the time goes (cProfile)

The database is ``--database`` (default ``mpi_bench_load_<pid>``, dropped at the end).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from matching.model import load_default_model
from mpi.config import load_settings
from mpi.demo.run import fresh_database, load_dataset
from mpi.demo.synthetic import generate, write_dataset
from mpi.records import MatchContext
from mpi.store import db
from mpi.store import persons as person_store


class BackendCPU:
    """CPU seconds of the database's backends, sampled from /proc while a load runs.

    A backend's CPU is kept from its last sample (every ``interval`` seconds), so a backend
    that exits loses at most that much; Linux only (0 elsewhere).
    """

    def __init__(self, url: str, interval: float = 0.25) -> None:
        self.url, self.interval = url, interval
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.interval):
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                ).fetchall()
                for (pid,) in rows:
                    try:
                        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.seen[pid] = (int(stat[11]) + int(stat[12])) / tick

    def __enter__(self) -> BackendCPU:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="approximate record count")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs (median is reported)")
    parser.add_argument("--database", default=f"mpi_bench_load_{os.getpid()}")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the load")
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
        url = fresh_database(settings, args.database)
        total = 0
        profiler = cProfile.Profile()
        if args.profile:
            profiler.enable()
        cpu = time.process_time()
        started = time.perf_counter()
        with BackendCPU(url) as backends:
            for spec, report in load_dataset(
                url, ctx, dataset, paths, batch_size=settings.batch_size
            ):
                total += report.loaded
                print(
                    f"  run {run + 1} {spec.code:<17} {report.loaded:>7} records"
                    f" {report.per_second:>8,.0f}/s"
                )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        profiler.disable()
        rates.append(total / elapsed)
        with psycopg.connect(url) as conn:
            counts = person_store.counts(conn)
        print(
            f"run {run + 1}: {total} records in {elapsed:.1f}s = {total / elapsed:,.0f}"
            f" records/s; CPU per record: loader {cpu * 1e6 / total:.0f} µs,"
            f" PostgreSQL {backends.seconds * 1e6 / total:.0f} µs; {counts}"
        )
        if args.profile:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())
        if not args.keep:
            db.drop_database(db.server_url(settings), args.database)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"persons generated: {persons}; records: {total}")
    print(f"median records/s end to end: {statistics.median(rates):,.0f}")
    print(f"peak memory of the loading process: {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
