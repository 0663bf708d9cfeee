"""/v1/persons: golden view, search by NHS number or demographics, opt-outs, audit."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import current_app, request

from api.db import get_conn, read_conn
from api.requests import audited, caller, draft
from api.v1 import bp
from api.v1.common import disclosure_json, golden, match_context
from api.v1.records import demographics_problems
from api.validation import int_param, json_object, text_param
from matching.nhs_number import check as check_nhs_number  # noqa: I001
from mpi import access, audit, lookups, optout
from mpi.errors import InvalidInput
from mpi.loading import demographics_from_row
from mpi.search import SEARCH_CANDIDATES, find_matches


def _person_id(person_id: str) -> str:
    text_param("person_id", person_id, max_length=64)
    draft().persons([person_id])
    return person_id


@bp.get("/persons/<person_id>")
@audited("person.read", "read")
def read_person(person_id: str) -> tuple[dict[str, Any], int]:
    """The golden view of a person and the linked records the caller may see."""
    who = caller()
    access.require(who, "lookup")
    conn = read_conn()
    seen = access.disclose(conn, who, _person_id(person_id))
    if seen.withheld:
        draft().outcome = "withheld"
    draft().detail["basis"] = seen.basis
    for r in seen.records:
        draft().record(r.system_code, r.local_id)
    return disclosure_json(conn, seen, with_golden=True), 200


#: The most matches a search pages through (``offset`` beyond it is refused).
MAX_OFFSET = 1000


def _results(
    found: list[tuple[int, str, str, float | None]],
    limit: int | None = None,
    offset: int = 0,
    next_url: str | None = None,
) -> dict[str, Any]:
    """Render (person pk, person ID, grade, score) results under the disclosure rule.

    A person the caller may see nothing of (:func:`mpi.access.visible`) is left out, as
    if it did not exist. ``total`` counts every match left (what the caller may see, never
    more); ``limit`` matches from ``offset`` are returned, and ``next_offset`` (with the
    link ``next`` to ``next_url`` for a GET) says where the following page starts.
    """
    who = caller()
    conn = read_conn()
    sights = access.visible(conn, who, (f[0] for f in found))
    kept = [(f, sights[f[0]]) for f in found if f[0] in sights]
    end = len(kept) if limit is None else offset + limit
    matches = []
    for (pk, person_id, grade, score), sight in kept[offset:end]:
        item: dict[str, Any] = {"person_id": person_id, "grade": grade}
        if score is not None:
            item["score"] = round(score, 6)
        if sight.withheld:
            item["withheld"] = {"reason": sight.withheld, "detail": optout.WITHHELD_MESSAGE}
        else:
            item["golden"] = golden(conn, pk)
        shown = access.records_shown(conn, who, pk, sight)
        if shown:
            item["records"] = [{"system": r.system_code, "local_id": r.local_id} for r in shown]
            for r in shown:
                draft().record(r.system_code, r.local_id)
        matches.append(item)
    draft().persons([m["person_id"] for m in matches])
    draft().detail["results"] = len(matches)
    body: dict[str, Any] = {"matches": matches, "total": len(kept)}
    if end < len(kept):
        body["next_offset"] = end
        if next_url is not None:
            body["next"] = f"{next_url}&offset={end}"
    return body


@bp.get("/persons")
@audited("person.search", "search")
def search_by_nhs_number() -> tuple[dict[str, Any], int]:
    """Find the person(s) with an NHS number: ``GET /v1/persons?nhs_number=...``."""
    who = caller()
    access.require(who, "lookup")
    raw = text_param("nhs_number", request.args.get("nhs_number"), max_length=20)
    if not raw:
        raise InvalidInput.single("nhs_number", "give the NHS number to search for")
    limit = int_param("limit", request.args.get("limit"), default=10, low=1, high=50)
    offset = int_param("offset", request.args.get("offset"), default=0, low=0, high=MAX_OFFSET)
    checked = check_nhs_number(raw)
    if not checked.is_valid:
        raise InvalidInput.single("nhs_number", f"is not a valid NHS number: {checked.reason}")
    nhs_number = checked.digits
    found = lookups.persons_with_nhs_number(read_conn(), nhs_number)
    grade = "certain" if len(found) == 1 else "probable"
    configured = current_app.config.get("PUBLIC_BASE_URL")
    root = configured.rstrip("/") if configured else request.host_url.rstrip("/")
    url = f"{root}/v1/persons?nhs_number={nhs_number}&limit={limit}"
    return _results([(pk, pid, grade, None) for pk, pid in found], limit, offset, url), 200


@bp.post("/persons/search")
@audited("person.match", "search")
def search_by_demographics() -> tuple[dict[str, Any], int]:
    """Find persons matching demographics (body as for registration), best first.

    ``limit`` matches per page from ``offset``; ``total`` counts them all and
    ``next_offset`` is the ``offset`` of the following page.
    """
    who = caller()
    access.require(who, "lookup")
    body = json_object()
    limit = body.pop("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
        raise InvalidInput.single("limit", "must be a whole number from 1 to 50")
    offset = body.pop("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput.single("offset", f"must be a whole number from 0 to {MAX_OFFSET}")
    problems = demographics_problems(body)
    if problems:
        raise InvalidInput(problems)
    raw = {k: v for k, v in body.items() if v is not None}
    candidates = find_matches(
        read_conn(), match_context(), demographics_from_row(raw), limit=SEARCH_CANDIDATES
    )
    found = [(c.person_pk, c.person_id, c.grade, c.score.probability) for c in candidates]
    return _results(found, limit, offset), 200


@bp.put("/persons/<person_id>/opt-out")
@audited("optout.add", "update")
def add_opt_out(person_id: str) -> tuple[dict[str, Any], int]:
    """Record a patient's objection to sharing (admin)."""
    who = caller()
    access.require(who, "admin")
    body = json_object()
    added = optout.add(
        get_conn(), _person_id(person_id), body.get("reason"), actor=f"system:{who.system_code}"
    )
    return {"person_id": person_id, "opted_out": True, "changed": added}, 200


@bp.delete("/persons/<person_id>/opt-out")
@audited("optout.remove", "delete")
def remove_opt_out(person_id: str) -> tuple[dict[str, Any], int]:
    """Withdraw a patient's objection (admin)."""
    who = caller()
    access.require(who, "admin")
    removed = optout.remove(get_conn(), _person_id(person_id))
    return {"person_id": person_id, "opted_out": False, "changed": removed}, 200


@bp.get("/persons/<person_id>/audit")
@audited("audit.read", "read")
def person_audit(person_id: str) -> tuple[dict[str, Any], int]:
    """Who accessed a person, when and why, newest first (admin)."""
    who = caller()
    access.require(who, "admin")
    limit = int_param("limit", request.args.get("limit"), default=100, low=1, high=1000)
    # Always the primary, never the read replica: the audit events of lookups are written
    # on the primary without moving the caller's write position, so a replica could
    # leave out the latest accesses to the person, and this answer must be complete.
    events = audit.of_person(get_conn(), _person_id(person_id), limit=limit)
    return {"events": [_audit_json(e) for e in events]}, 200


def _audit_json(event: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in event.items() if k not in ("prev_hash",)}
    body["recorded_at"] = event["recorded_at"].astimezone(UTC).isoformat()
    body["records"] = [{"system": s, "local_id": lid} for s, lid in event["records"]]
    return body
