"""PMIR (IHE ITI-93): POST /fhir with a message Bundle of Patient creates, updates, merges
and deletes, applied in one transaction; every answer validated with fhir.resources."""

from __future__ import annotations

from typing import Any

import psycopg
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.api.conftest import count
from tests.api.test_fhir import FHIR, GP_URI, HOSP_URI, patient

FEED = "urn:ihe:iti:pmir:2019:patient-feed"


def message(*changes: dict[str, Any], header_id: str = "feed-1") -> dict[str, Any]:
    """A PMIR message Bundle: the MessageHeader, then the history Bundle of ``changes``."""
    return {
        "resourceType": "Bundle",
        "type": "message",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{header_id}",
                "resource": {
                    "resourceType": "MessageHeader",
                    "id": header_id,
                    "eventUri": FEED,
                    "source": {"endpoint": "https://gp.example.nhs.uk/fhir"},
                    "destination": [{"endpoint": "https://mpi.example.nhs.uk/fhir"}],
                    "focus": [{"reference": "Bundle/history-1"}],
                },
            },
            {
                "fullUrl": "Bundle/history-1",
                "resource": {
                    "resourceType": "Bundle",
                    "id": "history-1",
                    "type": "history",
                    "entry": list(changes),
                },
            },
        ],
    }


def create(value: str, n: int = 1, **kw: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{value}",
        "resource": patient(GP_URI, value, n, **kw),
        "request": {"method": "POST", "url": "Patient"},
        "response": {"status": "201"},
    }


def update(value: str, n: int = 1, **kw: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{value}",
        "resource": patient(GP_URI, value, n, **kw),
        "request": {"method": "PUT", "url": f"Patient?identifier={GP_URI}|{value}"},
        "response": {"status": "200"},
    }


def merge(value: str, into: dict[str, Any], n: int = 1) -> dict[str, Any]:
    resource = patient(GP_URI, value, n, active=False)
    resource["link"] = [{"type": "replaced-by", "other": into}]
    return {
        "fullUrl": f"urn:uuid:{value}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"Patient/{value}"},
        "response": {"status": "200"},
    }


def post(client, systems, body, system: str = "GP"):
    return client.post("/fhir", json=body, headers=systems.headers(system))


def held(db_url: str, local: str) -> str | None:
    with psycopg.connect(db_url) as c:
        row = c.execute(
            "SELECT r.status FROM source_record r JOIN source_system s ON s.id = r.system_id"
            " WHERE s.code = 'GP' AND r.local_id = %s",
            (local,),
        ).fetchone()
    return row[0] if row else None


def test_feed_creates_updates_and_answers_a_response_message(client, systems, db_url):
    r = post(
        client,
        systems,
        message(
            create("G1", 1),
            create("G2", 2, name=[{"family": "Quill", "given": ["Zed"]}], birthDate="1999-09-09"),
        ),
    )
    assert r.status_code == 200 and r.content_type == FHIR, r.json
    reply = Bundle.model_validate(r.json)
    assert reply.type == "message" and len(reply.entry) == 1
    header = reply.entry[0].resource
    assert header.eventUri == "urn:ihe:iti:pmir:2019:patient-feed-response"
    assert header.response.identifier == "feed-1" and header.response.code == "ok"
    assert held(db_url, "G1") == "active" and held(db_url, "G2") == "active"

    r = post(client, systems, message(update("G1", 1, birthDate="1975-07-05"), header_id="f2"))
    assert r.status_code == 200, r.json
    found = client.get(f"/fhir/Patient?identifier={GP_URI}|G1", headers=systems.headers("GP"))
    assert found.json["entry"][0]["resource"]["birthDate"] == "1975-07-05"


def test_the_base_with_a_trailing_slash_takes_the_feed(client, systems, db_url):
    # fhirclient and other clients post a message to the base as "[base]/"
    r = client.post("/fhir/", json=message(create("S1")), headers=systems.headers("GP"))
    assert r.status_code == 200, r.get_json()
    assert Bundle.model_validate(r.get_json()).type == "message"
    assert held(db_url, "S1") == "active"


def test_merge_by_identifier_and_by_entry_reference(client, systems, db_url):
    assert post(client, systems, message(create("G1", 1), create("G2", 2))).status_code == 200
    by_id = merge("G2", {"identifier": {"system": GP_URI, "value": "G1"}}, 2)
    r = post(client, systems, message(by_id, header_id="f2"))
    assert r.status_code == 200, r.json
    assert held(db_url, "G2") == "withdrawn" and held(db_url, "G1") == "active"
    # in one feed: a new record, and an older one replaced by it (fullUrl reference)
    r = post(client, systems, message(create("G3", 3), create("G4", 4), header_id="f3"))
    assert r.status_code == 200, r.json
    r = post(
        client,
        systems,
        message(update("G5", 5), merge("G4", {"reference": "urn:uuid:G5"}, 4), header_id="f4"),
    )
    assert r.status_code == 200, r.json
    assert held(db_url, "G4") == "withdrawn" and held(db_url, "G5") == "active"


def test_delete_withdraws(client, systems, db_url):
    post(client, systems, message(create("G1", 1)))
    gone = {
        "request": {"method": "DELETE", "url": f"Patient?identifier={GP_URI}|G1"},
        "response": {"status": "204"},
    }
    r = post(client, systems, message(gone, header_id="f2"))
    assert r.status_code == 200, r.json
    assert held(db_url, "G1") == "withdrawn"


def _refused(r, status: int, expression: str) -> OperationOutcome:
    assert r.status_code == status, r.json
    oo = OperationOutcome.model_validate(r.json)
    assert expression in oo.issue[0].expression, r.json
    return oo


def test_a_refused_entry_is_named_and_nothing_of_the_feed_is_kept(client, systems, db_url):
    before = count(db_url, "source_record")
    bad = create("G2", 2, birthDate="2999-01-01")
    r = post(client, systems, message(create("G1", 1), bad))
    _refused(r, 400, "Bundle.entry[1].resource.entry[1].resource.birthDate")
    assert count(db_url, "source_record") == before  # G1 was not kept either
    assert held(db_url, "G1") is None

    post(client, systems, message(create("G1", 1)))
    r = post(client, systems, message(create("G3", 3), create("G1", 1), header_id="f2"))
    _refused(r, 409, "Bundle.entry[1].resource.entry[1].request")
    assert held(db_url, "G3") is None

    other = create("H1", 4)
    other["resource"] = patient(HOSP_URI, "H1", 4)  # another system's identifier only
    r = post(client, systems, message(other, header_id="f3"))
    _refused(r, 400, "Bundle.entry[1].resource.entry[0].resource.identifier")

    nowhere = merge("G1", {"reference": "Patient/NOT-A-PERSON"})
    r = post(client, systems, message(nowhere, header_id="f4"))
    _refused(r, 400, "Bundle.entry[1].resource.entry[0].resource.link[0].other")
    assert held(db_url, "G1") == "active"


def test_not_a_pmir_message_is_refused_naming_the_element(client, systems):
    good = message(create("G1", 1))
    cases = [
        ({**good, "type": "transaction"}, "Bundle.type"),
        ({**good, "entry": good["entry"][:1]}, "Bundle.entry"),
    ]
    wrong_event = message(create("G1", 1))
    wrong_event["entry"][0]["resource"]["eventUri"] = "urn:example:other"
    cases.append((wrong_event, "Bundle.entry[0].resource.eventUri"))
    no_focus = message(create("G1", 1))
    no_focus["entry"][0]["resource"]["focus"] = [{"reference": "Bundle/elsewhere"}]
    cases.append((no_focus, "Bundle.entry[0].resource.focus"))
    bad_method = message({**create("G1", 1), "request": {"method": "PATCH", "url": "Patient"}})
    cases.append((bad_method, "Bundle.entry[1].resource.entry[0].request.method"))
    for body, expression in cases:
        _refused(post(client, systems, body), 400, expression)
    assert client.post("/fhir", json=good, headers=systems.headers("VIEWER")).status_code == 403


def test_capability_statement_lists_the_feed(client):
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    statement = CapabilityStatement.model_validate(client.get("/fhir/metadata").json)
    (messaging,) = statement.messaging
    (supported,) = messaging.supportedMessage
    assert supported.mode == "receiver" and supported.definition.endswith("PMIR.MessageDefinition")
    assert "patient-feed" in messaging.documentation
