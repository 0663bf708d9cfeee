"""GET /openapi.json: the OpenAPI 3 description of every route of the service.

/v1 and the service routes are described here, /fhir in :mod:`api.fhir.openapi`. A test
checks that it names exactly the app's routes, the HTML review pages (/review) aside.
"""

from __future__ import annotations

from typing import Any

from matching import fields

#: A demographics object: one property per field of :mod:`matching.fields`.
_DEMOGRAPHICS = fields.json_schema()
#: A demographic search: the demographics, and the page (``limit`` from ``offset``).
_SEARCH_BODY = {
    **_DEMOGRAPHICS,
    "properties": {
        **_DEMOGRAPHICS["properties"],  # type: ignore[dict-item]
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
        "offset": {"type": "integer", "minimum": 0, "maximum": 1000},
    },
}
#: A synthetic patient (NHS number from the 999 test range), as the documented example.
EXAMPLE = {
    "nhs_number": "9990000018",
    "given_name": "Alice",
    "family_name": "Smith",
    "sex": "female",
    "birth_date": "1980-03-15",
    "postcode": "LS1 4AP",
}
_PROBLEM = {
    "description": "Problem (RFC 9457) naming the field at fault",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_UNSUPPORTED = {
    **_PROBLEM,
    "description": "Content-Type is not application/json (or application/*+json) in UTF-8",
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _PROBLEM for c in codes}


_OBJECT = {"type": "object"}
_PATH_PARAMS = [
    {"name": "system", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "local_id", "in": "path", "required": True, "schema": {"type": "string"}},
]
_PERSON = [{"name": "person_id", "in": "path", "required": True, "schema": {"type": "string"}}]


_STATUS = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}},
}


def _public(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "security": [], "responses": responses}}


def document() -> dict[str, Any]:
    """The OpenAPI document for the native JSON API."""
    from api.fhir.openapi import paths as fhir_paths

    common = _errors(400, 401, 403, 404, 414, 503)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mpi",
            "version": "1",
            "description": "Master patient index: register and resolve patients across "
            "connected systems. Every call needs 'Authorization: Bearer <token>'; "
            "X-User-Id, X-User-Role, X-User-Org and X-Purpose-Of-Use (TREAT or ETREAT with "
            "X-Emergency-Reason) are recorded in the audit trail.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Demographics": _DEMOGRAPHICS,
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "field": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
        "paths": {
            "/healthz": _public("The process is up", {"200": _json(_STATUS)}),
            "/readyz": _public(
                "The database answers",
                {"200": _json(_STATUS), "503": _json(_STATUS, "not ready")},
            ),
            "/openapi.json": _public("This document", {"200": _json(_OBJECT)}),
            "/metrics": {
                "get": {
                    "summary": "Service figures in Prometheus text format (scope metrics)",
                    "responses": {
                        "200": {
                            "description": "Prometheus exposition format, no patient data",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 403, 503),
                    },
                }
            },
            "/v1/systems/{system}/records/{local_id}": {
                "parameters": _PATH_PARAMS,
                "put": {
                    "summary": "Register or update one of the caller's records, with matching",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Demographics"},
                                "example": EXAMPLE,
                            }
                        },
                    },
                    "responses": {
                        "200": _json(_OBJECT, "person ID, decision and score explanation"),
                        **common,
                        **_errors(413),
                        "415": _UNSUPPORTED,
                    },
                },
                "get": {
                    "summary": "Resolve a local ID to its person and visible linked records",
                    "responses": {"200": _json(_OBJECT), **common},
                },
                "delete": {
                    "summary": "Withdraw one of the caller's records (history is kept)",
                    "responses": {"204": {"description": "withdrawn"}, **common},
                },
            },
            "/v1/persons": {
                "get": {
                    "summary": "Find persons by NHS number",
                    "description": "A page of matches: total counts every match the caller"
                    " may see, next (and next_offset) give the following page. Unknown or"
                    " repeated query parameters are refused.",
                    "parameters": [
                        {
                            "name": "nhs_number",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 50},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 1000},
                        },
                    ],
                    "responses": {"200": _json(_OBJECT), **common},
                }
            },
            "/v1/persons/search": {
                "post": {
                    "summary": "Find persons matching demographics, best first",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _SEARCH_BODY, "example": EXAMPLE}
                        },
                    },
                    "responses": {"200": _json(_OBJECT), **common, "415": _UNSUPPORTED},
                }
            },
            "/v1/persons/{person_id}": {
                "parameters": _PERSON,
                "get": {
                    "summary": "Golden view of a person",
                    "responses": {"200": _json(_OBJECT), **common},
                },
            },
            "/v1/persons/{person_id}/opt-out": {
                "parameters": _PERSON,
                "put": {
                    "summary": "Record the patient's objection to sharing (admin)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["reason"],
                                    "properties": {"reason": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {"200": _json(_OBJECT), **common, "415": _UNSUPPORTED},
                },
                "delete": {
                    "summary": "Withdraw the patient's objection (admin)",
                    "responses": {"200": _json(_OBJECT), **common},
                },
            },
            "/v1/persons/{person_id}/audit": {
                "parameters": _PERSON,
                "get": {
                    "summary": "Audit events about a person, newest first (admin)",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": _json(_OBJECT), **common},
                },
            },
            "/v1/events": {
                "get": {
                    "summary": "Identity events after a cursor, oldest first",
                    "parameters": [
                        {"name": "after", "in": "query", "schema": {"type": "integer"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": _json(_OBJECT), **common},
                }
            },
            "/v1/subscriptions": {
                "get": {
                    "summary": "The caller's webhook subscriptions",
                    "responses": {"200": _json(_OBJECT), **common},
                },
                "post": {
                    "summary": "Subscribe a URL to identity events (secret shown once)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["url"],
                                    "properties": {
                                        "url": {
                                            "type": "string",
                                            "description": "https:// URL whose host resolves"
                                            " only to public addresses (see the README's"
                                            " webhook rules); refused: 400 naming url",
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_OBJECT, "created"),
                        **common,
                        "415": _UNSUPPORTED,
                    },
                },
            },
            "/v1/subscriptions/{subscription_id}": {
                "parameters": [
                    {
                        "name": "subscription_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "delete": {
                    "summary": "Switch a subscription off",
                    "responses": {"204": {"description": "unsubscribed"}, **common},
                },
            },
            **fhir_paths(),
        },
    }
