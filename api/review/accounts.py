"""Accounts page for admins: who can sign in, who is locked out, unlock."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, redirect, render_template, url_for
from werkzeug.wrappers import Response

from api.db import get_conn
from api.requests import draft
from api.review import bp, page
from mpi import reviewers


@bp.get("/users")
@page("review.users", "search")
def users() -> str:
    """Every account with its state (admins only)."""
    return render_template(
        "review/users.html",
        accounts=reviewers.accounts(get_conn(), g.reviewer),
        now=datetime.now(UTC),
    )


@bp.post("/users/<username>/unlock")
@page("review.users_unlock", "update")
def unlock(username: str) -> Response:
    """Unlock an account locked out after failed logins (admins only)."""
    draft().detail["account"] = username[:64]
    reviewers.unlock(get_conn(), username[:64], g.reviewer)
    return redirect(url_for("review.users"), code=303)
