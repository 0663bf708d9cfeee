"""Benchmark: ``mpi db check`` (every store invariant and the audit chain) as the store grows.

The store grows in steps of about ``--step`` records: each step generates a synthetic
dataset (seed = step number) and bulk-loads its six systems under system codes of their
own (``GP_CLUSTER_S3`` ...), so local IDs never collide between steps. After each step
the whole check runs ``--repeat`` times and the median is printed, with the slowest
invariants. It stops after ``--records`` records or at ``--until`` (UTC, HH:MM), whichever
comes first, and says which.

    python bench/bench_check.py --records 1000000 --until 01:15 --database mpi_bench_check

The database is kept (``--database``), so a later run can go on from where it stopped
with ``--resume``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from matching.model import load_default_model
from mpi import integrity
from mpi.config import load_settings
from mpi.demo.run import fresh_database
from mpi.demo.synthetic import generate, write_dataset
from mpi.loading import load_file
from mpi.records import MatchContext
from mpi.store import db
from mpi.store import systems as system_store


def _records(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM source_record").fetchone()
    return int(row[0]) if row else 0


def _check(url: str, repeat: int) -> tuple[float, list[integrity.Finding]]:
    times, findings = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        with psycopg.connect(url) as conn:
            findings = integrity.check(conn)
        times.append(time.perf_counter() - started)
    broken = [f.name for f in findings if not f.ok]
    if broken:
        raise SystemExit(f"invariants breached: {broken}")
    return statistics.median(times), findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--until", default=None, help="UTC HH:MM to stop loading at")
    parser.add_argument("--database", default="mpi_bench_check")
    parser.add_argument("--resume", action="store_true", help="keep the database's records")
    args = parser.parse_args()
    settings = load_settings()
    ctx = MatchContext.build(settings, load_default_model())
    if args.resume:
        url = psycopg.conninfo.make_conninfo(db.server_url(settings), dbname=args.database)
    else:
        url = fresh_database(settings, args.database)
    deadline = None
    if args.until:
        hour, minute = (int(p) for p in args.until.split(":"))
        now = dt.datetime.now(dt.UTC)
        deadline = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if deadline < now:
            deadline += dt.timedelta(days=1)
    sample = generate(1000, seed=1)
    per_person = sum(len(v) for v in sample.records.values()) / 1000
    step = 0
    while True:
        total = _records(url)
        if total >= args.records:
            print(f"stopped: {total:,} records reached")
            break
        if deadline and dt.datetime.now(dt.UTC) >= deadline:
            print(f"stopped: deadline {args.until} UTC reached at {total:,} records")
            break
        step += 1
        dataset = generate(int(args.step / per_person), seed=1000 + step + total)
        folder = Path(tempfile.mkdtemp(prefix="mpi-bench-check-"))
        started = time.perf_counter()
        tag = f"S{total // args.step + 1}"
        specs = {s.code: s for s in dataset.systems}
        for path in write_dataset(dataset, folder):
            spec = specs.get(path.stem)
            if spec is None:
                continue
            with psycopg.connect(url) as conn:
                system = system_store.ensure_system(
                    conn, f"{spec.code}_{tag}", spec.name, spec.kind, spec.trust_rank
                )
            load_file(url, ctx, system, path, batch_size=settings.batch_size)
        loaded = time.perf_counter() - started
        total = _records(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        median, findings = _check(url, args.repeat)
        slowest = sorted(findings, key=lambda f: -f.seconds)[:3]
        print(
            f"{dt.datetime.now(dt.UTC):%H:%M} UTC {total:>9,} records (step loaded in"
            f" {loaded:.0f} s): db check median of {args.repeat} {median:.2f} s; slowest "
            + ", ".join(f"{f.name} {f.seconds:.2f} s" for f in slowest),
            flush=True,
        )


if __name__ == "__main__":
    main()
