"""/v1 records: register, resolve, withdraw; scopes; bad input answered 4xx, nothing stored."""

from __future__ import annotations

import pytest

from api import create_app
from mpi.config import Settings
from mpi.errors import ConfigError
from tests.api.conftest import alice, count


def test_register_links_the_same_person_across_systems(client, systems):
    first = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    assert first.status_code == 200
    assert first.json["decision"] == "new_person"
    second = client.put(
        "/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP")
    )
    assert second.json["person_id"] == first.json["person_id"]
    assert second.json["decision"] == "linked"
    assert second.json["score"]["probability"] > 0.9
    assert {"comparison", "level", "weight"} <= set(second.json["score"]["explanation"][0])


def test_resolve_gives_the_cross_reference(client, systems):
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    r = client.get("/v1/systems/GP/records/G1", headers=systems.headers("HOSP"))
    assert r.status_code == 200
    assert r.json["records"] == [
        {"system": "GP", "local_id": "G1"},
        {"system": "HOSP", "local_id": "H1"},
    ]
    assert r.json["access_basis"] == "record"


def test_person_golden_view(client, systems):
    pid = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP")).json[
        "person_id"
    ]
    r = client.get(f"/v1/persons/{pid}", headers=systems.headers("GP"))
    assert r.status_code == 200
    assert r.json["golden"]["family_name"] == "Smith"
    assert r.json["golden"]["birth_date"] == "1980-03-15"


def test_withdraw_keeps_history_and_is_never_resolved(client, systems, db_url):
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    r = client.delete("/v1/systems/GP/records/G1", headers=systems.headers("GP"))
    assert r.status_code == 204
    assert client.get("/v1/systems/GP/records/G1", headers=systems.headers("GP")).status_code == 404
    assert count(db_url, "source_record", "status = 'withdrawn'") == 1
    assert count(db_url, "link_history", "reason = 'withdrawn'") == 1
    assert count(db_url, "identity_event", "event_type = 'record_withdrawn'") == 1
    again = client.delete("/v1/systems/GP/records/G1", headers=systems.headers("GP"))
    assert again.status_code == 404
    back = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    assert back.status_code == 200
    assert client.get("/v1/systems/GP/records/G1", headers=systems.headers("GP")).status_code == 200


def test_a_system_writes_only_its_own_records(client, systems, db_url):
    r = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("HOSP"))
    assert r.status_code == 403
    assert r.content_type == "application/problem+json"
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    assert (
        client.delete("/v1/systems/GP/records/G1", headers=systems.headers("HOSP")).status_code
        == 403
    )
    assert count(db_url, "source_record", "status = 'active'") == 1


@pytest.mark.parametrize(
    ("method", "path", "system", "status"),
    [
        ("put", "/v1/systems/SOCIAL/records/S1", "SOCIAL", 403),  # lookup only: no register
        ("get", "/v1/persons?nhs_number=9990000018", "ADMIN", 200),  # admin implies lookup
        ("put", "/v1/persons/NOPE/opt-out", "GP", 403),  # opt-outs need admin
        ("get", "/v1/persons/NOPE/audit", "HOSP", 403),  # audit needs admin
    ],
)
def test_scopes(client, systems, method, path, system, status):
    r = getattr(client, method)(
        path, json={"reason": "x", **alice()}, headers=systems.headers(system)
    )
    assert r.status_code == status, r.json


def test_no_token_or_a_revoked_one_is_refused(client, systems, db_url):
    r = client.get("/v1/systems/GP/records/G1")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = client.get("/v1/systems/GP/records/G1", headers={"Authorization": "Bearer mpi_nonsense"})
    assert r.status_code == 401
    import psycopg

    from mpi import access

    with psycopg.connect(db_url) as conn:
        new = access.rotate_token(conn, "GP", actor="test")
    old = client.get("/v1/systems/GP/records/G1", headers=systems.headers("GP"))
    assert old.status_code == 401
    fresh = client.put(
        "/v1/systems/GP/records/G1", json=alice(), headers={"Authorization": f"Bearer {new}"}
    )
    assert fresh.status_code == 200
    assert count(db_url, "api_token", f"token_hash = '{new}'") == 0  # only the hash is kept


LONG = "x" * 10_000

BAD_BODIES = [
    ("malformed JSON", b'{"given_name": "Alice",', "body"),
    ("trailing data", b'{"family_name": "Smith"} {"x": 1}', "body"),
    ("not an object", b"[1, 2]", "body"),
    ("null body", b"null", "body"),
    ("empty body", b"", "body"),
    ("no demographics at all", b"{}", "body"),
    ("only blanks", b'{"family_name": "  ", "given_name": ""}', "body"),
    ("NaN", b'{"given_name": NaN}', "body"),
    ("a key twice", b'{"family_name": "Smith", "family_name": "Jones"}', "family_name"),
    ("wrong type", b'{"given_name": 42, "family_name": "Smith"}', "given_name"),
    ("a list for a string", b'{"family_name": ["Smith"]}', "family_name"),
    ("a number for the NHS number", b'{"nhs_number": 9990000018}', "nhs_number"),
    ("unknown field", b'{"shoe_size": "9"}', "shoe_size"),
    ("invalid date", b'{"family_name": "Smith", "birth_date": "1980-02-30"}', "birth_date"),
    ("future date", b'{"family_name": "Smith", "birth_date": "2999-01-01"}', "birth_date"),
    ("bad check digit", b'{"family_name": "Smith", "nhs_number": "9990000019"}', "nhs_number"),
    ("a format example", b'{"family_name": "Smith", "nhs_number": "9876544321"}', "nhs_number"),
    ("all one digit", b'{"family_name": "Smith", "nhs_number": "1111111111"}', "nhs_number"),
    ("letters", b'{"family_name": "Smith", "nhs_number": "99900OOO18"}', "nhs_number"),
    ("too short", b'{"family_name": "Smith", "nhs_number": "999000001"}', "nhs_number"),
    ("NUL character", b'{"family_name": "Sm\\u0000ith"}', "family_name"),
    ("raw control character", b'{"family_name": "Sm\x01ith"}', "body"),
    ("lone surrogate", b'{"family_name": "Sm\\ud800ith"}', "family_name"),
    ("lone low surrogate", b'{"given_name": "\\udc00", "family_name": "Smith"}', "given_name"),
    ("right-to-left override", b'{"family_name": "\\u202ehtimS"}', "family_name"),
    ("only right-to-left marks", b'{"family_name": "\\u200f\\u200f"}', "family_name"),
    ("byte-order mark", b'{"family_name": "\\ufeffSmith"}', "family_name"),
    ("replacement character", b'{"family_name": "Sm\\ufffdth"}', "family_name"),
    ("non-character", b'{"family_name": "Smith\\uffff"}', "family_name"),
    ("not UTF-8", b'{"family_name": "Sm\xffith"}', "body"),
    ("bad sex", b'{"family_name": "Smith", "sex": "zebra"}', "sex"),
    ("very long string", b'{"family_name": "' + LONG.encode() + b'"}', "family_name"),
    ("very long unknown key", b'{"' + LONG.encode() + b'": "x"}', LONG),
    (
        "deeply nested",
        b'{"family_name": ' + b"[" * 50 + b"]" * 50 + b"}",
        "family_name" + "[0]" * 20,
    ),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_refused_and_nothing_stored(client, systems, db_url, case, body, field):
    r = client.put(
        "/v1/systems/GP/records/G1",
        data=body,
        content_type="application/json",
        headers=systems.headers("GP"),
    )
    assert r.status_code == 400, (case, r.json)
    assert r.content_type == "application/problem+json"
    assert field in {e["field"] for e in r.json["errors"]}, r.json
    assert count(db_url, "source_record") == 0
    assert count(db_url, "person") == 0
    assert count(db_url, "identity_event") == 0
    assert count(db_url, "audit_event", "outcome = 'invalid' AND http_status = 400") == 1


def test_an_invalid_nhs_number_is_refused_everywhere(client, systems, db_url):
    h = systems.headers("GP")
    r = client.put("/v1/systems/GP/records/G1", json=alice(nhs_number="9990000019"), headers=h)
    assert r.status_code == 400
    assert r.json["errors"] == [
        {
            "field": "nhs_number",
            "reason": "is not a valid NHS number: check digit should be 8, not 9",
        }
    ]
    search = client.get("/v1/persons?nhs_number=1234567890", headers=h)
    assert search.status_code == 400
    assert search.json["errors"][0]["field"] == "nhs_number"
    body = {"family_name": "Smith", "nhs_number": "9990000019"}
    r = client.post("/v1/persons/search", json=body, headers=h)
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "nhs_number"
    assert count(db_url, "source_record") == 0
    # spaces and dashes are accepted and stripped (3-3-4 display form)
    spaced = client.put(
        "/v1/systems/GP/records/G1", json=alice(nhs_number="999-000-0018"), headers=h
    )
    assert spaced.status_code == 200


def test_a_test_range_nhs_number_is_refused_in_production(make_app, db_url, systems):
    app = make_app(environment="production")
    r = app.test_client().put(
        "/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP")
    )
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "nhs_number"
    assert "999 test range" in r.json["errors"][0]["reason"]
    assert count(db_url, "source_record") == 0


def test_huge_body_is_413_and_nothing_stored(client, systems, db_url):
    r = client.put(
        "/v1/systems/GP/records/G1",
        json=alice(address_line="x" * 2_000_000),
        headers=systems.headers("GP"),
    )
    assert r.status_code == 413
    assert r.content_type == "application/problem+json"
    assert count(db_url, "source_record") == 0


def test_odd_unicode_that_is_valid_is_accepted(client, systems):
    r = client.put(
        "/v1/systems/GP/records/G1",
        json=alice(given_name="Zoë", family_name="O’Brien-Łukasz"),
        headers=systems.headers("GP"),
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "local_id",
    ["G%00", "G%FF", "%ED%A0%80", "G%E2%80%AE1", "%20", "x" * 129],
    ids=["NUL", "not UTF-8", "encoded surrogate", "RTL override", "blank", "too long"],
)
def test_odd_text_in_the_path_is_refused(client, systems, db_url, local_id):
    r = client.put(
        f"/v1/systems/GP/records/{local_id}", json=alice(), headers=systems.headers("GP")
    )
    assert r.status_code == 400, r.json
    assert r.json["errors"][0]["field"] == "local_id"
    assert count(db_url, "source_record") == 0


def test_odd_text_in_the_query_is_refused(client, systems):
    for value in ("%00", "%FF", "%E2%80%8F9990000018"):
        r = client.get(f"/v1/persons?nhs_number={value}", headers=systems.headers("GP"))
        assert r.status_code == 400 and r.json["errors"][0]["field"] == "nhs_number"


def test_odd_text_in_a_header_is_refused(client, systems):
    headers = systems.headers("GP", **{"X-User-Id": "x" * 200})
    r = client.get("/v1/events", headers=headers)
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "X-User-Id"


def test_unexpected_error_is_500_without_patient_data(app, client, systems, monkeypatch, caplog):
    import mpi.records

    def boom(*args, **kwargs):
        raise RuntimeError("Alice Smith 1980-03-15")

    monkeypatch.setattr(mpi.records, "register", boom)
    r = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    assert r.status_code == 500
    assert "Alice" not in r.get_data(as_text=True)
    assert "Alice" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_unknown_route_and_method_use_the_error_shape(client, systems):
    r = client.get("/v1/nothing-here", headers=systems.headers("GP"))
    assert r.status_code == 404
    assert r.json["status"] == 404
    r = client.post("/v1/systems/GP/records/G1", headers=systems.headers("GP"))
    assert r.status_code == 405


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_a_bad_database_fails_at_start_up():
    with pytest.raises(ConfigError):
        create_app(
            {
                "SETTINGS": Settings(database_url="postgresql://nobody@127.0.0.1:1/none"),
                "POOL_TIMEOUT": 1,
            }
        )


def test_an_uncertain_match_is_sent_to_review_with_its_explanation(client, systems, db_url):
    """The reply explains the score only to a system that may see the candidate; to any
    other the decision alone (the explanation is in the review item, for reviewers)."""
    first = {k: v for k, v in alice().items() if k not in ("nhs_number", "phone")}
    client.put("/v1/systems/GP/records/G1", json=first, headers=systems.headers("GP"))
    unsure = {**first, "given_name": "Zelda", "postcode": "BD7 1DP", "address_line": None}
    r = client.put("/v1/systems/HOSP/records/H1", json=unsure, headers=systems.headers("HOSP"))
    assert r.status_code == 200
    assert r.json["decision"] == "review", r.json
    assert r.json["score"] is None and r.json["review_candidates"] == 0, r.json
    assert count(db_url, "review_item") == 1
    assert count(db_url, "review_item", "jsonb_array_length(explanation) > 0") == 1
    # the GP holds the candidate: its own uncertain record is explained
    other = {**unsure, "given_name": "Zara", "postcode": "WF1 1AA"}
    r = client.put("/v1/systems/GP/records/G2", json=other, headers=systems.headers("GP"))
    assert r.json["decision"] == "review", r.json
    assert r.json["review_candidates"] >= 1
    levels = {e["comparison"]: e["level"] for e in r.json["score"]["explanation"]}
    assert levels["family_name"] == "exact" and levels["given_name"] != "exact"
    assert 0 < r.json["score"]["probability"] < 1


def test_readiness_fails_when_the_database_is_gone(app, client):
    app.extensions["mpi_pool"].close()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json == {"status": "unavailable"}
    assert client.get("/healthz").status_code == 200


def test_a_bad_log_level_fails_at_start_up(db_url):
    with pytest.raises(ConfigError, match="MPI_LOG_LEVEL"):
        create_app({"SETTINGS": Settings(database_url=db_url), "LOG_LEVEL": "LOUD"})
