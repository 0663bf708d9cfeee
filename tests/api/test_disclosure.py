"""Issue 10, findings 1 and 3: one disclosure rule, no bypass by search, no oracle.

A system holding no record of a person gets exactly what it gets for a person who does
not exist, on every surface, unless it declares an emergency; an objector is told apart
from an unknown person by nobody but the systems holding a record of them; a
registration reply explains its score only for a person the caller may see.
"""

from __future__ import annotations

import json

import psycopg

from mpi import access, webhooks
from mpi.store import systems as system_store
from mpi.store import tokens as token_store
from tests.api.conftest import alice, count
from tests.helpers import synthetic_nhs_number

NHS = "https://fhir.nhs.uk/Id/nhs-number"
GP_URI = "https://fhir.gp.example.nhs.uk/Id/patient-number"
HOSP_URI = "https://fhir.hosp.example.nhs.uk/Id/mrn"
NEW_URI = "https://fhir.newcomer.example.nhs.uk/Id/case"
FORM = "application/x-www-form-urlencoded"

#: What a caller without a relationship must never see of Alice (alice() in conftest).
SECRETS = ("alice", "1980-03-15", "high street", "ls1 4ap", "0113 496 0000", "01134960000")


def _alice(client, systems) -> str:
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    r = client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    return str(r.json["person_id"])


def newcomer(db_url: str, code: str = "NEWCOMER") -> dict[str, str]:
    """A connected system (register, lookup) holding nothing yet: its request headers."""
    with psycopg.connect(db_url) as conn:
        system_store.add_system(conn, code, code.title(), "hospital", 4)
        token_store.set_identifier_system(conn, code, f"{NEW_URI}/{code.lower()}")
        token = access.issue_token(conn, code, ["register", "lookup"], actor="test")
    return {"Authorization": f"Bearer {token}"}


def _leaks(r) -> list[str]:
    """Alice's demographics and other systems' local IDs in a response (leaving out the
    self link, which repeats the request)."""
    body = r.get_json()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "link"}
    text = json.dumps(body)
    low = text.lower()
    found = [s for s in SECRETS if s in low]
    found += [s for s in (synthetic_nhs_number(1), "G1", "H1") if s in text]
    return found


def _bypasses(pid: str) -> list[tuple[str, str, dict]]:
    """The five bypasses of finding 1 (and the POST forms of PDQm)."""
    nhs = synthetic_nhs_number(1)
    return [
        ("get", f"/fhir/Patient?_id={pid}", {}),
        ("post", "/fhir/Patient/_search", {"data": f"_id={pid}", "content_type": FORM}),
        ("get", f"/fhir/Patient?identifier={GP_URI}|G1", {}),
        ("get", f"/fhir/Patient?identifier={NHS}|{nhs}", {}),
        (
            "post",
            "/fhir/Patient/_search",
            {"data": f"identifier={NHS}|{nhs}", "content_type": FORM},
        ),
        ("get", f"/v1/persons?nhs_number={nhs}", {}),
    ]


def _answer(r) -> object:
    """A response as a caller sees it, with the parts that always differ taken out."""
    body = r.get_json()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("request_id", "meta", "link", "id")}
    return (r.status_code, body)


def test_search_is_no_way_around_the_care_relationship(client, systems):
    """Finding 1: _id, another system's identifier, the NHS number, GET and POST, and
    /v1 by NHS number gave an unrelated system the golden view; now nothing, as for an
    NHS number or ID that nobody has."""
    pid = _alice(client, systems)
    viewer = systems.headers("VIEWER")
    for method, url, kw in _bypasses(pid):
        r = getattr(client, method)(url, headers=viewer, **kw)
        assert r.status_code == 200, (url, r.json)
        assert not _leaks(r), (url, r.json)
        body = r.json
        assert body.get("total", 0) == 0 and not body.get("entry") and not body.get("matches")
        # the same as for a person that does not exist
        unknown = url.replace(pid, "ZZZZ-ZZZZ-ZZZZ").replace("G1", "G404")
        unknown = unknown.replace(synthetic_nhs_number(1), synthetic_nhs_number(40))
        kw2 = dict(kw)
        if "data" in kw2:
            kw2["data"] = (
                kw2["data"]
                .replace(pid, "ZZZZ-ZZZZ-ZZZZ")
                .replace(synthetic_nhs_number(1), synthetic_nhs_number(40))
            )
        other = getattr(client, method)(unknown, headers=viewer, **kw2)
        assert _answer(r) == _answer(other), url
    # a system holding a record sees the person, and so does an emergency (audited)
    for headers in (systems.headers("HOSP"), systems.emergency("VIEWER")):
        for method, url, kw in _bypasses(pid):
            r = getattr(client, method)(url, headers=headers, **kw)
            assert "Smith" in r.get_data(as_text=True), url


def test_demographic_search_and_match_are_no_way_around_either(client, systems):
    """Full demographics give an unrelated system nothing (no single certain match)."""
    _alice(client, systems)
    viewer = systems.headers("VIEWER")
    body = {k: v for k, v in alice().items() if k != "nhs_number"}
    r = client.post("/v1/persons/search", json=body, headers=viewer)
    assert r.json == {"matches": [], "total": 0}
    query = {
        "resourceType": "Patient",
        "name": [{"family": "Smith", "given": ["Alice"]}],
        "gender": "female",
        "birthDate": "1980-03-15",
        "address": [{"line": ["1 High Street"], "postalCode": "LS1 4AP"}],
    }
    r = client.post("/fhir/Patient/$match", json=query, headers=viewer)
    assert r.json["total"] == 0 and "entry" not in r.json
    url = "/fhir/Patient?family=Smith&given=Alice&birthdate=1980-03-15&address-postalcode=LS1 4AP"
    r = client.get(url, headers=viewer)
    assert r.json["total"] == 0 and not _leaks(r)


def test_read_resolve_and_pix_answer_an_unrelated_system_as_for_nobody(client, systems, db_url):
    pid = _alice(client, systems)
    social = systems.headers("SOCIAL")
    pairs = [
        (f"/fhir/Patient/{pid}", "/fhir/Patient/ZZZZ-ZZZZ-ZZZZ"),
        (f"/v1/persons/{pid}", "/v1/persons/ZZZZ-ZZZZ-ZZZZ"),
        ("/v1/systems/GP/records/G1", "/v1/systems/GP/records/G404"),
        (
            f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1",
            f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G404",
        ),
        (
            f"/fhir/Patient/$ihe-pix?sourceIdentifier={NHS}|{synthetic_nhs_number(1)}",
            f"/fhir/Patient/$ihe-pix?sourceIdentifier={NHS}|{synthetic_nhs_number(40)}",
        ),
    ]
    for held, missing in pairs:
        a, b = client.get(held, headers=social), client.get(missing, headers=social)
        assert a.status_code == b.status_code == 404, (held, a.status_code)
        seen, unknown = (
            {k: v for k, v in (x.get_json() or {}).items() if k != "request_id"} for x in (a, b)
        )
        text = json.dumps(seen).replace(pid, "ZZZZ-ZZZZ-ZZZZ").replace("G1", "G404")
        assert text == json.dumps(unknown), held
    assert count(db_url, "audit_event", "outcome = 'denied' AND detail->>'basis' = 'none'") == 5


def _objector(client, systems) -> str:
    pid = _alice(client, systems)
    r = client.put(
        f"/v1/persons/{pid}/opt-out", json={"reason": "objection"}, headers=systems.headers("ADMIN")
    )
    assert r.status_code == 200
    return pid


def test_an_unrelated_system_cannot_tell_an_objector_from_nobody(client, systems):
    """Finding 3, second half: no REDACTED stub with the enterprise ID, no 403 suppressed;
    in an emergency neither (an emergency does not override an objection)."""
    pid = _objector(client, systems)
    for headers in (systems.headers("VIEWER"), systems.emergency("VIEWER")):
        for method, url, kw in _bypasses(pid):
            r = getattr(client, method)(url, headers=headers, **kw)
            assert r.status_code == 200, url
            text = r.get_data(as_text=True)
            assert pid not in text.replace(f"_id={pid}", ""), (url, text)
            assert "REDACTED" not in text and "objected" not in text, url
            assert not r.json.get("entry") and not r.json.get("matches"), url
        for url in (f"/fhir/Patient/{pid}", f"/v1/persons/{pid}", "/v1/systems/GP/records/G1"):
            r = client.get(url, headers=headers)
            assert r.status_code == 404, (url, r.status_code)
            assert "objected" not in r.get_data(as_text=True)
        pix = client.get(f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1", headers=headers)
        assert pix.status_code == 404 and "suppressed" not in pix.get_data(as_text=True)
        body = {k: v for k, v in alice().items() if k != "nhs_number"}
        assert client.post("/v1/persons/search", json=body, headers=headers).json == {
            "matches": [],
            "total": 0,
        }


def test_a_system_holding_a_record_of_an_objector_still_sees_its_own(client, systems):
    pid = _objector(client, systems)
    hosp = systems.headers("HOSP")
    r = client.get(f"/fhir/Patient?identifier={GP_URI}|G1", headers=hosp)
    (entry,) = [e for e in r.json["entry"] if e["search"]["mode"] == "match"]
    assert entry["resource"]["id"] == pid
    assert [(i["system"], i["value"]) for i in entry["resource"]["identifier"]] == [
        (HOSP_URI, "H1")
    ]
    assert "name" not in entry["resource"]
    r = client.get(f"/v1/persons?nhs_number={synthetic_nhs_number(1)}", headers=hosp)
    (match,) = r.json["matches"]
    assert match["records"] == [{"system": "HOSP", "local_id": "H1"}] and "golden" not in match


def test_a_registration_reply_is_no_oracle_about_a_person_the_caller_may_not_see(
    client, systems, db_url
):
    """Finding 3, first half: the score explanation said, field by field, whether the
    caller's phone agreed with an objector's withheld phone; now the decision alone."""
    _objector(client, systems)
    headers = newcomer(db_url)
    guess = {**alice(), "address_line": None, "postcode": None}
    r = client.put("/v1/systems/NEWCOMER/records/N1", json=guess, headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["score"] is None, r.json  # linked or not, the objector is withheld
    assert "phone" not in json.dumps(r.json)
    # a review candidate the caller may not see is not explained (nor counted)
    other = newcomer(db_url, "OTHERCOMER")
    unsure = {
        "given_name": "Zelda",
        "family_name": "Smith",
        "birth_date": "1980-03-15",
        "sex": "female",
        "postcode": "BD7 1DP",
    }
    r = client.put("/v1/systems/OTHERCOMER/records/O1", json=unsure, headers=other)
    assert r.json["decision"] in ("review", "new_person"), r.json
    assert r.json["score"] is None and r.json["review_candidates"] == 0, r.json
    # a record linking to a person the caller may see in full is explained
    r = client.put("/v1/systems/GP/records/G2", json=alice(), headers=systems.headers("GP"))
    assert r.json["score"] is None  # still the objector: GP sees its own records only
    client.delete(
        "/v1/persons/" + r.json["person_id"] + "/opt-out", headers=systems.headers("ADMIN")
    )
    r = client.put("/v1/systems/GP/records/G3", json=alice(), headers=systems.headers("GP"))
    assert r.json["decision"] == "linked" and r.json["score"]["explanation"], r.json


def _events(client, headers) -> list[dict]:
    return client.get("/v1/events", headers=headers).json["events"]


def test_events_and_webhooks_name_only_persons_the_system_may_see(
    client, systems, db_url, monkeypatch
):
    """A review opened on another system's patient named that person's enterprise ID to
    the registering system, in /v1/events and in its webhook deliveries."""
    # the receiver's name resolves to a public address (nothing is sent to it)
    monkeypatch.setattr(webhooks, "resolve_host", lambda host, port: ["93.184.215.14"])
    gp_pid = client.put(
        "/v1/systems/GP/records/G1",
        json={k: v for k, v in alice().items() if k not in ("nhs_number", "phone")},
        headers=systems.headers("GP"),
    ).json["person_id"]
    headers = newcomer(db_url)
    sub = client.post(
        "/v1/subscriptions", json={"url": "https://newcomer.example/hooks"}, headers=headers
    )
    assert sub.status_code == 201
    unsure = {
        "given_name": "Zelda",
        "family_name": "Smith",
        "birth_date": "1980-03-15",
        "sex": "female",
        "address_line": "1 High Street, Leeds",
        "postcode": "LS1 4AP",
    }
    r = client.put("/v1/systems/NEWCOMER/records/N1", json=unsure, headers=headers)
    assert r.json["decision"] == "review", r.json
    own_pid = r.json["person_id"]
    assert count(db_url, "identity_event", "event_type = 'review_opened'") == 1
    events = _events(client, headers)
    assert [e["type"] for e in events] == ["person_created", "record_linked", "review_opened"]
    assert gp_pid not in json.dumps(events)
    assert events[2]["other_person_id"] == own_pid and "person_id" not in events[2]
    assert events[2]["record"] == {"system": "NEWCOMER", "local_id": "N1"}
    calls = []
    with psycopg.connect(db_url) as conn:
        webhooks.deliver_due(conn, lambda target, body, h: calls.append(json.loads(body)) or 204)
    assert [c["type"] for c in calls] == ["person_created", "record_linked", "review_opened"]
    assert gp_pid not in json.dumps(calls)
    # the GP holds the candidate: it sees the event with its person
    gp_events = _events(client, systems.headers("GP"))
    assert any(e["type"] == "review_opened" and e["person_id"] == gp_pid for e in gp_events)
    assert all("record" not in e for e in gp_events if e["type"] == "review_opened")
