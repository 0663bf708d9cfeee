"""Every route of the app, from Flask's URL map, under the disclosure rule.

Each (method, route) is either probed (``PROBES``: requests that name the patient in
every way the route allows) or listed in ``NO_PERSON`` with the reason it cannot
disclose a person. A route added to the app fails :func:`test_every_route_is_classified`
until it is put in one of them.

The probes are sent by callers without a care relationship (a lookup-only viewer, and a
system that registers records but holds none of this patient's), and, after the patient
objects, by those and by a system holding a record of its own. None of them may get
the patient's demographics (names, birth date, address, postcode, phone, NHS number) or
another system's local identifier. The same probes sent by an admin do find the
patient, which shows that they reach it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from mpi import access
from mpi.store import systems as system_store
from mpi.store import tokens as token_store
from tests.helpers import synthetic_nhs_number

NHS = "https://fhir.nhs.uk/Id/nhs-number"
GP_URI = "https://fhir.gp.example.nhs.uk/Id/patient-number"
HOSP_URI = "https://fhir.hosp.example.nhs.uk/Id/mrn"
NEW_URI = "https://fhir.newcomer.example.nhs.uk/Id/case"
FORM = "application/x-www-form-urlencoded"
NUMBER = synthetic_nhs_number(3)

#: The patient, with values found nowhere else in the test.
PATIENT = {
    "nhs_number": NUMBER,
    "given_name": "Perpetua",
    "family_name": "Quarrington",
    "sex": "female",
    "birth_date": "1961-11-23",
    "address_line": "17 Orchard Way, Harrogate",
    "postcode": "HG1 5QT",
    "phone": "01423 555 017",
}
GP_LOCAL, HOSP_LOCAL = "GP-LOCAL-7731", "HOSP-LOCAL-4402"
#: What no caller without a relationship may see (lower case; phone and postcode as sent
#: and as normalised).
SECRETS = (
    "perpetua",
    "quarrington",
    "1961-11-23",
    "orchard way",
    "hg1 5qt",
    "hg15qt",
    "01423 555 017",
    "01423555017",
    NUMBER,
)
#: Someone else entirely, registered by the probing systems themselves.
STRANGER = {
    "given_name": "Oswin",
    "family_name": "Trelawney",
    "sex": "male",
    "birth_date": "2001-02-03",
    "postcode": "TR1 2AA",
}


@dataclass(frozen=True)
class Probe:
    """One request; ``finds`` when an admin sending it gets the patient back."""

    method: str
    path: Callable[[dict[str, str]], str]
    kwargs: Callable[[dict[str, str]], dict[str, Any]] = field(default=lambda c: {})
    finds: bool = True


def _fhir_patient(uri: str, value: str, person: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": uri, "value": value}],
        "name": [{"family": person["family_name"], "given": [person["given_name"]]}],
        "gender": person["sex"],
        "birthDate": person["birth_date"],
        "address": [{"postalCode": person["postcode"]}],
    }


def _query_patient() -> dict[str, Any]:
    query = _fhir_patient(NHS, NUMBER, PATIENT)
    query["address"] = [{"line": [PATIENT["address_line"]], "postalCode": PATIENT["postcode"]}]
    return query


_DEMOGRAPHICS = "family=Quarrington&given=Perpetua&birthdate=1961-11-23&address-postalcode=HG1 5QT"
_FORMS = ("_id={pid}", f"identifier={NHS}|{NUMBER}", _DEMOGRAPHICS)

PROBES: dict[tuple[str, str], list[Probe]] = {
    ("GET", "/fhir/Patient"): [
        Probe("get", lambda c, q=q: f"/fhir/Patient?{q.format(**c)}")
        for q in (
            "_id={pid}",
            f"identifier={GP_URI}|{GP_LOCAL}",
            f"identifier={HOSP_URI}|{HOSP_LOCAL}",
            f"identifier={NHS}|{NUMBER}",
            f"identifier={NHS}|{NUMBER},{GP_URI}|",
            _DEMOGRAPHICS,
            "family=Quarrington&birthdate=1961-11-23",
            f"{_DEMOGRAPHICS}&identifier={GP_URI}|",
        )
    ],
    ("POST", "/fhir/Patient/_search"): [
        Probe(
            "post",
            lambda c: "/fhir/Patient/_search",
            lambda c, q=q: {"data": q.format(**c), "content_type": FORM},
        )
        for q in _FORMS
    ],
    ("POST", "/fhir/Patient/$match"): [
        Probe("post", lambda c: "/fhir/Patient/$match", lambda c: {"json": _query_patient()}),
        Probe(
            "post",
            lambda c: "/fhir/Patient/$match",
            lambda c: {
                "json": {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "resource", "resource": _query_patient()},
                        {"name": "onlyCertainMatches", "valueBoolean": True},
                    ],
                }
            },
        ),
    ],
    ("GET", "/fhir/Patient/<person_id>"): [Probe("get", lambda c: f"/fhir/Patient/{c['pid']}")],
    ("GET", "/fhir/Patient/$ihe-pix"): [
        Probe("get", lambda c, s=s: f"/fhir/Patient/$ihe-pix?sourceIdentifier={s}")
        for s in (f"{GP_URI}|{GP_LOCAL}", f"{NHS}|{NUMBER}", f"{HOSP_URI}|{HOSP_LOCAL}")
    ],
    ("GET", "/fhir/AuditEvent"): [
        Probe("get", lambda c: f"/fhir/AuditEvent?patient=Patient/{c['pid']}", finds=False)
    ],
    ("PUT", "/fhir/Patient"): [
        Probe(
            "put",
            lambda c: f"/fhir/Patient?identifier={c['uri']}|{c['code']}-F1",
            lambda c: {"json": _fhir_patient(c["uri"], f"{c['code']}-F1", STRANGER)},
            finds=False,
        )
    ],
    ("POST", "/fhir/Patient"): [
        Probe(
            "post",
            lambda c: "/fhir/Patient",
            lambda c: {"json": _fhir_patient(c["uri"], f"{c['code']}-F2", STRANGER)},
            finds=False,
        )
    ],
    ("DELETE", "/fhir/Patient"): [
        Probe("delete", lambda c: f"/fhir/Patient?identifier={GP_URI}|{GP_LOCAL}", finds=False)
    ],
    ("GET", "/v1/persons/<person_id>"): [Probe("get", lambda c: f"/v1/persons/{c['pid']}")],
    ("GET", "/v1/persons"): [Probe("get", lambda c: f"/v1/persons?nhs_number={NUMBER}")],
    ("POST", "/v1/persons/search"): [
        Probe("post", lambda c: "/v1/persons/search", lambda c: {"json": PATIENT}),
        Probe(
            "post",
            lambda c: "/v1/persons/search",
            lambda c: {"json": {k: v for k, v in PATIENT.items() if k != "nhs_number"}},
        ),
    ],
    ("GET", "/v1/systems/<system>/records/<local_id>"): [
        Probe("get", lambda c: f"/v1/systems/GP/records/{GP_LOCAL}"),
        Probe("get", lambda c: f"/v1/systems/HOSP/records/{HOSP_LOCAL}"),
    ],
    ("PUT", "/v1/systems/<system>/records/<local_id>"): [
        Probe(
            "put",
            lambda c: f"/v1/systems/{c['code']}/records/{c['code']}-V1",
            lambda c: {"json": STRANGER},
            finds=False,
        )
    ],
    ("DELETE", "/v1/systems/<system>/records/<local_id>"): [
        Probe("delete", lambda c: f"/v1/systems/GP/records/{GP_LOCAL}", finds=False)
    ],
    ("GET", "/v1/events"): [Probe("get", lambda c: "/v1/events", finds=False)],
    ("GET", "/v1/persons/<person_id>/audit"): [
        Probe("get", lambda c: f"/v1/persons/{c['pid']}/audit", finds=False)
    ],
    ("PUT", "/v1/persons/<person_id>/opt-out"): [
        Probe(
            "put",
            lambda c: f"/v1/persons/{c['pid']}/opt-out",
            lambda c: {"json": {"reason": "probe"}},
            finds=False,
        )
    ],
    ("DELETE", "/v1/persons/<person_id>/opt-out"): [
        Probe("delete", lambda c: f"/v1/persons/{c['pid']}/opt-out", finds=False)
    ],
    # the review UI signs reviewers in with a session; a system's bearer token opens nothing
    **{
        (method, rule): [Probe(method.lower(), lambda c, p=path: p.format(**c), finds=False)]
        for method, rule, path in (
            ("GET", "/review/", "/review/"),
            ("GET", "/review/persons", "/review/persons?q={pid}"),
            ("GET", "/review/persons/<person_id>", "/review/persons/{pid}"),
            ("POST", "/review/persons/<person_id>/merge", "/review/persons/{pid}/merge"),
            ("POST", "/review/persons/<person_id>/split", "/review/persons/{pid}/split"),
            ("GET", "/review/items/<int:item_id>", "/review/items/1"),
            ("POST", "/review/items/<int:item_id>/claim", "/review/items/1/claim"),
            ("POST", "/review/items/<int:item_id>/decide", "/review/items/1/decide"),
            ("POST", "/review/decisions/<int:decision_id>/undo", "/review/decisions/1/undo"),
            ("POST", "/review/next", "/review/next"),
            ("GET", "/review/dashboard", "/review/dashboard"),
            ("GET", "/review/users", "/review/users"),
            ("GET", "/review/decisions", "/review/decisions"),
        )
    },
}

NO_PERSON: dict[tuple[str, str], str] = {
    ("GET", "/fhir/metadata"): "the CapabilityStatement: no patient data",
    ("GET", "/healthz"): "process health: no patient data",
    ("GET", "/readyz"): "database readiness: no patient data",
    ("GET", "/openapi.json"): "the API description: no patient data",
    ("GET", "/metrics"): "counts and latencies by route template and status: no path values",
    ("GET", "/static/<path:filename>"): "Flask's static files (none are served)",
    ("GET", "/review/assets/<name>"): "the review UI's CSS and JavaScript",
    ("GET", "/review/login"): "the sign-in form",
    ("POST", "/review/login"): "sign-in: answers only whether the password was right",
    ("POST", "/review/logout"): "sign-out of a reviewer session",
    ("POST", "/review/users/<username>/unlock"): "unlocks a reviewer account (admin reviewer)",
    ("POST", "/review/users/<username>/reset"): "a reviewer account's temporary password",
    ("GET", "/review/password"): "the change-password form",
    ("POST", "/review/password"): "changes the signed-in reviewer's own password",
    ("POST", "/review/shortcuts"): "turns the reviewer's keyboard shortcuts on or off",
    ("POST", "/v1/subscriptions"): "subscribes a URL; the reply is the subscription itself",
    ("GET", "/v1/subscriptions"): "the caller's own subscriptions, no patient data",
    ("DELETE", "/v1/subscriptions/<int:subscription_id>"): "ends one of the caller's own",
}


def _routes(app) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_is_classified(app):
    """A new route fails here until it is probed or given a reason it discloses nobody."""
    routes = _routes(app)
    assert not set(PROBES) & set(NO_PERSON)
    unclassified = sorted(routes - set(PROBES) - set(NO_PERSON))
    assert not unclassified, f"classify these routes in {__name__}: {unclassified}"
    assert not (set(PROBES) | set(NO_PERSON)) - routes  # nothing stale either


def _system(db_url: str, code: str, scopes: list[str], uri: str | None = None) -> dict[str, str]:
    with psycopg.connect(db_url) as conn:
        system_store.add_system(conn, code, code.title(), "hospital", 4)
        if uri:
            token_store.set_identifier_system(conn, code, uri)
        token = access.issue_token(conn, code, scopes, actor="test")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def patient(client, systems) -> str:
    """The patient, with a record in the GP and one in the hospital."""
    gp = client.put(
        f"/v1/systems/GP/records/{GP_LOCAL}", json=PATIENT, headers=systems.headers("GP")
    )
    client.put(
        f"/v1/systems/HOSP/records/{HOSP_LOCAL}", json=PATIENT, headers=systems.headers("HOSP")
    )
    return str(gp.json["person_id"])


def _leaks(response, allowed: tuple[str, ...] = ()) -> list[str]:
    """The patient's demographics or local IDs in a response (not counting the self link,
    which repeats the request, or the identifiers in ``allowed``)."""
    body = response.get_json(silent=True)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "link"}
        text = json.dumps(body)
    else:
        text = response.get_data(as_text=True)
    low = text.lower()
    found = [s for s in SECRETS if s in low]
    return found + [s for s in (GP_LOCAL, HOSP_LOCAL) if s in text and s not in allowed]


def _send(client, probe: Probe, context: dict[str, str], headers: dict[str, str]):
    return getattr(client, probe.method)(
        probe.path(context), headers=headers, **probe.kwargs(context)
    )


def _sweep(client, callers, context, allowed=()):
    for name, (headers, caller_context) in callers.items():
        for route, probes in PROBES.items():
            for probe in probes:
                ctx = {**context, **caller_context}
                r = _send(client, probe, ctx, headers)
                assert r.status_code < 500, (name, route, probe.path(ctx), r.status_code)
                # a local ID the request itself names may come back in an error message
                asked = probe.path(ctx) + json.dumps(probe.kwargs(ctx))
                named = tuple(
                    i for i in (GP_LOCAL, HOSP_LOCAL) if i in asked and r.status_code >= 400
                )
                leaked = _leaks(r, (allowed if name == "holder" else ()) + named)
                assert not leaked, (name, route, probe.path(ctx), leaked, r.status_code)


def _callers(systems, db_url) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    newcomer = _system(db_url, "NEWCOMER", ["register", "lookup"], NEW_URI)
    return {
        "viewer": (systems.headers("VIEWER"), {"code": "VIEWER", "uri": "urn:none"}),
        "newcomer": (newcomer, {"code": "NEWCOMER", "uri": NEW_URI}),
    }


def test_no_route_discloses_a_patient_to_a_system_without_a_relationship(
    client, systems, db_url, patient
):
    context = {"pid": patient}
    admin = systems.headers("ADMIN")
    for route, probes in PROBES.items():  # the probes do reach the patient
        for probe in probes:
            if probe.finds:
                r = _send(client, probe, {**context, "code": "ADMIN", "uri": ""}, admin)
                assert _leaks(r), (route, probe.path(context), r.status_code)
    _sweep(client, _callers(systems, db_url), context)


def test_no_route_discloses_an_objector_beyond_the_callers_own_records(
    client, systems, db_url, patient
):
    r = client.put(
        f"/v1/persons/{patient}/opt-out",
        json={"reason": "objection"},
        headers=systems.headers("ADMIN"),
    )
    assert r.status_code == 200
    callers = _callers(systems, db_url)
    callers["emergency"] = (systems.emergency("VIEWER"), {"code": "VIEWER", "uri": "urn:none"})
    callers["holder"] = (systems.headers("HOSP"), {"code": "HOSP", "uri": HOSP_URI})
    _sweep(client, callers, {"pid": patient}, allowed=(HOSP_LOCAL,))
    # the holder does see its own record of the objector
    own = client.get(f"/v1/persons?nhs_number={NUMBER}", headers=systems.headers("HOSP")).json
    assert own["matches"][0]["records"] == [{"system": "HOSP", "local_id": HOSP_LOCAL}]
