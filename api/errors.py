"""Every error rendered once per surface: problem+json under /v1, OperationOutcome under /fhir.

An unexpected exception becomes a 500 whose body and log line carry no patient data: only
the exception's class, where it was raised and the request ID.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from api.db import database_lost
from mpi.access import NotDisclosed, Unauthenticated
from mpi.errors import Conflict, Forbidden, InvalidInput, MPIError, NotFound
from mpi.optout import WITHHELD_REASON, Withheld

log = logging.getLogger("api.errors")

PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"


class ApiError(Exception):
    """An error with a status and FHIR issue code chosen by the surface (PIXm, PDQm)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        severity: str = "error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.severity = severity


def _classify(exc: BaseException) -> tuple[int, str, str, list[dict[str, str]]]:
    """(HTTP status, FHIR issue code, title, field problems) of an error."""
    if isinstance(exc, ApiError):
        problems = [{"field": exc.field, "reason": str(exc)}] if exc.field else []
        return exc.status, exc.code, str(exc), problems
    if isinstance(exc, InvalidInput):
        problems = [{"field": p.field, "reason": p.reason} for p in exc.problems]
        return 400, "invalid", "invalid input", problems
    if isinstance(exc, Unauthenticated):
        return 401, "login", "authentication required", []
    if isinstance(exc, Withheld):
        return 403, "suppressed", "withheld", []
    if isinstance(exc, Forbidden):
        return 403, "forbidden", "forbidden", []
    if isinstance(exc, NotFound):
        return 404, "not-found", "not found", []
    if isinstance(exc, Conflict):
        return 409, "conflict", "conflict", []
    return 500, "exception", "internal error", []


_HTTP_CODES = {
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    413: "too-costly",
    414: "too-costly",
    415: "not-supported",
}


def is_fhir() -> bool:
    """Whether this request is on the FHIR surface."""
    return request.path.startswith("/fhir")


def render(
    status: int,
    code: str,
    title: str,
    detail: str,
    problems: list[dict[str, str]],
    *,
    severity: str = "error",
    slug: str | None = None,
) -> Response:
    """The error response in the shape of the request's surface."""
    request_id = g.get("request_id")
    if is_fhir():
        issues: list[dict[str, Any]] = [
            {
                "severity": severity,
                "code": code,
                "diagnostics": f"{p['field']}: {p['reason']}",
                "expression": [p["field"]],
            }
            for p in problems
        ] or [{"severity": severity, "code": code, "diagnostics": detail}]
        body: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": issues}
        response = jsonify(body)
        response.mimetype = FHIR_JSON
    else:
        body = {
            "type": f"urn:mpi:problem:{slug or code}",
            "title": title,
            "status": status,
            "detail": detail,
        }
        if problems:
            body["errors"] = problems
        if request_id:
            body["request_id"] = request_id
        response = jsonify(body)
        response.mimetype = PROBLEM_JSON
    response.status_code = status
    return response


def rollback() -> None:
    """Undo the request's work; its audit event is written afterwards and committed, in
    the same transaction when the request had written nothing (:func:`mpi.database.undo`)."""
    from api.db import get_conn, has_conn
    from mpi.database import undo

    if has_conn():
        undo(get_conn())


def handle_mpi_error(exc: MPIError | ApiError) -> Response:
    """Render an MPI error after rolling the request's work back."""
    rollback()
    status, code, title, problems = _classify(exc)
    if status == 500:
        return handle_unexpected(exc)
    draft = g.get("audit")
    if draft is not None and isinstance(exc, Withheld):
        draft.outcome = "withheld"
    if draft is not None and isinstance(exc, NotDisclosed):
        # answered as an unknown person; the audit keeps what really happened
        draft.outcome = "denied"
        draft.detail["basis"] = "none"
    severity = exc.severity if isinstance(exc, ApiError) else "error"
    slug = WITHHELD_REASON if isinstance(exc, Withheld) else None
    response = render(status, code, title, str(exc), problems, severity=severity, slug=slug)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="mpi"'
    return response


def handle_http(exc: HTTPException) -> Response:
    """Render routing and protocol errors (404, 405, 413 …) in the surface's shape (the
    review UI's HTML error page under /review)."""
    if request.path == "/review" or request.path.startswith("/review/"):
        from api.review import http_error_page

        return http_error_page(exc)
    rollback()
    status = exc.code or 500
    detail = exc.description or exc.name
    if status == 413:
        detail = "the request body is too large"
    response = render(status, _HTTP_CODES.get(status, "processing"), exc.name, detail, [])
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods or [])
    return response


def handle_unexpected(exc: BaseException) -> Response:
    """A 500 without patient data: the log names the exception class and frames only.

    A lost database connection (a restart or failover drops every pooled connection, and
    each fails its next request once) or a pool with no connection to give is a 503 with
    ``Retry-After``: nothing was disclosed, and a registration is safe to send again.
    """
    rollback()
    if database_lost(exc):
        log.warning(
            "database unavailable: %s (request %s)", type(exc).__name__, g.get("request_id")
        )
        response = render(
            503,
            "transient",
            "service unavailable",
            "the database is unavailable for the moment; send the request again",
            [],
        )
        response.headers["Retry-After"] = "1"
        return response
    frames = "; ".join(
        f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)[-5:]
    )
    log.error("unexpected %s (request %s) at %s", type(exc).__name__, g.get("request_id"), frames)
    return render(
        500,
        "exception",
        "internal error",
        "an unexpected error happened; quote the request ID to the operators",
        [],
    )


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(MPIError, handle_mpi_error)
    app.register_error_handler(ApiError, handle_mpi_error)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
