"""Benchmark: PIXm lookups and registrations under `mpi serve` at 1M records against 100k.

Three steps, each its own command, so the long load can be run once and the
measurements repeated:

``load``
    Bulk-loads synthetic records over the six systems of :mod:`mpi.synthetic` (GP,
    two hospitals, mental health, social care, the FHIR portal) into
    ``<database>_100k`` until ``--small`` records, copies that database (``CREATE
    DATABASE ... TEMPLATE``) to ``<database>_1m`` and goes on loading it to ``--records``.
    The store grows in steps of about ``--step`` records, each a dataset of its own seed
    whose local IDs carry the count before it (``S200154-...``) so steps never collide;
    the systems stay the same six (``bench/bench_check.py`` made six per step). Prints
    each step's load time and rate, and each database's size after ``VACUUM ANALYZE``.

``measure``
    For each database in turn, ``--repeat`` times (100k, 1M, 100k, 1M, ... back to back):
    starts ``mpi serve`` (gunicorn, ``--workers``), runs ``--clients`` threads of PIXm
    lookups (``GET /fhir/Patient/$ihe-pix`` by a random GP local ID) for ``--seconds``,
    then as many threads of registrations (``PUT /v1/systems/GP_CLUSTER/records/...`` of
    records of people not yet loaded, new local IDs per run) for ``--seconds``. Prints rate
    and p50/p99 per run, then the medians and the 1M/100k ratios, and ``uptime``.

``explain``
    EXPLAIN ANALYZE (``auto_explain`` in each session, nested statements included) of
    every statement that PIXm lookups and registrations run, through the service's own
    routes in process (a Flask test client on the database); the first of each warms the
    caches. Prints statements a request and the plans of the slowest. The registrations
    stay in the database (local IDs ``EXPLAIN-...``).

    python bench/bench_scale.py load --records 1000000 --small 100000 --database mpi_scale
    python bench/bench_scale.py measure --database mpi_scale --repeat 3 --seconds 20
    python bench/bench_scale.py explain --database mpi_scale_1m
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import multiprocessing
import random
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import make_conninfo

from matching.model import load_default_model
from mpi import access
from mpi.config import load_settings
from mpi.demo.run import fresh_database
from mpi.demo.synthetic import generate, write_dataset
from mpi.loading import CSV_COLUMNS, load_file
from mpi.records import MatchContext
from mpi.store import db
from mpi.store import systems as system_store
from tests.ops import drills

GP = "GP_CLUSTER"


def _records(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM source_record").fetchone()
    return int(row[0]) if row else 0


def _url(settings: Any, name: str) -> str:
    return make_conninfo(db.server_url(settings), dbname=name)


def _size(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        row = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database())),"
            " pg_database_size(current_database())"
        ).fetchone()
    assert row is not None
    return f"{row[0]} ({row[1]:,} bytes)"


def _dataset(persons: int, seed: int, tag: str) -> Any:
    """A synthetic dataset whose local IDs carry ``tag`` (so steps never collide)."""
    dataset = generate(persons, seed=seed)
    records = {
        code: [dataclasses.replace(r, local_id=f"{tag}-{r.local_id}") for r in rows]
        for code, rows in dataset.records.items()
    }
    return dataclasses.replace(dataset, records=records)


def _step(url: str, tag: str, seed: int, persons: int) -> tuple[str, int, float]:
    """Generate one dataset and bulk-load its six systems; (tag, records, seconds)."""
    settings = load_settings()
    ctx = MatchContext.build(settings, load_default_model())
    dataset = _dataset(persons, seed=seed, tag=tag)
    folder = Path(tempfile.mkdtemp(prefix="mpi-bench-scale-"))
    started = time.perf_counter()
    specs = {s.code: s for s in dataset.systems}
    for path in write_dataset(dataset, folder):
        spec = specs.get(path.stem)
        if spec is None:
            continue
        with psycopg.connect(url) as conn:
            system = system_store.ensure_system(
                conn, spec.code, spec.name, spec.kind, spec.trust_rank
            )
        load_file(url, ctx, system, path, batch_size=settings.batch_size)
    count = sum(len(v) for v in dataset.records.values())
    return tag, count, time.perf_counter() - started


def _grow(url: str, until: int, step: int, jobs: int) -> None:
    """Load steps of about ``step`` records until ``until``, ``jobs`` loads at a time (each
    a process of its own; their batches take the matching lock in turn, so they overlap
    in generating, parsing and scoring, not in linking)."""
    sample = generate(1000, seed=1)
    per_person = sum(len(v) for v in sample.records.values()) / 1000
    first = _records(url)
    if first >= until:
        return
    steps = -(-(until - first) // step)
    persons = max(10, int(min(step, until - first) / per_person))
    tasks = [(url, f"S{first}-{i}", 1000 + first + i, persons) for i in range(steps)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        for tag, count, seconds in pool.imap_unordered(_step_task, tasks):
            now = _records(url)
            print(
                f"{dt.datetime.now(dt.UTC):%H:%M} UTC step {tag}: {count:,} rows in"
                f" {seconds:.0f} s, {now:,} records in all"
                f" ({(now - first) / (time.perf_counter() - started):.0f}/s overall)",
                flush=True,
            )


def _step_task(task: tuple[str, str, int, int]) -> tuple[str, int, float]:
    return _step(*task)


def load(args: argparse.Namespace) -> None:
    settings = load_settings()
    small, large = f"{args.database}_100k", f"{args.database}_1m"
    started = time.perf_counter()
    url = _url(settings, small) if args.resume else fresh_database(settings, small)
    _grow(url, args.small, args.step, args.jobs)
    small_seconds = time.perf_counter() - started
    print(f"{small}: {_records(url):,} records, loaded in {small_seconds:.0f} s, {_size(url)}")
    if not args.resume:
        db.drop_database(db.server_url(settings), large)
        with psycopg.connect(db.server_url(settings), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{large}" TEMPLATE "{small}"')
    started = time.perf_counter()
    url = _url(settings, large)
    _grow(url, args.records, args.step, args.jobs)
    seconds = small_seconds + time.perf_counter() - started
    print(f"{large}: {_records(url):,} records, loaded in {seconds:.0f} s in all, {_size(url)}")


def _token(url: str) -> str:
    with psycopg.connect(url) as conn:
        return access.issue_token(conn, GP, ["register", "lookup"], actor="bench")


def _local_ids(url: str, count: int) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT r.local_id FROM source_record r JOIN source_system s ON s.id = r.system_id"
            " WHERE s.code = %s AND r.status = 'active' ORDER BY random() LIMIT %s",
            (GP, count),
        ).fetchall()
    return [r[0] for r in rows]


def _newcomers(count: int, seed: int) -> list[dict[str, str]]:
    """Registration bodies of people not in the store (a dataset of a seed of their own)."""
    dataset = generate(count, seed=seed)
    valid = {local_id for system, local_id, _ in dataset.truth if system == GP}
    bodies = []
    for record in [r for r in dataset.records[GP] if r.local_id in valid][:count]:
        row = dict(zip(CSV_COLUMNS, record.csv_row(), strict=True))
        row.pop("local_id")
        bodies.append({k: v for k, v in row.items() if v})
    return bodies


def _clients(clients: int, seconds: float, one: Any) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        rng = random.Random(number)
        mine, bad, n = [], 0, 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            ok = one(number, n, rng)
            mine.append(time.perf_counter() - started)
            bad += 0 if ok else 1
            n += 1
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / seconds, sorted(latencies), failures[0]


def _figures(rate: float, latencies: list[float]) -> tuple[float, float, float]:
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return rate, p50, p99


def _measure_once(
    base: str,
    token: str,
    ids: list[str],
    bodies: list[dict[str, str]],
    tag: str,
    clients: int,
    seconds: float,
) -> list[tuple[str, tuple[float, float, float], int]]:
    """PIXm lookups for ``seconds``, then registrations (local IDs ``tag-client-n``)."""
    pix = f"/fhir/Patient/$ihe-pix?sourceIdentifier={quote(f'urn:mpi:system:{GP}|')}"

    def lookup(_client: int, _n: int, rng: random.Random) -> bool:
        local_id = quote(rng.choice(ids), safe="")
        return drills.call(base, "GET", pix + local_id, token) == 200

    def registration(client: int, n: int, _rng: random.Random) -> bool:
        body = bodies[(client * 997 + n) % len(bodies)]
        path = f"/v1/systems/{GP}/records/{tag}-{client}-{n}"
        return 200 <= drills.call(base, "PUT", path, token, body) < 300

    lookup(0, 0, random.Random(0))  # warm the worker
    out = []
    for kind, one in (("lookup", lookup), ("register", registration)):
        rate, latencies, failed = _clients(clients, seconds, one)
        out.append((kind, _figures(rate, latencies), failed))
    return out


def measure(args: argparse.Namespace) -> None:
    settings = load_settings()
    names = [f"{args.database}_100k", f"{args.database}_1m"]
    prepared = {}
    for name in names:
        url = _url(settings, name)
        prepared[name] = (url, _token(url), _local_ids(url, 20000), _records(url))
    bodies = _newcomers(4000, seed=777)
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    folder = Path(tempfile.mkdtemp(prefix="mpi-bench-scale-serve-"))
    print(f"{dt.datetime.now(dt.UTC):%H:%M} UTC {subprocess.getoutput('uptime')}", flush=True)
    for run in range(args.repeat):
        for name in names:
            url, token, ids, count = prepared[name]
            service = drills.Service(url, folder / f"{name}.log", workers=args.workers)
            try:
                for kind, figures, failed in _measure_once(
                    service.base, token, ids, bodies, f"B{run}", args.clients, args.seconds
                ):
                    results.setdefault((kind, name), []).append(figures)
                    print(
                        f"{dt.datetime.now(dt.UTC):%H:%M:%S} run {run + 1} {name} ({count:,})"
                        f" {kind:<8} {figures[0]:6.1f}/s p50 {figures[1]:6.1f} ms"
                        f" p99 {figures[2]:6.1f} ms failed {failed}",
                        flush=True,
                    )
            finally:
                service.stop()
    print(f"{dt.datetime.now(dt.UTC):%H:%M} UTC {subprocess.getoutput('uptime')}")
    for kind in ("lookup", "register"):
        medians = {}
        for name in names:
            rows = results[(kind, name)]
            medians[name] = tuple(statistics.median(r[i] for r in rows) for i in range(3))
            rate, p50, p99 = medians[name]
            print(f"median {kind:<8} {name}: {rate:6.1f}/s p50 {p50:6.1f} ms p99 {p99:6.1f} ms")
        small, large = medians[names[0]], medians[names[1]]
        print(
            f"ratio {kind:<8} 1M/100k: rate {large[0] / small[0]:.2f}x"
            f" p99 {large[2] / small[2]:.2f}x"
        )


def explain(args: argparse.Namespace) -> None:
    import os

    os.environ["PGOPTIONS"] = " ".join(
        f"-c {setting}"
        for setting in (
            "session_preload_libraries=auto_explain",
            "auto_explain.log_min_duration=0",
            "auto_explain.log_analyze=on",
            "auto_explain.log_buffers=on",
            "auto_explain.log_nested_statements=on",
            "auto_explain.log_level=notice",
        )
    )
    from api import create_app

    settings = load_settings()
    url = _url(settings, args.database)
    token, ids = _token(url), _local_ids(url, 5)
    bodies = _newcomers(10, seed=778)
    plans: list[tuple[float, str, str]] = []
    phase = ["warm"]

    def notice(diag: Any) -> None:
        text = diag.message_primary or ""
        if "duration:" in text:
            ms = float(text.split("duration:")[1].split("ms")[0])
            plans.append((ms, phase[0], text))

    connect = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]

    def connect_with_notices(cls: Any, *a: Any, **k: Any) -> Any:
        conn = connect(cls, *a, **k)
        conn.add_notice_handler(notice)
        return conn

    psycopg.Connection.connect = classmethod(connect_with_notices)  # type: ignore[assignment]
    app = create_app({"DATABASE_URL": url, "POOL_MIN_SIZE": 1, "POOL_MAX_SIZE": 1})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    pix = f"/fhir/Patient/$ihe-pix?sourceIdentifier={quote(f'urn:mpi:system:{GP}|')}"
    for n, local_id in enumerate(ids):  # the first of each warms caches and plans
        phase[0] = "lookup" if n else "warm"
        r = client.get(pix + quote(local_id, safe=""), headers=headers)
        assert r.status_code == 200, r.json
        phase[0] = "register" if n else "warm"
        path = f"/v1/systems/{GP}/records/EXPLAIN-{uuid.uuid4().hex[:8]}"
        r = client.put(path, json=bodies[n], headers=headers)
        assert r.status_code in (200, 201), r.json
    for kind in ("lookup", "register"):
        mine = sorted((p for p in plans if p[1] == kind), key=lambda p: -p[0])
        total = sum(p[0] for p in mine) / (len(ids) - 1)
        print(
            f"== {kind}: {len(mine) // (len(ids) - 1)} statements a request, {total:.1f} ms"
            f" a request in the database; the slowest {args.top} of {len(ids) - 1} requests:"
        )
        scans = sorted(
            {
                line.split("Seq Scan on ")[1].split()[0]
                for _, _, text in mine
                for line in text.splitlines()
                if "Seq Scan on " in line and "never executed" not in line
            }
        )
        print(f"   sequential scans run: {', '.join(scans) or 'none'}")
        for ms, _, text in mine[: args.top]:
            print(f"-- {ms:.2f} ms\n{text}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("load")
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--small", type=int, default=100_000)
    p.add_argument("--step", type=int, default=100_000)
    p.add_argument("--database", default="mpi_scale")
    p.add_argument("--jobs", type=int, default=1, help="loads at a time (processes)")
    p.add_argument("--resume", action="store_true", help="go on loading existing databases")
    p.set_defaults(run=load)
    p = sub.add_parser("measure")
    p.add_argument("--database", default="mpi_scale")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(run=measure)
    p = sub.add_parser("explain")
    p.add_argument("--database", default="mpi_scale_1m")
    p.add_argument("--top", type=int, default=6)
    p.set_defaults(run=explain)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
