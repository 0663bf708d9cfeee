"""PUT/GET/DELETE /v1/systems/{system}/records/{local_id}: register, resolve, withdraw."""

from __future__ import annotations

from typing import Any

from flask import Response

from api.db import get_conn, read_conn
from api.requests import audited, caller, draft
from api.v1 import bp
from api.v1.common import disclosure_json, match_context
from api.validation import json_object, nhs_number_problem, text_param
from matching import fields
from mpi import access, lookups, records
from mpi.errors import FieldProblem, InvalidInput, NotFound
from mpi.loading import demographics_from_row
from mpi.records import explanation

#: The body's fields, as declared in :mod:`matching.fields`.
FIELDS = fields.names()
#: Fields that are JSON booleans (or null), and the one that is a whole number.
BOOLEAN_FIELDS = fields.of_kind("flag")
INTEGER_FIELDS = fields.of_kind("count")
#: A record must carry at least one of these, or there is nothing to match it on.
IDENTIFYING = fields.identifying()
ROUTE = "/systems/<system>/records/<local_id>"


def demographics_problems(body: dict[str, object]) -> list[FieldProblem]:
    """Every problem with a demographics object: unknown fields, types, lengths, NHS number."""
    problems = [FieldProblem(k, "is not a known field") for k in body if k not in FIELDS]
    for key in FIELDS:
        value = body.get(key)
        if key in BOOLEAN_FIELDS:
            if value is not None and not isinstance(value, bool):
                problems.append(FieldProblem(key, "must be true, false or null"))
        elif key in INTEGER_FIELDS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                problems.append(FieldProblem(key, "must be a whole number or null"))
        elif value is not None and not isinstance(value, str):
            problems.append(FieldProblem(key, "must be a string or null"))
        elif isinstance(value, str) and len(value) > 200:
            problems.append(FieldProblem(key, "must be at most 200 characters"))
    number = body.get("nhs_number")
    if isinstance(number, str) and len(number) <= 200:
        problem = nhs_number_problem("nhs_number", number)
        if problem is not None:
            problems.append(problem)
    return problems


def _demographics_body() -> dict[str, str]:
    body = json_object()
    problems = demographics_problems(body)
    if not problems and not any(
        isinstance(body.get(k), str) and body[k].strip() for k in IDENTIFYING
    ):
        problems.append(FieldProblem("body", "give at least one of " + ", ".join(IDENTIFYING)))
    if problems:
        raise InvalidInput(problems)
    return {k: body[k] for k in FIELDS if body.get(k) is not None}


def _path(system: str, local_id: str) -> tuple[str, str]:
    text_param("system", system, max_length=64)
    text_param("local_id", local_id, max_length=128)
    draft().record(system, local_id)
    return system, local_id


@bp.put(ROUTE)
@audited("record.register", "update")
def register(system: str, local_id: str) -> tuple[dict[str, Any], int]:
    """Register or update one of the caller's records, with matching."""
    who = caller()
    system, local_id = _path(system, local_id)
    access.require(who, "register")
    access.require_own_system(who, system)
    raw = _demographics_body()
    ctx = match_context()
    row = records.prepare(ctx, local_id, raw, demographics_from_row(raw))
    result = records.register(get_conn(), ctx, system, row, actor=f"system:{system}")
    draft().persons([result.person_id])
    draft().detail["decision"] = result.decision
    conn = get_conn()
    candidates = [c for c in result.candidate_person_ids if access.sees_in_full(conn, who, c)]
    body: dict[str, Any] = {
        "person_id": result.person_id,
        "decision": result.decision,
        "record": {"system": system, "local_id": row.local_id},
        "score": None,
        "review_candidates": len(candidates),
        "issues": list(result.issues),
    }
    # the explanation compares the record field by field with the scored person's: shown
    # only when the caller may see that person after the registration (no oracle)
    scored = result.scored_person_id
    if result.score is not None and scored and access.sees_in_full(conn, who, scored):
        body["score"] = {
            "probability": round(result.score.probability, 6),
            "weight": round(result.score.weight, 3),
            "explanation": explanation(result.score),
            "flags": list(result.score.flags),
        }
    return body, 200


@bp.get(ROUTE)
@audited("record.resolve", "read")
def resolve(system: str, local_id: str) -> tuple[dict[str, Any], int]:
    """Resolve a local ID to its person and the linked records the caller may see."""
    who = caller()
    system, local_id = _path(system, local_id)
    access.require(who, "lookup")
    conn = read_conn()
    facts = access.record_facts(conn, who, system, local_id)
    unknown = f"no record {local_id!r} in system {system!r}"
    if facts is None:
        raise NotFound(unknown)
    draft().persons([facts.person_id])
    seen = access.decide(conn, who, facts)
    if seen is None:
        raise access.NotDisclosed(unknown)  # as for a record that does not exist
    if seen.withheld:
        draft().outcome = "withheld"
    draft().detail["basis"] = seen.basis
    for r in seen.records:
        draft().record(r.system_code, r.local_id)
    return disclosure_json(conn, seen, with_golden=False), 200


@bp.delete(ROUTE)
@audited("record.withdraw", "delete")
def withdraw(system: str, local_id: str) -> Response:
    """Withdraw one of the caller's records (history is kept)."""
    who = caller()
    system, local_id = _path(system, local_id)
    access.require(who, "register")
    access.require_own_system(who, system)
    conn = get_conn()
    found = lookups.person_of_record(conn, system, local_id)
    if found is not None:
        draft().persons([found[1]])
    records.withdraw(conn, system, local_id, actor=f"system:{system}")
    return Response(status=204)
