"""The native JSON API, /v1: records, persons, events, subscriptions, opt-outs, audit."""

from __future__ import annotations

from flask import Blueprint, request

bp = Blueprint("v1", __name__, url_prefix="/v1")

#: The query parameters each GET takes (by endpoint); any other is refused, as PDQm does.
QUERY_PARAMS: dict[str, frozenset[str]] = {
    "v1.search_by_nhs_number": frozenset({"nhs_number", "limit", "offset"}),
    "v1.person_audit": frozenset({"limit"}),
    "v1.events": frozenset({"after", "limit"}),
}


@bp.before_request
def _check_query() -> None:
    """Refuse a GET's unknown or repeated query parameters with 400, naming each: a
    misspelt or repeated filter is never silently ignored."""
    from mpi.errors import FieldProblem, InvalidInput

    if request.method not in ("GET", "HEAD"):
        return
    allowed = QUERY_PARAMS.get(request.endpoint or "", frozenset())
    args = request.args
    problems = [
        FieldProblem(k, "is not a parameter of this request") for k in args if k not in allowed
    ] + [FieldProblem(k, "is given more than once") for k in args if len(args.getlist(k)) > 1]
    if problems:
        raise InvalidInput(problems)


from api.v1 import events, openapi, persons, records  # noqa: E402, F401
