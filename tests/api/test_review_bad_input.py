"""Bad input to every review form is refused cleanly (4xx, HTML, nothing changed).

The cases only read, so they share one scenario and one signed-in session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from tests.conftest import truncate_all
from tests.review_data import Scenario, build, item_version
from tests.review_web import add_accounts, page_csrf, reset_reviewers, review_app, sign_in


@pytest.fixture(scope="module")
def signed_in(database_url: str, model: Any) -> Iterator[tuple[FlaskClient, Scenario]]:
    from mpi.config import Settings
    from mpi.records import MatchContext

    truncate_all(database_url)
    add_accounts(database_url)
    with psycopg.connect(database_url) as conn:
        made = build(conn, MatchContext.build(Settings(), model))
    application = review_app(database_url)
    client = application.test_client()
    sign_in(client, "alice")
    yield client, made
    application.extensions["mpi_pool"].close()
    truncate_all(database_url)
    reset_reviewers(database_url)


@pytest.fixture
def web(signed_in: tuple[FlaskClient, Scenario]) -> FlaskClient:
    return signed_in[0]


@pytest.fixture
def s(signed_in: tuple[FlaskClient, Scenario]) -> Scenario:
    return signed_in[1]


@pytest.mark.parametrize(
    ("description", "form", "status", "says"),
    [
        ("forged csrf token", {"csrf_token": "forged", "outcome": "same"}, 403, "security token"),
        ("no csrf token", {"outcome": "same"}, 403, "security token"),
        ("stale version", {"version": "99", "outcome": "same"}, 409, "changed while"),
        ("version not a number", {"version": "one", "outcome": "same"}, 400, "version"),
        ("unknown outcome", {"outcome": "perhaps"}, 400, "outcome"),
        ("note too long", {"outcome": "skip", "note": "x" * 1001}, 400, "note"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_bad_decisions_are_refused(
    web: FlaskClient,
    s: Scenario,
    database_url: str,
    description: str,
    form: dict,
    status: int,
    says: str,
) -> None:
    with psycopg.connect(database_url) as conn:
        version = item_version(conn, s.maybe_item)
    data = {"csrf_token": page_csrf(web), "version": str(version), **form}
    if description == "no csrf token":
        del data["csrf_token"]
    answer = web.post(f"/review/items/{s.maybe_item}/decide", data=data)
    assert answer.status_code == status, answer.text
    assert says in answer.text
    assert "Nothing was changed" in answer.text
    with psycopg.connect(database_url) as conn:
        assert item_version(conn, s.maybe_item) == version


@pytest.mark.parametrize(
    ("description", "method", "path", "form", "status"),
    [
        ("unknown item page", "get", "/review/items/424242", {}, 404),
        (
            "unknown item decision",
            "post",
            "/review/items/424242/decide",
            {"version": "1", "outcome": "same"},
            404,
        ),
        ("unknown item claim", "post", "/review/items/424242/claim", {"version": "1"}, 404),
        ("unknown person", "get", "/review/persons/NOPE-NOPE-NOPE", {}, 404),
        ("unknown decision undo", "post", "/review/decisions/424242/undo", {"version": "1"}, 404),
        ("undo without version", "post", "/review/decisions/1/undo", {}, 400),
        (
            "split unknown person",
            "post",
            "/review/persons/NOPE-NOPE-NOPE/split",
            {"record": "1"},
            404,
        ),
        ("split bad record id", "post", "/review/persons/{alice}/split", {"record": "x1"}, 400),
        ("split nothing", "post", "/review/persons/{alice}/split", {}, 400),
        (
            "merge into itself",
            "post",
            "/review/persons/{alice}/merge",
            {"other_person_id": "{alice}"},
            400,
        ),
        (
            "merge unknown",
            "post",
            "/review/persons/{alice}/merge",
            {"other_person_id": "NOPE-NOPE-NOPE"},
            404,
        ),
        ("merge nobody", "post", "/review/persons/{alice}/merge", {}, 400),
        ("queue unknown reason", "get", "/review/?reason=bogus", {}, 400),
        ("queue unknown system", "get", "/review/?system=NOPE", {}, 400),
        ("search bad date", "get", "/review/persons?birth_date=31/13/1999", {}, 400),
        ("unknown asset", "get", "/review/assets/evil.js", {}, 404),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_bad_input_to_every_form_is_refused(
    web: FlaskClient,
    s: Scenario,
    description: str,
    method: str,
    path: str,
    form: dict,
    status: int,
) -> None:
    path = path.format(alice=s.alice)
    if method == "get":
        answer = web.get(path)
    else:
        data = {k: v.format(alice=s.alice) for k, v in form.items()}
        answer = web.post(path, data={"csrf_token": page_csrf(web), **data})
    assert answer.status_code == status, answer.text[:500]
    assert answer.mimetype == "text/html"
