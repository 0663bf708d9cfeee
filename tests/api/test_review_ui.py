"""The review UI's forms through Flask's test client: sign-in, cookies, CSRF, audit, bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.review_data import Scenario, build, item_version
from tests.review_web import (
    PASSWORD,
    csrf_of,
    fresh_sessions,
    page_csrf,
    review_app,
    sign_in,
)


@pytest.fixture
def review(
    db_url: str, accounts: None, ctx: Any, module_app: Flask
) -> Iterator[tuple[Flask, Scenario]]:
    fresh_sessions(db_url)
    with psycopg.connect(db_url) as conn:
        made = build(conn, ctx)
    yield module_app, made


@pytest.fixture
def web(review: tuple[Flask, Scenario]) -> FlaskClient:
    return review[0].test_client()


@pytest.fixture
def s(review: tuple[Flask, Scenario]) -> Scenario:
    return review[1]


def _one(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def test_pages_need_a_session(web: FlaskClient, s: Scenario) -> None:
    page = web.get("/review/")
    assert page.status_code == 302 and "/review/login" in page.headers["Location"]
    post = web.post(f"/review/items/{s.maybe_item}/decide", data={"version": "1"})
    assert post.status_code == 403
    assert "not signed in" in post.text


def test_sign_in_sets_a_secure_session_cookie(db_url: str, accounts: None) -> None:
    fresh_sessions(db_url)
    application = review_app(db_url, REVIEW_COOKIE_SECURE=True)
    try:
        client = application.test_client()
        page = client.get("/review/login")
        login_cookie = page.headers["Set-Cookie"]
        assert "HttpOnly" in login_cookie and "Secure" in login_cookie
        assert "SameSite=Strict" in login_cookie
        answer = client.post(
            "/review/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        )
        assert answer.status_code == 303
        cookie = next(
            c for c in answer.headers.getlist("Set-Cookie") if c.startswith("mpi_review=")
        )
        for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/review"):
            assert attribute in cookie
        token = cookie.split(";")[0].split("=", 1)[1]
        stored = _one(db_url, "SELECT token_hash FROM reviewer_session")
        assert stored and stored != token
    finally:
        application.extensions["mpi_pool"].close()


def test_failed_logins_are_audited_and_lock_the_account(web: FlaskClient, db_url: str) -> None:
    for _ in range(4):
        assert sign_in(web, "bob", "not the password!").status_code == 401
    locked = sign_in(web, "bob", "not the password!")
    assert locked.status_code == 401
    assert _one(db_url, "SELECT locked_until > now() FROM reviewer WHERE username = 'bob'")
    refused = sign_in(web, "bob")  # the right password, but locked
    assert refused.status_code == 401 and "or the account is locked" in refused.text
    denied = _one(
        db_url,
        "SELECT count(*) FROM audit_event WHERE action = 'review.login' AND outcome = 'denied'"
        " AND detail ->> 'username' = 'bob'",
    )
    assert denied == 6
    assert sign_in(web, "nobody-here").status_code == 401
    from click.testing import CliRunner

    from mpi.cli import main

    result = CliRunner().invoke(main, ["users", "unlock", "bob"], env={"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert sign_in(web, "bob").status_code == 303


def test_login_form_needs_its_csrf_token(web: FlaskClient) -> None:
    web.get("/review/login")
    answer = web.post(
        "/review/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "x"}
    )
    assert answer.status_code == 403


def test_logout_ends_the_session(web: FlaskClient) -> None:
    sign_in(web, "alice")
    token = page_csrf(web)
    assert web.post("/review/logout", data={"csrf_token": token}).status_code == 303
    web.set_cookie("mpi_review", "stale", path="/review")  # a stale or stolen token is refused
    assert web.get("/review/").status_code == 302


def test_every_page_view_is_audited(web: FlaskClient, s: Scenario, db_url: str) -> None:
    sign_in(web, "alice")
    for path in (
        "/review/",
        f"/review/items/{s.maybe_item}",
        f"/review/persons/{s.alice}",
        "/review/persons?family_name=Okonkwo",
        "/review/dashboard",
    ):
        page = web.get(path)
        assert page.status_code == 200, path
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT action, person_ids FROM audit_event WHERE user_id = 'alice'"
            " AND system_code = 'review-ui' ORDER BY id"
        ).fetchall()
    actions = [r[0] for r in rows]
    assert actions == [
        "review.login",
        "review.queue",
        "review.item",
        "review.person",
        "review.search",
        "review.dashboard",
    ]
    assert s.alice in dict(rows)["review.item"] and s.alice_maybe in dict(rows)["review.item"]
    assert dict(rows)["review.person"] == [s.alice]


def test_decide_through_the_form(web: FlaskClient, s: Scenario, db_url: str) -> None:
    sign_in(web, "alice")
    page = web.get(f"/review/items/{s.maybe_item}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    answer = web.post(
        f"/review/items/{s.maybe_item}/decide",
        data={"csrf_token": csrf_of(page.text), "version": version, "outcome": "same"},
    )
    assert answer.status_code == 303 and "done=linked" in answer.headers["Location"]
    assert "Linked" in web.get(answer.headers["Location"]).text
    assert _one(db_url, "SELECT status FROM review_item WHERE id = %s", s.maybe_item) == "linked"


def test_a_claim_keeps_other_reviewers_off(
    review: tuple[Flask, Scenario], s: Scenario, db_url: str
) -> None:
    application, _ = review
    alice, bob = application.test_client(), application.test_client()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    with psycopg.connect(db_url) as conn:
        version = item_version(conn, s.maybe_item)
    claimed = alice.post(
        f"/review/items/{s.maybe_item}/claim",
        data={"csrf_token": page_csrf(alice), "version": str(version)},
    )
    assert claimed.status_code == 303
    assert "claimed by alice" in bob.get("/review/").text
    refused = bob.post(
        f"/review/items/{s.maybe_item}/claim",
        data={"csrf_token": page_csrf(bob), "version": str(version + 1)},
    )
    assert refused.status_code == 409 and "being worked on by alice" in refused.text
    nxt = bob.post("/review/next", data={"csrf_token": page_csrf(bob)})
    assert nxt.status_code == 303 and f"/items/{s.maybe_item}" not in nxt.headers["Location"]


def test_assets_are_served_without_a_session(web: FlaskClient) -> None:
    css = web.get("/review/assets/review.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    js = web.get("/review/assets/review.js")
    assert js.status_code == 200 and "keydown" in js.text


def test_users_add_command(db_url: str, accounts: None) -> None:
    from click.testing import CliRunner

    from mpi.cli import main

    runner = CliRunner()
    added = runner.invoke(
        main,
        ["users", "add", "dq.lead", "--role", "admin", "--password-stdin"],
        input="a long enough passphrase\n",
        env={"DATABASE_URL": db_url},
    )
    assert added.exit_code == 0, added.output
    assert "added admin dq.lead" in added.output
    again = runner.invoke(
        main,
        ["users", "add", "dq.lead", "--password-stdin"],
        input="a long enough passphrase\n",
        env={"DATABASE_URL": db_url},
    )
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(
        main,
        ["users", "add", "x.y", "--password-stdin"],
        input="short\n",
        env={"DATABASE_URL": db_url},
    )
    assert short.exit_code == 1 and "password" in short.output
    listed = runner.invoke(main, ["users", "list"], env={"DATABASE_URL": db_url})
    assert "dq.lead\tadmin" in listed.output
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM reviewer WHERE username = 'dq.lead'")


def test_only_admins_manage_accounts(review: tuple[Flask, Scenario], db_url: str) -> None:
    application, _ = review
    reviewer, admin = application.test_client(), application.test_client()
    sign_in(reviewer, "alice")
    assert reviewer.get("/review/users").status_code == 403
    assert "Accounts" not in reviewer.get("/review/").text
    for _ in range(5):
        sign_in(application.test_client(), "bob", "not the password!")
    sign_in(admin, "carol")
    page = admin.get("/review/users")
    assert page.status_code == 200 and "locked until" in page.text
    forbidden = reviewer.post("/review/users/bob/unlock", data={"csrf_token": page_csrf(reviewer)})
    assert forbidden.status_code == 403
    unknown = admin.post("/review/users/nobody/unlock", data={"csrf_token": page_csrf(admin)})
    assert unknown.status_code == 404
    done = admin.post("/review/users/bob/unlock", data={"csrf_token": page_csrf(admin)})
    assert done.status_code == 303
    assert _one(db_url, "SELECT failed_logins FROM reviewer WHERE username = 'bob'") == 0
    assert sign_in(application.test_client(), "bob").status_code == 303
