"""Sign in and out of the review UI.

The login form is protected by a double-submit CSRF token (a random cookie that the form
must repeat), since there is no session yet. A failed login is audited and counted
towards the lock-out, and the count is committed even though the login fails.
"""

from __future__ import annotations

import hmac
import secrets

from flask import current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from api.db import get_conn
from api.requests import draft
from api.review import COOKIE, LOGIN_CSRF_COOKIE, bp, page
from mpi import reviewers
from mpi.errors import Forbidden, InvalidInput


def _next_url(target: str | None = None) -> str:
    """Where to go after signing in: a review page only (no open redirect)."""
    target = request.values.get("next", "") if target is None else target
    if target.startswith("/review") and "//" not in target and "\\" not in target:
        return target
    return url_for("review.queue")


def _cookie_secure() -> bool:
    return bool(current_app.config["REVIEW_COOKIE_SECURE"])


@bp.get("/login")
@page("review.login_page", login=False)
def login() -> Response | str:
    """The sign-in form."""
    g.pop("audit", None)  # showing the form touches no patient
    if g.get("reviewer") is not None:
        return redirect(_next_url())
    return _login_form(None, 200)


def signed_out_form(next_path: str, note: str) -> Response:
    """The sign-in form in answer to a decision sent after the session ended (403): the
    decision is not applied, and the note typed comes back on the page after signing in."""
    return _login_form(
        "You are not signed in (or your session ended), so your decision was not applied."
        " Sign in again: your note is kept and will be on the page again.",
        403,
        next_path=next_path,
        carried_note=note[: reviewers.CARRIED_NOTE_CHARS],
    )


def _login_form(
    error: str | None,
    status: int,
    *,
    next_path: str | None = None,
    carried_note: str | None = None,
) -> Response:
    """The sign-in form with a fresh CSRF token in its own cookie (the login path only)."""
    token = secrets.token_urlsafe(24)
    if carried_note is None:
        carried_note = request.form.get("carried_note", "")[: reviewers.CARRIED_NOTE_CHARS]
    body = render_template(
        "review/login.html",
        login_csrf=token,
        next=_next_url(next_path),
        error=error,
        carried_note=carried_note or None,
        username=request.form.get("username", "").strip()[:64] if request.method == "POST" else "",
    )
    response = Response(body, status=status, mimetype="text/html")
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=_cookie_secure(),
        path="/review/login",
        max_age=3600,
    )
    return response


@bp.post("/login")
@page("review.login", "execute", login=False)
def login_submit() -> Response | tuple[str, int]:
    """Check the password, open a session and set its cookie."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("the sign-in form expired or was not sent by this site: reload it")
    username = request.form.get("username", "").strip().lower()[:64]
    password = request.form.get("password", "")
    audit = draft()
    audit.detail["username"] = username
    config = current_app.config
    try:
        opened = reviewers.login(
            get_conn(),
            username,
            password,
            max_failures=int(config["REVIEW_MAX_FAILURES"]),
            lock_seconds=int(config["REVIEW_LOCK_SECONDS"]),
            session_seconds=int(config["REVIEW_SESSION_SECONDS"]),
            idle_seconds=int(config["REVIEW_IDLE_SECONDS"]),
        )
    except reviewers.LoginRefused as exc:
        audit.outcome = "denied"
        audit.detail["locked"] = exc.locked
        audit.detail["reason"] = exc.reason  # for the audit trail only, never the page
        return _login_form(str(exc), 401)
    audit.detail["role"] = opened.reviewer.role
    from mpi.access import Caller

    g.caller = Caller(
        system_id=0,
        system_code="review-ui",
        scopes=frozenset({"review"}),
        token_id=0,
        user_id=opened.reviewer.username,
        user_role=opened.reviewer.role,
    )
    target = _next_url()
    if opened.reviewer.must_change_password:
        target = url_for("review.password")
    carried = request.form.get("carried_note", "").strip()
    if carried and target.startswith("/review/items/"):
        reviewers.carry_note(get_conn(), opened.token, target, carried)
    response = redirect(target, code=303)
    response.set_cookie(
        COOKIE,
        opened.token,
        httponly=True,
        samesite="Lax",
        secure=_cookie_secure(),
        path="/review",
        max_age=int(config["REVIEW_SESSION_SECONDS"]),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/review/login")
    return response


@bp.post("/logout")
@page("review.logout", "execute")
def logout() -> Response:
    """End the session, release the reviewer's claims and clear the cookie."""
    draft().detail["claims_released"] = reviewers.logout(
        get_conn(), request.cookies.get(COOKIE, "")
    )
    response = redirect(url_for("review.login"), code=303)
    response.delete_cookie(COOKIE, path="/review")
    return response


@bp.get("/password")
@page("review.password_page", "read")
def password() -> str:
    """Change your own password (the only page open with a temporary password)."""
    g.pop("audit", None)  # the form touches no patient
    return render_template("review/password.html", error=None)


@bp.post("/password")
@page("review.password", "update")
def password_submit() -> Response | tuple[str, int]:
    """Set a new password; every other session of the account ends."""
    new = request.form.get("new_password", "")
    error = None
    if new != request.form.get("repeat_password", ""):
        error = "The two new passwords differ: type the same new password twice."
    elif len(new) < reviewers.MIN_PASSWORD:
        error = f"The new password must be at least {reviewers.MIN_PASSWORD} characters."
    if error is None:
        try:
            ended = reviewers.change_password(
                get_conn(),
                g.reviewer,
                request.cookies.get(COOKIE, ""),
                request.form.get("current_password", ""),
                new,
            )
        except (Forbidden, InvalidInput) as exc:
            error = str(exc)
        else:
            draft().detail["other_sessions_ended"] = ended
            return redirect(url_for("review.queue", done="password"), code=303)
    draft().outcome = "denied"
    return render_template("review/password.html", error=error), 400


@bp.post("/shortcuts")
@page("review.shortcuts", "update")
def shortcuts() -> Response:
    """Turn your single-key keyboard shortcuts on or off (WCAG 2.1.4), kept with the account."""
    on = request.form.get("shortcuts") == "on"
    draft().detail["shortcuts"] = on
    reviewers.set_shortcuts(get_conn(), g.reviewer, on)
    return redirect(_next_url(request.form.get("next", "")), code=303)
