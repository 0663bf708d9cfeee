"""Profile: registrations with matching in one process, through the app's full path.

Sends ``--registrations`` ``PUT /v1/systems/BENCH/records/{id}`` requests through Flask's
test client (token check, matching, writes and audit, no HTTP server), on an already
loaded database (``bench/bench_api.py`` makes one), and prints the mean wall and CPU
milliseconds per registration and the top of a cProfile by cumulative time.

    python bench/profile_register.py --database mpi_bench_api_100k --registrations 300
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import _registrations, backend_pids, bench_token, cpu_seconds  # noqa: E402

from api import create_app  # noqa: E402
from mpi.config import load_settings  # noqa: E402
from mpi.store import db  # noqa: E402

if TYPE_CHECKING:
    from flask.testing import FlaskClient

T = TypeVar("T")


def warmed_client(
    url: str, registrations: int, seed: int, prefix: str
) -> tuple[FlaskClient, dict[str, str], list[tuple[str, str]]]:
    """A test client of the app on ``url``, warmed up with 20 registrations of ``BENCH``.

    Args:
        url: the loaded database.
        registrations: how many registration requests to return.
        seed: picks the registrations (see ``bench_api._registrations``).
        prefix: starts the local IDs, with the time in hexadecimal after it.

    Returns:
        The client, its request headers (a new bearer token) and the registrations to
        send, as (path, JSON body).
    """
    token = bench_token(url, ["register", "lookup"])
    app = create_app({"DATABASE_URL": url})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    bodies = _registrations(url, registrations + 20, seed)
    tag = f"{prefix}{int(time.time()):x}"
    for i, body in enumerate(bodies[:20]):  # warm-up: caches, prepared statements
        client.put(f"/v1/systems/BENCH/records/{tag}-w{i}", json=body, headers=headers)
    requests = [
        (f"/v1/systems/BENCH/records/{tag}-{i}", json.dumps(b)) for i, b in enumerate(bodies[20:])
    ]
    return client, headers, requests


def run_measured(
    items: Sequence[T],
    call: Callable[[T], object],
    backends: list[int],
    profiler: cProfile.Profile | None,
) -> tuple[float, float, float]:
    """``call`` on each item, under ``profiler`` unless ``None``.

    Returns:
        Seconds of wall time, of CPU of this process and of CPU of the ``backends``
        processes (the app's PostgreSQL backends) over the loop.
    """
    db_cpu = cpu_seconds(backends)
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    for item in items:
        call(item)
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, cpu_seconds(backends) - db_cpu


def print_profile(
    profiler: cProfile.Profile, sort: str, top: int, callers: str | None = None
) -> None:
    """Print the top ``top`` lines of the profile by ``sort``, and the callers of the
    functions matching ``callers`` when given."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats(sort)
    stats.print_stats(top)
    if callers:
        stats.print_callers(callers)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="mpi_bench_api")
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--top", type=int, default=35, help="profile lines to print")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key")
    parser.add_argument("--no-profile", action="store_true", help="timings only")
    parser.add_argument(
        "--cpu", action="store_true", help="profile CPU time of this process (default: wall time)"
    )
    args = parser.parse_args()
    settings = load_settings()
    url = psycopg.conninfo.make_conninfo(db.server_url(settings), dbname=args.database)
    client, headers, requests = warmed_client(url, args.registrations, args.seed, "P")
    backends = backend_pids(url)
    profiler = None
    if not args.no_profile:
        profiler = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
    decisions: dict[str, int] = {}

    def register(request: tuple[str, str]) -> None:
        path, body = request
        reply = client.put(path, data=body, headers=headers, content_type="application/json")
        decision = reply.get_json().get("decision", str(reply.status_code))
        decisions[decision] = decisions.get(decision, 0) + 1

    wall, cpu, db_cpu = run_measured(requests, register, backends, profiler)
    n = len(requests)
    print(
        f"{n} registrations: {wall * 1000 / n:.2f} ms wall, {cpu * 1000 / n:.2f} ms CPU of"
        f" this process and {db_cpu * 1000 / n:.2f} ms of its PostgreSQL backends each;"
        f" decisions {decisions}"
    )
    if profiler is not None:
        print_profile(profiler, args.sort, args.top)


if __name__ == "__main__":
    main()
