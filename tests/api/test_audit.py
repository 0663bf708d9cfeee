"""Audit: one event per access, in the same transaction, append-only and hash-chained."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle

from mpi import audit
from mpi.cli import main
from tests.api.conftest import alice, count


def _events(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT action, outcome, system_code, user_id, user_role, user_org, purpose,"
            " person_ids, records, client_address, http_status FROM audit_event ORDER BY id"
        ).fetchall()


def test_every_patient_request_writes_exactly_one_event(client, systems, db_url):
    pid = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP")).json[
        "person_id"
    ]
    client.get("/v1/systems/GP/records/G1", headers=systems.headers("GP"))
    client.get(f"/v1/persons/{pid}", headers=systems.headers("SOCIAL"))  # denied
    client.get("/v1/systems/GP/records/NOPE", headers=systems.headers("GP"))  # not found
    client.put("/v1/systems/GP/records/G2", data=b"{", headers=systems.headers("GP"))  # invalid
    client.get("/v1/systems/GP/records/G1")  # no token
    events = _events(db_url)
    assert [(e[0], e[1]) for e in events] == [
        ("record.register", "success"),
        ("record.resolve", "success"),
        ("person.read", "denied"),
        ("record.resolve", "not-found"),
        ("record.register", "invalid"),
        ("record.resolve", "denied"),
    ]
    action, _, system, user, role, org, purpose, persons, records, address, status = events[0]
    assert (system, user, role, org, purpose) == ("GP", "555555555555", "R8000", "RXX", "TREAT")
    assert persons == [pid] and records == [["GP", "G1"]] and address and status == 200
    assert events[5][2] is None  # unauthenticated


def test_a_failed_request_leaves_its_audit_event_but_no_work(client, systems, db_url):
    client.put(
        "/v1/systems/GP/records/G1",
        json=alice(birth_date="1980-13-01"),
        headers=systems.headers("GP"),
    )
    assert count(db_url, "source_record") == 0
    assert count(db_url, "audit_event") == 1


def test_searches_record_every_person_returned(client, systems, db_url):
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    client.put(
        "/v1/systems/HOSP/records/H2",
        json=alice(2, given_name="Alison"),
        headers=systems.headers("HOSP"),
    )
    r = client.post(
        "/v1/persons/search",
        json={"family_name": "Smith", "birth_date": "1980-03-15"},
        headers=systems.headers("HOSP"),
    )
    returned = {m["person_id"] for m in r.json["matches"]}
    assert len(returned) == 2
    assert set(_events(db_url)[-1][7]) == returned


def test_chain_verifies_and_tampering_is_detected(client, systems, db_url):
    for n in range(3):
        client.put(f"/v1/systems/GP/records/G{n}", json=alice(n + 1), headers=systems.headers("GP"))
    with psycopg.connect(db_url) as conn:
        report = audit.verify(conn)
        assert report.is_intact and report.events == 3
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_event SET outcome = 'denied'")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_event")
        conn.rollback()
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify"], env={"DATABASE_URL": db_url})
    assert ok.exit_code == 0 and "3 events" in ok.output
    with psycopg.connect(db_url, autocommit=True) as conn:  # a superuser bypassing the trigger
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE audit_event SET user_id = 'someone-else' WHERE id = 2")
    with psycopg.connect(db_url) as conn:
        report = audit.verify(conn)
    assert not report.is_intact and report.broken_at == 2
    bad = runner.invoke(main, ["audit", "verify"], env={"DATABASE_URL": db_url})
    assert bad.exit_code == 1 and "broken at event 2" in bad.output


def test_deleting_an_event_breaks_the_chain(client, systems, db_url):
    for n in range(3):
        client.put(f"/v1/systems/GP/records/G{n}", json=alice(n + 1), headers=systems.headers("GP"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit_event WHERE id = 2")
    with psycopg.connect(db_url) as conn:
        assert audit.verify(conn).broken_at == 3


def test_admins_query_a_patients_audit_as_json_and_fhir(client, systems):
    pid = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP")).json[
        "person_id"
    ]
    client.get(f"/v1/persons/{pid}", headers=systems.emergency("VIEWER"))
    r = client.get(f"/v1/persons/{pid}/audit", headers=systems.headers("ADMIN"))
    assert r.status_code == 200
    assert [e["action"] for e in r.json["events"]] == ["person.read", "record.register"]
    assert r.json["events"][0]["emergency"] is True
    fhir = client.get(f"/fhir/AuditEvent?patient=Patient/{pid}", headers=systems.headers("ADMIN"))
    assert fhir.status_code == 200
    bundle = Bundle.model_validate(fhir.json)
    assert len(bundle.entry) == 3  # the JSON audit query above is itself audited
    assert (
        client.get(f"/fhir/AuditEvent?patient={pid}", headers=systems.headers("GP")).status_code
        == 403
    )


def _entry(n: int) -> audit.AuditEntry:
    return audit.AuditEntry(
        action="test.concurrent",
        subtype="read",
        outcome="success",
        http_status=200,
        person_ids=(f"P{n}",),
        records=(("GP", f"G{n}"),),
        detail={"n": n},
    )


def test_concurrent_transactions_take_separate_chains_and_all_verify(db_url):
    conns = [psycopg.connect(db_url) for _ in range(3)]
    try:
        for n, conn in enumerate(conns):  # three transactions open at once
            audit.record(conn, _entry(n))
        for conn in reversed(conns):
            conn.commit()
        for n, conn in enumerate(conns):  # and again, each continuing its chain
            audit.record(conn, _entry(10 + n))
            conn.commit()
    finally:
        for conn in conns:
            conn.close()
    with psycopg.connect(db_url) as conn:
        chains = conn.execute("SELECT DISTINCT chain FROM audit_event ORDER BY 1").fetchall()
        report = audit.verify(conn)
    assert [c[0] for c in chains] == [0, 1, 2]
    assert report.is_intact and report.events == 6


def test_removing_the_newest_event_of_a_chain_is_detected(client, systems, db_url):
    for n in range(2):
        client.put(f"/v1/systems/GP/records/G{n}", json=alice(n + 1), headers=systems.headers("GP"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit_event WHERE id = 2")
    with psycopg.connect(db_url) as conn:
        report = audit.verify(conn)
    assert not report.is_intact and report.broken_at == 2
    assert "tail" in (report.reason or "")


def test_chain_tails_only_move_forward(client, systems, db_url):
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    with psycopg.connect(db_url) as conn:
        for statement in (
            "UPDATE audit_chain SET last_hash = '', events = 0, last_id = NULL",
            "UPDATE audit_chain SET events = events + 1, last_id = 1 WHERE chain = 0",
            "DELETE FROM audit_chain",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
        assert audit.verify(conn).is_intact
