"""The data-quality review web UI, /review: server-rendered pages for reviewers.

Reviewers sign in with a username and password (``mpi users add``); the session cookie
is HttpOnly, SameSite=Lax, Secure unless ``REVIEW_COOKIE_SECURE`` is false (plain-HTTP
development only), and scoped to ``/review``. Every form carries the session's CSRF
token. Every page view and every decision writes one audit event (``system_code``
``review-ui``, ``user_id`` the reviewer) through the service's request lifecycle
(``api.requests``), in the same transaction as the work. Pages work without JavaScript;
``review.js`` only adds keyboard shortcuts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, abort, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from api.db import get_conn
from mpi import reviewers
from mpi.access import Caller
from mpi.errors import Conflict, Forbidden, InvalidInput, MPIError, NotFound

F = TypeVar("F", bound=Callable[..., Any])

ASSETS = Path(__file__).parent / "assets"
COOKIE = "mpi_review"
LOGIN_CSRF_COOKIE = "mpi_review_login"
SYSTEM_CODE = "review-ui"

bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates")

DEFAULTS: dict[str, Any] = {
    "REVIEW_COOKIE_SECURE": True,
    "REVIEW_MAX_FAILURES": reviewers.MAX_FAILURES,
    "REVIEW_LOCK_SECONDS": reviewers.LOCK_SECONDS,
    "REVIEW_SESSION_SECONDS": reviewers.SESSION_SECONDS,
    "REVIEW_IDLE_SECONDS": reviewers.IDLE_SECONDS,
    "REVIEW_TEMPORARY_SECONDS": reviewers.TEMPORARY_SECONDS,
}


#: The pages a session with a temporary password may use.
_OPEN = frozenset({"review.password", "review.password_submit", "review.logout"})


def page(action: str, subtype: str = "read", *, login: bool = True) -> Callable[[F], F]:
    """Mark a review view: no bearer token, one audit event, a signed-in reviewer (by default).

    POST views also need the session's CSRF token in the form field ``csrf_token``.
    """

    def mark(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if login and g.get("reviewer") is None:
                if request.method == "GET":
                    return redirect(url_for("review.login", next=request.full_path))
                note = request.form.get("note", "").strip()
                if note and request.endpoint == "review.decide":
                    from api.review.auth import signed_out_form

                    # the note survives signing in again; the decision is not applied
                    return signed_out_form(url_for("review.item", **kwargs), note)
                raise Forbidden("you are not signed in (or your session ended): sign in again")
            if login and request.method == "POST":
                reviewers.check_csrf(g.csrf_token, request.form.get("csrf_token"))
            if login and g.reviewer.must_change_password and request.endpoint not in _OPEN:
                # a temporary password (an admin's reset) opens nothing but choosing one's own
                if request.method == "GET":
                    return redirect(url_for("review.password"))
                raise Forbidden("choose your own password first (Change password)")
            return view(*args, **kwargs)

        wrapper.mpi_public = True  # type: ignore[attr-defined]
        wrapper.mpi_audit = (action, subtype)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return mark


def reviewer_name() -> str:
    """The signed-in reviewer's username."""
    return str(g.reviewer.username)


@bp.before_request
def _load_session() -> None:
    g.reviewer = None
    token = request.cookies.get(COOKIE)
    if not token:
        return
    found = reviewers.session(get_conn(), token, idle_seconds=int(_config("REVIEW_IDLE_SECONDS")))
    if found is None:
        return
    g.reviewer = found.reviewer
    g.csrf_token = found.csrf_token
    g.caller = Caller(
        system_id=0,
        system_code=SYSTEM_CODE,
        scopes=frozenset({"review"}),
        token_id=0,
        user_id=found.reviewer.username,
        user_role=found.reviewer.role,
    )


def _config(name: str) -> Any:
    from flask import current_app

    return current_app.config[name]


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _context() -> dict[str, Any]:
    from flask import current_app

    from mpi.review import REASON_LABELS

    reviewer = g.get("reviewer")
    return {
        "reviewer": reviewer,
        "csrf_token": g.get("csrf_token", ""),
        "reason_labels": REASON_LABELS,
        # only a development environment is known to hold synthetic data alone
        "synthetic_only": current_app.config["SETTINGS"].environment == "development",
        "shortcuts_on": bool(reviewer is not None and reviewer.shortcuts),
    }


def _age(seconds: float | None) -> str:
    """A duration for people: 45 s, 12 min, 3 h 5 min, 4 d 2 h."""
    if seconds is None:
        return "—"
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _age_since(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return _age((datetime.now(UTC) - moment).total_seconds())


def _age_class(seconds: float) -> str:
    """Ageing made visible: fresh (under a day), old (under a week), stale."""
    if seconds < 86400:
        return "age-fresh"
    if seconds < 7 * 86400:
        return "age-old"
    return "age-stale"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


def _nhs(digits: str | None) -> str | None:
    """An NHS number shown 3-3-4."""
    from matching.nhs_number import format_nhs_number

    return format_nhs_number(digits) if digits and len(digits) == 10 else digits


#: Internal codes (link methods, link history reasons, decision kinds) in reviewers' words.
WORDS = {
    "auto": "automatic match",
    "manual": "by a reviewer",
    "matched": "matched automatically",
    "bridged": "joined: a new record matched both persons",
    "re-evaluated": "matched again after an update",
    "review_linked": "a reviewer decided: same person",
    "merged": "a reviewer merged the persons",
    "split": "a reviewer split it off",
    "undo": "a reviewer's decision undone",
}
#: Decision kinds in reviewers' words.
DECISION_WORDS = {
    "link": "same person",
    "no_match": "not the same",
    "merge": "merge",
    "split": "split",
    "undo": "undo",
}


def _words(code: str | None) -> str:
    """An internal code in reviewers' words (the code itself if it has none)."""
    if not code:
        return "—"
    return WORDS.get(code, code.replace("_", " "))


def _field(record: Any, name: str) -> str | None:
    from mpi.identities import display_value

    return display_value(record, name)


@bp.record_once
def _register_filters(state: Any) -> None:
    env = state.app.jinja_env
    env.filters.update(
        age=_age,
        age_since=_age_since,
        age_class=_age_class,
        when=_when,
        nhs=_nhs,
        words=_words,
        decision_words=lambda kind: DECISION_WORDS.get(kind, kind),
    )
    env.globals["field"] = _field


def _status(exc: MPIError) -> int:
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 500


@bp.errorhandler(MPIError)
def _mpi_error(exc: MPIError) -> tuple[str, int] | Response:
    from api.errors import handle_unexpected, rollback

    rollback()
    status = _status(exc)
    if status == 500:
        return handle_unexpected(exc)
    problems = list(exc.problems) if isinstance(exc, InvalidInput) else []
    titles = {
        400: "That input was not accepted",
        403: "Not allowed",
        404: "Not found",
        409: "Someone else got there first",
    }
    title = getattr(exc, "title", None) or titles[status]
    return (
        render_template(
            "review/error.html",
            status=status,
            title=title,
            error_message=str(exc),
            problems=problems,
            back=_safe_back(),
        ),
        status,
    )


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return http_error_page(exc)


#: What the error page says for routing errors (a mistyped or hand-edited address).
_HTTP_MESSAGES = {
    404: "There is no such page in the review UI: check the address, or start from the queue.",
    405: "This address only takes a form sent from the review pages; open the page instead.",
}


def http_error_page(exc: HTTPException) -> Response:
    """The review UI's HTML error page for a routing or protocol error (404, 405, 413 …),
    also for addresses under /review that match no view (the app's handler sends them here)."""
    from flask import make_response

    from api.errors import rollback

    if "reviewer" not in g:  # an address that matched no view: no session read yet
        try:
            _load_session()
        except Exception:  # the page still answers without the session
            g.reviewer = None
    rollback()
    status = exc.code or 500
    message = exc.description or exc.name
    if status in _HTTP_MESSAGES and (request.url_rule is None or status == 405):
        message = _HTTP_MESSAGES[status]
    response = make_response(
        render_template(
            "review/error.html",
            status=status,
            title=exc.name,
            error_message=message,
            problems=[],
            back=_safe_back(),
            **_context(),
        ),
        status,
    )
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods or [])
    return _headers(response)


def _safe_back() -> str | None:
    """Where the error page's back link goes: the referring review page only."""
    ref = request.referrer or ""
    host = request.host_url.rstrip("/")
    if ref.startswith(host + "/review") and "\n" not in ref:
        return ref
    return None


@bp.get("/assets/<name>")
@page("review.asset", login=False)
def asset(name: str) -> Response:
    """The UI's own CSS and JavaScript (no CDN)."""
    g.pop("audit", None)  # static files touch no patient: no audit event
    if name not in ("review.css", "review.js"):
        abort(404)
    mimetype = "text/css" if name.endswith(".css") else "text/javascript"
    response = Response((ASSETS / name).read_bytes(), mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def init_app(app: Flask) -> None:
    """Apply the review UI's defaults and register the blueprint."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    from api.review import accounts, auth, dashboard, identities, queue  # noqa: F401

    app.register_blueprint(bp)
