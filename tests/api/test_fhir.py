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
    params = {p.name: p for p in cs.rest[0].resource[0].searchParam}
    assert "domain filtering" in params["identifier"].documentation


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
    unrelated = client.get(f"/fhir/Patient/{pid}", headers=systems.headers("VIEWER"))
    _outcome(unrelated, 404, "not-found")  # as for a person that does not exist
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


def test_opted_out_patient_read_and_pix_are_suppressed(client, systems):
    """Read without a record of one's own (even in an emergency) is a 404, as for nobody;
    PIXm (a cross-reference) is refused to a system holding a record too."""
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    client.put(
        f"/v1/persons/{pid}/opt-out", json={"reason": "objection"}, headers=systems.headers("ADMIN")
    )
    oo = _outcome(
        client.get(f"/fhir/Patient/{pid}", headers=systems.emergency("VIEWER")), 404, "not-found"
    )
    assert "objected" not in oo.issue[0].diagnostics
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


def _near_name(client, systems) -> str:
    """Bethan Joness (a near name of Bethan Jones, another person), in the GP."""
    return put(
        client,
        systems,
        "GP",
        GP_URI,
        "G2",
        n=2,
        name=[{"family": "Joness", "given": ["Bethan"]}],
        address=[{"line": ["9 Far Road"], "postalCode": "LS1 4AP"}],
    ).json["id"]


def test_pdqm_exact_names_and_search_by_post(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]  # Bethan Ann Jones
    other = _near_name(client, systems)
    assert other != pid
    h = systems.headers("GP")  # holds a record of each: may see both in a list

    def ids(r):
        assert r.status_code == 200, r.json
        bundle = Bundle.model_validate(r.json)
        return [e.resource.id for e in bundle.entry or () if e.search.mode == "match"]

    fuzzy = ids(client.get("/fhir/Patient?family=Jones&birthdate=1975-07-04", headers=h))
    assert set(fuzzy) == {pid, other}  # a typo is a fuzzy match
    for query, expected in (
        ("family:exact=Jones&birthdate=1975-07-04", [pid]),
        ("family:exact=Joness&birthdate=1975-07-04", [other]),
        ("family:exact=jones&birthdate=1975-07-04", []),  # exact is case-sensitive
        ("family=Jones&given:exact=Ann&birthdate=1975-07-04", [pid]),  # any given name
        ("family=Jones&given:exact=Bethan&birthdate=1975-07-04", fuzzy),
    ):
        assert sorted(ids(client.get(f"/fhir/Patient?{query}", headers=h))) == sorted(expected), (
            query
        )
    form = {"family:exact": "Jones", "birthdate": "1975-07-04"}
    assert ids(client.post("/fhir/Patient/_search", data=form, headers=h)) == [pid]
    assert (
        ids(
            client.post(
                "/fhir/Patient/_search?_count=1",
                data={"family": "Jones", "birthdate": "1975-07-04"},
                headers=h,
            )
        )
        == fuzzy[:1]
    )
    _outcome(client.post("/fhir/Patient/_search", json=form, headers=h), 415, "not-supported")
    both = client.get("/fhir/Patient?family=Jones&family:exact=Jones", headers=h)
    assert _outcome(both, 400, "invalid").issue[0].expression == ["family:exact"]
    twice = client.get("/fhir/Patient?family=Jones&family=Smith", headers=h)
    assert _outcome(twice, 400, "invalid").issue[0].expression == ["family"]


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
        404,
        "not-found",
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


BAD_RESOURCES = [
    ("malformed JSON", b'{"resourceType": "Patient",', "body"),
    (
        "lone surrogate",
        b'{"resourceType": "Patient", "name": [{"family": "Jo\\ud800nes"}]}',
        "name[0].family",
    ),
    ("huge", b'{"resourceType": "Patient", "id": "' + b"x" * 2_000_000 + b'"}', None),
    ("not a Patient", {"resourceType": "Observation"}, "Patient.resourceType"),
    ("no resourceType", {"name": [{"family": "Jones"}]}, "Patient.resourceType"),
    ("name not a list", {"name": "Jones"}, "Patient.name"),
    ("unknown element", {"shoeSize": 9}, "Patient.shoeSize"),
    ("family a number", {"name": [{"family": 7}]}, "Patient.name[0].family"),
    ("birthDate a number", {"birthDate": 19750704}, "Patient.birthDate"),
    ("birthDate not a date", {"birthDate": "04/07/1975"}, "Patient.birthDate"),
    ("birthDate not real", {"birthDate": "1975-02-30"}, "Patient.birthDate"),
    ("gender unknown", {"gender": "zebra"}, "Patient.gender"),
    ("identifier not a list", {"identifier": {"system": "x"}}, "Patient.identifier"),
    ("active not a boolean", {"active": "yes"}, "Patient.active"),
    ("NUL in a name", {"name": [{"family": "Jo\u0000nes"}]}, "name[0].family"),
    ("RTL override", {"name": [{"family": "\u202esenoJ"}]}, "name[0].family"),
    ("very long name", {"name": [{"family": "J" * 10_000}]}, "Patient.name[0].family"),
]


def _nhs(value: str) -> dict:
    return {"identifier": [{"system": GP_URI, "value": "G1"}, {"system": NHS, "value": value}]}


BAD_RESOURCES += [
    (f"NHS number {value}", _nhs(value), "Patient.identifier[1].value")
    for value in ("9990000019", "9876544321", "1111111111", "12345", "")
]


@pytest.mark.parametrize(
    ("case", "changes", "field"), BAD_RESOURCES, ids=[b[0] for b in BAD_RESOURCES]
)
def test_bad_resources_are_operation_outcomes_and_nothing_is_stored(
    client, systems, db_url, case, changes, field
):
    if isinstance(changes, bytes):
        kwargs = {"data": changes, "content_type": FHIR}
    else:
        body = {**patient(GP_URI, "G1"), **changes}
        if "resourceType" not in changes and case == "no resourceType":
            body.pop("resourceType")
        kwargs = {"json": body}
    for method, url in (
        ("put", f"/fhir/Patient?identifier={GP_URI}|G1"),
        ("post", "/fhir/Patient"),
    ):
        r = getattr(client, method)(url, headers=systems.headers("GP"), **kwargs)
        if field is None:
            _outcome(r, 413, "too-costly")
            continue
        oo = _outcome(r, 400, "invalid")
        assert any(field in (i.expression or [""])[0] for i in oo.issue), (case, r.json)
    assert count(db_url, "source_record") == 0
    assert count(db_url, "audit_event", "outcome = 'invalid'") == 2


def test_match_refuses_an_invalid_nhs_number_and_a_malformed_patient(client, systems):
    h = systems.headers("GP")
    query = patient(GP_URI, "x")
    query["identifier"] = [{"system": NHS, "value": "9990000019"}]
    oo = _outcome(
        client.post("/fhir/Patient/$match", json=_match_body(query), headers=h), 400, "invalid"
    )
    assert oo.issue[0].expression == ["Parameters.parameter[0].resource.identifier[0].value"]
    oo = _outcome(client.post("/fhir/Patient/$match", json=query, headers=h), 400, "invalid")
    assert oo.issue[0].expression == ["Patient.identifier[0].value"]
    bad = _match_body({"resourceType": "Patient", "birthDate": "soon"})
    oo = _outcome(client.post("/fhir/Patient/$match", json=bad, headers=h), 400, "invalid")
    assert oo.issue[0].expression == ["Parameters.parameter[0].resource.birthDate"]


def test_search_errors_name_the_search_parameter(client, systems):
    h = systems.headers("GP")
    for query, param in (
        ("birthdate=1970-13-01&family=Jones", "birthdate"),
        ("gender=zebra&family=Jones", "gender"),
        ("family=Jo%00nes", "family"),
        ("family=%FF", "family"),
        ("_count=0&family=Jones", "_count"),
    ):
        oo = _outcome(client.get(f"/fhir/Patient?{query}", headers=h), 400, "invalid")
        assert oo.issue[0].expression == [param], (query, oo)


def test_every_fhir_error_path_is_an_operation_outcome(client, systems):
    h = systems.headers("GP")
    _outcome(client.get("/fhir/Patient/NOPE"), 401, "login")
    _outcome(client.get("/fhir/Nothing", headers=h), 404, "not-found")
    _outcome(client.patch("/fhir/Patient", headers=h), 405, "not-supported")
    _outcome(client.get("/fhir/Patient?family=Jones&_format=xml", headers=h), 406, "not-supported")
    huge = patient(GP_URI, "G1", name=[{"family": "J" * 2_000_000}])
    _outcome(client.post("/fhir/Patient", json=huge, headers=h), 413, "too-costly")
    text = client.post("/fhir/Patient", data="{}", content_type="text/plain", headers=h)
    assert _outcome(text, 415, "not-supported").issue[0].expression == ["Content-Type"]
    _outcome(client.get("/fhir/AuditEvent?patient=Patient/NOPE", headers=h), 403, "forbidden")


def test_every_kind_of_fhir_response_validates(client, systems):
    """One request of each response type; the client validates every one (conftest)."""
    from tests.api.conftest import FHIR_VALIDATED

    FHIR_VALIDATED.clear()
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    h = systems.headers("GP")
    client.get("/fhir/metadata")
    client.get(f"/fhir/Patient/{pid}", headers=h)
    client.get("/fhir/Patient?family=Jones&birthdate=1975-07-04", headers=h)
    client.get(f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1", headers=h)
    client.post("/fhir/Patient/$match", json=_match_body(patient(GP_URI, "x")), headers=h)
    client.get(f"/fhir/AuditEvent?patient=Patient/{pid}", headers=systems.headers("ADMIN"))
    client.get("/fhir/Patient/NOPE", headers=h)
    assert set(FHIR_VALIDATED) == {
        "CapabilityStatement",
        "Patient",
        "Bundle",
        "Parameters",
        "AuditEvent",
        "OperationOutcome",
    }


def test_nhs_number_follows_uk_core_with_its_verification_status(client, systems):
    """The nhsNumber slice: fixed system, and the England status code whatever was sent."""
    resource = patient(GP_URI, "G1")
    resource["identifier"][1]["extension"] = [
        {
            "url": "https://fhir.hl7.org.uk/StructureDefinition/"
            "Extension-UKCore-NHSNumberVerificationStatus",
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "https://fhir.hl7.org.uk/CodeSystem/"
                        "UKCore-NHSNumberVerificationStatus",
                        "code": "number-present-and-verified",
                    }
                ]
            },
        }
    ]
    r = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1", json=resource, headers=systems.headers("GP")
    )
    assert r.status_code == 201
    read = client.get(f"/fhir/Patient/{r.json['id']}", headers=systems.headers("GP")).json
    assert read["meta"]["profile"] == ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]
    nhs = [i for i in read["identifier"] if i["system"] == NHS]
    assert len(nhs) == 1 and nhs[0]["value"] == synthetic_nhs_number(1)
    coding = nhs[0]["extension"][0]["valueCodeableConcept"]["coding"][0]
    assert coding["code"] == "01"
    assert coding["system"].endswith("UKCore-NHSNumberVerificationStatusEngland")
    golden = client.get(f"/v1/persons/{r.json['id']}", headers=systems.headers("GP")).json
    assert golden["golden"]["nhs_number_status"] == "01"


def test_care_relationship_on_the_fhir_surface(client, systems, db_url):
    """An unrelated viewer: no PIX or $match without an emergency (as for nobody)."""
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    viewer = systems.headers("VIEWER")
    pix = f"/fhir/Patient/$ihe-pix?sourceIdentifier={NHS}|{synthetic_nhs_number(1)}"
    _outcome(client.get(pix, headers=viewer), 404, "not-found")
    r = client.get(pix, headers=systems.emergency("VIEWER"))
    assert r.status_code == 200
    assert count(db_url, "audit_event", "emergency AND action = 'patient.pix'") == 1
    query = patient(GP_URI, "x")
    query.pop("identifier")
    one = client.post("/fhir/Patient/$match", json=_match_body(query), headers=viewer).json
    assert one["total"] == 0 and "entry" not in one  # a single certain match: still nothing
    urgent = systems.emergency("VIEWER")
    one = client.post("/fhir/Patient/$match", json=_match_body(query), headers=urgent).json
    assert [e["resource"]["id"] for e in one["entry"]] == [pid]
    put(client, systems, "HOSP", HOSP_URI, "H2", n=4, name=[{"family": "Jones", "given": ["Beth"]}])
    vague = {"resourceType": "Patient", "name": [{"family": "Jones"}], "birthDate": "1975-07-04"}
    r = client.post("/fhir/Patient/$match", json=vague, headers=viewer).json
    assert r["total"] == 0 and "entry" not in r
    assert (
        client.post("/fhir/Patient/$match", json=vague, headers=systems.headers("HOSP")).json[
            "total"
        ]
        == 2
    )
    browse = client.get("/fhir/Patient?family=Jones&birthdate=1975-07-04", headers=viewer).json
    assert browse["total"] == 0  # PDQm search: the same rule


def test_opted_out_patient_in_a_search_is_withheld(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    client.put(
        f"/v1/persons/{pid}/opt-out", json={"reason": "objection"}, headers=systems.headers("ADMIN")
    )
    r = client.get(
        "/fhir/Patient?family=Jones&given=Bethan&birthdate=1975-07-04",
        headers=systems.headers("HOSP"),
    ).json
    entry = r["entry"][0]["resource"]
    assert entry["id"] == pid and "name" not in entry
    assert [i["system"] for i in entry["identifier"]] == [HOSP_URI]  # only its own record
    notes = [e["resource"] for e in r["entry"] if e["search"]["mode"] == "outcome"]
    assert "objected" in notes[0]["issue"][0]["diagnostics"]


def test_match_only_certain_and_count(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "GP", GP_URI, "G2", n=2, name=[{"family": "Jones", "given": ["Bea"]}])
    h = systems.headers("GP")
    exact = patient(GP_URI, "x")
    exact["identifier"] = [{"system": NHS, "value": synthetic_nhs_number(1)}]
    sure = client.post("/fhir/Patient/$match", json=_match_body(exact, True), headers=h).json
    matches = [e for e in sure["entry"] if e["search"]["mode"] == "match"]
    assert [e["resource"]["id"] for e in matches] == [pid]
    assert matches[0]["search"]["extension"][0]["valueCode"] == "certain"
    vague = {"resourceType": "Patient", "name": [{"family": "Jones"}], "birthDate": "1975-07-04"}
    both = client.post("/fhir/Patient/$match", json=_match_body(vague), headers=h).json
    assert both["total"] == 2
    assert {e["search"]["extension"][0]["valueCode"] for e in both["entry"]} <= {
        "probable",
        "possible",
    }
    none = client.post("/fhir/Patient/$match", json=_match_body(vague, True), headers=h).json
    assert none["total"] == 0 and "entry" not in none
    one = client.post("/fhir/Patient/$match", json=_match_body(vague, count_=1), headers=h).json
    assert one["total"] == 1
    assert one["entry"][0]["resource"]["id"] == both["entry"][0]["resource"]["id"]  # the best


def _resolved(survivor_system: str, survivor: str, active: bool = False) -> dict:
    resource = patient(GP_URI, "G2")
    resource["active"] = active
    resource["link"] = [
        {
            "type": "replaced-by",
            "other": {"identifier": {"system": survivor_system, "value": survivor}},
        }
    ]
    return resource


def test_a_duplicate_resolved_in_the_source_is_withdrawn_pixm_feed(client, systems, db_url):
    """PIXm ITI-104: PUT the subsumed identifier, active false, link replaced-by survivor."""
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "GP", GP_URI, "G2")
    h = systems.headers("GP")
    url = f"/fhir/Patient?identifier={GP_URI}|G2"
    for body, status, field in (
        (_resolved(HOSP_URI, "H1"), 400, "Patient.link[0].other.identifier"),
        (_resolved(GP_URI, "G1", active=True), 400, "Patient.active"),
        (_resolved(GP_URI, "G2"), 400, "Patient.link"),
        (_resolved(GP_URI, "NOPE"), 404, None),
    ):
        r = client.put(url, json=body, headers=h)
        oo = _outcome(r, status, "invalid" if status == 400 else "not-found")
        if field:
            assert oo.issue[0].expression == [field]
    assert count(db_url, "source_record", "status = 'active'") == 2
    r = client.put(url, json=_resolved(GP_URI, "G1"), headers=h)
    assert r.status_code == 200 and r.json["id"] == pid
    assert {i["value"] for i in r.json["identifier"] if i["system"] == GP_URI} == {"G1"}
    assert (
        client.get(f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G2", headers=h).status_code
        == 404
    )
    assert count(db_url, "source_record", "status = 'withdrawn' AND local_id = 'G2'") == 1
    assert count(db_url, "link_history", "reason = 'withdrawn'") == 1


def test_search_by_id_follows_the_search_rules(client, systems):
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    none = client.get("/fhir/Patient?_id=NOPE", headers=systems.headers("GP")).json
    assert none["total"] == 0
    seen = client.get(f"/fhir/Patient?_id={pid}", headers=systems.headers("VIEWER")).json
    assert seen["total"] == 0 and "entry" not in seen  # no care relationship: nobody
    urgent = client.get(f"/fhir/Patient?_id={pid}", headers=systems.emergency("VIEWER")).json
    assert urgent["total"] == 1
    mine = client.get(f"/fhir/Patient?_id={pid}", headers=systems.headers("HOSP")).json
    assert {i["system"] for i in mine["entry"][0]["resource"]["identifier"]} == {
        NHS,
        GP_URI,
        HOSP_URI,
    }


def test_a_failed_lookup_keeps_the_connections_prepared_statements(one_connection_app, systems):
    """A 404 ends its transaction, which only read, without a ROLLBACK: psycopg would
    deallocate every prepared statement of the pooled connection on one."""
    pool = one_connection_app.extensions["mpi_pool"]
    client = one_connection_app.test_client()
    put(client, systems, "GP", GP_URI, "G1")
    pix = f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|"
    for _ in range(6):  # past psycopg's prepare threshold
        assert client.get(pix + "G1", headers=systems.headers("GP")).status_code == 200
    with pool.connection() as conn:
        before = conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
    missing = client.get(pix + "nobody", headers=systems.headers("GP"))
    assert missing.status_code == 404
    with pool.connection() as conn:
        after = conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
    assert before and after == before


def test_a_lost_database_connection_is_a_503_to_retry(one_connection_app, systems, db_url):
    """A restart or failover drops the pooled connections: the next request on each is a
    503 with Retry-After in the surface's shape, not a crash, and the one after works."""
    pool = one_connection_app.extensions["mpi_pool"]
    client = one_connection_app.test_client()
    put(client, systems, "GP", GP_URI, "G1")
    pix = f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1"
    resolve = "/v1/systems/GP/records/G1"
    for path, shape in ((pix, FHIR), (resolve, "application/problem+json")):
        with pool.connection() as conn:
            pid = conn.info.backend_pid
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        lost = client.get(path, headers=systems.headers("GP"))
        assert lost.status_code == 503, lost.data[:300]
        assert lost.content_type == shape and lost.headers["Retry-After"] == "1"
        if shape == FHIR:
            assert OperationOutcome.model_validate(lost.json).issue[0].code == "transient"
        assert client.get(path, headers=systems.headers("GP")).status_code == 200


def test_an_opted_out_patient_still_shows_the_callers_own_identifier(client, systems, db_url):
    """The objection withholds the cross-reference and golden view, not the caller's own
    record: read, PDQm search and $match give the caller's identifier and say why."""
    pid = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    client.put(
        f"/v1/persons/{pid}/opt-out", json={"reason": "objection"}, headers=systems.headers("ADMIN")
    )
    hosp = systems.headers("HOSP")

    def idents(resource):
        return [(i["system"], i["value"]) for i in resource.get("identifier", [])]

    def withheld_only(resource, own):
        assert resource["id"] == pid and idents(resource) == own, resource
        assert not {"name", "birthDate", "gender", "address", "telecom"} & set(resource)
        assert "objected" in resource["text"]["div"]
        assert [s["code"] for s in resource["meta"]["security"]] == ["REDACTED"]

    r = client.get(f"/fhir/Patient/{pid}", headers=hosp)
    assert r.status_code == 200, r.json
    withheld_only(r.json, [(HOSP_URI, "H1")])
    gp = client.get(f"/fhir/Patient/{pid}", headers=systems.headers("GP"))
    withheld_only(gp.json, [(GP_URI, "G1")])  # each system its own, never the other's
    assert count(db_url, "audit_event", "action = 'patient.read' AND outcome = 'withheld'") == 2
    query = patient(HOSP_URI, "x")
    query.pop("identifier")
    for r in (
        client.get("/fhir/Patient?family=Jones&given=Bethan&birthdate=1975-07-04", headers=hosp),
        client.post("/fhir/Patient/$match", json=_match_body(query), headers=hosp),
    ):
        assert r.status_code == 200, r.json
        matches = [e["resource"] for e in r.json["entry"] if e["search"]["mode"] == "match"]
        assert len(matches) == 1
        withheld_only(matches[0], [(HOSP_URI, "H1")])
        notes = [e["resource"] for e in r.json["entry"] if e["search"]["mode"] == "outcome"]
        assert "objected" in notes[0]["issue"][0]["diagnostics"]
    # a system holding no record of its own is shown nothing, even in an emergency
    r = client.get(f"/fhir/Patient/{pid}", headers=systems.emergency("VIEWER"))
    _outcome(r, 404, "not-found")
    r = client.get(f"/fhir/Patient?_id={pid}", headers=systems.emergency("VIEWER")).json
    assert r["total"] == 0 and "entry" not in r


def _domain_setup(client, systems):
    """Bethan Jones in the GP and the hospital; Bethan Joness (a near name) only in the GP."""
    both = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    gp_only = _near_name(client, systems)
    assert both != gp_only
    return both, gp_only


def _found(r):
    """{Patient id: [(system, value), ...]} of a searchset, and its self link's parameters."""
    from urllib.parse import parse_qsl, urlsplit

    assert r.status_code == 200, r.json
    bundle = Bundle.model_validate(r.json)
    found = {
        e.resource.id: [(i.system, i.value) for i in e.resource.identifier or ()]
        for e in bundle.entry or ()
        if e.search.mode == "match"
    }
    assert bundle.total == len(found)
    (link,) = bundle.link
    assert link.relation == "self" and link.url.startswith("http://localhost/fhir/Patient?")
    return found, parse_qsl(urlsplit(link.url).query)


def test_pdqm_domain_filtering_keeps_only_the_requested_domains(client, systems, db_url):
    """identifier=system| (ORed with commas) selects nobody: the demographics search, and each
    Patient keeps only the identifiers of those domains; a Patient with none is left out."""
    both, gp_only = _domain_setup(client, systems)
    gp = systems.headers("GP")  # holds a record of each: sees every identifier
    demographics = "family=Jones&birthdate=1975-07-04"
    found, used = _found(client.get(f"/fhir/Patient?{demographics}", headers=gp))
    assert set(found) == {both, gp_only}
    assert {s for s, _ in found[both]} == {NHS, GP_URI, HOSP_URI}
    found, used = _found(
        client.get(f"/fhir/Patient?{demographics}&identifier={HOSP_URI}|", headers=gp)
    )
    assert found == {both: [(HOSP_URI, "H1")]}  # gp_only has no hospital identifier: left out
    assert used == [
        ("family", "Jones"),
        ("birthdate", "1975-07-04"),
        ("identifier", HOSP_URI + "|"),
    ]
    assert count(db_url, "audit_event", 'records = \'[["HOSP", "H1"]]\'::jsonb') == 1
    domains = f"identifier={NHS}|,{GP_URI}|"
    found, _ = _found(client.get(f"/fhir/Patient?{demographics}&{domains}", headers=gp))
    assert found == {
        both: [(NHS, synthetic_nhs_number(1)), (GP_URI, "G1")],
        gp_only: [(NHS, synthetic_nhs_number(2)), (GP_URI, "G2")],
    }
    # the Patients left out do not use up _count: the best match (Joness) has no hospital ID
    near = f"family=Joness&birthdate=1975-07-04&_count=1&identifier={HOSP_URI}|"
    found, used = _found(client.get(f"/fhir/Patient?{near}", headers=gp))
    assert list(found) == [both] and ("_count", "1") in used
    form = {"family": "Jones", "birthdate": "1975-07-04", "identifier": f"{GP_URI}|"}
    found, _ = _found(client.post("/fhir/Patient/_search", data=form, headers=gp))
    assert found == {both: [(GP_URI, "G1")], gp_only: [(GP_URI, "G2")]}
    # _id with a domain filter; demographics beside _id are ANDed (the self link says so)
    query = f"_id={both}&family=Jones&identifier={HOSP_URI}|"
    found, used = _found(client.get(f"/fhir/Patient?{query}", headers=gp))
    assert found == {both: [(HOSP_URI, "H1")]}
    assert used == [("_id", both), ("family", "Jones"), ("identifier", HOSP_URI + "|")]
    query = f"_id={both}&family=Smith&identifier={HOSP_URI}|"
    found, _ = _found(client.get(f"/fhir/Patient?{query}", headers=gp))
    assert found == {}


def test_pdqm_domain_filtering_with_identifier_values(client, systems):
    """system|value tokens select (ORed), the system-only tokens beside them filter."""
    both, gp_only = _domain_setup(client, systems)
    gp = systems.headers("GP")
    for identifier, expected in (
        (f"{GP_URI}|G1,{HOSP_URI}|", {both: [(HOSP_URI, "H1")]}),
        (f"{GP_URI}|G2,{HOSP_URI}|", {}),  # selected, but nothing in the hospital's domain
        (
            f"{GP_URI}|G1,{GP_URI}|G2,{NHS}|",
            {both: [(NHS, synthetic_nhs_number(1))], gp_only: [(NHS, synthetic_nhs_number(2))]},
        ),
        (f"{NHS}|{synthetic_nhs_number(2)},{GP_URI}|", {gp_only: [(GP_URI, "G2")]}),
    ):
        found, used = _found(client.get(f"/fhir/Patient?identifier={identifier}", headers=gp))
        assert found == expected, identifier
        assert used == [("identifier", identifier)]
    # FHIR search escaping: a comma inside a local ID
    comma = put(client, systems, "HOSP", HOSP_URI, "H,3", n=3, birthDate="1960-01-01").json["id"]
    found, _ = _found(
        client.get(f"/fhir/Patient?identifier={HOSP_URI}|H\\,3", headers=systems.headers("HOSP"))
    )
    assert list(found) == [comma]


def test_pdqm_domain_filtering_never_shows_more(client, systems):
    """A domain filter only removes: an unrelated viewer finds nobody with or without it,
    the NHS number domain keeps only the NHS number; an objector shows only the caller's
    own record."""
    both = put(client, systems, "GP", GP_URI, "G1").json["id"]
    put(client, systems, "HOSP", HOSP_URI, "H1")
    viewer = systems.headers("VIEWER")
    exact = "family=Jones&given=Bethan&birthdate=1975-07-04&address-postalcode=BD7 1DP"
    for domains in ("", f"&identifier={NHS}|", f"&identifier={HOSP_URI}|"):
        found, _ = _found(client.get(f"/fhir/Patient?{exact}{domains}", headers=viewer))
        assert found == {}, domains
    urgent = systems.emergency("VIEWER")
    found, _ = _found(client.get(f"/fhir/Patient?{exact}&identifier={NHS}|", headers=urgent))
    assert found == {both: [(NHS, synthetic_nhs_number(1))]}
    browse = f"family=Jones&birthdate=1975-07-04&identifier={NHS}|"
    assert _found(client.get(f"/fhir/Patient?{browse}", headers=viewer))[0] == {}  # no list
    client.put(
        f"/v1/persons/{both}/opt-out",
        json={"reason": "objection"},
        headers=systems.headers("ADMIN"),
    )
    hosp = systems.headers("HOSP")
    found, _ = _found(client.get(f"/fhir/Patient?{exact}&identifier={HOSP_URI}|", headers=hosp))
    assert found == {both: [(HOSP_URI, "H1")]}
    for domain in (NHS, GP_URI):
        found, _ = _found(client.get(f"/fhir/Patient?{exact}&identifier={domain}|", headers=hosp))
        assert found == {}, domain


def test_pdqm_domain_filtering_errors(client, systems, db_url):
    _domain_setup(client, systems)
    gp = systems.headers("GP")
    for identifier in ("urn:nowhere|", f"{GP_URI}|,urn:nowhere|", f"{GP_URI}|G1,urn:nowhere|"):
        r = client.get(f"/fhir/Patient?family=Jones&identifier={identifier}", headers=gp)
        oo = _outcome(r, 404, "not-found")
        assert oo.issue[0].severity == "warning", identifier
        assert "targetSystem not found" in oo.issue[0].diagnostics
        assert oo.issue[0].expression == ["identifier"]
    for query in (
        f"identifier={GP_URI}|",  # a domain filter alone searches nothing
        f"identifier={GP_URI}|,{NHS}|&gender=female",
        f"identifier={GP_URI}|G1,",
        f"identifier={GP_URI}|G1,G2",
        "identifier=|G1",
        "identifier=" + ",".join(f"{GP_URI}|G{n}" for n in range(21)),
        f"family=Jones&identifier={GP_URI}|&identifier={NHS}|",
    ):
        oo = _outcome(client.get(f"/fhir/Patient?{query}", headers=gp), 400, "invalid")
        assert oo.issue[0].expression == ["identifier"], query
    assert count(db_url, "audit_event", "outcome = 'invalid'") == 7


def test_no_free_connection_is_a_503_to_retry(make_app, systems):
    busy = make_app(POOL_MAX_SIZE=1, POOL_TIMEOUT=0.2)
    with busy.extensions["mpi_pool"].connection():  # the only connection, taken
        r = busy.test_client().get("/v1/systems/GP/records/G1", headers=systems.headers("GP"))
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json["status"] == 503


def test_match_with_a_repeated_parameter_is_a_400(client, systems):
    """Issue 13: $match takes each parameter once; a repeated one is refused, naming it."""
    query = patient(GP_URI, "x")
    query.pop("identifier")
    body = _match_body(query)
    body["parameter"].append({"name": "count", "valueInteger": 5})
    body["parameter"].append({"name": "count", "valueInteger": 6})
    r = client.post("/fhir/Patient/$match", json=body, headers=systems.headers("GP"))
    assert r.status_code == 400
    issue = r.json["issue"][0]
    assert issue["expression"] == [f"Parameters.parameter[{len(body['parameter']) - 1}]"]
    assert "count is given more than once" in issue["diagnostics"]


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/fhir+xml", 406),
        ("application/xml, text/xml", 406),
        ("application/fhir+xml, application/fhir+json;q=0.5", 200),
        ("*/*", 200),
        ("application/fhir+json", 200),
    ],
)
def test_accept_without_json_is_a_406(client, systems, accept, status):
    """Issue 13: an Accept header that admits no JSON gets 406, not a JSON body."""
    headers = {**systems.headers("GP"), "Accept": accept}
    r = client.get("/fhir/metadata", headers=headers)
    assert r.status_code == status
    r = client.get("/fhir/Patient?_id=nobody", headers=headers)
    assert r.status_code == status
