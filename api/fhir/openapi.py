"""The /fhir routes as OpenAPI paths, so that /openapi.json names every route of the app.

The CapabilityStatement (``GET /fhir/metadata``) is the FHIR description; these paths
say the same in OpenAPI terms, for clients and for schemathesis, which fuzzes them too.
"""

from __future__ import annotations

from typing import Any

from api.fhir.patient import SEARCH_PARAMS

FHIR_JSON = "application/fhir+json"
_RESOURCE = {"type": "object", "required": ["resourceType"]}
#: A synthetic Patient in the example GP system's domain (NHS number from the test range).
EXAMPLE_IDENTIFIER = "https://fhir.gp.example.nhs.uk/Id/patient-number|G1"
EXAMPLE_PATIENT = {
    "resourceType": "Patient",
    "identifier": [
        {"system": "https://fhir.gp.example.nhs.uk/Id/patient-number", "value": "G1"},
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"},
    ],
    "name": [{"use": "official", "family": "Smith", "given": ["Alice"]}],
    "gender": "female",
    "birthDate": "1980-03-15",
    "address": [{"use": "home", "postalCode": "LS1 4AP"}],
}


def _fhir(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": _RESOURCE}}}


_OUTCOME = _fhir("OperationOutcome naming the element or parameter at fault")
_UNSUPPORTED = _fhir(
    "OperationOutcome (not-supported, Content-Type): the body is not application/fhir+json "
    "or application/json in UTF-8"
)


def _responses(*ok: str) -> dict[str, Any]:
    found: dict[str, Any] = {code: _fhir("a FHIR resource") for code in ok if code != "204"}
    if "204" in ok:
        found["204"] = {"description": "done"}
    found.update({str(code): _OUTCOME for code in (400, 401, 403, 404, 406, 414, 503)})
    return found


def _query(name: str, *, required: bool = False, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": {"type": kind}}


def _body(example: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {FHIR_JSON: {"schema": _RESOURCE, "example": example}},
    }


_FORMAT = _query("_format")
_IDENTIFIER = {**_query("identifier", required=True), "example": EXAMPLE_IDENTIFIER}
_SEARCH = [n for n in SEARCH_PARAMS if n not in ("_count", "_offset", "_format")]
#: What the PDQm search parameters take, where more than their name says.
_SEARCH_DESCRIPTIONS = {
    "identifier": "system|value tokens, ORed with commas, select; system| tokens (a domain,"
    " IHE PDQm) select nobody and keep only those domains' identifiers in each Patient"
    " returned (a Patient with none is left out); an unknown domain is a 404",
    "family:exact": "the Patient's family name must be exactly this",
    "given:exact": "one of the Patient's given names must be exactly this",
}
#: The paging parameters: the page size and the cursor the next link carries.
_PAGING = [
    {
        **_query("_count", kind="integer"),
        "schema": {"type": "integer", "minimum": 1, "maximum": 50},
        "description": "matches per page (1 to 50, default 10); the Bundle's total counts"
        " every match the caller may see and its next link gives the following page",
    },
    {
        **_query("_offset", kind="integer"),
        "schema": {"type": "integer", "minimum": 0, "maximum": 1000},
        "description": "the cursor of a next link (matches to skip, 0 to 1000); follow"
        " the link rather than building it",
    },
]


def _described(name: str, found: dict[str, Any]) -> dict[str, Any]:
    """``found`` with the search parameter's description, if it has one."""
    if name in _SEARCH_DESCRIPTIONS:
        return {**found, "description": _SEARCH_DESCRIPTIONS[name]}
    return found


_SEARCH_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {
                    **{name: _described(name, {"type": "string"}) for name in _SEARCH},
                    "_count": {"type": "integer"},
                    "_offset": {"type": "integer"},
                },
            },
            "example": {
                "family": "Jones",
                "birthdate": "1975-07-04",
                "identifier": "https://fhir.nhs.uk/Id/nhs-number|",
            },
        }
    },
}


def paths() -> dict[str, Any]:
    """The OpenAPI paths of the FHIR surface."""
    return {
        "/fhir/metadata": {
            "get": {
                "summary": "CapabilityStatement",
                "security": [],
                "parameters": [_FORMAT],
                "responses": {"200": _fhir("CapabilityStatement"), "406": _OUTCOME},
            }
        },
        "/fhir/Patient": {
            "get": {
                "summary": "PDQm search (ITI-78): a searchset Bundle with its self link",
                "parameters": [_described(n, _query(n)) for n in _SEARCH] + [*_PAGING, _FORMAT],
                "responses": _responses("200"),
            },
            "put": {
                "summary": "Register: conditional update on the caller's own identifier",
                "parameters": [_IDENTIFIER, _FORMAT],
                "requestBody": _body(EXAMPLE_PATIENT),
                "responses": {**_responses("200", "201"), "413": _OUTCOME, "415": _UNSUPPORTED},
            },
            "post": {
                "summary": "Register a Patient carrying the caller's own identifier",
                "description": "An identifier the caller already holds is a 409 (update it"
                " with PUT Patient?identifier=), unless If-None-Exist names it: a"
                " conditional create, answering that Patient with 200 and changing nothing.",
                "parameters": [
                    _FORMAT,
                    {
                        "name": "If-None-Exist",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "identifier=system|value: the Patient's own identifier",
                    },
                ],
                "requestBody": _body(EXAMPLE_PATIENT),
                "responses": {
                    **_responses("200", "201"),
                    "409": _fhir("OperationOutcome (duplicate): the identifier is held"),
                    "413": _OUTCOME,
                    "415": _UNSUPPORTED,
                },
            },
            "delete": {
                "summary": "Withdraw a record: conditional delete on the caller's identifier",
                "parameters": [_IDENTIFIER, _FORMAT],
                "responses": _responses("204"),
            },
        },
        "/fhir/Patient/_search": {
            "post": {
                "summary": "PDQm search by POST (ITI-78): the parameters form-encoded",
                "parameters": [_FORMAT],
                "requestBody": _SEARCH_FORM,
                "responses": {
                    **_responses("200"),
                    "415": _fhir(
                        "OperationOutcome (not-supported, Content-Type): the body is not "
                        "application/x-www-form-urlencoded"
                    ),
                },
            }
        },
        "/fhir/Patient/{person_id}": {
            "parameters": [
                {"name": "person_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {
                "summary": "The golden Patient (merged: active false, link replaced-by)",
                "parameters": [_FORMAT],
                "responses": _responses("200"),
            },
        },
        "/fhir": {
            "post": {
                "summary": "PMIR Mobile Patient Identity Feed (ITI-93): a message Bundle",
                "description": "MessageHeader (eventUri urn:ihe:iti:pmir:2019:patient-feed)"
                " then the history Bundle of Patient creates (POST Patient), updates and merges"
                " (PUT, a merge being active: false with link replaced-by) and deletes, each"
                " keyed by the caller's own identifier, applied in one transaction. Answers a"
                " message Bundle with one MessageHeader (patient-feed-response, response.code"
                " ok); a refused entry is a 4xx OperationOutcome naming the entry and field,"
                " and nothing of the feed is kept.",
                "parameters": [_FORMAT],
                "requestBody": _body(
                    {
                        "resourceType": "Bundle",
                        "type": "message",
                        "entry": [
                            {
                                "fullUrl": "urn:uuid:2f1c6b7e-0d1a-4c53-9a55-1f0e4a2b9c01",
                                "resource": {
                                    "resourceType": "MessageHeader",
                                    "id": "2f1c6b7e-0d1a-4c53-9a55-1f0e4a2b9c01",
                                    "eventUri": "urn:ihe:iti:pmir:2019:patient-feed",
                                    "source": {"endpoint": "https://gp.example.nhs.uk/fhir"},
                                    "destination": [{"endpoint": "https://mpi.example/fhir"}],
                                    "focus": [{"reference": "Bundle/feed-1"}],
                                },
                            },
                            {
                                "fullUrl": "Bundle/feed-1",
                                "resource": {
                                    "resourceType": "Bundle",
                                    "id": "feed-1",
                                    "type": "history",
                                    "entry": [
                                        {
                                            "resource": EXAMPLE_PATIENT,
                                            "request": {"method": "POST", "url": "Patient"},
                                            "response": {"status": "201"},
                                        }
                                    ],
                                },
                            },
                        ],
                    }
                ),
                "responses": {
                    **_responses("200"),
                    "409": _OUTCOME,
                    "413": _OUTCOME,
                    "415": _UNSUPPORTED,
                },
            }
        },
        "/fhir/Patient/$match": {
            "post": {
                "summary": "$match (ITI-119): Parameters or a bare Patient; a searchset Bundle",
                "parameters": [_FORMAT],
                "requestBody": _body(
                    {
                        "resourceType": "Parameters",
                        "parameter": [
                            {"name": "resource", "resource": EXAMPLE_PATIENT},
                            {"name": "onlyCertainMatches", "valueBoolean": True},
                            {"name": "count", "valueInteger": 3},
                        ],
                    }
                ),
                "responses": {**_responses("200"), "413": _OUTCOME, "415": _UNSUPPORTED},
            }
        },
        "/fhir/Patient/$ihe-pix": {
            "get": {
                "summary": "PIXm (ITI-83): Parameters with targetIdentifier and targetId",
                "parameters": [
                    {**_query("sourceIdentifier", required=True), "example": EXAMPLE_IDENTIFIER},
                    {
                        "name": "targetSystem",
                        "in": "query",
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "style": "form",
                        "explode": True,
                    },
                    _FORMAT,
                ],
                "responses": _responses("200"),
            }
        },
        "/fhir/AuditEvent": {
            "get": {
                "summary": "AuditEvents about a patient (admin): patient=Patient/{id}",
                "parameters": [
                    _query("patient", required=True),
                    _query("_count", kind="integer"),
                    _FORMAT,
                ],
                "responses": _responses("200"),
            }
        },
    }
