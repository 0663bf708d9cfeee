"""FHIR R4 under /fhir: CapabilityStatement, Patient (PIXm, PDQm, $match), AuditEvent."""

from __future__ import annotations

from flask import Blueprint, request

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

#: ``_format`` values meaning JSON (the only format served).
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "fhir+json"})


@bp.before_request
def _check_format() -> None:
    """Refuse a ``_format`` other than JSON with 406 (PDQm, FHIR http)."""
    from api.errors import ApiError

    wanted = request.args.get("_format")
    if wanted is not None and wanted.split(";")[0].strip().lower() not in JSON_FORMATS:
        raise ApiError(406, "not-supported", "only JSON is supported", field="_format")


from api.fhir import metadata, patient  # noqa: E402, F401
