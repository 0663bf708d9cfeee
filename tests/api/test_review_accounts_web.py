"""Review UI accounts (issue 11): sign-in refusals that do not tell which usernames exist,
an admin's unlock and password reset that cannot take an account over unseen, shortcuts
kept per reviewer, the footer's environment, and the review UI reading from the primary.
Through Flask's test client on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mpi import reviewers
from tests.conftest import truncate_all
from tests.review_data import Scenario, build, item_version
from tests.review_web import PASSWORD, fresh_sessions, page_csrf, review_app, sign_in

_HASH = reviewers.hash_password(PASSWORD)


@pytest.fixture
def s(s: Scenario, db_url: str) -> Iterator[Scenario]:
    """The review scenario (tests/api/conftest.py), then the accounts put back as they were."""
    yield s
    with psycopg.connect(db_url) as conn:  # the accounts outlive the module's tests
        conn.execute(
            "UPDATE reviewer SET password_hash = %s, must_change_password = false,"
            " password_expires_at = NULL, password_reset_by = NULL, password_reset_at = NULL,"
            " shortcuts = true, is_active = true",
            (_HASH,),
        )


def _one(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _client(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 303
    return client


def _without_form_secrets(html: str, username: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]+"', "", html)
    return html.replace(f'value="{username}"', 'value="USERNAME"')


# (1) refusals tell nothing about which usernames exist


def test_every_refused_sign_in_reads_the_same_and_costs_one_password_hash(
    module_app: Flask, s: Scenario, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real = reviewers._verify

    def counting(stored_hash: str, password: str) -> bool:
        verified.append(stored_hash[:9])
        return real(stored_hash, password)

    monkeypatch.setattr(reviewers, "_verify", counting)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE reviewer SET locked_until = now() + interval '1 hour' WHERE username = 'bob'"
        )
        conn.execute("UPDATE reviewer SET is_active = false WHERE username = 'carol'")
    cases = {
        "nobody.here": "any password at all",  # no such account
        "alice": "not the password!",  # wrong password
        "bob": PASSWORD,  # locked: the right password is refused the same way
        "carol": PASSWORD,  # disabled
    }
    bodies = {}
    for username, password in cases.items():
        verified.clear()
        answer = sign_in(module_app.test_client(), username, password)
        assert answer.status_code == 401, username
        assert len(verified) == 1, (username, verified)  # one argon2 hash, whoever it is
        assert f'value="{username}"' in answer.text  # the username is kept in the form
        bodies[username] = _without_form_secrets(answer.text, username)
    assert len(set(bodies.values())) == 1, "a refusal reads differently for some usernames"
    assert "or the account is locked" in bodies["alice"]
    with psycopg.connect(db_url) as conn:
        reasons = dict(
            conn.execute(
                "SELECT detail ->> 'username', detail ->> 'reason' FROM audit_event"
                " WHERE action = 'review.login' AND outcome = 'denied'"
            ).fetchall()
        )
    assert reasons == {
        "nobody.here": "unknown_user",
        "alice": "wrong_password",
        "bob": "locked",
        "carol": "disabled",
    }


def test_a_locked_account_stays_locked_for_its_time_not_longer(
    module_app: Flask, s: Scenario, db_url: str
) -> None:
    for _ in range(5):
        sign_in(module_app.test_client(), "bob", "not the password!")
    until = _one(db_url, "SELECT locked_until FROM reviewer WHERE username = 'bob'")
    assert until is not None
    sign_in(module_app.test_client(), "bob", "not the password!")
    assert _one(db_url, "SELECT locked_until FROM reviewer WHERE username = 'bob'") == until


# (2) an admin unlocks and resets, but cannot take an account over unseen


def test_an_admin_reset_gives_a_temporary_password_that_only_opens_the_password_page(
    module_app: Flask, s: Scenario, db_url: str
) -> None:
    bob = _client(module_app, "bob")
    item = bob.get(f"/review/items/{s.maybe_item}")
    assert item.status_code == 200
    claim = bob.post(
        f"/review/items/{s.maybe_item}/claim",
        data={"csrf_token": page_csrf(bob), "version": item_version_of(db_url, s.maybe_item)},
    )
    assert claim.status_code == 303
    carol = _client(module_app, "carol")
    accounts = carol.get("/review/users")
    assert 'aria-label="Reset the password of bob"' in accounts.text
    assert 'aria-label="Reset the password of carol"' not in accounts.text  # not her own

    reset = carol.post("/review/users/bob/reset", data={"csrf_token": page_csrf(carol)})
    assert reset.status_code == 200
    temporary = re.search(r'id="temporary-password">([^<]+)<', reset.text)
    assert temporary, reset.text
    temporary_password = temporary.group(1)
    assert "Every session of <b>bob</b> has ended" in reset.text

    # bob's session ended and his claim is released
    assert bob.get("/review/").status_code == 302
    assert _one(db_url, "SELECT claimed_by FROM review_item WHERE id = %s", s.maybe_item) is None
    # his old password no longer works; the temporary one opens only the password page
    assert sign_in(module_app.test_client(), "bob").status_code == 401
    holder = module_app.test_client()
    opened = sign_in(holder, "bob", temporary_password)
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/review/password")
    queue = holder.get("/review/")
    assert queue.status_code == 302 and queue.headers["Location"].endswith("/review/password")
    page = holder.get("/review/password")
    assert "Your password was reset by" in page.text and "<b>carol</b>" in page.text
    decide = holder.post(
        f"/review/items/{s.maybe_item}/decide",
        data={
            "csrf_token": page_csrf(holder, "/review/password"),
            "version": item_version_of(db_url, s.maybe_item),
            "outcome": "different",
        },
    )
    assert decide.status_code == 403
    assert _one(db_url, "SELECT status FROM review_item WHERE id = %s", s.maybe_item) == "open"

    changed = holder.post(
        "/review/password",
        data={
            "csrf_token": page_csrf(holder, "/review/password"),
            "current_password": temporary_password,
            "new_password": "bob's own new passphrase",
            "repeat_password": "bob's own new passphrase",
        },
    )
    assert changed.status_code == 303
    assert holder.get("/review/").status_code == 200
    listed = carol.get("/review/users").text
    assert re.search(r"reset by carol .*since changed by its holder", listed)
    audited = _one(
        db_url,
        "SELECT user_id || ' ' || (detail ->> 'account') FROM audit_event"
        " WHERE action = 'review.users_reset'",
    )
    assert audited == "carol bob"


def item_version_of(url: str, item_id: int) -> int:
    with psycopg.connect(url) as conn:
        return item_version(conn, item_id)


def test_reset_is_for_admins_with_the_form_token_and_never_their_own_account(
    module_app: Flask, s: Scenario, db_url: str
) -> None:
    alice = _client(module_app, "alice")
    assert (
        alice.post("/review/users/bob/reset", data={"csrf_token": page_csrf(alice)}).status_code
        == 403
    )
    carol = _client(module_app, "carol")
    assert carol.post("/review/users/bob/reset", data={"csrf_token": "forged"}).status_code == 403
    own = carol.post("/review/users/carol/reset", data={"csrf_token": page_csrf(carol)})
    assert own.status_code == 403 and "their own password" in own.text
    unknown = carol.post("/review/users/nobody/reset", data={"csrf_token": page_csrf(carol)})
    assert unknown.status_code == 404
    assert _one(db_url, "SELECT count(*) FROM reviewer WHERE must_change_password") == 0
    assert sign_in(module_app.test_client(), "bob").status_code == 303


def test_a_temporary_password_expires(module_app: Flask, s: Scenario, db_url: str) -> None:
    carol = _client(module_app, "carol")
    reset = carol.post("/review/users/alice/reset", data={"csrf_token": page_csrf(carol)})
    temporary = re.search(r'id="temporary-password">([^<]+)<', reset.text)
    assert temporary
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE reviewer SET password_expires_at = now() WHERE username = 'alice'")
    late = sign_in(module_app.test_client(), "alice", temporary.group(1))
    assert late.status_code == 401 and "or the account is locked" in late.text


def test_changing_your_password_needs_the_current_one_and_ends_other_sessions(
    module_app: Flask, s: Scenario
) -> None:
    other = _client(module_app, "alice")
    alice = _client(module_app, "alice")
    wrong = alice.post(
        "/review/password",
        data={
            "csrf_token": page_csrf(alice),
            "current_password": "not the password!",
            "new_password": "a brand new passphrase",
            "repeat_password": "a brand new passphrase",
        },
    )
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    differ = alice.post(
        "/review/password",
        data={
            "csrf_token": page_csrf(alice),
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "repeat_password": "another passphrase",
        },
    )
    assert differ.status_code == 400 and "differ" in differ.text
    done = alice.post(
        "/review/password",
        data={
            "csrf_token": page_csrf(alice),
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "repeat_password": "a brand new passphrase",
        },
    )
    assert done.status_code == 303
    assert alice.get("/review/").status_code == 200
    assert other.get("/review/").status_code == 302  # the other session ended
    assert sign_in(module_app.test_client(), "alice", "a brand new passphrase").status_code == 303


# (3) single-key shortcuts can be turned off, and it is remembered per reviewer


def test_shortcuts_turned_off_stay_off_for_that_reviewer(module_app: Flask, s: Scenario) -> None:
    alice = _client(module_app, "alice")
    assert 'data-shortcuts="on"' in alice.get("/review/").text
    off = alice.post(
        "/review/shortcuts",
        data={"csrf_token": page_csrf(alice), "shortcuts": "off", "next": "/review/dashboard"},
    )
    assert off.status_code == 303 and off.headers["Location"].endswith("/review/dashboard")
    again = _client(module_app, "alice")  # a new session, another browser
    page = again.get("/review/")
    assert 'data-shortcuts="off"' in page.text and "Turn them on" in page.text
    assert 'data-shortcuts="on"' in _client(module_app, "bob").get("/review/").text
    assert alice.post("/review/shortcuts", data={"shortcuts": "on"}).status_code == 403


# (2) the footer says "Synthetic data only" only where it is true


@pytest.mark.parametrize(
    ("environment", "shown"), [("development", True), ("test", False), ("production", False)]
)
def test_the_footer_says_synthetic_data_only_in_development_only(
    make_app: Any, accounts: None, environment: str, shown: bool
) -> None:
    app = make_app(environment=environment, REVIEW_COOKIE_SECURE=False)
    client = app.test_client()
    for path in ("/review/login", "/review/nosuch"):
        assert ("Synthetic data only" in client.get(path).text) is shown, (environment, path)
    sign_in(client, "alice")
    assert ("Synthetic data only" in client.get("/review/").text) is shown


# (6) the review UI reads from the primary, never the read replica


def test_the_review_ui_never_reads_from_the_replica(db_url: str, accounts: None, ctx: Any) -> None:
    from api import db as api_db

    fresh_sessions(db_url)
    with psycopg.connect(db_url) as conn:
        made = build(conn, ctx)
    app = review_app(db_url, READ_DATABASE_URL=db_url)
    try:
        assert "mpi_read_pool" in app.extensions
        before = dict(api_db.READ_ROUTES)
        alice = _client(app, "alice")
        for path in (
            "/review/",
            f"/review/items/{made.maybe_item}",
            "/review/dashboard",
            f"/review/persons/{made.alice}",
            "/review/persons?family_name=Okonkwo",
        ):
            assert alice.get(path).status_code == 200, path
        done = alice.post(
            f"/review/items/{made.maybe_item}/decide",
            data={
                "csrf_token": page_csrf(alice),
                "version": item_version_of(db_url, made.maybe_item),
                "outcome": "different",
            },
        )
        assert done.status_code == 303
        person = alice.get(f"/review/persons/{made.alice}").text
        assert "not the same" in person  # the reviewer's own decision, at once
        assert dict(api_db.READ_ROUTES) == before  # no review read went the replica's way
    finally:
        app.extensions["mpi_read_pool"].close()
        app.extensions["mpi_pool"].close()
        truncate_all(db_url)


# (5) ended sessions are purged (on sign-in, and by a command)


def test_the_purge_sessions_command_deletes_ended_sessions(
    module_app: Flask, s: Scenario, db_url: str
) -> None:
    from click.testing import CliRunner

    from mpi.cli import main

    _client(module_app, "alice")
    kept = _client(module_app, "bob")
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE reviewer_session SET expires_at = now() WHERE reviewer_id ="
            " (SELECT id FROM reviewer WHERE username = 'alice')"
        )
    result = CliRunner().invoke(main, ["users", "purge-sessions"], env={"DATABASE_URL": db_url})
    assert result.exit_code == 0 and "1 ended sessions purged" in result.output, result.output
    assert _one(db_url, "SELECT count(*) FROM reviewer_session") == 1
    assert kept.get("/review/").status_code == 200


# (3) the person page's title names the person


def test_the_person_page_title_names_the_person(module_app: Flask, s: Scenario) -> None:
    page = _client(module_app, "alice").get(f"/review/persons/{s.alice}").text
    title = re.search(r"<title>([^<]+)</title>", page)
    assert title, page[:300]
    assert "Alice OKONKWO" in title.group(1) and s.alice in title.group(1), title.group(1)
