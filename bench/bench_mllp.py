"""Benchmark: `mpi mllp` against `mpi serve` with N records stored, in the same run.

Loads synthetic records (six connected systems; ``--reuse`` keeps a loaded database),
starts `mpi mllp --processes 2` and `mpi serve --workers 2` on the same database, then measures with
``--clients`` concurrent connections (closed loop):

* ADT^A04 registrations with matching, and one ADT^A08 update for every four, over MLLP
  (python-hl7's ``MLLPClient``): messages per second, p50 and p99 acknowledgement latency;
* the same kind of registrations (other bodies of the same draw, new local IDs) as
  ``PUT /v1/systems/BENCH/records/{id}``;
* PIX queries (QBP^Q23) by each loaded system for its own records: queries per second.

Each measurement runs ``--repeat`` times; medians are printed.

    python bench/bench_mllp.py --records 100000 --clients 8
    python bench/bench_mllp.py --database mpi_bench_mllp --reuse --registrations 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import _database, _registrations, _run, _stored, _wait_ready  # noqa: E402
from hl7.client import MLLPClient  # noqa: E402

from mpi import access  # noqa: E402
from mpi.config import load_settings  # noqa: E402
from mpi.store import systems as system_store  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hl7_date(iso: str | None) -> str:
    return (iso or "").replace("-", "")


def adt_a04(control: str, local_id: str, body: dict[str, str], event: str = "A04") -> bytes:
    """An ADT^A04 (or ``event``: A08) of the BENCH system for one /v1-shaped body."""
    ids = f"{local_id}^^^BENCH^PI"
    if body.get("nhs_number"):
        ids += f"~{body['nhs_number']}^^^NHS^NH"
    sex = {"male": "M", "female": "F"}.get(body.get("sex") or "", "U")
    segments = [
        f"MSH|^~\\&|BENCH|BENCH|MPI|MPI|20240101120000||ADT^{event}^ADT_A01|{control}|P|2.5.1",
        f"EVN|{event}",
        f"PID|1||{ids}||{body.get('family_name', '')}^{body.get('given_name', '')}||"
        f"{_hl7_date(body.get('birth_date'))}|{sex}|||"
        f"{body.get('address_line', '')}^^^^{body.get('postcode', '')}||{body.get('phone', '')}",
        "PV1|1|O",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def qbp_q23(control: str, system: str, local_id: str) -> bytes:
    segments = [
        f"MSH|^~\\&|{system}|{system}|MPI|MPI|20240101120000||QBP^Q23^QBP_Q21|{control}|P|2.5",
        f"QPD|IHE PIX Query|{control}|{local_id}^^^{system}",
        "RCP|I",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def run_mllp(port: int, messages: list[bytes], clients: int) -> tuple[float, list[float], int]:
    """Send over ``clients`` connections, one message at a time each; (s, latencies, not AA)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    chunks = [messages[i::clients] for i in range(clients)]
    started = time.perf_counter()

    def worker(chunk: list[bytes]) -> None:
        mine, bad = [], 0
        with MLLPClient("127.0.0.1", port) as client:
            for message in chunk:
                t = time.perf_counter()
                reply = client.send_message(message)
                mine.append(time.perf_counter() - t)
                bad += b"MSA|AA|" not in reply
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors[0]


def figures(seconds: float, latencies: list[float], errors: int) -> tuple[float, ...]:
    ordered = sorted(latencies)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000
    return len(ordered) / seconds, statistics.median(ordered) * 1000, p99, errors


def report(name: str, runs: list[tuple[float, ...]]) -> None:
    for rate, p50, p99, errors in runs:
        print(f"  {name:<34} {rate:>7,.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {errors} err")
    med = [statistics.median(r[i] for r in runs) for i in range(3)]
    print(
        f"{name:<36} {med[0]:>7,.0f}/s  p50 {med[1]:6.1f} ms  p99 {med[2]:6.1f} ms"
        f"  (median of {len(runs)})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database", default="mpi_bench_mllp")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--registrations", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2, help="mpi mllp processes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    settings = load_settings()
    url = _database(settings, args.database, args.records, args.seed, args.reuse)
    with psycopg.connect(url) as conn:
        system_store.ensure_system(conn, "BENCH", "Bench", "hospital", 5)
        token = access.issue_token(conn, "BENCH", ["register", "lookup"], actor="bench")
        stamp = conn.execute("SELECT count(*) FROM source_record").fetchone()[0]  # type: ignore[index]
    print(f"{stamp} records stored")
    stored = [s for s in _stored(url) if s[0] != "BENCH"]
    bodies = _registrations(url, 2 * args.repeat * args.registrations, args.seed)
    env = {**os.environ, "DATABASE_URL": url}
    mllp_port, http_port = _free_port(), _free_port()
    cli = [sys.executable, "-c", "from mpi.cli import main; main()"]
    mllp = subprocess.Popen(
        [*cli, "mllp", "--bind", f"127.0.0.1:{mllp_port}", "--processes", str(args.processes)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    http = subprocess.Popen(
        [*cli, "serve", "--bind", f"127.0.0.1:{http_port}", "--workers", "2"],
        env={**env, "MPI_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(http_port)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", mllp_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        stamp = int(time.time())
        adt_runs, v1_runs, pix_runs = [], [], []
        n = args.registrations
        rng = random.Random(args.seed)
        for run in range(args.repeat):
            ours = bodies[2 * run * n : (2 * run + 1) * n]
            theirs = bodies[(2 * run + 1) * n : (2 * run + 2) * n]
            # four in five register (A04), one in five updates a record just sent (A08, a
            # new phone number): a PAS feed's mix of new patients and changes
            messages = []
            for i, b in enumerate(ours):
                messages.append(adt_a04(f"B{stamp}-{run}-{i}", f"H{stamp}-{run}-{i}", b))
                if i % 4 == 3:
                    moved = {**b, "phone": f"07700 9{i:05d}"}
                    local = f"H{stamp}-{run}-{i - 3}"
                    messages.append(adt_a04(f"U{stamp}-{run}-{i}", local, moved, "A08"))
            adt_runs.append(figures(*run_mllp(mllp_port, messages, args.clients)))
            requests = [
                ("PUT", f"/v1/systems/BENCH/records/V{stamp}-{run}-{i}", json.dumps(b).encode())
                for i, b in enumerate(theirs)
            ]
            v1_runs.append(figures(*_run(http_port, requests, token, args.clients)))
            sample = [rng.choice(stored) for _ in range(args.lookups)]
            queries = [
                qbp_q23(f"Q{stamp}-{run}-{i}", system, local)
                for i, (system, local) in enumerate(sample)
            ]
            pix_runs.append(figures(*run_mllp(mllp_port, queries, args.clients)))
        print(f"{args.clients} clients, {n} registrations and {args.lookups} PIX queries a run")
        report("ADT^A04/A08 over MLLP (ACK)", adt_runs)
        report("PUT /v1 registrations", v1_runs)
        report("QBP^Q23 PIX over MLLP", pix_runs)
    finally:
        for process in (mllp, http):
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
