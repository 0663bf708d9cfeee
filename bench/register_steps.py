"""Per-step CPU of registrations: Python and PostgreSQL backend CPU of each store call.

Like ``bench/profile_register.py`` (300 ``PUT`` registrations through Flask's test client
on a loaded database), with the registration's store functions wrapped: for each it adds
up this thread's CPU and the CPU of the app's PostgreSQL backends (``/proc/PID/schedstat``,
nanoseconds; the server must run on this machine) while it runs. The wrappers' own reads
of ``/proc`` count in the Python column (a few hundredths of a millisecond per call).

    python bench/register_steps.py --database mpi_bench_api_100k --registrations 300 --seed 5
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import backend_pids  # noqa: E402
from profile_register import warmed_client  # noqa: E402

from mpi import records as domain  # noqa: E402
from mpi.config import load_settings  # noqa: E402
from mpi.store import audit as audit_store  # noqa: E402
from mpi.store import db  # noqa: E402
from mpi.store import persons as person_store  # noqa: E402
from mpi.store import records as record_store  # noqa: E402

STEPS: list[tuple[Any, str]] = [
    (record_store, "store_and_view"),
    (record_store, "match_view"),
    (record_store, "term_counts"),
    (person_store, "write_all"),
    (person_store, "reserve_person_ids"),
    (domain, "plan"),  # the pure decisions
    (person_store, "apply"),  # the writes, whichever way they go
    (audit_store, "append"),
    (psycopg.Connection, "commit"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="mpi_bench_api")
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=101, help="0 to 999; a new one each run")
    args = parser.parse_args()
    url = psycopg.conninfo.make_conninfo(db.server_url(load_settings()), dbname=args.database)
    client, headers, requests = warmed_client(url, args.registrations, args.seed, "S")
    backends = backend_pids(url)

    def backend_ns() -> int:
        total = 0
        for pid in backends:
            try:
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except OSError:
                pass
        return total

    spent: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    depth = [0]

    def wrap(owner: Any, name: str) -> None:
        inner: Callable[..., Any] | None = getattr(owner, name, None)
        if inner is None:
            return
        label = ".".join(f"{getattr(owner, '__name__', owner)}.{name}".rsplit(".", 2)[-2:])

        @functools.wraps(inner)
        def timed(*a: Any, **k: Any) -> Any:
            if depth[0]:
                return inner(*a, **k)
            depth[0] += 1
            b0, p0 = backend_ns(), time.thread_time_ns()
            try:
                return inner(*a, **k)
            finally:
                depth[0] -= 1
                row = spent[label]
                row[0] += backend_ns() - b0
                row[1] += time.thread_time_ns() - p0
                row[2] += 1

        setattr(owner, name, timed)

    for owner, name in STEPS:
        wrap(owner, name)
    decisions: collections.Counter[str] = collections.Counter()
    b0, p0, w0 = backend_ns(), time.process_time_ns(), time.perf_counter()
    for path, body in requests:
        reply = client.put(path, data=body, headers=headers, content_type="application/json")
        decisions[reply.get_json().get("decision", str(reply.status_code))] += 1
    backend, python, wall = backend_ns() - b0, time.process_time_ns() - p0, time.perf_counter() - w0
    n = len(requests)
    print(
        f"{n} registrations: {wall * 1000 / n:.2f} ms wall, {python / 1e6 / n:.2f} ms Python"
        f" CPU, {backend / 1e6 / n:.2f} ms PostgreSQL CPU each; {dict(decisions)}"
    )
    for label, (b, p, calls) in spent.items():
        print(
            f"  {label:32s} {calls:4d} calls  PostgreSQL {b / 1e6 / n:6.3f} ms"
            f"  Python {p / 1e6 / n:6.3f} ms per registration"
        )


if __name__ == "__main__":
    main()
