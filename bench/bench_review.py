"""Speed of the review UI's pages on a loaded store: queue, decision page, person, dashboard.

Run from the repository root, against a database already loaded by ``mpi demo`` (for
example ``mpi demo --persons 20000 --database mpi_ui_bench``):

    PYTHONPATH=. python bench/bench_review.py postgresql://postgres@127.0.0.1:5432/mpi_ui_bench

Each page is rendered through the Flask test client as a signed-in reviewer (a throwaway
account is added and removed), several times; the script prints the median wall time and
the median CPU time of this process per page. Nothing else in the store is changed except
the audit events the page views write, as in production.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import psycopg

from api import create_app
from mpi import reviewers
from mpi.config import Settings
from tests.review_web import PASSWORD, sign_in

RUNS = 7


def _time(client: Any, path: str) -> tuple[float, float, int]:
    walls, cpus = [], []
    status = 0
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        status = response.status_code
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, status


def main(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM reviewer WHERE username = 'bench.reviewer'")
        reviewers.add(conn, "bench.reviewer", PASSWORD)
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM source_record),"
            " (SELECT count(*) FROM review_item WHERE status = 'open'),"
            " (SELECT min(id) FROM review_item WHERE status = 'open')"
        ).fetchone()
        assert counts is not None
        records, open_items, item = counts
        person = conn.execute(
            "SELECT p.person_id FROM review_item i JOIN person p ON p.id = i.candidate_person_id"
            " WHERE i.id = %s",
            (item,),
        ).fetchone()[0]
    app = create_app(
        {"SETTINGS": Settings(database_url=url), "REVIEW_COOKIE_SECURE": False, "TESTING": True}
    )
    try:
        client = app.test_client()
        assert sign_in(client, "bench.reviewer").status_code == 303
        print(f"store: {records} records, {open_items} open review items; {RUNS} runs each")
        print(f"{'page':<34} {'median ms':>10} {'CPU ms':>8}")
        for label, path in (
            ("queue (all open items ranked)", "/review/"),
            ("queue filtered by reason", "/review/?reason=possible_match"),
            ("decision page", f"/review/items/{item}"),
            ("person page", f"/review/persons/{person}"),
            ("search by family name", "/review/persons?family_name=Smith"),
            ("dashboard", "/review/dashboard"),
        ):
            wall, cpu, status = _time(client, path)
            assert status == 200, (path, status)
            print(f"{label:<34} {wall:>10.1f} {cpu:>8.1f}")
    finally:
        app.extensions["mpi_pool"].close()
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM reviewer WHERE username = 'bench.reviewer'")


if __name__ == "__main__":
    main(sys.argv[1])
