"""FHIR R4 under /fhir: CapabilityStatement, Patient (PIXm, PDQm, $match), AuditEvent."""

from __future__ import annotations

import re

from flask import Blueprint, request

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

#: ``_format`` values meaning JSON (the only format served).
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "fhir+json"})


#: A ``fhirVersion`` parameter in an Accept header.
_ACCEPT_VERSION = re.compile(r"fhirVersion\s*=\s*\"?([0-9.]+)", re.IGNORECASE)


def _is_json(media_range: str) -> bool:
    """Whether an Accept media range (``type/subtype;params``) takes FHIR JSON."""
    kind, *params = [p.strip().lower() for p in media_range.split(";")]
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q" and value.strip() in ("0", "0.0", "0.00", "0.000"):
            return False  # "not this one"
    return kind in ("*/*", "application/*", "application/json") or kind.endswith("+json")


@bp.before_request
def _check_format() -> None:
    """Refuse a ``_format`` other than JSON, an Accept header none of whose media ranges
    admits JSON (``application/fhir+xml`` alone), or one whose every media range names a
    FHIR version other than R4, with 406 (PDQm, FHIR http)."""
    from api.errors import ApiError
    from api.validation import FHIR_VERSIONS

    wanted = request.args.get("_format")
    if wanted is not None and wanted.split(";")[0].strip().lower() not in JSON_FORMATS:
        raise ApiError(406, "not-supported", "only JSON is supported", field="_format")
    ranges = [r for r in request.headers.get("Accept", "").split(",") if r.strip()]
    if wanted is None and ranges and not any(_is_json(r) for r in ranges):
        raise ApiError(
            406,
            "not-supported",
            "only JSON is served (application/fhir+json); XML is not",
            field="Accept",
        )
    versions = [m.group(1) if (m := _ACCEPT_VERSION.search(r)) else None for r in ranges]
    if versions and all(v is not None and v not in FHIR_VERSIONS for v in versions):
        raise ApiError(
            406, "not-supported", "this server speaks FHIR R4 (fhirVersion=4.0)", field="Accept"
        )


from api.fhir import metadata, patient, pmir  # noqa: E402, F401
