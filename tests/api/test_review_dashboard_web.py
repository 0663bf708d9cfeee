"""The dashboard of issue 11: decisions counted as what they are (a first review of two is
not a decision), per-reviewer figures, drill-down links to the list behind each figure,
and the threshold table from the real scores, near misses included. Through Flask's test
client on PostgreSQL, and the linker's near misses on the store."""

from __future__ import annotations

import html
import re
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient

from mpi import dashboard, identities, near_misses
from mpi.config import Settings
from mpi.records import MatchContext, register
from tests.helpers import row
from tests.review_data import Scenario, item_version, person_of
from tests.review_web import page_csrf, sign_in

#: Records near Alice Okonkwo of the scenario: each scores under the review threshold
#: against her, and some of them above the near-miss floor.
NEAR = [
    ("N1", {"given_name": "Alicia", "family_name": "Okonkwo", "birth_date": "1984-07-17"}),
    ("N2", {"given_name": "Alice", "family_name": "Okafor", "birth_date": "1984-03-17"}),
    ("N3", {"given_name": "Amara", "family_name": "Okonkwo", "birth_date": "1984-03-17"}),
    ("N4", {"given_name": "Alice", "family_name": "Okonkwo", "birth_date": "1948-03-17"}),
]


def _client(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 303
    return client


def _version(url: str, item_id: int) -> int:
    with psycopg.connect(url) as conn:
        return item_version(conn, item_id)


def _decide(client: FlaskClient, url: str, item_id: int, outcome: str, **extra: str) -> None:
    path = f"/review/items/{item_id}"
    if client.get(path).status_code == 200 and outcome != "skip":
        client.post(
            f"{path}/claim",
            data={"csrf_token": page_csrf(client), "version": _version(url, item_id)},
        )
    answer = client.post(
        f"{path}/decide",
        data={
            "csrf_token": page_csrf(client),
            "version": _version(url, item_id),
            "outcome": outcome,
            **extra,
        },
    )
    assert answer.status_code == 303, answer.text[:500]


def _cell(page: str, table: str, row_key: str, kind: str) -> str | None:
    """The link of one figure in a dashboard table (``None`` if it is not a link)."""
    body = page[page.index(f'id="{table}"') :]
    body = body[: body.index("</table>")]
    line = next(r for r in body.split("<tr") if row_key in r)
    found = re.search(rf'<a href="([^"]+)" data-kind="{kind}">(\d+)</a>', line)
    return html.unescape(found.group(1)) + "#" + found.group(2) if found else None


def test_first_reviews_are_not_decisions_and_every_figure_leads_to_its_list(
    module_app: Flask, s: Scenario, db_url: str
) -> None:
    alice, bob = _client(module_app, "alice"), _client(module_app, "bob")
    _decide(alice, db_url, s.john_item, "same", confirmed="yes")  # first of two reviews
    _decide(bob, db_url, s.john_item, "same", confirmed="yes")  # confirmed: the decision
    _decide(alice, db_url, s.maybe_item, "different")
    page = alice.get("/review/dashboard").text
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date().strftime("%a %d %b")
    first = _cell(page, "per-day", today, "first_review")
    same = _cell(page, "per-day", today, "same")
    different = _cell(page, "per-day", today, "no_match")
    assert first and first.endswith("#1") and same and same.endswith("#1")
    assert different and different.endswith("#1")
    assert _cell(page, "per-reviewer", 'data-reviewer="alice"', "first_review").endswith("#1")
    assert _cell(page, "per-reviewer", 'data-reviewer="alice"', "no_match").endswith("#1")
    assert _cell(page, "per-reviewer", 'data-reviewer="alice"', "same") is None  # not hers
    bobs = _cell(page, "per-reviewer", 'data-reviewer="bob"', "same")
    assert bobs and bobs.endswith("#1")

    listed = alice.get(first.split("#")[0])
    assert listed.status_code == 200
    rows = re.findall(r'data-category="([a-z_]+)"', listed.text)
    assert rows == ["first_review"] and f"item {s.john_item}" in listed.text
    assert re.findall(r'data-category="([a-z_]+)"', alice.get(bobs.split("#")[0]).text) == ["same"]
    assert alice.get("/review/decisions?kind=nosuch").status_code == 400
    assert alice.get("/review/decisions?day=yesterday").status_code == 400
    assert alice.get("/review/decisions").status_code == 200


def test_a_same_person_that_joins_two_identities_counts_as_a_merge(
    module_app: Flask, s: Scenario, db_url: str, ctx: Any
) -> None:
    with psycopg.connect(db_url) as conn:  # the possible match's person gets a second record
        fields = {"given_name": "Alice", "family_name": "Okonkwo-Bello", "sex": "female"}
        register(conn, ctx, "GP", row(ctx, "G9", birth_date="1984-03-18", **fields))
        second, first = person_of(conn, "G9"), person_of(conn, "A1")
        assert second not in (first, s.alice)
        identities.merge(conn, first, second, "bob")
    alice = _client(module_app, "alice")
    _decide(alice, db_url, s.maybe_item, "same")  # moves both records: a merge
    with psycopg.connect(db_url) as conn:
        assert [a.category for a in dashboard.acts(conn)] == ["merge", "merge"]
    page = alice.get("/review/dashboard").text
    assert _cell(page, "per-reviewer", 'data-reviewer="alice"', "merge").endswith("#1")
    assert _cell(page, "per-reviewer", 'data-reviewer="alice"', "same") is None


def test_near_misses_are_kept_and_the_threshold_table_counts_them(
    module_app: Flask, s: Scenario, db_url: str, ctx: Any, model: Any
) -> None:
    # matched with a review threshold just under the link threshold, every candidate that
    # is plausible but not linked is a near miss, whatever the name counts of the moment
    high = MatchContext.build(Settings(review_threshold=0.995), model)
    with psycopg.connect(db_url) as conn:
        for local_id, changes in NEAR:
            fields = {"sex": "female", "address_line": "12 Acacia Road", "postcode": "LS6 2AB"}
            register(conn, high, "ASC", row(high, local_id, **(fields | changes)))
        kept = conn.execute(
            "SELECT m.probability, a.person_id <> b.person_id FROM near_miss m"
            " JOIN link a ON a.record_id = m.record_id"
            " JOIN link b ON b.record_id = m.candidate_record_id"
        ).fetchall()
    assert kept, "no near miss was kept"
    assert all(near_misses.FLOOR <= p < 0.995 and apart for p, apart in kept)
    page = _client(module_app, "alice").get("/review/dashboard").text
    lowest = re.search(
        r'data-threshold="0.05"><th[^>]*>[^<]*</th><td class="queued">(\d+)</td>'
        r'<td class="near">(\d+)</td>',
        page,
    )
    assert lowest, page[page.index('id="rates"') :][:800]
    with psycopg.connect(db_url) as conn:
        items = conn.execute(
            "SELECT count(*) FROM review_item WHERE probability >= 0.05"
        ).fetchone()[0]
    assert int(lowest.group(2)) == len(kept)
    assert int(lowest.group(1)) == items + len(kept)
    top = re.search(
        r'data-threshold="0.99"><th[^>]*>[^<]*</th><td class="queued">\d+</td>'
        r'<td class="near">(\d+)</td>',
        page,
    )
    assert top and int(top.group(1)) == sum(1 for p, _ in kept if p >= 0.99)
