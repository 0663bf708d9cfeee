"""Accounts page for admins: who can sign in, who is locked out, unlock, reset a password."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, g, redirect, render_template, url_for
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


@bp.post("/users/<username>/reset")
@page("review.users_reset", "update")
def reset(username: str) -> str:
    """Give an account a temporary password, shown once (admins only, not their own)."""
    audit = draft()
    audit.detail["account"] = username[:64]
    lifetime = int(current_app.config["REVIEW_TEMPORARY_SECONDS"])
    temporary = reviewers.reset_password(
        get_conn(), username[:64], g.reviewer, lifetime_seconds=lifetime
    )
    audit.detail["expires_in_seconds"] = lifetime
    return render_template(
        "review/reset.html", account=username[:64], temporary=temporary, hours=lifetime // 3600
    )
