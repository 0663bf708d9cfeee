"""Benchmark: lookups (`GET /v1/systems/{s}/records/{id}`) on the primary alone against
primary plus a streaming replica (``MPI_READ_DATABASE_URL``).

Makes its own primary and standby (initdb, pg_basebackup -R; the clusters of the fault
drills, ``tests/ops/drills.py``), registers ``--patients`` records, then runs `mpi serve`
(gunicorn, ``--workers``) once without and once with the replica, alternating ``--repeat``
times, each with ``--clients`` threads resolving random local IDs for ``--seconds``.
Prints lookups per second and p50/p99 latency, medians over the runs.

    PYTHONPATH=. python bench/bench_replica.py --patients 1000 --clients 8 --seconds 15 --repeat 3
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from psycopg.conninfo import make_conninfo

from tests.ops import drills


def _run(
    base: str, token: str, patients: int, clients: int, seconds: float
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            status = drills.call(
                base, "GET", f"/v1/systems/GP/records/L{rng.randrange(patients)}", token
            )
            assert status == 200, status
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / seconds, sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mpi-bench-replica-"))
    folder.chmod(0o755)
    primary = drills.Cluster(folder / "primary", "wal_level=replica")
    primary.start()
    standby = None
    try:
        with drills.fresh_database(primary.url) as url:
            standby = drills.Cluster.standby_of(primary, folder / "standby")
            standby.start()
            replica_url = make_conninfo(url, port=standby.port)
            token, _ = drills.add_system(url)
            service = drills.Service(url, folder / "load.log", workers=args.workers)
            for n in range(args.patients):
                assert (
                    200
                    <= drills.call(
                        service.base,
                        "PUT",
                        f"/v1/systems/GP/records/L{n}",
                        token,
                        drills.patient(n),
                    )
                    < 300
                )
            service.stop()
            time.sleep(2)
            figures: dict[str, list[tuple[float, float, float]]] = {"primary": [], "replica": []}
            for run in range(args.repeat):
                for label in ("primary", "replica"):
                    env = {"MPI_READ_DATABASE_URL": replica_url} if label == "replica" else {}
                    service = drills.Service(
                        url, folder / f"{label}.log", workers=args.workers, **env
                    )
                    try:
                        drills.call(service.base, "GET", "/v1/systems/GP/records/L0", token)
                        rate, lat = _run(
                            service.base, token, args.patients, args.clients, args.seconds
                        )
                    finally:
                        service.stop()
                    p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
                    figures[label].append((rate, p50, p99))
                    print(
                        f"run {run + 1} {label:<8} {rate:7.0f} lookups/s"
                        f" p50 {p50:.1f} ms p99 {p99:.1f} ms",
                        flush=True,
                    )
            for label, rows in figures.items():
                print(
                    f"median {label:<8} {statistics.median(r[0] for r in rows):7.0f} lookups/s"
                    f" p50 {statistics.median(r[1] for r in rows):.1f} ms"
                    f" p99 {statistics.median(r[2] for r in rows):.1f} ms"
                )
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
