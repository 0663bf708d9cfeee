"""Rendering shared by the /v1 views."""

from __future__ import annotations

from typing import Any

from flask import current_app

from matching import fields
from matching.nhs_number import normalise_verification_status
from mpi.access import Disclosure
from mpi.identities import golden_view, sent_demographics
from mpi.lookups import record_details_of_person
from mpi.optout import WITHHELD_MESSAGE
from mpi.records import MatchContext


def match_context() -> MatchContext:
    """The app's matching context."""
    return current_app.extensions["mpi_ctx"]  # type: ignore[no-any-return]


#: Golden fields that are JSON booleans, and those that are numbers.
_FLAGS = fields.of_kind("flag")
_COUNTS = fields.of_kind("count")


def _json_value(name: str, value: str) -> Any:
    if name in _FLAGS:
        return value == "true"
    if name in _COUNTS:
        return int(value)
    return value


def golden(conn: Any, person_pk: int) -> dict[str, Any]:
    """The golden demographics of a person, as plain values.

    ``nhs_number_status`` is the England verification code (``01`` … ``08``) that the
    record supplying the golden NHS number sent, when it sent one. ``multiple_birth`` and
    ``deceased`` are booleans, ``birth_order`` a number.
    """
    details = record_details_of_person(conn, person_pk)
    view = golden_view(details)
    values = {name: _json_value(name, field.value) for name, field in view.items()}
    source = view.get("nhs_number")
    if source is not None:
        for record in details:
            if (record.system_code, record.local_id) == (source.system, source.local_id):
                status = normalise_verification_status(sent_demographics(record).nhs_number_status)
                if status:
                    values["nhs_number_status"] = status
                break
    return values


def disclosure_json(conn: Any, found: Disclosure, *, with_golden: bool) -> dict[str, Any]:
    """A person as the caller may see it."""
    body: dict[str, Any] = {"person_id": found.person_id, "status": found.status}
    if found.merged_into:
        body["merged_into"] = found.merged_into
    body["records"] = [{"system": r.system_code, "local_id": r.local_id} for r in found.records]
    if found.withheld:
        body["withheld"] = {"reason": found.withheld, "detail": WITHHELD_MESSAGE}
    elif with_golden and found.status == "active":
        body["golden"] = golden(conn, found.person_pk)
    body["access_basis"] = found.basis
    return body
