"""Building FHIR R4 resources (UK Core Patient where it applies) from MPI values."""

from __future__ import annotations

from html import escape
from typing import Any

from flask import Response, current_app, json, request

from matching import fields
from matching.nhs_number import VERIFICATION_STATUS_DISPLAYS as _STATUS_DISPLAYS
from mpi.fhir_patient import NHS_NUMBER_SYSTEM, VERIFICATION_STATUS_URL
from mpi.lookups import LinkedRecord

FHIR_JSON = "application/fhir+json"
UKCORE_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
VERIFICATION_STATUS_ENGLAND = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)
XHTML = "http://www.w3.org/1999/xhtml"
#: The security label of a Patient whose content the patient's objection withholds.
REDACTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}


#: The Patient elements rendered by :func:`patient` itself, from several golden fields.
_COMPOSED = frozenset(
    {
        "Patient.identifier",
        "Patient.identifier.extension",
        "Patient.name.given",
        "Patient.name.family",
        "Patient.telecom",
        "Patient.address.line",
        "Patient.address.postalCode",
        "Patient.deceasedBoolean",
        "Patient.deceasedDateTime",
        "Patient.multipleBirthBoolean",
        "Patient.multipleBirthInteger",
    }
)
#: Every other golden field and the one Patient element it is (:mod:`matching.fields`).
_ELEMENTS = tuple(
    (f.name, f.fhir.removeprefix("Patient."))
    for f in fields.FIELDS
    if f.golden and f.fhir not in _COMPOSED
)


def nhs_number_identifier(value: str, status: str | None) -> dict[str, Any]:
    """The UK Core ``nhsNumber`` identifier slice, with its verification status if known."""
    identifier: dict[str, Any] = {"system": NHS_NUMBER_SYSTEM, "value": value}
    if status in _STATUS_DISPLAYS:
        identifier["extension"] = [
            {
                "url": VERIFICATION_STATUS_URL,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": VERIFICATION_STATUS_ENGLAND,
                            "code": status,
                            "display": _STATUS_DISPLAYS[status],
                        }
                    ]
                },
            }
        ]
    return identifier


def fhir(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR JSON response."""
    response = current_app.response_class(
        json.dumps(body), status=status, mimetype=FHIR_JSON, headers=headers
    )
    return response


def base_url() -> str:
    """The service's FHIR base URL, for fullUrl and Location."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    root = configured.rstrip("/") if configured else request.host_url.rstrip("/")
    return root + "/fhir"


def identifier_system(code: str, uri: str | None) -> str:
    """A system's identifier system URI (a URN from its code if none is registered)."""
    return uri or f"urn:mpi:system:{code}"


def record_identifier(record: LinkedRecord) -> dict[str, Any]:
    """A linked record as a FHIR Identifier with its assigning authority."""
    return {
        "use": "secondary",
        "system": identifier_system(record.system_code, record.identifier_system),
        "value": record.local_id,
        "assigner": {"display": record.system_name},
    }


def patient(
    person_id: str,
    *,
    active: bool = True,
    golden: dict[str, Any] | None = None,
    records: tuple[LinkedRecord, ...] | list[LinkedRecord] = (),
    replaced_by: str | None = None,
    withheld: str | None = None,
) -> dict[str, Any]:
    """The golden Patient: identifiers the caller may see and survivorship demographics.

    ``withheld`` (the reason, when the patient objected) labels the Patient ``REDACTED``
    and states the reason in its narrative; give it no golden view then.
    """
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person_id,
        "meta": {"profile": [UKCORE_PATIENT]},
    }
    if withheld:
        resource["meta"]["security"] = [REDACTED]
        text = escape(withheld, quote=False)
        resource["text"] = {"status": "generated", "div": f'<div xmlns="{XHTML}">{text}</div>'}
    identifiers: list[dict[str, Any]] = []
    golden = golden or {}
    if golden.get("nhs_number"):
        identifiers.append(
            nhs_number_identifier(golden["nhs_number"], golden.get("nhs_number_status"))
        )
    identifiers += [record_identifier(r) for r in records]
    if identifiers:
        resource["identifier"] = identifiers
    resource["active"] = active
    name: dict[str, Any] = {}
    if golden.get("family_name"):
        name["family"] = golden["family_name"]
    if golden.get("given_name"):
        name["given"] = golden["given_name"].split()
    if name:
        resource["name"] = [{"use": "official", **name}]
    if golden.get("phone"):
        resource["telecom"] = [{"system": "phone", "value": golden["phone"], "use": "home"}]
    for name, element in _ELEMENTS:  # gender, birthDate and any field of one element
        value = golden.get(name)
        if value not in (None, ""):
            resource[element] = value
    if golden.get("deceased_at"):
        resource["deceasedDateTime"] = fhir_date_time(golden["deceased_at"])
    elif golden.get("deceased") is not None:
        resource["deceasedBoolean"] = golden["deceased"]
    address: dict[str, Any] = {}
    if golden.get("address_line"):
        address["line"] = [p.strip() for p in golden["address_line"].split(",") if p.strip()]
    if golden.get("postcode"):
        address["postalCode"] = golden["postcode"]
    if address:
        resource["address"] = [{"use": "home", **address}]
    if golden.get("birth_order") is not None:
        resource["multipleBirthInteger"] = golden["birth_order"]
    elif golden.get("multiple_birth") is not None:
        resource["multipleBirthBoolean"] = golden["multiple_birth"]
    if replaced_by:
        resource["link"] = [
            {"other": {"reference": f"Patient/{replaced_by}"}, "type": "replaced-by"}
        ]
    return resource


def fhir_date_time(value: str) -> str:
    """A stored date or date-time as a FHIR ``dateTime``: one with a time but no zone
    (which FHIR does not allow) gives its date only."""
    date_part, _, time_part = value.partition("T")
    if time_part and not (time_part.endswith("Z") or "+" in time_part or "-" in time_part):
        return date_part
    return value


def outcome(code: str, diagnostics: str, severity: str = "information") -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def searchset(
    entries: list[dict[str, Any]], total: int, *, self_url: str | None = None
) -> dict[str, Any]:
    """A searchset Bundle, with its self link when given."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total}
    if self_url:
        bundle["link"] = [{"relation": "self", "url": self_url}]
    if entries:
        bundle["entry"] = entries
    return bundle
