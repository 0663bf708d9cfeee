"""Benchmark: the HTTP service under gunicorn with N records stored.

Loads synthetic records (six connected systems) into a fresh database, starts gunicorn
with ``--workers`` workers (pinned to ``--cores`` CPUs with taskset when available), then
measures with concurrent clients:

* PIXm ``$ihe-pix`` lookups and /v1 resolves: requests per second, p50 and p99 latency;
* registrations with matching (``PUT /v1/systems/{system}/records/{id}``, new records of
  existing and new people): requests per second and p99.

    python bench/bench_api.py --records 100000 --workers 4 --cores 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from matching.model import load_default_model
from mpi import access
from mpi.config import load_settings
from mpi.demo import fresh_database
from mpi.loading import load_file
from mpi.records import MatchContext
from mpi.store import systems as system_store
from mpi.store import tokens as token_store
from mpi.synthetic import generate, write_dataset


def _load(url: str, records: int, seed: int) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    settings = load_settings()
    ctx = MatchContext.build(settings, load_default_model())
    sample = generate(1000, seed=seed)
    per_person = sum(len(v) for v in sample.records.values()) / 1000
    dataset = generate(int(records / per_person), seed=seed)
    folder = Path(tempfile.mkdtemp(prefix="mpi-bench-api-"))
    paths = write_dataset(dataset, folder)
    specs = {s.code: s for s in dataset.systems}
    loaded: list[tuple[str, str]] = []
    started = time.perf_counter()
    for path in paths:
        if path.stem not in specs:
            continue
        spec = specs[path.stem]
        with psycopg.connect(url) as conn:
            system = system_store.ensure_system(
                conn, spec.code, spec.name, spec.kind, spec.trust_rank
            )
            token_store.set_identifier_system(conn, spec.code, f"urn:bench:{spec.code}")
        load_file(url, ctx, system, path, batch_size=settings.batch_size)
        loaded += [(spec.code, r.local_id) for r in dataset.records[spec.code]]
    print(f"loaded {len(loaded)} records in {time.perf_counter() - started:.0f}s")
    fresh = [
        {
            "nhs_number": r.nhs_number,
            "given_name": r.given_name,
            "family_name": r.family_name,
            "sex": r.sex,
            "birth_date": r.birth_date,
            "address_line": r.address_line,
            "postcode": r.postcode,
            "phone": r.phone,
        }
        for records_ in dataset.records.values()
        for r in records_
    ]
    return loaded, fresh


def _run(
    port: int, requests: list[tuple[str, str, bytes | None]], token: str, clients: int
) -> tuple[float, list[float], int]:
    """Send the requests over ``clients`` keep-alive connections; (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    chunks = [requests[i::clients] for i in range(clients)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def worker(chunk: list[tuple[str, str, bytes | None]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        bad = 0
        for method, path, body in chunk:
            t = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t)
            bad += response.status >= 400
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors[0]


def _report(name: str, seconds: float, latencies: list[float], errors: int) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"{name:<32} {len(ordered) / seconds:>8,.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        f"  ({len(ordered)} requests, {errors} errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--cores", type=int, default=2, help="CPUs gunicorn is pinned to")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client connections")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    settings = load_settings()
    url = fresh_database(settings, "mpi_bench_api")
    loaded, fresh = _load(url, args.records, args.seed)
    with psycopg.connect(url) as conn:
        system_store.ensure_system(conn, "BENCH", "Bench", "hospital", 5)
        token_store.set_identifier_system(conn, "BENCH", "urn:bench:BENCH")
        token = access.issue_token(conn, "BENCH", ["register", "lookup", "admin"], actor="bench")
    env = {**os.environ, "DATABASE_URL": url, "MPI_POOL_MAX_SIZE": "8"}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{args.port}",
        "--log-level",
        "warning",
        "api:create_app()",
    ]
    if shutil.which("taskset"):
        command = ["taskset", "-c", f"0-{args.cores - 1}", *command]
    server = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent)
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        rng = random.Random(args.seed)
        sample = [rng.choice(loaded) for _ in range(args.lookups)]
        pix = [
            ("GET", f"/fhir/Patient/$ihe-pix?sourceIdentifier=urn:bench:{s}|{lid}", None)
            for s, lid in sample
        ]
        resolve = [("GET", f"/v1/systems/{s}/records/{lid}", None) for s, lid in sample]
        _run(args.port, pix[:200], token, args.clients)  # warm-up
        _report("PIXm $ihe-pix", *_run(args.port, pix, token, args.clients))
        _report("/v1 resolve", *_run(args.port, resolve, token, args.clients))
        bodies = rng.sample(fresh, min(args.registrations, len(fresh)))
        register = [
            ("PUT", f"/v1/systems/BENCH/records/B{n}", json.dumps(b).encode())
            for n, b in enumerate(bodies)
        ]
        _report("registrations with matching", *_run(args.port, register, token, args.clients))
        print(
            f"records stored: {len(loaded)}; gunicorn workers {args.workers} on "
            f"{args.cores} cores; {args.clients} clients"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
