"""Helpers for the review UI's form and browser tests: accounts, an app, signing in."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from mpi import reviewers
from mpi.config import Settings

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def reset_reviewers(url: str) -> None:
    """Remove every account and session (the shared truncation leaves them)."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("TRUNCATE reviewer_session, reviewer RESTART IDENTITY CASCADE")


def fresh_sessions(url: str) -> None:
    """End every session and clear failed logins and lock-outs (accounts are kept)."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM reviewer_session")
        c.execute("UPDATE reviewer SET failed_logins = 0, locked_until = NULL")


def add_accounts(url: str) -> None:
    """Reviewers ``alice`` and ``bob`` and admin ``carol``, all with :data:`PASSWORD`."""
    reset_reviewers(url)
    with psycopg.connect(url) as conn:
        reviewers.add(conn, "alice", PASSWORD, display_name="Alice Reviewer")
        reviewers.add(conn, "bob", PASSWORD, display_name="Bob Reviewer")
        reviewers.add(conn, "carol", PASSWORD, role="admin", display_name="Carol Admin")


def review_app(url: str, **config: Any) -> Flask:
    """The service app on a test database, cookies without Secure (plain HTTP in tests)."""
    return create_app(
        {
            "TESTING": True,
            "SETTINGS": Settings(database_url=url, environment="test"),
            "POOL_MIN_SIZE": 1,
            "POOL_MAX_SIZE": 6,
            "REVIEW_COOKIE_SECURE": False,
            **config,
        }
    )


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    found = _CSRF.search(html)
    assert found, "no csrf_token in the page"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the login form; the response of the POST."""
    page = client.get("/review/login")
    return client.post(
        "/review/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )


def page_csrf(client: FlaskClient, path: str = "/review/") -> str:
    """The session's CSRF token, read from a page."""
    return csrf_of(client.get(path).text)
