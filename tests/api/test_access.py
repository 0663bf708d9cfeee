"""The care-relationship rule, emergency access, single-match search and opt-out."""

from __future__ import annotations

from tests.api.conftest import alice, count
from tests.api.test_fhir import _match_body


def _two_records(client, systems) -> str:
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    r = client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    return str(r.json["person_id"])


def test_without_a_record_a_system_sees_nothing(client, systems, db_url):
    """No care relationship: the answer of a person (or record) that does not exist."""
    pid = _two_records(client, systems)
    social, viewer = systems.headers("SOCIAL"), systems.headers("VIEWER")
    held = client.get("/v1/systems/GP/records/G1", headers=social)
    missing = client.get("/v1/systems/GP/records/G404", headers=social)
    assert held.status_code == missing.status_code == 404
    assert held.json["detail"].replace("G1", "G404") == missing.json["detail"]
    person = client.get(f"/v1/persons/{pid}", headers=viewer)
    nobody = client.get("/v1/persons/ZZZZ-ZZZZ-ZZZZ", headers=viewer)
    assert person.status_code == nobody.status_code == 404
    assert person.json["detail"].replace(pid, "ZZZZ-ZZZZ-ZZZZ") == nobody.json["detail"]
    # the audit keeps what really happened
    assert count(db_url, "audit_event", "outcome = 'denied' AND detail->>'basis' = 'none'") == 2


def test_emergency_access_is_allowed_and_flagged(client, systems, db_url):
    pid = _two_records(client, systems)
    r = client.get(f"/v1/persons/{pid}", headers=systems.emergency("VIEWER"))
    assert r.status_code == 200
    assert r.json["access_basis"] == "emergency"
    assert count(db_url, "audit_event", "emergency AND detail->>'basis' = 'emergency'") == 1
    no_reason = systems.headers("VIEWER", **{"X-Purpose-Of-Use": "ETREAT"})
    r = client.get(f"/v1/persons/{pid}", headers=no_reason)
    assert r.status_code == 400
    assert r.json["errors"][0]["field"] == "X-Emergency-Reason"


def test_demographic_search_without_a_record_finds_nobody(client, systems):
    """A search by a system holding no record of the person finds nobody, however certain
    the match (it used to return a single certain match); in an emergency it finds them."""
    pid = _two_records(client, systems)
    body = {k: v for k, v in alice().items() if k != "nhs_number"}
    r = client.post("/v1/persons/search", json=body, headers=systems.headers("VIEWER"))
    assert r.status_code == 200
    assert r.json == {"matches": [], "total": 0}  # no note either: the same as for nobody
    r = client.post("/v1/persons/search", json=body, headers=systems.emergency("VIEWER"))
    assert [m["person_id"] for m in r.json["matches"]] == [pid]
    client.put(
        "/v1/systems/HOSP/records/H2",
        json=alice(2, given_name="Alison", phone="0113 496 0999"),
        headers=systems.headers("HOSP"),
    )
    vague = {"family_name": "Smith", "birth_date": "1980-03-15"}
    r = client.post("/v1/persons/search", json=vague, headers=systems.headers("VIEWER"))
    assert r.status_code == 200 and r.json == {"matches": [], "total": 0}
    # the hospital holds both: it sees both
    r = client.post("/v1/persons/search", json=vague, headers=systems.headers("HOSP"))
    assert len(r.json["matches"]) == 2


def test_search_by_nhs_number(client, systems):
    pid = _two_records(client, systems)
    r = client.get(f"/v1/persons?nhs_number={alice()['nhs_number']}", headers=systems.headers("GP"))
    assert r.json["matches"][0]["person_id"] == pid
    assert len(r.json["matches"][0]["records"]) == 2


def test_opt_out_still_matches_but_withholds(client, systems, db_url):
    pid = _two_records(client, systems)
    r = client.put(
        f"/v1/persons/{pid}/opt-out",
        json={"reason": "objection via GP"},
        headers=systems.headers("ADMIN"),
    )
    assert r.status_code == 200
    # still matched: a new record of the same patient links to the same person
    again = client.put("/v1/systems/GP/records/G9", json=alice(), headers=systems.headers("GP"))
    assert again.json["person_id"] == pid
    # the hospital sees only its own records, and why
    r = client.get("/v1/systems/HOSP/records/H1", headers=systems.headers("HOSP"))
    assert r.status_code == 200
    assert r.json["records"] == [{"system": "HOSP", "local_id": "H1"}]
    assert r.json["withheld"]["reason"] == "patient-objection"
    person = client.get(f"/v1/persons/{pid}", headers=systems.headers("HOSP")).json
    assert "golden" not in person and person["withheld"]
    assert count(db_url, "audit_event", "outcome = 'withheld'") == 2
    # an admin still sees everything; removing the opt-out discloses again
    assert (
        len(client.get(f"/v1/persons/{pid}", headers=systems.headers("ADMIN")).json["records"]) == 3
    )
    client.delete(f"/v1/persons/{pid}/opt-out", headers=systems.headers("ADMIN"))
    r = client.get("/v1/systems/HOSP/records/H1", headers=systems.headers("HOSP"))
    assert len(r.json["records"]) == 3
    assert count(db_url, "audit_event", "action LIKE 'optout.%%'") == 2


def test_opt_out_needs_a_reason_and_a_known_person(client, systems):
    pid = _two_records(client, systems)
    r = client.put(f"/v1/persons/{pid}/opt-out", json={}, headers=systems.headers("ADMIN"))
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "reason"
    r = client.put(
        "/v1/persons/NOPE/opt-out", json={"reason": "x"}, headers=systems.headers("ADMIN")
    )
    assert r.status_code == 404


def test_the_golden_nhs_number_disclosed_is_the_golden_views(client, systems, db_url):
    import psycopg

    from mpi import access
    from mpi.identities import golden_view
    from mpi.store import records as record_store

    pid = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    client.put(
        "/v1/systems/HOSP/records/H2",
        json=alice(nhs_number=None, given_name="Alicia"),
        headers=systems.headers("HOSP"),
    )
    person_id = pid.json["person_id"]
    with psycopg.connect(db_url) as conn:
        admin = access.Caller(system_id=0, system_code="x", scopes=frozenset({"admin"}), token_id=0)
        seen = access.disclose(conn, admin, person_id)
        details = record_store.record_details_of_person(conn, seen.person_pk)
    assert seen.nhs_number == golden_view(details)["nhs_number"].value


def test_a_token_revoked_elsewhere_is_refused_once_the_cache_expires(make_app, systems, db_url):
    import psycopg

    from mpi.store import tokens as token_store

    client = make_app(TOKEN_CACHE_SECONDS=0).test_client()
    headers = systems.headers("GP")
    assert client.get("/v1/events", headers=headers).status_code == 200
    with psycopg.connect(db_url) as conn:  # as another process would: no cache to clear
        row = conn.execute("SELECT id FROM source_system WHERE code = 'GP'").fetchone()
        token_store.revoke_tokens(conn, row[0])
    assert client.get("/v1/events", headers=headers).status_code == 401


GP_URI = "https://fhir.gp.example.nhs.uk/Id/patient-number"


def _token(db_url, *scopes):
    import psycopg

    from mpi import access

    with psycopg.connect(db_url) as conn:
        return access.issue_token(conn, "GP", list(scopes), actor="test")


def test_each_scope_allows_only_its_own_calls(client, systems, db_url):
    """register writes, lookup reads, review neither, admin everything (per endpoint)."""
    pid = _two_records(client, systems)
    tokens = {
        "register": _token(db_url, "register"),
        "lookup": _token(db_url, "lookup"),
        "review": _token(db_url, "review"),
        "admin": systems.tokens["ADMIN"],
    }
    fhir_patient = {
        "resourceType": "Patient",
        "identifier": [{"system": GP_URI, "value": "G7"}],
        "name": [{"family": "Smith", "given": ["Alice"]}],
        "birthDate": "1980-03-15",
    }
    calls = [  # (scope needed, method, URL, body); the admin's own system is ADMIN
        ("register", "put", "/v1/systems/GP/records/G1", alice()),
        ("register", "put", f"/fhir/Patient?identifier={GP_URI}|G7", fhir_patient),
        ("lookup", "get", "/v1/systems/GP/records/G1", None),
        ("lookup", "get", f"/v1/persons/{pid}", None),
        ("lookup", "get", f"/v1/persons?nhs_number={alice()['nhs_number']}", None),
        (
            "lookup",
            "post",
            "/v1/persons/search",
            {"family_name": "Smith", "birth_date": "1980-03-15"},
        ),
        ("lookup", "get", "/v1/events", None),
        ("lookup", "get", "/v1/subscriptions", None),
        ("lookup", "get", f"/fhir/Patient/{pid}", None),
        ("lookup", "get", "/fhir/Patient?family=Smith&birthdate=1980-03-15", None),
        ("lookup", "get", f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1", None),
        ("admin", "put", f"/v1/persons/{pid}/opt-out", {"reason": "objection"}),
        ("admin", "delete", f"/v1/persons/{pid}/opt-out", None),
        ("admin", "get", f"/v1/persons/{pid}/audit", None),
        ("admin", "get", f"/fhir/AuditEvent?patient=Patient/{pid}", None),
    ]
    for needed, method, url, body in calls:
        for scope, token in tokens.items():
            if scope == "admin" and needed == "register":
                continue  # an admin token belongs to ADMIN, which may not write GP's records
            kwargs = {"json": body} if body is not None else {}
            r = getattr(client, method)(url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            allowed = scope in (needed, "admin")
            if allowed:
                assert r.status_code < 300, (scope, url, r.get_data(as_text=True)[:300])
            else:
                assert r.status_code == 403, (scope, url, r.status_code)
                assert f"lacks the {needed!r} scope" in r.get_data(as_text=True), (scope, url)
    assert count(db_url, "source_record", "status = 'active'") == 3  # refused writes: none


def test_bad_opt_out_and_subscription_bodies_store_nothing(client, systems, db_url):
    pid = _two_records(client, systems)
    admin = systems.headers("ADMIN")
    for body, field in (
        (b'{"reason": "obj\\u0000ection"}', "reason"),
        (b'{"reason": "\\u202enoitcejbo"}', "reason"),
        (b'{"reason": "' + b"x" * 501 + b'"}', "reason"),
        (b'{"reason": 5}', "reason"),
        (b"{", "body"),
    ):
        r = client.put(
            f"/v1/persons/{pid}/opt-out", data=body, content_type="application/json", headers=admin
        )
        assert r.status_code == 400 and r.json["errors"][0]["field"] == field, (body, r.json)
    assert count(db_url, "opt_out") == 0
    hosp = systems.headers("HOSP")
    for body in (b'{"url": "https://x.example/\\ud800"}', b'{"url": "https://x/", "x": 1}', b"[]"):
        r = client.post(
            "/v1/subscriptions", data=body, content_type="application/json", headers=hosp
        )
        assert r.status_code == 400, body
    assert count(db_url, "webhook_subscription") == 0


def test_a_system_cannot_withdraw_another_systems_record_over_fhir(client, systems, db_url):
    _two_records(client, systems)
    r = client.delete(f"/fhir/Patient?identifier={GP_URI}|G1", headers=systems.headers("HOSP"))
    assert r.status_code == 403
    assert count(db_url, "source_record", "status = 'active'") == 2


def test_opted_out_search_results_keep_the_callers_own_records(client, systems, db_url):
    """Every /v1 lookup of an objector gives the caller its own records, and only those."""
    pid = _two_records(client, systems)
    client.put(
        f"/v1/persons/{pid}/opt-out", json={"reason": "objection"}, headers=systems.headers("ADMIN")
    )
    own = [{"system": "HOSP", "local_id": "H1"}]
    hosp = systems.headers("HOSP")
    body = {k: v for k, v in alice().items() if k != "nhs_number"}
    for r in (
        client.post("/v1/persons/search", json=body, headers=hosp),
        client.get(f"/v1/persons?nhs_number={alice()['nhs_number']}", headers=hosp),
    ):
        assert r.status_code == 200, r.json
        (match,) = r.json["matches"]
        assert match["person_id"] == pid and match["records"] == own, match
        assert match["withheld"]["reason"] == "patient-objection" and "golden" not in match
    assert client.get("/v1/systems/HOSP/records/H1", headers=hosp).json["records"] == own
    assert client.get(f"/v1/persons/{pid}", headers=hosp).json["records"] == own
    audited = count(
        db_url,
        "audit_event",
        "action = 'person.match' AND records = '[[\"HOSP\", \"H1\"]]'::jsonb",
    )
    assert audited == 1  # what was shown is in the trail
    # an emergency does not override an objection: a caller holding no record finds nobody
    r = client.post("/v1/persons/search", json=body, headers=systems.emergency("VIEWER"))
    assert r.json == {"matches": [], "total": 0}


def _alice_and_alison(client, systems) -> str:
    pid = _two_records(client, systems)
    client.put(
        "/v1/systems/HOSP/records/H2",
        json=alice(2, given_name="Alison", phone="0113 496 0999"),
        headers=systems.headers("HOSP"),
    )
    return pid


def test_a_page_size_of_one_does_not_make_a_single_match(client, systems):
    """Two plausible people for an unrelated viewer: nothing, whatever the page size (a
    page of one used to be judged as "the search found a single certain match")."""
    _alice_and_alison(client, systems)
    viewer = systems.headers("VIEWER")
    body = {k: v for k, v in alice().items() if k not in ("nhs_number", "phone")}
    r = client.post("/v1/persons/search", json={**body, "limit": 1}, headers=viewer)
    assert r.status_code == 200 and r.json["matches"] == []
    pdqm = "/fhir/Patient?family=Smith&birthdate=1980-03-15&address-postalcode=LS1%204AP"
    for url in (pdqm, pdqm + "&_count=1"):
        bundle = client.get(url, headers=viewer).json
        assert bundle["total"] == 0, url
    query = {
        "resourceType": "Patient",
        "name": [{"family": "Smith", "given": ["Alice"]}],
        "birthDate": "1980-03-15",
        "address": [{"postalCode": "LS1 4AP"}],
    }
    for match in (
        _match_body(query),
        _match_body(query, count_=1),
        _match_body(query, only_certain=True),
    ):
        r = client.post("/fhir/Patient/$match", json=match, headers=viewer)
        assert r.status_code == 200
        assert [e for e in r.json.get("entry", []) if e["search"]["mode"] == "match"] == [], match
    # the hospital holds both: a page of one is the best of them
    hosp = systems.headers("HOSP")
    r = client.post("/v1/persons/search", json={**body, "limit": 1}, headers=hosp)
    assert len(r.json["matches"]) == 1


def test_only_the_person_the_linker_would_choose_is_certain(client, systems):
    pid = _alice_and_alison(client, systems)
    body = {k: v for k, v in alice().items() if k not in ("nhs_number", "phone")}
    r = client.post("/v1/persons/search", json=body, headers=systems.headers("HOSP"))
    grades = {m["person_id"]: m["grade"] for m in r.json["matches"]}
    assert len(grades) == 2
    assert grades.pop(pid) == "certain"
    assert list(grades.values()) == ["probable"]
