"""Refusals as the profiles say (issue 13): a held identifier on create (409, or a
conditional create), an XML-only Accept (406), $match with two resources (400), /v1 GET
with unknown or repeated parameters (400), an over-long URL (414, also from `mpi serve`)."""

from __future__ import annotations

import pytest
import requests
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from tests.api.conftest import alice, count
from tests.api.test_fhir import FHIR, GP_URI, patient
from tests.api.test_serve import served  # noqa: F401 - the fixture, `mpi serve` for real

PROBLEM = "application/problem+json"


def _outcome(r, status: int, code: str) -> OperationOutcome:
    assert r.status_code == status, r.json
    assert r.content_type == FHIR
    oo = OperationOutcome.model_validate(r.json)
    assert oo.issue[0].code == code, r.json
    return oo


def _create(client, systems, headers=None, **kw):
    return client.post(
        "/fhir/Patient",
        json=patient(GP_URI, "G1", **kw),
        headers={**systems.headers("GP"), **(headers or {})},
    )


def test_create_with_a_held_identifier_is_a_409_and_changes_nothing(client, systems, db_url):
    first = _create(client, systems)
    assert first.status_code == 201
    again = _create(client, systems, birthDate="1975-07-05")
    oo = _outcome(again, 409, "duplicate")
    assert oo.issue[0].expression == ["Patient.identifier"]
    assert "PUT Patient?identifier=" in oo.issue[0].diagnostics
    read = client.get(f"/fhir/Patient/{first.json['id']}", headers=systems.headers("GP"))
    assert Patient.model_validate(read.json).birthDate.isoformat() == "1975-07-04"
    assert count(db_url, "source_record") == 1


def test_conditional_create_answers_the_existing_patient_and_changes_nothing(client, systems):
    condition = {"If-None-Exist": f"identifier={GP_URI}|G1"}
    made = _create(client, systems, headers=condition)
    assert made.status_code == 201  # none exists: created
    pid = Patient.model_validate(made.json).id
    same = _create(client, systems, headers=condition, birthDate="1975-07-05")
    assert same.status_code == 200 and same.headers["Location"].endswith(f"/Patient/{pid}")
    assert Patient.model_validate(same.json).birthDate.isoformat() == "1975-07-04"  # unchanged
    for bad in (f"identifier={GP_URI}|OTHER", "family=Jones", "identifier", "%zz&&"):
        r = _create(client, systems, headers={"If-None-Exist": bad})
        assert _outcome(r, 400, "invalid").issue[0].expression == ["If-None-Exist"], bad


def test_the_capability_statement_says_conditional_create(client):
    cs = CapabilityStatement.model_validate(client.get("/fhir/metadata").json)
    patient_resource = cs.rest[0].resource[0]
    assert patient_resource.conditionalCreate is True
    assert "409" in patient_resource.documentation


@pytest.mark.parametrize(
    "accept",
    ["application/fhir+xml", "application/xml", "application/fhir+xml, text/xml;q=0.5"],
)
def test_an_xml_only_accept_is_406(client, systems, accept):
    for path in ("/fhir/metadata", "/fhir/Patient?family=Jones&birthdate=1975-07-04"):
        r = client.get(path, headers={**systems.headers("GP"), "Accept": accept})
        _outcome(r, 406, "not-supported")


@pytest.mark.parametrize(
    "accept",
    [
        "application/fhir+json",
        "application/json",
        "*/*",
        "application/fhir+xml, application/fhir+json;q=0.5",
        "application/fhir+xml;q=0.9, */*;q=0.1",
    ],
)
def test_an_accept_that_takes_json_is_served(client, accept):
    assert client.get("/fhir/metadata", headers={"Accept": accept}).status_code == 200


def test_format_json_overrides_an_xml_accept(client):
    r = client.get("/fhir/metadata?_format=json", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 200


def test_match_with_two_resources_is_400(client, systems):
    one = patient(GP_URI, "x")
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": one},
            {"name": "resource", "resource": patient(GP_URI, "y", name=[{"family": "Smith"}])},
        ],
    }
    r = client.post("/fhir/Patient/$match", json=body, headers=systems.headers("GP"))
    oo = _outcome(r, 400, "invalid")
    assert oo.issue[0].expression == ["Parameters.parameter[1]"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/persons?nhs_number=9990000018&nhs=1", "nhs"),
        ("/v1/persons?nhs_number=9990000018&nhs_number=9990000026", "nhs_number"),
        ("/v1/persons?nhs_number=9990000018&limit=1&limit=2", "limit"),
        ("/v1/systems/GP/records/G1?expand=1", "expand"),
        ("/v1/persons/X?golden=false", "golden"),
        ("/v1/events?after=0&after=1", "after"),
        ("/v1/events?since=0", "since"),
        ("/v1/subscriptions?all=1", "all"),
    ],
)
def test_v1_get_refuses_unknown_and_repeated_parameters(client, systems, path, field):
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    r = client.get(path, headers=systems.headers("GP"))
    assert r.status_code == 400 and r.content_type == PROBLEM, r.json
    assert [e["field"] for e in r.json["errors"]] == [field]


def test_v1_admin_audit_takes_limit_only(client, systems):
    r = client.get("/v1/persons/X/audit?limit=1&verbose=1", headers=systems.headers("ADMIN"))
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "verbose"


@pytest.mark.parametrize("path", ["/v1/persons?nhs_number=", "/fhir/Patient?family="])
def test_an_over_long_url_is_414(client, systems, path):
    r = client.get(path + "x" * 10_000, headers=systems.headers("GP"))
    assert r.status_code == 414
    if path.startswith("/fhir"):
        _outcome(r, 414, "too-costly")
    else:
        assert r.content_type == PROBLEM and r.json["status"] == 414
        assert "too long" in r.json["detail"]


def test_mpi_serve_answers_a_10_kb_url_with_a_problem_414(served, systems):  # noqa: F811
    base, log = served
    for path in ("/v1/persons?nhs_number=", "/fhir/Patient?family="):
        r = requests.get(
            base + path + "x" * 10_000,
            headers={"Authorization": f"Bearer {systems.tokens['GP']}"},
            timeout=10,
        )
        assert r.status_code == 414, r.text
        assert r.headers["Content-Type"] == PROBLEM
        body = r.json()
        assert body["status"] == 414 and "too long" in body["detail"]
        assert "xxxx" not in r.text  # the URL is not echoed
    # just under the limit is served (and answered as bad input, not 414)
    r = requests.get(
        base + "/v1/persons?nhs_number=" + "1" * 3900,
        headers={"Authorization": f"Bearer {systems.tokens['GP']}"},
        timeout=10,
    )
    assert r.status_code == 400 and r.headers["Content-Type"] == PROBLEM
    # and the service goes on serving
    assert requests.get(base + "/readyz", timeout=10).status_code == 200
