"""Profile: PIXm and /v1 resolve lookups in one process, through the app's full path.

Calls the WSGI app with ``--lookups`` ``GET /fhir/Patient/$ihe-pix`` (or
``/v1/systems/{s}/records/{id}``) requests, their WSGI environments built beforehand
(token check, access query, audit append, commit, request log; no HTTP server), on an
already loaded database (``bench/bench_api.py`` makes one), and prints the mean wall and
CPU milliseconds per lookup of this process and of its PostgreSQL backends, and the top
of a cProfile measured in CPU time (``--no-profile`` for timings only).

    python bench/profile_lookups.py --database mpi_bench_api_100k --lookups 4000 --only pix
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import time
from pathlib import Path

import psycopg
from werkzeug.test import EnvironBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import (  # noqa: E402
    _stored,
    backend_pids,
    bench_token,
    lookup_sample,
    pix_path,
    resolve_path,
)
from profile_register import print_profile, run_measured  # noqa: E402

from api import create_app  # noqa: E402
from mpi.config import load_settings  # noqa: E402
from mpi.store import db  # noqa: E402


def _environ(target: str, headers: dict[str, str]) -> dict[str, object]:
    """The WSGI environment of a GET of ``target`` (path and query), as gunicorn gives it."""
    path, _, query = target.partition("?")
    builder = EnvironBuilder(path=path, query_string=query, headers=headers)
    return {**builder.get_environ(), "REMOTE_ADDR": "127.0.0.1", "SERVER_SOFTWARE": "gunicorn"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="mpi_bench_api")
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--only", choices=("pix", "resolve"), default="pix")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--top", type=int, default=40, help="profile lines to print")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key")
    parser.add_argument("--no-profile", action="store_true", help="timings only")
    parser.add_argument("--callers", help="print the callers of functions matching this")
    parser.add_argument(
        "--missing",
        type=float,
        default=0.0,
        help="fraction of lookups for local IDs that are not stored (404s)",
    )
    args = parser.parse_args()
    settings = load_settings()
    url = psycopg.conninfo.make_conninfo(db.server_url(settings), dbname=args.database)
    token = bench_token(url, ["register", "lookup", "admin"])
    app = create_app({"DATABASE_URL": url, "POOL_MIN_SIZE": 2, "POOL_MAX_SIZE": 2})
    headers = {"Authorization": f"Bearer {token}"}
    sample = lookup_sample(_stored(url), args.lookups + 200, args.missing, args.seed)
    path = pix_path if args.only == "pix" else resolve_path
    environs = [_environ(path(s, lid), headers) for s, lid in sample]
    statuses: dict[str, int] = {}

    def start_response(status: str, _headers: list[tuple[str, str]]) -> None:
        statuses[status] = statuses.get(status, 0) + 1

    def call(environ: dict[str, object]) -> None:
        body = app(environ, start_response)
        b"".join(body)
        getattr(body, "close", lambda: None)()

    for environ in environs[:200]:  # warm-up: caches, prepared statements
        call(environ)
    statuses.clear()
    environs = environs[200:]
    backends = backend_pids(url)
    # CPU time, not waits
    profiler = None if args.no_profile else cProfile.Profile(time.process_time)
    wall, cpu, db_cpu = run_measured(environs, call, backends, profiler)
    n = len(environs)
    print(
        f"{n} {args.only} lookups: {wall * 1000 / n:.3f} ms wall, {cpu * 1000 / n:.3f} ms CPU"
        f" of this process and {db_cpu * 1000 / n:.3f} ms of its PostgreSQL backends each;"
        f" statuses {statuses}"
    )
    if profiler is not None:
        print_profile(profiler, args.sort, args.top, args.callers)


if __name__ == "__main__":
    main()
