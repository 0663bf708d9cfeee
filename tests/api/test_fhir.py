"""FHIR R4: CapabilityStatement, registration, read, PDQm, PIXm, $match; validated resources."""

from __future__ import annotations

import psycopg
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.patient import Patient

from tests.api.conftest import SYSTEMS, count
from tests.helpers import synthetic_nhs_number

NHS = "https://fhir.nhs.uk/Id/nhs-number"
GP_URI = SYSTEMS["GP"][2]
HOSP_URI = SYSTEMS["HOSP"][2]
FHIR = "application/fhir+json"


def patient(system: str, value: str, n: int = 1, **changes) -> dict:
    resource = {
        "resourceType": "Patient",
        "identifier": [
            {"system": system, "value": value},
            {"system": NHS, "value": synthetic_nhs_number(n)},
        ],
        "name": [{"use": "official", "family": "Jones", "given": ["Bethan", "Ann"]}],
        "gender": "female",
        "birthDate": "1975-07-04",
        "address": [{"use": "home", "line": ["2 Mill Lane", "Bradford"], "postalCode": "BD7 1DP"}],
    }
    resource.update(changes)
    return resource


def put(client, systems, system, uri, value, **kw):
    return client.put(
        f"/fhir/Patient?identifier={uri}|{value}",
        json=patient(uri, value, **kw),
        headers=systems.headers(system),
    )


def _outcome(r, status, code):
    assert r.status_code == status, r.json
    assert r.content_type == FHIR
    oo = OperationOutcome.model_validate(r.json)
    assert oo.issue[0].code == code, r.json
    return oo


def test_metadata_is_a_valid_capability_statement(client):
    r = client.get("/fhir/metadata")
    assert r.status_code == 200 and r.content_type == FHIR
    cs = CapabilityStatement.model_validate(r.json)
    assert cs.rest[0].resource[0].conditionalUpdate is True


def test_conditional_update_registers_and_returns_the_golden_patient(client, systems):
    r = put(client, systems, "GP", GP_URI, "G1")
    assert r.status_code == 201
    p = Patient.model_validate(r.json)
    assert r.headers["Location"].endswith(f"/fhir/Patient/{p.id}")
    assert {i.system for i in p.identifier} == {NHS, GP_URI}
    again = put(client, systems, "GP", GP_URI, "G1")
    assert again.status_code == 200 and again.json["id"] == p.id
    hosp = client.post(
        "/fhir/Patient", json=patient(HOSP_URI, "H1"), headers=systems.headers("HOSP")
    )
    assert hosp.status_code == 201 and hosp.json["id"] == p.id


def test_registration_refuses_another_systems_domain_and_bad_resources(client, systems, db_url):
    assert put(client, systems, "HOSP", GP_URI, "G1").status_code == 403
    r = client.put(
        "/fhir/Patient?identifier=urn:unknown|1",
        json=patient("urn:unknown", "1"),
        headers=systems.headers("GP"),
    )
    _outcome(r, 400, "code-invalid")
    r = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1",
        json={"resourceType": "Observation"},
        headers=systems.headers("GP"),
    )
    _outcome(r, 400, "invalid")
    r = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1",
        data=b"{nope",
        content_type=FHIR,
        headers=systems.headers("GP"),
    )
    _outcome(r, 400, "invalid")
    r = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1",
        json=patient(GP_URI, "G1", birthDate=19750704),
        headers=systems.headers("GP"),
    )
    oo = _outcome(r, 400, "invalid")
    assert oo.issue[0].expression == ["Patient.birthDate"]
    r = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1",
        json=patient(GP_URI, "OTHER"),
        headers=systems.headers("GP"),
    )
    _outcome(r, 400, "invalid")
    assert count(db_url, "source_record") == 0


def test_read_golden_patient_and_merged_replaced_by(client, systems, db_url):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    r = client.get(f"/fhir/Patient/{pid}", headers=systems.headers("GP"))
    p = Patient.model_validate(r.json)
    assert p.name[0].family == "Jones" and p.birthDate.isoformat() == "1975-07-04"
    _outcome(client.get("/fhir/Patient/NOPE", headers=systems.headers("GP")), 404, "not-found")
    _outcome(
        client.get(f"/fhir/Patient/{pid}", headers=systems.headers("VIEWER")), 403, "forbidden"
    )
    # a second person merged into the first (as the core's merge does): replaced-by
    other = put(
        client,
        systems,
        "GP",
        GP_URI,
        "G2",
        n=5,
        birthDate="1990-01-01",
        name=[{"family": "Other", "given": ["Person"]}],
    ).json["id"]
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE person SET status = 'merged', merged_into = (SELECT id FROM person"
            " WHERE person_id = %s) WHERE person_id = %s",
            (pid, other),
        )
        conn.execute(
            "DELETE FROM link WHERE person_id = (SELECT id FROM person WHERE person_id = %s)",
            (other,),
        )
    r = client.get(f"/fhir/Patient/{other}", headers=systems.headers("GP"))
    p = Patient.model_validate(r.json)
    assert p.active is False
    assert p.link[0].type == "replaced-by" and p.link[0].other.reference == f"Patient/{pid}"


def test_opted_out_patient_read_is_suppressed(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    client.put(
        f"/v1/persons/{pid}/opt-out", json={"reason": "objection"}, headers=systems.headers("ADMIN")
    )
    oo = _outcome(
        client.get(f"/fhir/Patient/{pid}", headers=systems.headers("HOSP")), 403, "suppressed"
    )
    assert "objected" in oo.issue[0].diagnostics
    r = client.get(
        f"/fhir/Patient/$ihe-pix?sourceIdentifier={HOSP_URI}|H1", headers=systems.headers("HOSP")
    )
    _outcome(r, 403, "suppressed")


def test_pdqm_search(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    h = systems.headers("GP")
    for query in (
        "family=Jones&given=Bethan&birthdate=1975-07-04",
        "family=jones&birthdate=eq1975-07-04&gender=female",
        f"identifier={NHS}|{synthetic_nhs_number(1)}",
        f"identifier={GP_URI}|G1",
        f"_id={pid}",
    ):
        r = client.get(f"/fhir/Patient?{query}", headers=h)
        assert r.status_code == 200, (query, r.json)
        bundle = Bundle.model_validate(r.json)
        assert bundle.type == "searchset" and bundle.total == 1, query
        assert bundle.entry[0].resource.id == pid
    none = Bundle.model_validate(
        client.get("/fhir/Patient?family=Nobody&birthdate=2001-01-01", headers=h).json
    )
    assert none.total == 0
    _outcome(client.get("/fhir/Patient?identifier=urn:nowhere|1", headers=h), 404, "not-found")
    _outcome(client.get("/fhir/Patient?shoe=9", headers=h), 400, "invalid")
    _outcome(client.get(f"/fhir/Patient?identifier={NHS}|1234567890", headers=h), 400, "invalid")


def test_pixm_cross_reference_and_error_statuses(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    h = systems.headers("HOSP")
    r = client.get(f"/fhir/Patient/$ihe-pix?sourceIdentifier={HOSP_URI}|H1", headers=h)
    assert r.status_code == 200
    params = Parameters.model_validate(r.json)
    idents = {
        (p.valueIdentifier.system, p.valueIdentifier.value)
        for p in params.parameter
        if p.name == "targetIdentifier"
    }
    assert idents == {(NHS, synthetic_nhs_number(1)), (GP_URI, "G1")}  # never the source
    assert [p.valueReference.reference for p in params.parameter if p.name == "targetId"] == [
        f"Patient/{pid}"
    ]
    r = client.get(
        f"/fhir/Patient/$ihe-pix?sourceIdentifier={HOSP_URI}|H1&targetSystem={GP_URI}", headers=h
    )
    assert [
        p["valueIdentifier"]["system"] for p in r.json["parameter"] if "valueIdentifier" in p
    ] == [GP_URI]
    by_nhs = client.get(
        f"/fhir/Patient/$ihe-pix?sourceIdentifier={NHS}|{synthetic_nhs_number(1)}", headers=h
    )
    assert by_nhs.status_code == 200
    _outcome(
        client.get(f"/fhir/Patient/$ihe-pix?sourceIdentifier={HOSP_URI}|NOPE", headers=h),
        404,
        "not-found",
    )
    _outcome(
        client.get("/fhir/Patient/$ihe-pix?sourceIdentifier=urn:x|1", headers=h),
        400,
        "code-invalid",
    )
    _outcome(
        client.get(
            f"/fhir/Patient/$ihe-pix?sourceIdentifier={HOSP_URI}|H1&targetSystem=urn:x", headers=h
        ),
        403,
        "code-invalid",
    )
    _outcome(client.get("/fhir/Patient/$ihe-pix", headers=h), 400, "required")
    _outcome(
        client.get(
            f"/fhir/Patient/$ihe-pix?sourceIdentifier={HOSP_URI}|H1",
            headers=systems.headers("SOCIAL"),
        ),
        403,
        "forbidden",
    )


def _match_body(resource, only_certain=None, count_=None):
    params = [{"name": "resource", "resource": resource}]
    if only_certain is not None:
        params.append({"name": "onlyCertainMatches", "valueBoolean": only_certain})
    if count_ is not None:
        params.append({"name": "count", "valueInteger": count_})
    return {"resourceType": "Parameters", "parameter": params}


def test_match_scores_grades_and_options(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(
        client,
        systems,
        "GP",
        GP_URI,
        "G2",
        n=2,
        name=[{"family": "Jones", "given": ["Beth"]}],
        address=[{"postalCode": "LS6 2AB"}],
    )
    h = systems.headers("GP")
    query = patient(GP_URI, "x")
    query.pop("identifier")
    r = client.post("/fhir/Patient/$match", json=_match_body(query), headers=h)
    assert r.status_code == 200
    bundle = Bundle.model_validate(r.json)
    matches = [e for e in bundle.entry if e.search.mode == "match"]
    assert matches[0].resource.id == pid
    scores = [e.search.score for e in matches]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    for e in matches:
        assert e.search.extension[0].url == "http://hl7.org/fhir/StructureDefinition/match-grade"
        assert e.search.extension[0].valueCode in ("certain", "probable", "possible")
    one = client.post("/fhir/Patient/$match", json=_match_body(query, count_=1), headers=h).json
    assert one["total"] == 1
    certain = Bundle.model_validate(
        client.post(
            "/fhir/Patient/$match", json=_match_body(query, only_certain=True), headers=h
        ).json
    )
    assert all(e.search.extension[0].valueCode == "certain" for e in certain.entry or [])
    bare = client.post("/fhir/Patient/$match", json=query, headers=h)
    assert bare.status_code == 200
    nobody = client.post(
        "/fhir/Patient/$match",
        json={
            "resourceType": "Patient",
            "birthDate": "1950-01-01",
            "name": [{"family": "Zzyzx", "given": ["Q"]}],
        },
        headers=h,
    )
    assert nobody.status_code == 200 and nobody.json["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 3}]},
        {"resourceType": "Parameters", "parameter": "nope"},
        {"resourceType": "Observation"},
        {"resourceType": "Patient"},
    ],
)
def test_match_bad_input_is_an_operation_outcome(client, systems, body):
    r = client.post("/fhir/Patient/$match", json=body, headers=systems.headers("GP"))
    _outcome(r, 400, "invalid")


def test_conditional_delete_withdraws(client, systems):
    put(client, systems, "GP", GP_URI, "G1")
    r = client.delete(f"/fhir/Patient?identifier={GP_URI}|G1", headers=systems.headers("GP"))
    assert r.status_code == 204
    r = client.get(
        f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1", headers=systems.headers("GP")
    )
    assert r.status_code == 404
