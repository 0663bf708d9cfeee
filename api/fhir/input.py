"""Checking FHIR input: a Patient must be a well-formed R4 resource before it is used.

The structure (element names, cardinality, primitive types and formats) is checked with
the ``fhir.resources`` models; NHS numbers with their Modulus 11 check. Problems name
the element at fault as a FHIRPath-like expression (``Patient.name[0].family``), and
errors that the matching core raises with its own field names (``birth_date``) are
renamed to the FHIR element or search parameter they came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from api.validation import nhs_number_problem
from matching import fields
from mpi.errors import FieldProblem, InvalidInput
from mpi.fhir_patient import NHS_NUMBER_SYSTEM

#: The core's field names as elements of a Patient resource (:mod:`matching.fields`).
RESOURCE_FIELDS = fields.fhir_elements() | {
    "demographics": "Patient",
    "local_id": "Patient.identifier",
}

#: The core's field names as PDQm search parameters.
SEARCH_FIELDS = fields.fhir_search_parameters() | {"demographics": "family"}


#: Longest text accepted in any element (as for /v1 fields); Patient.text and photo aside.
MAX_TEXT = 200
#: Patient elements that are JSON booleans (the models accept "yes" and "true" too).
_BOOLEANS = ("active", "deceasedBoolean", "multipleBirthBoolean")


def _long_texts(value: Any, path: str, problems: list[FieldProblem]) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            problems.append(FieldProblem(path, f"must be at most {MAX_TEXT} characters"))
    elif isinstance(value, dict):
        for key, item in value.items():
            _long_texts(item, f"{path}.{key}", problems)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _long_texts(item, f"{path}[{n}]", problems)


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "__root__":
            text += f".{part}"
    return text


def patient_resource(value: Any, where: str = "Patient") -> dict[str, Any]:
    """A Patient resource checked for structure and NHS numbers, returned unchanged.

    Args:
        value: the parsed JSON.
        where: the expression that names the resource in errors (``Patient``, or
            ``Parameters.parameter[0].resource``).

    Raises:
        InvalidInput: not a Patient, a malformed element, or an invalid NHS number; every
            problem names its element.
    """
    if not isinstance(value, dict) or value.get("resourceType") != "Patient":
        raise InvalidInput.single(f"{where}.resourceType", "must be Patient")
    try:
        Patient.model_validate(value)
    except ValidationError as exc:
        problems = [
            FieldProblem(_path(where, tuple(e["loc"])), e["msg"]) for e in exc.errors()[:20]
        ]
        raise InvalidInput(problems) from None
    problems: list[FieldProblem] = []
    for key, item in value.items():
        if key in _BOOLEANS and not isinstance(item, bool):
            problems.append(FieldProblem(f"{where}.{key}", "must be true or false"))
        elif key not in ("text", "photo"):
            _long_texts(item, f"{where}.{key}", problems)
    for n, identifier in enumerate(value.get("identifier") or []):
        if identifier.get("system") == NHS_NUMBER_SYSTEM:
            problem = nhs_number_problem(
                f"{where}.identifier[{n}].value", identifier.get("value") or ""
            )
            if problem is not None:
                problems.append(problem)
    if problems:
        raise InvalidInput(problems)
    return value


@contextmanager
def renamed(fields: Mapping[str, str]) -> Iterator[None]:
    """Rename the fields of any :class:`InvalidInput` raised inside the block."""
    try:
        yield
    except InvalidInput as exc:
        raise InvalidInput(
            [FieldProblem(fields.get(p.field, p.field), p.reason) for p in exc.problems]
        ) from None
