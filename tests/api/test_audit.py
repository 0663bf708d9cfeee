"""Audit: one event per access, in the same transaction, append-only and hash-chained."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle

from mpi import audit
from mpi.cli import main
from mpi.store import audit as audit_store
from tests.api.conftest import alice, count
from tests.api.test_fhir_pmir import message as pmir_message


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
    client.put(
        "/v1/systems/GP/records/G2",
        data=b"{",
        content_type="application/json",
        headers=systems.headers("GP"),
    )  # invalid
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
    read = fhir.json["entry"][1]["resource"]  # newest first: the emergency read
    assert read["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    user = read["agent"][0]
    assert user["who"]["identifier"] == {
        "system": "https://fhir.nhs.uk/Id/sds-user-id",
        "value": "555555555555",
    }
    assert user["role"][0]["coding"][0]["code"] == "R8000"
    assert read["agent"][2]["who"]["identifier"]["value"] == "RXX"  # the user's organisation
    assert {"reference": f"Patient/{pid}"} in [e["what"] for e in read["entity"]]
    registered = fhir.json["entry"][2]["resource"]
    assert {
        "identifier": {"system": "https://fhir.gp.example.nhs.uk/Id/patient-number", "value": "G1"}
    } in [e["what"] for e in registered["entity"]]
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


GP_URI = "https://fhir.gp.example.nhs.uk/Id/patient-number"


class FORM(dict):
    """A form-encoded request body (PDQm search by POST)."""


def _patient_requests(pid: str, nhs: str) -> list[tuple[str, str, str, object, str]]:
    """(method, URL, token, JSON body, audit action) for every endpoint that touches a patient."""
    fhir_patient = {
        "resourceType": "Patient",
        "identifier": [{"system": GP_URI, "value": "G5"}],
        "name": [{"family": "Smith", "given": ["Alice"]}],
        "birthDate": "1980-03-15",
    }
    match = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": {**fhir_patient, "identifier": []}}],
    }
    return [
        ("put", "/v1/systems/GP/records/G2", "GP", alice(), "record.register"),
        ("get", "/v1/systems/GP/records/G2", "GP", None, "record.resolve"),
        ("delete", "/v1/systems/GP/records/G2", "GP", None, "record.withdraw"),
        ("get", f"/v1/persons/{pid}", "GP", None, "person.read"),
        ("get", f"/v1/persons?nhs_number={nhs}", "GP", None, "person.search"),
        (
            "post",
            "/v1/persons/search",
            "GP",
            {"family_name": "Smith", "birth_date": "1980-03-15"},
            "person.match",
        ),
        ("put", f"/v1/persons/{pid}/opt-out", "ADMIN", {"reason": "objection"}, "optout.add"),
        ("delete", f"/v1/persons/{pid}/opt-out", "ADMIN", None, "optout.remove"),
        ("get", f"/v1/persons/{pid}/audit", "ADMIN", None, "audit.read"),
        ("get", "/v1/events", "GP", None, "events.read"),
        ("put", f"/fhir/Patient?identifier={GP_URI}|G5", "GP", fhir_patient, "patient.register"),
        (
            "post",
            "/fhir/Patient",
            "GP",
            {**fhir_patient, "identifier": [{"system": GP_URI, "value": "G6"}]},
            "patient.register",
        ),
        ("delete", f"/fhir/Patient?identifier={GP_URI}|G6", "GP", None, "patient.withdraw"),
        (
            "post",
            "/fhir",
            "GP",
            pmir_message(
                {
                    "resource": {**fhir_patient, "identifier": [{"system": GP_URI, "value": "G7"}]},
                    "request": {"method": "POST", "url": "Patient"},
                    "response": {"status": "201"},
                }
            ),
            "patient.feed",
        ),
        ("get", f"/fhir/Patient/{pid}", "GP", None, "patient.read"),
        ("get", "/fhir/Patient?family=Smith&birthdate=1980-03-15", "GP", None, "patient.search"),
        (
            "post",
            "/fhir/Patient/_search",
            "GP",
            FORM({"family": "Smith", "birthdate": "1980-03-15"}),
            "patient.search",
        ),
        ("get", f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1", "GP", None, "patient.pix"),
        ("post", "/fhir/Patient/$match", "GP", match, "patient.match"),
        ("get", f"/fhir/AuditEvent?patient=Patient/{pid}", "ADMIN", None, "audit.read"),
    ]


def test_every_endpoint_that_touches_a_patient_writes_exactly_one_event(
    app, client, systems, db_url
):
    first = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    pid, nhs = first.json["person_id"], alice()["nhs_number"]
    requests = _patient_requests(pid, nhs)
    audited = {  # the JSON and FHIR surfaces (the review pages have their own tests)
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("v1.", "fhir."))
        and getattr(app.view_functions[rule.endpoint], "mpi_audit", None)
    }
    reached = set()
    for method, url, system, body, action in requests:
        before = count(db_url, "audit_event")
        kwargs = {"json": body} if body is not None else {}
        if isinstance(body, FORM):
            kwargs = {"data": dict(body)}
        r = getattr(client, method)(url, headers=systems.headers(system), **kwargs)
        assert r.status_code < 300, (url, r.status_code, r.get_data(as_text=True)[:300])
        assert count(db_url, "audit_event") == before + 1, url
        with psycopg.connect(db_url) as conn:
            last = conn.execute(
                "SELECT action, outcome, system_code, user_id, request_id, client_address,"
                " person_ids FROM audit_event ORDER BY id DESC LIMIT 1"
            ).fetchone()
        assert last[0] == action and last[1] == "success", (url, last)
        assert last[2] == system and last[3] == "555555555555" and last[4] and last[5]
        assert last[6], url  # the patient(s) touched are named
        with app.test_request_context(url.split("?")[0], method=method.upper()):
            from flask import request

            reached.add(request.url_rule.endpoint)
    assert reached == audited  # every audited endpoint was exercised above
    # endpoints that touch no patient write nothing
    before = count(db_url, "audit_event")
    for url in ("/healthz", "/readyz", "/openapi.json", "/fhir/metadata", "/v1/subscriptions"):
        assert client.get(url, headers=systems.headers("GP")).status_code == 200
    assert count(db_url, "audit_event") == before
    with psycopg.connect(db_url) as conn:
        assert audit.verify(conn).is_intact


def test_the_work_is_undone_when_its_audit_event_cannot_be_written(
    client, systems, db_url, monkeypatch
):
    """Same transaction: no audit event, no work (a full disk answers 503 to retry)."""
    import mpi.audit

    def fail(*args, **kwargs):
        raise psycopg.errors.DiskFull("no space")

    monkeypatch.setattr(mpi.audit, "record", fail)
    r = client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    for table in ("source_record", "person", "link", "identity_event", "audit_event"):
        assert count(db_url, table) == 0, table


@pytest.mark.parametrize(("hops", "recorded"), [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_the_client_address_behind_a_proxy(make_app, db_url, systems, hops, recorded):
    headers = systems.headers("GP", **{"X-Forwarded-For": "203.0.113.7"})
    make_app(PROXY_HOPS=hops).test_client().get("/v1/systems/GP/records/NOPE", headers=headers)
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT client_address FROM audit_event").fetchone()
    assert row == (recorded,)


# Finding 4 (issue 10): an audit that proves itself. A superuser who bypasses the triggers
# (session_replication_role = replica) can remove events however they like; every way
# must make `mpi audit verify` fail, and a checkpoint kept outside the database must catch
# even a trail rewritten together with its tails.


def _register(client, systems, n: int) -> None:
    for i in range(n):
        r = client.put(
            f"/v1/systems/GP/records/G{i}", json=alice(i + 1), headers=systems.headers("GP")
        )
        assert r.status_code in (200, 201), r.get_data(as_text=True)


def _as_superuser(url: str, *statements: str) -> None:
    """Run statements with every ordinary trigger bypassed, as a superuser could."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        for statement in statements:
            conn.execute(statement)


def _verify_cli(url: str, *args: str):
    return CliRunner().invoke(main, ["audit", "verify", *args], env={"DATABASE_URL": url})


def test_truncating_the_trail_is_not_an_intact_empty_trail(client, systems, db_url):
    _register(client, systems, 3)
    _as_superuser(db_url, "TRUNCATE audit_event")
    result = _verify_cli(db_url)
    assert result.exit_code == 1, result.output
    assert "intact" not in result.output and "lost its 3 events" in result.output


@pytest.mark.parametrize(
    ("where", "deleted", "broken_at"),
    [
        ("the first event", "id = 1", 2),
        ("the newest event", "id = 4", 4),
        ("the two newest events", "id >= 3", 4),
        ("an event in between", "id = 2", 3),
        ("every event", "true", 4),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_events_deleted_with_the_triggers_bypassed_are_found(
    client, systems, db_url, where, deleted, broken_at
):
    _register(client, systems, 4)
    _as_superuser(db_url, f"DELETE FROM audit_event WHERE {deleted}")
    with psycopg.connect(db_url) as conn:
        report = audit.verify(conn)
    assert not report.is_intact and report.broken_at == broken_at, (where, report)
    assert _verify_cli(db_url).exit_code == 1


def test_a_removed_tail_is_found(client, systems, db_url):
    _register(client, systems, 2)
    _as_superuser(db_url, "DELETE FROM audit_event", "DELETE FROM audit_chain WHERE chain = 0")
    with psycopg.connect(db_url) as conn:
        report = audit.verify(conn)
    assert not report.is_intact and report.reason == "chain 0 has lost its tail"
    result = _verify_cli(db_url)
    assert result.exit_code == 1 and "chain 0 has lost its tail" in result.output


def _checkpoint(url: str, path=None):
    args = ["audit", "checkpoint"] + (["-o", str(path)] if path else [])
    result = CliRunner().invoke(main, args, env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result


def test_checkpoints_are_json_lines_of_the_chain_heads(client, systems, db_url, tmp_path):
    import json
    from datetime import datetime

    _register(client, systems, 2)
    printed = json.loads(_checkpoint(db_url).output)
    assert datetime.fromisoformat(printed["checkpoint_at"]).tzinfo is not None
    with psycopg.connect(db_url) as conn:
        head = conn.execute(
            "SELECT chain, id, hash FROM audit_event ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert printed["events"] == 2
    assert printed["chains"] == [
        {"chain": head[0], "events": 2, "last_id": head[1], "last_hash": head[2]}
    ]
    file = tmp_path / "audit.checkpoints"
    _checkpoint(db_url, file)
    _register(client, systems, 3)  # G0, G1 again (updates) and G2: three more events
    appended = _checkpoint(db_url, file)
    assert "5 events" in appended.output
    lines = file.read_text().splitlines()
    assert [json.loads(line)["events"] for line in lines] == [2, 5]
    ok = _verify_cli(db_url, "--checkpoint", str(file))
    assert ok.exit_code == 0 and "2 checkpoint(s) hold" in ok.output, ok.output


def test_a_checkpoint_catches_a_wipe_with_the_tails_reset(client, systems, db_url, tmp_path):
    _register(client, systems, 3)
    file = tmp_path / "audit.checkpoints"
    _checkpoint(db_url, file)
    # Everything gone, tails too, and new events since: the database alone looks intact.
    _as_superuser(
        db_url,
        "TRUNCATE audit_event",
        "UPDATE audit_chain SET last_id = NULL, last_hash = '', events = 0",
    )
    _register(client, systems, 1)
    assert _verify_cli(db_url).exit_code == 0
    result = _verify_cli(db_url, "--checkpoint", str(file))
    assert result.exit_code == 1, result.output
    assert "is missing" in result.output and "checkpoint" in result.output


def test_a_checkpoint_catches_a_trail_rewritten_with_consistent_hashes(
    client, systems, db_url, tmp_path
):
    """A forger changes an early event, recomputes every hash after it and moves the tail:
    the chain verifies on its own, but not against the checkpoint taken before."""
    _register(client, systems, 3)
    file = tmp_path / "audit.checkpoints"
    _checkpoint(db_url, file)
    with psycopg.connect(db_url) as conn:
        conn.execute("SET session_replication_role = replica")
        rows = [
            dict(zip(("id", *audit_store.COLUMNS), r, strict=True))
            for r in conn.execute(
                f"SELECT id, {', '.join(audit_store.COLUMNS)} FROM audit_event ORDER BY id"
            ).fetchall()
        ]
        rows[0]["user_id"] = "someone-else"
        prev = ""
        for row in rows:
            values = {c: row[c] for c in audit_store.COLUMNS}
            digest = audit.chain_hash(prev, values)
            conn.execute(
                "UPDATE audit_event SET user_id = %s, prev_hash = %s, hash = %s WHERE id = %s",
                (row["user_id"], prev, digest, row["id"]),
            )
            prev = digest
        conn.execute("UPDATE audit_chain SET last_hash = %s WHERE chain = 0", (prev,))
    assert _verify_cli(db_url).exit_code == 0  # a perfect forgery, as far as the database goes
    result = _verify_cli(db_url, "--checkpoint", str(file))
    assert result.exit_code == 1 and "not the head checkpointed" in result.output, result.output


def test_a_bad_checkpoint_file_is_a_clear_error(client, systems, db_url, tmp_path):
    file = tmp_path / "audit.checkpoints"
    file.write_text('{"checkpoint_at": "2026-12-03T12:00:00+00:00", "chains": []}\nnot json\n')
    result = _verify_cli(db_url, "--checkpoint", str(file))
    assert result.exit_code == 1 and "checkpoint: line 2: not an audit checkpoint" in result.output
    assert "Traceback" not in result.output
