"""Cost of the disclosure rule on identity events: a bulk load with webhook subscriptions,
and ``GET /v1/events`` pages.

Run from the repository root against a PostgreSQL server (it creates and drops its own
database ``mpi_event_bench``):

    PYTHONPATH=. python bench/bench_event_disclosure.py postgresql://postgres@127.0.0.1:5432/ 5000

It generates the demo's synthetic systems for that many people, subscribes one webhook
per system (so that every identity event is fanned out to the systems that may see its
persons, migration 0020), loads every file and prints the load time and the outbox rows.
Then it times the first page of 500 events for each system and for a system holding
nothing (median of 7).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from mpi.config import Settings
from mpi.demo.run import load_dataset
from mpi.demo.synthetic import generate, write_dataset
from mpi.models_registry import active_model
from mpi.records import MatchContext
from mpi.store import systems as system_store
from mpi.store.access import events_for_system
from mpi.store.migrate import upgrade

DATABASE = "mpi_event_bench"


def main(server: str, persons: int) -> None:
    """Load with subscriptions, then page through events."""
    with psycopg.connect(server + "postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    url = server + DATABASE
    try:
        dataset = generate(persons, seed=1)
        paths = write_dataset(dataset, Path(tempfile.mkdtemp(prefix="event-bench-")))
        upgrade(url)
        with psycopg.connect(url) as conn:
            for spec in dataset.systems:
                system = system_store.ensure_system(
                    conn, spec.code, spec.name, spec.kind, spec.trust_rank
                )
                conn.execute(
                    "INSERT INTO webhook_subscription (system_id, url, secret)"
                    " VALUES (%s, 'https://receiver.example/hooks', 'secret')",
                    (system.id,),
                )
            ctx = MatchContext.build(Settings(database_url=url), active_model(conn))
        started = time.perf_counter()
        loaded = sum(r.loaded for _, r in load_dataset(url, ctx, dataset, paths))
        took = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            (outbox,) = conn.execute("SELECT count(*) FROM webhook_outbox").fetchone() or (0,)
            (events,) = conn.execute("SELECT count(*) FROM identity_event").fetchone() or (0,)
            print(f"load: {loaded} records, {events} events, {outbox} outbox rows in {took:.1f} s")
            nobody = system_store.ensure_system(conn, "NOBODY", "Nobody", "portal", 9)
            systems = conn.execute("SELECT id, code FROM source_system ORDER BY id").fetchall()
            for system_id, code in systems:
                times = []
                for _ in range(7):
                    t = time.perf_counter()
                    rows = events_for_system(conn, system_id, 0, 500, everything=False)
                    times.append((time.perf_counter() - t) * 1000)
                mark = " (holds nothing)" if system_id == nobody.id else ""
                print(
                    f"events page: {code:<17}{mark} {statistics.median(times):7.1f} ms,"
                    f" {len(rows)} events"
                )
    finally:
        with psycopg.connect(server + "postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000)
