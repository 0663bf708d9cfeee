"""The CapabilityStatement says only what is served (issue 10, finding 9).

Every interaction of every resource type is driven against the app: those the statement
lists must succeed, those it leaves out must not. Every listed search parameter and
operation, and the conditional update and delete, are driven too, so an entry added
without the route (or a route removed) fails here. The security part must describe the
static bearer tokens as they are, not claim OAuth.
"""

from __future__ import annotations

import pytest

from tests.api.test_fhir import GP_URI, NHS, patient, put
from tests.helpers import synthetic_nhs_number

INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)


@pytest.fixture
def served(client, systems):
    """A registered patient and an audit event about it; the statement's resources."""
    phone = [{"system": "phone", "value": "01274 496000"}]
    registered = put(client, systems, "GP", GP_URI, "G1", telecom=phone)
    assert registered.status_code == 201
    pid = registered.json["id"]
    audit = client.get(f"/fhir/AuditEvent?patient=Patient/{pid}", headers=systems.headers("ADMIN"))
    statement = client.get("/fhir/metadata").json
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    return {
        "pid": pid,
        "ids": {"Patient": pid, "AuditEvent": audit.json["entry"][0]["resource"]["id"]},
        "headers": {"Patient": systems.headers("GP"), "AuditEvent": systems.headers("ADMIN")},
        "resources": resources,
        "statement": statement,
    }


def _new(rtype: str, pid: str) -> dict:
    if rtype == "Patient":
        return patient(GP_URI, "G2", 2)
    return {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "recorded": "2026-12-03T12:00:00+00:00",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "x"}},
    }


#: A search that finds the registered patient or its audit, per resource type.
SEARCH = {"Patient": "family=Jones&birthdate=1975-07-04", "AuditEvent": "patient=Patient/{pid}"}


def _drive(client, served, rtype: str, code: str):
    h = served["headers"][rtype]
    pid = served["pid"]
    instance = f"/fhir/{rtype}/{served['ids'][rtype]}"
    body = _new(rtype, pid)
    requests = {
        "read": lambda: client.get(instance, headers=h),
        "vread": lambda: client.get(f"{instance}/_history/1", headers=h),
        "update": lambda: client.put(
            instance, json={**body, "id": served["ids"][rtype]}, headers=h
        ),
        "patch": lambda: client.patch(
            instance,
            json=[{"op": "replace", "path": "/gender", "value": "male"}],
            headers={**h, "Content-Type": "application/json-patch+json"},
        ),
        "delete": lambda: client.delete(instance, headers=h),
        "history-instance": lambda: client.get(f"{instance}/_history", headers=h),
        "history-type": lambda: client.get(f"/fhir/{rtype}/_history", headers=h),
        "create": lambda: client.post(f"/fhir/{rtype}", json=body, headers=h),
        "search-type": lambda: client.get(
            f"/fhir/{rtype}?{SEARCH[rtype].format(pid=pid)}", headers=h
        ),
    }
    return requests[code]()


def test_every_interaction_listed_is_served_and_every_other_is_not(client, served):
    assert set(served["resources"]) == set(SEARCH), "a new resource type: teach this test"
    for rtype, resource in served["resources"].items():
        listed = {i["code"] for i in resource.get("interaction", [])}
        assert listed <= set(INTERACTIONS), listed
        for code in INTERACTIONS:
            r = _drive(client, served, rtype, code)
            is_served = 200 <= r.status_code < 300
            assert is_served == (code in listed), (rtype, code, r.status_code, sorted(listed))


def test_instance_update_and_delete_are_not_claimed(served):
    """The finding itself: PUT and DELETE on Patient/[id] answer 405, so not listed."""
    listed = {i["code"] for i in served["resources"]["Patient"]["interaction"]}
    assert "update" not in listed and "delete" not in listed


def test_conditional_update_and_delete_are_served_as_claimed(client, systems, served):
    patient_resource = served["resources"]["Patient"]
    assert patient_resource["conditionalUpdate"] is True
    again = put(client, systems, "GP", GP_URI, "G1")
    assert again.status_code == 200 and again.json["id"] == served["pid"]
    assert patient_resource["conditionalDelete"] == "single"
    gone = client.delete(f"/fhir/Patient?identifier={GP_URI}|G1", headers=systems.headers("GP"))
    assert gone.status_code == 204


#: A value for each search parameter (modifiers and result parameters aside), per type.
VALUES = {
    ("Patient", "_id"): "{pid}",
    ("Patient", "identifier"): f"{GP_URI}|G1",
    ("Patient", "family"): "Jones",
    ("Patient", "given"): "Bethan",
    ("Patient", "birthdate"): "1975-07-04",
    ("Patient", "gender"): "female",
    ("Patient", "address-postalcode"): "BD7 1DP",
    ("Patient", "telecom"): "phone|01274496000",
    ("Patient", "address"): "2 mill",
    ("Patient", "address-city"): "bradford",
    ("Patient", "active"): "true",
    ("AuditEvent", "patient"): "Patient/{pid}",
}
#: A demographic search needs a date of birth with a name (or a postcode, or an NHS number).
ALONGSIDE = {
    ("Patient", "family"): "birthdate=1975-07-04",
    ("Patient", "given"): "birthdate=1975-07-04",
    ("Patient", "gender"): "birthdate=1975-07-04&family=Jones",
    ("Patient", "birthdate"): "family=Jones",
    ("Patient", "address-postalcode"): "family=Jones",
    ("Patient", "telecom"): "family=Jones&birthdate=1975-07-04",
    ("Patient", "address"): "family=Jones&birthdate=1975-07-04",
    ("Patient", "address-city"): "family=Jones&birthdate=1975-07-04",
    ("Patient", "active"): "family=Jones&birthdate=1975-07-04",
}


def test_every_search_parameter_listed_is_used_by_the_search(client, served):
    from urllib.parse import parse_qs, urlsplit

    for rtype, resource in served["resources"].items():
        for param in resource.get("searchParam", []):
            key = (rtype, param["name"])
            assert key in VALUES, f"{key} is listed: give it a value in VALUES"
            value = VALUES[key].format(pid=served["pid"])
            query = "&".join(q for q in (ALONGSIDE.get(key), f"{param['name']}={value}") if q)
            r = client.get(f"/fhir/{rtype}?{query}", headers=served["headers"][rtype])
            assert r.status_code == 200 and r.json["type"] == "searchset", (key, r.json)
            assert r.json["total"] >= 1, key  # it finds what was stored
            if rtype == "Patient":  # the self link names the parameters the search used
                links = r.json["link"]
                self_link = next(link["url"] for link in links if link["relation"] == "self")
                assert param["name"] in parse_qs(urlsplit(self_link).query), (key, self_link)


def test_every_operation_listed_is_served(client, systems, served):
    drivers = {
        ("Patient", "match"): lambda: client.post(
            "/fhir/Patient/$match",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "resource", "resource": patient(NHS, synthetic_nhs_number(1))}
                ],
            },
            headers=systems.headers("GP"),
        ),
        ("Patient", "ihe-pix"): lambda: client.get(
            f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1", headers=systems.headers("GP")
        ),
    }
    listed = {
        (rtype, op["name"])
        for rtype, resource in served["resources"].items()
        for op in resource.get("operation", [])
    }
    assert listed == set(drivers), "an operation was added or removed: teach this test"
    for key in listed:
        r = drivers[key]()
        assert r.status_code == 200, (key, r.json)


def test_security_is_described_as_it_is(client, served):
    security = served["statement"]["rest"][0]["security"]
    codes = {c["code"] for s in security.get("service", []) for c in s.get("coding", [])}
    assert not codes & {"OAuth", "SMART-on-FHIR"}  # no authorization server is served
    assert client.get("/fhir/.well-known/smart-configuration").status_code == 404
    assert "bearer" in security["description"].lower()
    assert "not oauth" in security["description"].lower()
    # as described: no token, 401; the system's static bearer token, served
    assert client.get(f"/fhir/Patient/{served['pid']}").status_code == 401
    ok = client.get(f"/fhir/Patient/{served['pid']}", headers=served["headers"]["Patient"])
    assert ok.status_code == 200


def test_nhs_number_identifier_search_is_served_too(client, served):
    """The identifier parameter's documentation promises NHS number tokens as well."""
    r = client.get(
        f"/fhir/Patient?identifier={NHS}|{synthetic_nhs_number(1)}",
        headers=served["headers"]["Patient"],
    )
    assert r.status_code == 200 and r.json["total"] == 1
