"""The review pages of issue 11 ("Pages a reviewer can trust": queue paging and sorting,
lock-out, the footer, the dashboard), through Flask's test client on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.review_data import Scenario
from tests.review_web import (
    sign_in,
)


@pytest.fixture
def alice(module_app: Flask, s: Scenario) -> FlaskClient:
    client = module_app.test_client()
    sign_in(client, "alice")
    return client


def _one(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr[^>]*data-item="(\d+)"', html)]


@pytest.fixture
def small_pages(module_app: Flask) -> Iterator[None]:
    module_app.config["REVIEW_QUEUE_PAGE_SIZE"] = 2
    yield
    module_app.config.pop("REVIEW_QUEUE_PAGE_SIZE")


# (1) queue paging and sorting


def test_the_queue_pages_beyond_the_first_page_without_overlap(
    alice: FlaskClient, s: Scenario, db_url: str, small_pages: None
) -> None:
    total = _one(db_url, "SELECT count(*) FROM review_item WHERE status = 'open'")
    assert total >= 3
    first = alice.get("/review/")
    assert len(_rows(first.text)) == 2
    assert f"Showing items 1 to 2 of the {total} open items" in first.text
    nxt = re.search(r'id="page-next" href="([^"]+)"', first.text)
    assert nxt, first.text
    second = alice.get(nxt.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert 'id="page-prev"' in second.text
    seen = _rows(first.text) + _rows(second.text)
    pages = -(-total // 2)
    for n in range(3, pages + 1):
        seen += _rows(alice.get(f"/review/?page={n}").text)
    with psycopg.connect(db_url) as conn:
        open_ids = [r[0] for r in conn.execute("SELECT id FROM review_item WHERE status = 'open'")]
    assert sorted(seen) == sorted(open_ids)
    beyond = alice.get(f"/review/?page={pages + 1}")
    assert beyond.status_code == 200 and "first page" in beyond.text


def test_the_queue_sorts_by_age_and_probability(
    alice: FlaskClient, s: Scenario, db_url: str
) -> None:
    with psycopg.connect(db_url) as conn:
        by_age = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM review_item WHERE status = 'open' ORDER BY created_at, id"
            ).fetchall()
        ]
        by_prob = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM review_item WHERE status = 'open'"
                " ORDER BY probability DESC, created_at, id"
            ).fetchall()
        ]
    assert by_age != by_prob  # the scenario tells the orders apart
    age = alice.get("/review/?sort=age")
    assert _rows(age.text) == by_age
    assert 'aria-sort="ascending"' in age.text
    assert _rows(alice.get("/review/?sort=probability").text) == by_prob
    default = alice.get("/review/").text
    assert 'href="/review/?sort=age"' in default  # the column heads are links
    bad = alice.get("/review/?sort=name")
    assert bad.status_code == 400 and "sort" in bad.text
    assert alice.get("/review/?page=0").status_code == 400
    assert alice.get("/review/?page=abc").status_code == 400


def test_queue_links_keep_the_filters_and_the_order(
    alice: FlaskClient, s: Scenario, small_pages: None
) -> None:
    page = alice.get("/review/?system=GP&sort=age").text.replace("&amp;", "&")
    second_tile = re.search(r'id="second-tile" href="([^"]+)"', page)
    assert (
        second_tile and "system=GP" in second_tile.group(1) and "sort=age" in second_tile.group(1)
    )
    chips = re.findall(r'class="chip reason-[^"]+" href="([^"]+)"', page)
    assert chips and all("system=GP" in c and "sort=age" in c for c in chips)
    heads = re.findall(r'class="sort" href="([^"]+)"', page)
    assert heads and all("system=GP" in h for h in heads)
    assert 'name="sort" value="age"' in page  # the filter form keeps the order
    everything = alice.get("/review/?sort=probability").text.replace("&amp;", "&")
    nxt = re.search(r'id="page-next" href="([^"]+)"', everything)
    assert nxt and "sort=probability" in nxt.group(1) and "page=2" in nxt.group(1)
