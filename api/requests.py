"""The request lifecycle: request ID, authentication, the audit draft, commit and logs.

A view marked :func:`audited` gets an :class:`AuditDraft` on ``g.audit`` before it runs;
the view adds the persons and records it touched. After the view (or its error handler)
the draft becomes one audit event in the same transaction as the work, then the
transaction commits. Views marked :func:`public` need no token.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from api import metrics
from api.db import get_conn, has_replica, note_write
from mpi import access, audit
from mpi.access import Caller
from mpi.errors import InvalidInput

log = logging.getLogger("api.access")

F = TypeVar("F", bound=Callable[..., Any])

_HEADER_TEXT = re.compile(r"^[\x20-\x7e]{1,128}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def public(view: F) -> F:
    """Mark a view as needing no bearer token."""
    view.mpi_public = True  # type: ignore[attr-defined]
    return view


def audited(action: str, subtype: str) -> Callable[[F], F]:
    """Mark a view as touching patients: each request writes exactly one audit event."""

    def mark(view: F) -> F:
        view.mpi_audit = (action, subtype)  # type: ignore[attr-defined]
        return view

    return mark


@dataclass
class AuditDraft:
    """The audit event of the current request, filled in by the view."""

    action: str
    subtype: str
    person_ids: list[str] = field(default_factory=list)
    records: list[tuple[str, str]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None

    def persons(self, ids: Iterable[str]) -> None:
        """Note persons touched (or returned)."""
        self.person_ids.extend(ids)

    def record(self, system: str, local_id: str) -> None:
        """Note a (system, local ID) named or disclosed."""
        self.records.append((system, local_id))


def draft() -> AuditDraft:
    """The current request's audit draft."""
    return g.audit  # type: ignore[no-any-return]


def caller() -> Caller:
    """The authenticated caller of the current request."""
    return g.caller  # type: ignore[no-any-return]


def _environ_key(name: str) -> str:
    """The WSGI environ key of a request header (as werkzeug's ``request.headers`` reads it)."""
    return "HTTP_" + name.upper().replace("-", "_")


def _header(name: str, environ: dict[str, Any]) -> str | None:
    value = environ.get(_environ_key(name))
    if value is None or value == "":
        return None
    if not _HEADER_TEXT.match(value):
        raise InvalidInput.single(name, "must be 1 to 128 printable ASCII characters")
    return value


def _authenticate(environ: dict[str, Any], tokens: access.TokenCache) -> Caller:
    # Headers are read from the WSGI environ directly: the same values as
    # ``request.headers``, without building its wrapper for each name.
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = auth.partition(" ")
    found = access.authenticate(
        get_conn(), token.strip() if scheme.lower() == "bearer" else None, tokens
    )
    purpose = _header("X-Purpose-Of-Use", environ) or "TREAT"
    if purpose not in audit.PURPOSES:
        raise InvalidInput.single("X-Purpose-Of-Use", "must be TREAT or ETREAT")
    reason = _header("X-Emergency-Reason", environ)
    if purpose == "ETREAT" and not reason:
        raise InvalidInput.single("X-Emergency-Reason", "an emergency purpose needs a reason")
    return Caller(
        system_id=found.system_id,
        system_code=found.system_code,
        scopes=frozenset(found.scopes),
        token_id=found.token_id,
        user_id=_header("X-User-Id", environ),
        user_role=_header("X-User-Role", environ),
        user_org=_header("X-User-Org", environ),
        purpose=purpose,
        emergency_reason=reason if purpose == "ETREAT" else None,
    )


#: The longest request line served (``GET /path?query HTTP/1.1``): gunicorn's own limit
#: (``limit_request_line``, :mod:`api.gunicorn_conf`), so that every server says the same.
MAX_REQUEST_LINE = 4094


def _check_request_line(req: Any) -> None:
    """Refuse an over-long URL with 414 before anything else is read.

    Raises:
        RequestURITooLarge: the request line is longer than ``MAX_REQUEST_LINE``.
    """
    from werkzeug.exceptions import RequestURITooLarge

    environ = req.environ
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or req.full_path
    line = len(req.method) + len(uri) + len(environ.get("SERVER_PROTOCOL", "HTTP/1.1")) + 2
    if line > MAX_REQUEST_LINE:
        raise RequestURITooLarge(
            f"the URL is too long: a request line of at most {MAX_REQUEST_LINE} bytes is"
            " served (send a long search by POST)"
        )


def _before() -> None:
    ctx = g._get_current_object()  # the request's globals, without a proxy per access
    ctx.started = time.perf_counter()
    req = request._get_current_object()  # type: ignore[attr-defined]
    environ = req.environ
    given = environ.get("HTTP_X_REQUEST_ID", "")
    ctx.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    _check_request_line(req)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    view = app.view_functions.get(req.endpoint or "")
    if view is None:
        return
    marked = getattr(view, "mpi_audit", None)
    if marked is not None:
        ctx.audit = AuditDraft(*marked)
    if not getattr(view, "mpi_public", False):
        ctx.caller = _authenticate(environ, app.extensions["mpi_tokens"])


def _outcome(draft_: AuditDraft, status: int) -> str:
    if draft_.outcome:
        return draft_.outcome
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    if status == 404:
        return "not-found"
    if status < 500:
        return "invalid"
    return "error"


def _write_audit(conn: Any, draft_: AuditDraft, status: int) -> None:
    ctx = g._get_current_object()
    who: Caller | None = ctx.get("caller")
    detail = dict(draft_.detail)
    if who is not None and who.is_emergency:
        detail["emergency_reason"] = who.emergency_reason
    audit.record(
        conn,
        audit.AuditEntry(
            action=draft_.action,
            subtype=draft_.subtype,
            outcome=_outcome(draft_, status),
            http_status=status,
            purpose=who.purpose if who else "TREAT",
            emergency=bool(who and who.is_emergency),
            system_code=who.system_code if who else None,
            user_id=who.user_id if who else _safe_header("X-User-Id"),
            user_role=who.user_role if who else _safe_header("X-User-Role"),
            user_org=who.user_org if who else _safe_header("X-User-Org"),
            person_ids=tuple(draft_.person_ids),
            records=tuple(draft_.records),
            detail=detail,
            client_address=request.remote_addr,
            request_id=ctx.get("request_id"),
        ),
    )


def _safe_header(name: str) -> str | None:
    value = request.environ.get(_environ_key(name))
    return value if value and _HEADER_TEXT.match(value) else None


def _after(response: Response) -> Response:
    ctx = g._get_current_object()
    draft_: AuditDraft | None = ctx.pop("audit", None)
    conn = ctx.get("db")
    committed = False
    if conn is not None:
        try:
            if draft_ is not None:
                _write_audit(conn, draft_, response.status_code)
            conn.commit()
            committed = True
            if request.method in ("PUT", "POST", "DELETE", "PATCH") and has_replica():
                note_write()
        except Exception as exc:  # noqa: BLE001 - the work is undone and a 500 returned
            from api.errors import handle_unexpected

            response = handle_unexpected(exc)  # which ends the transaction without its work
    response.headers["X-Request-Id"] = ctx.get("request_id", "")
    _log(response, ctx)
    if committed and draft_ is not None:
        metrics.audit_appended()
    metrics.observe(response, draft_.detail.get("decision") if draft_ else None, committed)
    return response


def _log(response: Response, ctx: Any) -> None:
    """One structured line per request: no path values, no query string, no body."""
    if not log.isEnabledFor(logging.INFO):
        return
    who: Caller | None = ctx.get("caller")
    started = ctx.get("started")
    req = request._get_current_object()  # type: ignore[attr-defined]
    rule = req.url_rule
    log.info(
        _LINE.encode(
            {
                "request_id": ctx.get("request_id"),
                "method": req.method,
                "route": rule.rule if rule else None,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                "system": who.system_code if who else None,
            }
        )
    )


_LINE = json.JSONEncoder()  # json.dumps with its defaults, without the lookup per call


def configure_logging(level: str) -> None:
    """Send the ``api`` loggers (request lines, errors) to standard error at ``level``.

    Under gunicorn nothing configures Python logging, so without a handler the request
    lines would be dropped; gunicorn keeps standard error as its error log. A handler is
    added only when the root logger has none (a host that configured logging, such as
    pytest, receives the records through propagation instead).

    Raises:
        ConfigError: ``level`` is not a logging level name.
    """
    from mpi.errors import ConfigError

    name = str(level).upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"MPI_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    logger = logging.getLogger("api")
    logger.setLevel(name)
    has_own = any(getattr(h, "mpi_handler", False) for h in logger.handlers)
    if not has_own and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.mpi_handler = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def init_app(app: Flask) -> None:
    """Install the hooks, the token cache (``TOKEN_CACHE_SECONDS``) and the request log."""
    configure_logging(app.config["LOG_LEVEL"])
    app.extensions["mpi_tokens"] = access.token_cache(float(app.config["TOKEN_CACHE_SECONDS"]))
    app.before_request(_before)
    app.after_request(_after)
