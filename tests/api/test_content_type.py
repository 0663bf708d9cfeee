"""Request bodies must be declared JSON in UTF-8: anything else is a 415 naming Content-Type.

/v1 takes ``application/json`` and ``application/*+json``; /fhir takes
``application/fhir+json``, ``application/json`` and STU3's ``application/json+fhir``;
``POST /fhir/Patient/_search`` takes only a form. A refused body stores nothing: the
request's audit event, outcome ``invalid``, is the only row written.
"""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.api.conftest import alice, count
from tests.api.test_fhir import FHIR, GP_URI, _match_body, patient

#: (description, Content-Type header or None for none) refused on every JSON endpoint.
REFUSED = [
    ("plain text", "text/plain"),
    ("plain text in UTF-8", "text/plain; charset=utf-8"),
    ("XML", "application/xml"),
    ("FHIR XML", "application/fhir+xml"),
    ("multipart form", "multipart/form-data; boundary=x"),
    ("url-encoded form", "application/x-www-form-urlencoded"),
    ("JSON in Latin-1", "application/json; charset=latin-1"),
    ("JSON in ISO-8859-1", "application/json; charset=ISO-8859-1"),
    ("JSON in UTF-16", "application/json; charset=utf-16"),
    ("a parameter only", "; charset=utf-8"),
    ("missing, with a body", None),
]
REFUSED_FHIR = [
    *REFUSED,
    ("FHIR JSON in Latin-1", "application/fhir+json; charset=latin-1"),
    ("another +json type", "application/merge-patch+json"),
]


def _send(client, method, path, body, content_type, headers):
    """Send ``body`` (JSON-encoded) with exactly that Content-Type, or none."""
    extra = {} if content_type is None else {"Content-Type": content_type}
    return client.open(
        path, method=method, data=json.dumps(body).encode(), headers={**headers, **extra}
    )


def _nothing_stored(db_url: str, status: int) -> None:
    assert count(db_url, "source_record") == 0
    assert count(db_url, "person") == 0
    assert count(db_url, "identity_event") == 0
    assert count(db_url, "audit_event") == 1
    assert count(db_url, "audit_event", f"outcome = 'invalid' AND http_status = {status}") == 1


def _problem_415(r) -> None:
    assert r.status_code == 415, r.json
    assert r.content_type == "application/problem+json"
    assert r.json["status"] == 415
    assert [e["field"] for e in r.json["errors"]] == ["Content-Type"], r.json


def _outcome_415(r) -> OperationOutcome:
    assert r.status_code == 415, r.json
    assert r.content_type == FHIR
    oo = OperationOutcome.model_validate(r.json)
    assert oo.issue[0].code == "not-supported"
    assert oo.issue[0].expression == ["Content-Type"]
    assert oo.issue[0].diagnostics.startswith("Content-Type: ")
    return oo


# -- /v1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "content_type"), REFUSED, ids=[c[0] for c in REFUSED])
def test_v1_registration_refuses_a_json_body_not_declared_json(
    client, systems, db_url, case, content_type
):
    r = _send(
        client, "PUT", "/v1/systems/GP/records/G1", alice(), content_type, systems.headers("GP")
    )
    _problem_415(r)
    _nothing_stored(db_url, 415)
    assert client.get("/v1/systems/GP/records/G1", headers=systems.headers("GP")).status_code == 404


def test_v1_refusal_says_what_to_send(client, systems):
    h = systems.headers("GP")
    r = _send(client, "PUT", "/v1/systems/GP/records/G1", alice(), "text/plain", h)
    assert r.json["errors"][0]["reason"] == (
        "the body must be application/json or application/*+json, not text/plain"
    )
    r = _send(client, "PUT", "/v1/systems/GP/records/G1", alice(), "application/json;charset=x", h)
    assert r.json["errors"][0]["reason"] == "the body must be in UTF-8 (charset=utf-8)"
    r = _send(client, "PUT", "/v1/systems/GP/records/G1", alice(), None, h)
    assert "Content-Type application/json" in r.json["errors"][0]["reason"]


ACCEPTED = [
    "application/json",
    "application/json; charset=utf-8",
    'Application/JSON; Charset="UTF-8"',
    "application/json;charset=UTF-8",
    "application/merge-patch+json",
    "application/vnd.mpi.record+json; charset=utf-8",
]


@pytest.mark.parametrize("content_type", ACCEPTED)
def test_v1_registration_accepts_json_and_json_suffix_types(client, systems, db_url, content_type):
    h = systems.headers("GP")
    r = _send(client, "PUT", "/v1/systems/GP/records/G1", alice(), content_type, h)
    assert r.status_code == 200, r.json
    assert r.json["decision"] == "new_person"
    assert count(db_url, "source_record") == 1
    assert (
        client.get("/v1/systems/GP/records/G1", headers=h).json["person_id"] == r.json["person_id"]
    )


def test_v1_empty_body_without_content_type_is_still_a_bad_body(client, systems, db_url):
    """No header and no body: the body check answers, as before (400 naming the body)."""
    r = client.put("/v1/systems/GP/records/G1", headers=systems.headers("GP"))
    assert r.status_code == 400
    assert [e["field"] for e in r.json["errors"]] == ["body"]
    _nothing_stored(db_url, 400)
    # a wrong type with an empty body is still the wrong type
    empty = client.put(
        "/v1/systems/GP/records/G1", content_type="text/plain", headers=systems.headers("GP")
    )
    _problem_415(empty)


def test_v1_demographic_search_refuses_text_and_accepts_utf8_json(client, systems):
    h = systems.headers("GP")
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=h)
    body = {"family_name": "Smith", "birth_date": "1980-03-15"}
    _problem_415(_send(client, "POST", "/v1/persons/search", body, "text/plain", h))
    _problem_415(
        _send(client, "POST", "/v1/persons/search", body, "application/json; charset=latin-1", h)
    )
    found = _send(client, "POST", "/v1/persons/search", body, "application/json; charset=utf-8", h)
    assert found.status_code == 200 and len(found.json["matches"]) == 1, found.json


# -- /fhir -------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "content_type"), REFUSED_FHIR, ids=[c[0] for c in REFUSED_FHIR])
def test_fhir_registration_refuses_a_body_not_declared_fhir_json(
    client, systems, db_url, case, content_type
):
    h = systems.headers("GP")
    path = f"/fhir/Patient?identifier={GP_URI}|G1"
    _outcome_415(_send(client, "PUT", path, patient(GP_URI, "G1"), content_type, h))
    _nothing_stored(db_url, 415)
    created = _send(client, "POST", "/fhir/Patient", patient(GP_URI, "G1"), content_type, h)
    _outcome_415(created)
    assert count(db_url, "source_record") == 0
    assert count(db_url, "audit_event", "outcome = 'invalid' AND http_status = 415") == 2
    looked_up = client.get(f"/fhir/Patient?identifier={GP_URI}|G1", headers=h)
    assert looked_up.status_code == 200 and looked_up.json["total"] == 0


FHIR_ACCEPTED = [
    "application/fhir+json",
    "application/fhir+json; charset=utf-8",
    "application/fhir+json; fhirVersion=4.0",
    "application/json",
    "application/json; charset=utf-8",
    "application/json+fhir",
]


@pytest.mark.parametrize("content_type", FHIR_ACCEPTED)
def test_fhir_registration_accepts_fhir_json_and_json(client, systems, db_url, content_type):
    h = systems.headers("GP")
    path = f"/fhir/Patient?identifier={GP_URI}|G1"
    r = _send(client, "PUT", path, patient(GP_URI, "G1"), content_type, h)
    assert r.status_code == 201, r.json
    held = _send(client, "POST", "/fhir/Patient", patient(GP_URI, "G1"), content_type, h)
    assert held.status_code == 409, held.json  # a create of a held identifier
    conditional = {**h, "If-None-Exist": f"identifier={GP_URI}|G1"}
    again = _send(client, "POST", "/fhir/Patient", patient(GP_URI, "G1"), content_type, conditional)
    assert again.status_code == 200 and again.json["id"] == r.json["id"]
    assert count(db_url, "source_record") == 1


def test_fhir_refusal_says_what_to_send(client, systems):
    h = systems.headers("GP")
    oo = _outcome_415(
        _send(client, "POST", "/fhir/Patient", patient(GP_URI, "G1"), "text/plain", h)
    )
    assert oo.issue[0].diagnostics == (
        "Content-Type: the body must be application/fhir+json or application/json, not text/plain"
    )


def test_match_refuses_text_and_latin1_and_accepts_fhir_json(client, systems, db_url):
    h = systems.headers("GP")
    client.put(f"/fhir/Patient?identifier={GP_URI}|G1", json=patient(GP_URI, "G1"), headers=h)
    body = _match_body(patient(GP_URI, "x"))
    for content_type in ("text/plain", "application/fhir+json; charset=latin-1", None):
        _outcome_415(_send(client, "POST", "/fhir/Patient/$match", body, content_type, h))
    assert count(db_url, "audit_event", "action = 'patient.match' AND outcome = 'invalid'") == 3
    for content_type in ("application/fhir+json", "application/json; charset=utf-8"):
        r = _send(client, "POST", "/fhir/Patient/$match", body, content_type, h)
        assert r.status_code == 200, r.json
        assert r.json["resourceType"] == "Bundle" and r.json["total"] == 1
    assert count(db_url, "source_record") == 1


def test_search_by_post_takes_only_a_form(client, systems):
    h = systems.headers("GP")
    client.put(f"/fhir/Patient?identifier={GP_URI}|G1", json=patient(GP_URI, "G1"), headers=h)
    form = "family=Jones&birthdate=1975-07-04"
    for content_type in (
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded; charset=latin-1",
    ):
        r = client.post(
            "/fhir/Patient/_search", data=form, headers={**h, "Content-Type": content_type}
        )
        _outcome_415(r)
    r = client.post(
        "/fhir/Patient/_search",
        data=form,
        headers={**h, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert r.status_code == 200 and r.json["total"] == 1
    # the parameters in the query alone, with no body and no Content-Type
    r = client.post(f"/fhir/Patient/_search?{form}", headers=h)
    assert r.status_code == 200 and r.json["total"] == 1


# -- every documented body ---------------------------------------------------------------

#: Path values for the documented operations that take a body.
_PATHS = {"{system}": "GP", "{local_id}": "G1", "{person_id}": "NOPE"}


def test_every_operation_taking_a_body_refuses_text_with_a_documented_415(client, systems, db_url):
    """Each operation in /openapi.json with a request body answers 415 to ``text/plain``,
    documents that 415, and stores nothing."""
    paths = client.get("/openapi.json").json["paths"]
    operations = [
        (path, method, op)
        for path, ops in paths.items()
        for method, op in ops.items()
        if isinstance(op, dict) and "requestBody" in op
    ]
    assert len(operations) == 9
    for path, method, op in operations:
        url = path
        for name, value in _PATHS.items():
            url = url.replace(name, value)
        required = [p for p in op.get("parameters", []) if p.get("required")]
        if required:  # PUT /fhir/Patient?identifier=: its documented example
            url += "?" + "&".join(f"{p['name']}={p['example']}" for p in required)
        admin = "opt-out" in path
        h = systems.headers("ADMIN" if admin else "GP")
        r = _send(client, method.upper(), url, {"family_name": "Smith"}, "text/plain", h)
        assert r.status_code == 415, (method, path, r.json)
        assert "415" in op["responses"], (method, path)
        documented = op["responses"]["415"]["content"]
        assert r.content_type in documented, (method, path, r.content_type)
        if path.startswith("/fhir"):
            assert r.json["issue"][0]["expression"] == ["Content-Type"]
        else:
            assert r.json["errors"][0]["field"] == "Content-Type"
    for table in ("source_record", "person", "identity_event", "opt_out", "webhook_subscription"):
        assert count(db_url, table) == 0, table


def test_fhir_other_than_r4_is_refused_by_version(client, systems, db_url):
    """The fhirVersion media-type parameter (FHIR http.html): a body of another version is
    a 415, an Accept header asking only for another version a 406; R4 or none is fine."""
    h = systems.headers("GP")
    path = f"/fhir/Patient?identifier={GP_URI}|G1"
    body = json.dumps(patient(GP_URI, "G1"))
    stu3 = client.put(
        path, data=body, headers={**h, "Content-Type": "application/fhir+json; fhirVersion=3.0"}
    )
    assert stu3.status_code == 415
    assert stu3.json["issue"][0]["expression"] == ["Content-Type"]
    assert count(db_url, "source_record") == 0
    r4 = client.put(
        path, data=body, headers={**h, "Content-Type": "application/fhir+json; fhirVersion=4.0"}
    )
    assert r4.status_code == 201
    only_stu3 = {**h, "Accept": "application/fhir+json; fhirVersion=3.0"}
    refused = client.get(path, headers=only_stu3)
    assert refused.status_code == 406 and refused.json["issue"][0]["expression"] == ["Accept"]
    for accept in (
        "application/fhir+json; fhirVersion=3.0, application/fhir+json; fhirVersion=4.0",
        "application/fhir+json; fhirVersion=3.0, */*",
        "application/fhir+json",
    ):
        assert client.get(path, headers={**h, "Accept": accept}).status_code == 200, accept
