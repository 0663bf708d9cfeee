"""Reading demographics out of a FHIR R4 Patient (UK Core where it applies)."""

from __future__ import annotations

from typing import Any

from matching import fields
from matching.types import Demographics
from mpi.errors import FieldProblem, InvalidInput

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
VERIFICATION_STATUS_URL = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)


#: What a Patient element of each kind of field must be.
_KIND_PROBLEMS = {
    "text": "must be a string",
    "flag": "must be true or false",
    "count": "must be a whole number",
}


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "flag":
        return isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _pick(items: Any, use_order: tuple[str, ...]) -> dict[str, Any] | None:
    """The first item by ``use`` preference (official, usual, …), skipping old ones."""
    if not isinstance(items, list):
        return None
    candidates = [i for i in items if isinstance(i, dict) and i.get("use") not in ("old",)]
    if not candidates:
        return None
    rank = {use: n for n, use in enumerate(use_order)}
    return min(candidates, key=lambda i: rank.get(i.get("use", ""), len(use_order)))


def local_identifier(patient: dict[str, Any], system_uri: str | None) -> str | None:
    """The value of the patient's identifier in ``system_uri`` (or the first non-NHS one)."""
    for identifier in patient.get("identifier") or []:
        if not isinstance(identifier, dict) or identifier.get("system") == NHS_NUMBER_SYSTEM:
            continue
        if system_uri is None or identifier.get("system") == system_uri:
            return _text(identifier.get("value"))
    return None


def demographics_from_patient(patient: Any) -> Demographics:
    """Extract the demographics the MPI matches on from a FHIR Patient resource.

    Each field is read from its element (:attr:`matching.fields.Field.fhir`): the
    identifier, name, address and telecom ones here, any other from the one Patient
    element of its name, checked for its kind: ``multipleBirthBoolean`` /
    ``multipleBirthInteger`` give ``multiple_birth`` / ``birth_order``,
    ``deceasedBoolean`` / ``deceasedDateTime`` give ``deceased`` / ``deceased_at``.

    Raises:
        InvalidInput: the resource is not a Patient, or a field has the wrong type.
    """
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise InvalidInput.single("resourceType", "must be Patient")
    problems: list[FieldProblem] = []
    nhs_number = status = None
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM:
            nhs_number = _text(identifier.get("value"))
            for ext in identifier.get("extension") or []:
                if isinstance(ext, dict) and ext.get("url") == VERIFICATION_STATUS_URL:
                    codings = (ext.get("valueCodeableConcept") or {}).get("coding") or []
                    for coding in codings:
                        if isinstance(coding, dict) and _text(coding.get("code")):
                            status = coding["code"]
    name = _pick(patient.get("name"), ("official", "usual", "", "nickname", "maiden"))
    given = family = None
    if name is not None:
        given_list = name.get("given") or []
        if not isinstance(given_list, list) or not all(isinstance(g, str) for g in given_list):
            problems.append(FieldProblem("name.given", "must be a list of strings"))
        else:
            given = " ".join(g for g in given_list if g.strip()) or None
        family = name.get("family")
        if family is not None and not isinstance(family, str):
            problems.append(FieldProblem("name.family", "must be a string"))
            family = None
    address = _pick(patient.get("address"), ("home", "", "temp"))
    line = postcode = None
    if address is not None:
        lines = address.get("line") or []
        if isinstance(lines, list):
            line = ", ".join(x for x in lines if isinstance(x, str) and x.strip()) or None
        postcode = _text(address.get("postalCode"))
    phone = None
    for telecom in patient.get("telecom") or []:
        if isinstance(telecom, dict) and telecom.get("system") == "phone":
            phone = _text(telecom.get("value"))
            break
    structured = {
        "Patient.identifier": nhs_number,
        "Patient.identifier.extension": status,
        "Patient.name.given": given,
        "Patient.name.family": _text(family),
        "Patient.address.line": line,
        "Patient.address.postalCode": postcode,
        "Patient.telecom": phone,
    }
    values = {f.name: structured[f.fhir] for f in fields.FIELDS if f.fhir in structured}
    for kind in ("text", "flag", "count"):  # each of the other fields: one element
        for f in fields.FIELDS:
            if f.kind != kind or f.fhir in structured:
                continue
            element = f.fhir.removeprefix("Patient.")
            value = patient.get(element)
            if value is not None and not _is_kind(value, kind):
                problems.append(FieldProblem(element, _KIND_PROBLEMS[kind]))
            values[f.name] = _text(value) if kind == "text" else value
    if problems:
        raise InvalidInput(problems)
    return Demographics(**values)
