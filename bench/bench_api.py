"""Benchmark: the HTTP service under gunicorn with N records stored.

Loads synthetic records (six connected systems) into a fresh database, starts gunicorn
with ``--workers`` workers (pinned to ``--cores`` CPUs with taskset when available), then
measures with concurrent clients:

* PIXm ``$ihe-pix`` lookups and /v1 resolves: requests per second, p50 and p99 latency;
* registrations with matching (``PUT /v1/systems/{system}/records/{id}``, new records of
  existing and new people): requests per second and p99.

Each measurement runs ``--repeat`` times; the medians are reported, with the CPU
milliseconds per request of the service (gunicorn and its database backends) and of the
client, which move less than the rates on a shared machine. ``--reuse`` keeps a database
of that name that is already loaded.

By default the clients run a closed loop (each sends its next request when the last is
answered), which gives the highest rate, with latencies that grow with ``--clients``.
``--lookup-rate`` and ``--register-rate`` offer a fixed rate instead (open loop): the p99
at the target rate, counted from when each request was due.

    python bench/bench_api.py --records 100000 --workers 2 --threads 4 --cores 2
    python bench/bench_api.py --database mpi_bench_api_100k --reuse --only pix --clients 8
    python bench/bench_api.py --database mpi_bench_api_100k --reuse --clients 16 \\
        --lookup-rate 1000 --register-rate 200
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from matching.model import load_default_model
from mpi import access
from mpi.config import load_settings
from mpi.demo.run import fresh_database
from mpi.demo.synthetic import generate, write_dataset
from mpi.loading import CSV_COLUMNS, load_file
from mpi.records import MatchContext
from mpi.store import db, migrate
from mpi.store import systems as system_store
from mpi.store import tokens as token_store


def _dataset(records: int, seed: int) -> Any:
    sample = generate(1000, seed=seed)
    per_person = sum(len(v) for v in sample.records.values()) / 1000
    return generate(int(records / per_person), seed=seed)


def _load(url: str, dataset: Any) -> None:
    settings = load_settings()
    ctx = MatchContext.build(settings, load_default_model())
    folder = Path(tempfile.mkdtemp(prefix="mpi-bench-api-"))
    paths = write_dataset(dataset, folder)
    specs = {s.code: s for s in dataset.systems}
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
    print(f"loaded the records in {time.perf_counter() - started:.0f}s")


def _stored(url: str) -> list[tuple[str, str]]:
    """The active records in the database, as (system, local ID)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.code, r.local_id FROM source_record r"
            " JOIN source_system s ON s.id = r.system_id"
            " JOIN link l ON l.record_id = r.id"
            " WHERE r.status = 'active' AND s.code <> 'BENCH' ORDER BY r.id"
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def lookup_sample(
    loaded: list[tuple[str, str]], count: int, missing: float, seed: int
) -> list[tuple[str, str]]:
    """``count`` lookups drawn from ``loaded`` (system, local ID), a fraction ``missing`` of
    them for local IDs that are not stored."""
    rng = random.Random(seed)
    return [
        (s, f"missing-{n}" if rng.random() < missing else lid)
        for n, (s, lid) in enumerate(rng.choice(loaded) for _ in range(count))
    ]


def pix_path(system: str, local_id: str) -> str:
    """The PIXm query for one record of a bench-loaded system."""
    return f"/fhir/Patient/$ihe-pix?sourceIdentifier=urn:bench:{system}|{local_id}"


def resolve_path(system: str, local_id: str) -> str:
    """The /v1 resolve of one record."""
    return f"/v1/systems/{system}/records/{local_id}"


_FIELDS = CSV_COLUMNS[1:]  # the fields every load CSV has


def _registrations(url: str, count: int, seed: int) -> list[dict[str, str]]:
    """Half new records of people already stored, half records of new people."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT setseed(%s)", (seed / 1000,))
        rows = conn.execute(
            "SELECT raw FROM source_record WHERE status = 'active'"
            # the flat (CSV-shaped) payloads; the portal's are FHIR Patients
            " AND raw ?| array['nhs_number', 'family_name', 'given_name']"
            " ORDER BY random() LIMIT %s",
            (count // 2,),
        ).fetchall()
    known = [{k: v for k, v in r[0].items() if k in _FIELDS and v} for r in rows]
    new = _bodies(_dataset(max(2000, count), seed))
    random.Random(seed).shuffle(new)
    bodies = known + new[: count - len(known)]
    random.Random(seed).shuffle(bodies)
    return bodies


def _bodies(dataset: Any) -> list[dict[str, str]]:
    return [
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


def _database(settings: Any, name: str, records: int, seed: int, reuse: bool) -> str:
    """The benchmark database: reused when asked and already loaded, else made afresh."""
    server = db.server_url(settings)
    url = psycopg.conninfo.make_conninfo(server, dbname=name)
    if reuse:
        try:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM source_record").fetchone()
            if row and row[0] >= records * 0.95:
                migrate.upgrade(url)
                print(f"reusing {name}: {row[0]} records")
                return url
        except psycopg.OperationalError:
            pass
    url = fresh_database(settings, name)
    _load(url, _dataset(records, seed))
    return url


class _Client:
    """A lean HTTP/1.1 client on one socket: pre-encoded requests, minimal response parsing.

    The load generator shares the two cores with the service, so its own CPU per request
    is kept small (``http.client`` parses every response's headers with the email
    parser). It reconnects when the server closes the connection (sync workers do).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""
        return sock

    def send(self, request: bytes) -> int:
        """Send one request and read its whole response; the HTTP status."""
        sock = self.sock or self._connect()
        try:
            sock.sendall(request)
            return self._response(sock)
        except (ConnectionError, _Closed):
            sock = self._connect()  # the server closed an idle keep-alive connection
            sock.sendall(request)
            return self._response(sock)

    def _recv(self, sock: socket.socket) -> None:
        data = sock.recv(65536)
        if not data:
            raise _Closed
        self.buffer += data

    def _response(self, sock: socket.socket) -> int:
        while b"\r\n\r\n" not in self.buffer:
            self._recv(sock)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:  # no length: the body ends when the server closes
            while sock.recv(65536):
                pass
            close, rest = True, b""
        else:
            while len(rest) < length:
                data = sock.recv(65536)
                if not data:
                    raise _Closed
                rest += data
        self.buffer = rest[length or 0 :]
        if close:
            sock.close()
            self.sock = None
        return status


class _Closed(Exception):
    """The server closed the connection before a whole response arrived."""


def _encode(method: str, path: str, body: bytes | None, token: str) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body or b'')}\r\n\r\n"
    )
    return head.encode() + (body or b"")


def _run(
    port: int,
    requests: list[tuple[str, str, bytes | None]],
    token: str,
    clients: int,
    rate: float | None = None,
) -> tuple[float, list[float], int]:
    """Send the requests over ``clients`` keep-alive connections; (seconds, latencies, errors).

    Closed loop by default: each client sends its next request when the last one is
    answered. With ``rate``, open loop: request ``i`` is due at ``start + i / rate`` and its
    latency counts from when it was due, so a client held up by a slow answer does not hide
    the wait (no coordinated omission).
    """
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    encoded = list(enumerate(_encode(method, path, body, token) for method, path, body in requests))
    chunks = [encoded[i::clients] for i in range(clients)]
    started = time.perf_counter() + 0.05

    def worker(chunk: list[tuple[int, bytes]]) -> None:
        client = _Client(port)
        mine = []
        bad = 0
        for i, request in chunk:
            t = time.perf_counter()
            if rate is not None:
                due = started + i / rate
                if due > t:
                    time.sleep(due - t)
                t = due
            status = client.send(request)
            mine.append(time.perf_counter() - t)
            bad += status >= 400
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors[0]


def bench_token(url: str, scopes: list[str]) -> str:
    """A new bearer token of the benchmark's own connected system ``BENCH``."""
    with psycopg.connect(url) as conn:
        system_store.ensure_system(conn, "BENCH", "Bench", "hospital", 5)
        token_store.set_identifier_system(conn, "BENCH", "urn:bench:BENCH")
        return access.issue_token(conn, "BENCH", scopes, actor="bench")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def backend_pids(url: str) -> list[int]:
    """The database's other backends (the app's or gunicorn's connections)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def _server_pids(server: subprocess.Popen[bytes], url: str) -> list[int]:
    """gunicorn's master and workers, and the database backends serving them."""
    pids = [server.pid, *_children(server.pid)]
    return pids + backend_pids(url)


Figures = tuple[float, float, float, int, float, float]


def _measure(
    port: int,
    requests: list[tuple[str, str, bytes | None]],
    token: str,
    clients: int,
    server: subprocess.Popen[bytes],
    url: str,
    rate: float | None = None,
) -> Figures:
    """One run: (requests/s, p50 ms, p99 ms, errors, service CPU ms and client CPU ms each)."""
    pids = _server_pids(server, url)
    server_cpu = cpu_seconds(pids)
    client_cpu = time.process_time()
    seconds, latencies, errors = _run(port, requests, token, clients, rate)
    server_cpu = cpu_seconds(pids) - server_cpu
    client_cpu = time.process_time() - client_cpu
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000
    n = len(ordered)
    return n / seconds, p50, p99, errors, server_cpu * 1000 / n, client_cpu * 1000 / n


def _report(name: str, runs: list[Figures]) -> None:
    """Print each run and the medians over the runs.

    CPU is milliseconds of CPU per request, of the service (gunicorn and its database
    backends) and of this client. On a machine shared with other work it is the steadier
    figure: the service alone on 2 cores serves at most 2000 / cpu requests per second.
    """
    for rate, p50, p99, errors, cpu, client in runs:
        print(
            f"  {name:<30} {rate:>7,.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
            f"  service cpu {cpu:5.2f} ms  client cpu {client:5.2f} ms  {errors} errors"
        )
    med = [statistics.median(r[i] for r in runs) for i in range(6)]
    print(
        f"{name:<30} {med[0]:>7,.0f}/s  p50 {med[1]:6.1f} ms  p99 {med[2]:6.1f} ms"
        f"  service cpu {med[4]:5.2f} ms/req  client cpu {med[5]:5.2f} ms/req"
        f"  (median of {len(runs)})"
    )


def _wait_ready(port: int) -> None:
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    parser.add_argument(
        "--worker-class", default=None, help="gunicorn worker class (default: sync, or gthread)"
    )
    parser.add_argument("--pool", type=int, default=8, help="connections per worker at most")
    parser.add_argument("--cores", type=int, default=2, help="CPUs gunicorn is pinned to")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client connections")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument(
        "--lookup-rate",
        type=float,
        help="open loop: lookups offered per second (latency counted from when each was due)",
    )
    parser.add_argument(
        "--register-rate", type=float, help="open loop: registrations offered per second"
    )
    parser.add_argument(
        "--missing",
        type=float,
        default=0.0,
        help="fraction of lookups for local IDs that are not stored (answered 404)",
    )
    parser.add_argument("--only", choices=("pix", "resolve", "register"), action="append")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database", default="mpi_bench_api")
    parser.add_argument(
        "--reuse", action="store_true", help="keep an already loaded database of that name"
    )
    args = parser.parse_args()
    settings = load_settings()
    url = _database(settings, args.database, args.records, args.seed, args.reuse)
    loaded = _stored(url)
    token = bench_token(url, ["register", "lookup", "admin"])
    env = {**os.environ, "DATABASE_URL": url, "MPI_POOL_MAX_SIZE": str(args.pool)}
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
    if args.threads > 1:
        command[3:3] = ["--threads", str(args.threads)]
    if args.worker_class:
        command[3:3] = ["--worker-class", args.worker_class]
    if shutil.which("taskset"):
        command = ["taskset", "-c", f"0-{args.cores - 1}", *command]
    only = set(args.only or ("pix", "resolve", "register"))
    server = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent)
    try:
        _wait_ready(args.port)
        sample = lookup_sample(loaded, args.lookups, args.missing, args.seed)
        pix = [("GET", pix_path(s, lid), None) for s, lid in sample]
        resolve = [("GET", resolve_path(s, lid), None) for s, lid in sample]
        _run(args.port, pix[:400], token, args.clients)  # warm-up: caches, prepared statements
        _run(args.port, resolve[:400], token, args.clients)
        if "pix" in only:
            runs = [
                _measure(args.port, pix, token, args.clients, server, url, args.lookup_rate)
                for _ in range(args.repeat)
            ]
            _report("PIXm $ihe-pix", runs)
        if "resolve" in only:
            runs = [
                _measure(args.port, resolve, token, args.clients, server, url, args.lookup_rate)
                for _ in range(args.repeat)
            ]
            _report("/v1 resolve", runs)
        if "register" in only:
            tag = f"{int(time.time()):x}"
            warm = _registrations(url, 100, args.seed + 100)  # prepared statements, buffers
            _run(
                args.port,
                [
                    ("PUT", f"/v1/systems/BENCH/records/W{tag}-{i}", json.dumps(b).encode())
                    for i, b in enumerate(warm)
                ],
                token,
                args.clients,
            )
            runs = []
            for n in range(args.repeat):
                bodies = _registrations(url, args.registrations, args.seed + 1 + n)
                register = [
                    ("PUT", f"/v1/systems/BENCH/records/B{tag}-{n}-{i}", json.dumps(b).encode())
                    for i, b in enumerate(bodies)
                ]
                runs.append(
                    _measure(
                        args.port, register, token, args.clients, server, url, args.register_rate
                    )
                )
            _report("registrations with matching", runs)
        offered = (
            f"; offered: lookups {args.lookup_rate or 'closed loop'}/s,"
            f" registrations {args.register_rate or 'closed loop'}/s"
            if args.lookup_rate or args.register_rate
            else "; closed loop"
        )
        print(
            f"records stored: {len(loaded)}; gunicorn workers {args.workers} x threads "
            f"{args.threads} on {args.cores} cores; {args.clients} clients{offered}"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
